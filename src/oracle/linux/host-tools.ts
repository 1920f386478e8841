/**
 * The host programs the oracle needs: qemu-system-x86_64, a static /bin/busybox
 * (Debian's busybox-static), a C compiler with a static libc, xz and dpkg-deb. When one is
 * missing and we run as root, `apt-get update` then `apt-get install -y
 * --no-install-recommends` brings it in (CI's fresh machines have no QEMU); otherwise one
 * line says what to install.
 */
import { existsSync } from 'node:fs';
import { isStaticElf } from './elf.js';
import { isRoot, run, say, which } from './exec.js';

export const BUSYBOX = '/bin/busybox';
const LIBC_A = ['/usr/lib/x86_64-linux-gnu/libc.a', '/usr/lib/libc.a'];

let aptUpdated = false;

/** apt-get without questions (CI has no standard input). */
export function aptGet(args: string[], cwd?: string): void {
  run('apt-get', args, { cwd, stderr: 'inherit', env: { DEBIAN_FRONTEND: 'noninteractive' } });
}

/** `apt-get update`, at most once per run. */
export function aptUpdate(): void {
  if (aptUpdated) return;
  say('apt-get update');
  aptGet(['update', '-qq']);
  aptUpdated = true;
}

function busyboxStatic(): boolean {
  return existsSync(BUSYBOX) && isStaticElf(BUSYBOX);
}

/** [what is missing, the Debian package that brings it] for every missing tool. */
function missing(): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  if (!which('qemu-system-x86_64')) out.push(['qemu-system-x86_64', 'qemu-system-x86']);
  if (!busyboxStatic()) out.push([`a static ${BUSYBOX}`, 'busybox-static']);
  if (!which('cc')) out.push(['cc', 'gcc']);
  if (!LIBC_A.some((p) => existsSync(p))) out.push(['a static libc (libc.a)', 'libc6-dev']);
  if (!which('xz')) out.push(['xz', 'xz-utils']);
  if (!which('dpkg-deb')) out.push(['dpkg-deb', 'dpkg']);
  return out;
}

/** Makes sure every host tool is there, installing the missing ones when root. */
export function ensureHostTools(): void {
  const lack = missing();
  if (lack.length === 0) return;
  const pkgs = [...new Set(lack.map(([, p]) => p))];
  const what = lack.map(([w]) => w).join(', ');
  if (!isRoot()) {
    throw new Error(`missing ${what}: run as root, or install them: apt-get install --no-install-recommends ${pkgs.join(' ')}`);
  }
  say(`installing ${pkgs.join(' ')} (missing ${what})`);
  aptUpdate();
  aptGet(['install', '-y', '-qq', '--no-install-recommends', ...pkgs]);
  const still = missing();
  if (still.length > 0) throw new Error(`still missing after apt-get install: ${still.map(([w]) => w).join(', ')}`);
}

/** First line of `qemu-system-x86_64 --version`. */
export function qemuVersion(): string {
  return run('qemu-system-x86_64', ['--version']).split('\n')[0]!.trim();
}

/** busybox's version, as its banner says: `v1.35.0 (Debian 1:1.35.0-4+deb12u1+b1)`. */
export function busyboxVersion(): string {
  const banner = run(BUSYBOX, ['--help']).split('\n')[0] ?? '';
  const m = /^BusyBox (.*?)(?: multi-call binary\.)?$/.exec(banner.trim());
  return m ? m[1]! : banner.trim();
}
