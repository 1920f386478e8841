/**
 * Fetching the real kernels: the newest Debian 12 `linux-image-6.1.0-N-amd64-unsigned`
 * and `linux-image-6.12.N+deb12-amd64-unsigned` (never cloud, never rt) found by
 * apt-cache, downloaded with `apt-get download` into the cache (a cached .deb is reused)
 * and extracted there with `dpkg-deb -x`. A pin (`--kernel-6.1 6.1.0-55` or a Debian
 * version, or a full package name) picks another; without network, the newest cached
 * .deb still serves.
 */
import { existsSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cacheDir } from './cache.js';
import { compareDebVersions } from './debver.js';
import { isRoot, run, say } from './exec.js';
import { aptGet, aptUpdate } from './host-tools.js';

export type KernelLine = '6.1' | '6.12';
export const KERNEL_LINES: readonly KernelLine[] = ['6.1', '6.12'];

const NAME: Record<KernelLine, RegExp> = {
  '6.1': /^linux-image-6\.1\.0-\d+-amd64-unsigned$/,
  '6.12': /^linux-image-6\.12\.\d+\+deb12-amd64-unsigned$/,
};
const SEARCH: Record<KernelLine, string> = {
  '6.1': '^linux-image-6\\.1\\.0-[0-9]+-amd64-unsigned$',
  '6.12': '^linux-image-6\\.12\\.[0-9]+\\+deb12-amd64-unsigned$',
};

export interface KernelPackage {
  line: KernelLine;
  name: string;
  version: string;
}

/** An extracted kernel package: what QEMU boots and where its modules are. */
export interface Kernel extends KernelPackage {
  /** The modules directory's name, e.g. `6.12.118+deb12-amd64` (what `uname -r` says). */
  release: string;
  vmlinuz: string;
  modulesDir: string;
}

/** Package name -> candidate version, for the names apt knows that match the line. */
function aptCandidates(line: KernelLine): KernelPackage[] {
  const names = run('apt-cache', ['search', '--names-only', SEARCH[line]])
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter((n) => NAME[line].test(n));
  if (names.length === 0) return [];
  const out: KernelPackage[] = [];
  let name = '';
  for (const l of run('apt-cache', ['policy', ...names]).split('\n')) {
    const head = /^(\S+):$/.exec(l);
    if (head) name = head[1]!;
    const cand = /^\s+Candidate:\s+(\S+)$/.exec(l);
    if (cand && cand[1] !== '(none)' && NAME[line].test(name)) out.push({ line, name, version: cand[1]! });
  }
  return out;
}

/** The .debs already in the cache, read from their file names (name_version_arch.deb). */
function cachedDebs(line: KernelLine): KernelPackage[] {
  const out: KernelPackage[] = [];
  for (const f of readdirSync(cacheDir('debs'))) {
    const m = /^([^_]+)_([^_]+)_amd64\.deb$/.exec(f);
    if (m && NAME[line].test(m[1]!)) out.push({ line, name: m[1]!, version: decodeURIComponent(m[2]!) });
  }
  return out;
}

function debPath(p: KernelPackage): string {
  return join(cacheDir('debs'), `${p.name}_${p.version.replace(/:/g, '%3a')}_amd64.deb`);
}

/** Does the package match a pin: a full name, a Debian version, or an ABI such as `6.1.0-55`? */
function matchesPin(p: KernelPackage, pin: string): boolean {
  if (pin.startsWith('linux-image-')) return p.name === pin;
  return p.version === pin || p.name.startsWith(`linux-image-${pin}-`) || p.name.startsWith(`linux-image-${pin}+`);
}

function newest(cands: KernelPackage[], pin: string | undefined): KernelPackage | undefined {
  const ok = pin ? cands.filter((p) => matchesPin(p, pin)) : cands;
  return [...ok].sort((a, b) => compareDebVersions(b.version, a.version))[0];
}

/** Chooses the package for a line: apt's newest (or the pinned one), else the newest cached. */
export function choosePackage(line: KernelLine, pin: string | undefined): KernelPackage {
  let pick = newest(aptCandidates(line), pin);
  if (!pick && isRoot()) {
    try {
      aptUpdate();
      pick = newest(aptCandidates(line), pin);
    } catch (e) {
      say(`${line}: ${(e as Error).message}; trying the cached packages`);
    }
  }
  pick ??= newest(cachedDebs(line), pin);
  if (!pick) {
    const what = pin ? `linux-image matching ${pin}` : SEARCH[line];
    throw new Error(`${line}: no kernel package ${what} found by apt-cache nor in ${cacheDir('debs')} (run apt-get update as root?)`);
  }
  return pick;
}

/** The package's .deb in the cache, downloaded when missing. */
export function downloadDeb(p: KernelPackage): string {
  const deb = debPath(p);
  if (existsSync(deb)) {
    say(`${p.line}: using cached ${p.name} ${p.version}`);
    return deb;
  }
  say(`${p.line}: downloading ${p.name} ${p.version}`);
  aptGet(['download', '-qq', '-o', 'APT::Sandbox::User=root', `${p.name}=${p.version}`], cacheDir('debs'));
  if (!existsSync(deb)) throw new Error(`${p.line}: apt-get download ${p.name}=${p.version} left no ${deb}`);
  return deb;
}

/** Extracts the package into the cache (once) and finds its vmlinuz and modules. */
export function extractKernel(p: KernelPackage, deb: string): Kernel {
  const dir = join(cacheDir('kernels'), `${p.name}_${p.version}`);
  const done = join(dir, '.extracted');
  if (!existsSync(done)) {
    say(`${p.line}: extracting ${deb}`);
    const tmp = `${dir}.tmp`;
    rmSync(tmp, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
    run('dpkg-deb', ['-x', deb, tmp]);
    renameSync(tmp, dir);
    writeFileSync(done, `${p.name} ${p.version}\n`);
  }
  const boot = join(dir, 'boot');
  const vmlinuz = existsSync(boot) ? readdirSync(boot).find((f) => f.startsWith('vmlinuz-')) : undefined;
  if (!vmlinuz) throw new Error(`${p.line}: no boot/vmlinuz-* in ${dir}`);
  const release = vmlinuz.slice('vmlinuz-'.length);
  const modulesDir = ['lib', 'usr/lib'].map((d) => join(dir, d, 'modules', release)).find((d) => existsSync(d));
  if (!modulesDir) throw new Error(`${p.line}: no lib/modules/${release} in ${dir}`);
  return { ...p, release, vmlinuz: join(boot, vmlinuz), modulesDir };
}

/** choosePackage + downloadDeb + extractKernel. */
export function fetchKernel(line: KernelLine, pin: string | undefined): Kernel {
  const p = choosePackage(line, pin);
  return extractKernel(p, downloadDeb(p));
}
