/**
 * The kernel modules the guest loads, found in an extracted kernel package and put in
 * load order: each wanted module after its dependencies (the `depends=` of its .modinfo,
 * which is what depmod writes to modules.dep). Modules built into the kernel
 * (modules.builtin) are skipped; compressed ones (.ko.xz on 6.12) are decompressed,
 * since busybox insmod hands the bytes to init_module as they are.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { modinfo } from './elf.js';
import { runBuffer } from './exec.js';

/** What the step scripts need; tun and tap are vhost_net's, target_core_mod vhost_scsi's. */
export const WANTED_MODULES: readonly string[] = [
  'vhost_iotlb', 'vhost', 'tun', 'tap', 'vhost_net', 'vhost_scsi', 'vhost_vsock',
  'loop', 'kvm', 'kvm_amd', 'null_blk',
];
/** Wanted only when the kernel has them. */
const OPTIONAL = new Set(['null_blk']);

export interface GuestModule {
  name: string;
  data: Buffer;
}

export interface ModulePlan {
  /** In load order, decompressed. */
  load: GuestModule[];
  /** Wanted modules that are built in (nothing to load). */
  builtin: string[];
  /** Optional modules this kernel has neither as module nor built in. */
  absent: string[];
}

const KO = /\.ko(\.xz|\.zst|\.gz)?$/;
const norm = (file: string) => file.replace(KO, '').replace(/-/g, '_');

function walk(dir: string, out: Map<string, string>): void {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (KO.test(e.name)) out.set(norm(e.name), p);
  }
}

function builtinNames(modulesDir: string): Set<string> {
  const text = readFileSync(join(modulesDir, 'modules.builtin'), 'utf8');
  return new Set(text.split('\n').filter(Boolean).map((l) => norm(l.slice(l.lastIndexOf('/') + 1))));
}

function decompress(path: string): Buffer {
  if (path.endsWith('.xz')) return runBuffer('xz', ['-dc', path]);
  if (path.endsWith('.zst')) return runBuffer('zstd', ['-dcq', path]);
  if (path.endsWith('.gz')) return gunzipSync(readFileSync(path));
  return readFileSync(path);
}

/** The load plan for WANTED_MODULES (or `wanted`) in the kernel's modules directory. */
export function planModules(modulesDir: string, wanted: readonly string[] = WANTED_MODULES): ModulePlan {
  const files = new Map<string, string>();
  walk(join(modulesDir, 'kernel'), files);
  const builtin = builtinNames(modulesDir);
  const plan: ModulePlan = { load: [], builtin: [], absent: [] };
  const state = new Map<string, 'visiting' | 'done'>();

  const visit = (name: string, wantedBy: string | undefined): void => {
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') throw new Error(`module dependency cycle through ${name}`);
    if (builtin.has(name)) {
      state.set(name, 'done');
      if (!wantedBy) plan.builtin.push(name);
      return;
    }
    const path = files.get(name);
    if (!path) {
      if (!wantedBy && OPTIONAL.has(name)) {
        plan.absent.push(name);
        return;
      }
      const why = wantedBy ? ` (needed by ${wantedBy})` : '';
      throw new Error(`kernel module ${name}${why} is neither in ${modulesDir}/kernel nor built in`);
    }
    state.set(name, 'visiting');
    const data = decompress(path);
    const deps = (modinfo(data, relative(modulesDir, path)).get('depends') ?? [])
      .flatMap((d) => d.split(','))
      .filter(Boolean);
    for (const d of deps) visit(norm(d), name);
    plan.load.push({ name, data });
    state.set(name, 'done');
  };

  for (const w of wanted) visit(w, undefined);
  return plan;
}
