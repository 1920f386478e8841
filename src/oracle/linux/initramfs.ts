/**
 * The guest's initramfs: busybox (static) and its applet links, the static kwq-oracle
 * executor, /program.txt, the kernel modules in load order, and an /init that mounts
 * proc, sysfs, devtmpfs, a 512M tmpfs on /tmp (as kwq models) and cgroup2, insmods the
 * modules (already-present ones are fine), prints a few `kwq-init:` lines on the console
 * (what loaded, what failed and why, which device nodes exist) and execs the executor as
 * pid 1. Packed with `busybox cpio -o -H newc`, then gzip.
 */
import { chmodSync, copyFileSync, mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync, lstatSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { isRoot, runBuffer } from './exec.js';
import { BUSYBOX } from './host-tools.js';
import type { ModulePlan } from './modules.js';

const APPLETS = [
  'sh', 'mount', 'umount', 'insmod', 'poweroff', 'mkdir', 'mknod', 'cat', 'echo', 'ls', 'rm',
  'sleep', 'dmesg', 'tail', 'sed', 'cut', 'tr', 'uname', 'sync',
];

/** The device nodes the guest checks for (printed on the console as `kwq-init: dev:`). */
export const GUEST_DEVICES = ['kvm', 'vhost-net', 'vhost-scsi', 'vhost-vsock', 'loop-control', 'net/tun'];

export interface InitramfsInput {
  /** An empty directory to stage the tree in. */
  stageDir: string;
  /** Where to write the gzipped cpio archive. */
  output: string;
  executor: string;
  program: string;
  modules: ModulePlan;
}

function initScript(modules: readonly string[]): string {
  return `#!/bin/sh
# kwq-oracle guest init (src/oracle/linux/initramfs.ts)
export PATH=/bin
mount -t devtmpfs devtmpfs /dev
exec 0</dev/null 1>/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs -o size=512M tmpfs /tmp
mount -t cgroup2 cgroup2 /sys/fs/cgroup
loaded=
for m in ${modules.join(' ')}; do
  if out=$(insmod /lib/modules/$m.ko 2>&1); then
    loaded="$loaded $m"
  else
    case "$out" in
      *'File exists'*) loaded="$loaded $m(present)" ;;
      *) echo "kwq-init: insmod $m failed: $out"
         dmesg | tail -n 3 | sed 's/^\\[[^]]*\\] */kwq-init:   /' ;;
    esac
  fi
done
rm -rf /lib/modules
echo "kwq-init: loaded:$loaded"
have=; lack=
for d in ${GUEST_DEVICES.join(' ')}; do
  if [ -e /dev/$d ]; then have="$have $d"; else lack="$lack $d"; fi
done
echo "kwq-init: dev:$have"
echo "kwq-init: no dev:$lack"
echo "kwq-init: net:" $(ls /sys/class/net)
echo "kwq-init: exec /kwq-oracle"
exec /kwq-oracle /program.txt
echo "kwq-init: exec /kwq-oracle failed"
poweroff -f
`;
}

function dir(path: string): void {
  mkdirSync(path, { recursive: true });
  chmodSync(path, 0o755);
}

function file(path: string, data: string | Buffer, mode: number): void {
  writeFileSync(path, data);
  chmodSync(path, mode);
}

/** Every path under `root`, relative (`.`-prefixed), parents before children, sorted. */
function listTree(root: string, rel = '.'): string[] {
  const out = [rel];
  const here = join(root, rel);
  if (lstatSync(here).isDirectory()) {
    for (const name of readdirSync(here).sort()) out.push(...listTree(root, `${rel}/${name}`));
  }
  return out;
}

/** Stages the tree and writes the gzipped newc archive to `output`. */
export function buildInitramfs(inp: InitramfsInput): void {
  const r = inp.stageDir;
  rmSync(r, { recursive: true, force: true });
  for (const d of ['', 'bin', 'dev', 'proc', 'sys', 'tmp', 'lib', 'lib/modules']) dir(join(r, d));
  copyFileSync(BUSYBOX, join(r, 'bin/busybox'));
  chmodSync(join(r, 'bin/busybox'), 0o755);
  for (const a of APPLETS) symlinkSync('busybox', join(r, 'bin', a));
  // The kernel opens /dev/console for init before devtmpfs is mounted: a real node
  // gives the shell its stdio from the start (mknod needs root; init copes without).
  if (isRoot()) runBuffer('mknod', ['-m', '600', join(r, 'dev/console'), 'c', '5', '1']);
  copyFileSync(inp.executor, join(r, 'kwq-oracle'));
  chmodSync(join(r, 'kwq-oracle'), 0o755);
  file(join(r, 'program.txt'), inp.program, 0o644);
  for (const m of inp.modules.load) file(join(r, 'lib/modules', `${m.name}.ko`), m.data, 0o644);
  file(join(r, 'init'), initScript(inp.modules.load.map((m) => m.name)), 0o755);
  const list = listTree(r).join('\n') + '\n';
  const cpio = runBuffer(BUSYBOX, ['cpio', '-o', '-H', 'newc', '-R', '0:0'], { cwd: r, input: list });
  writeFileSync(inp.output, gzipSync(cpio, { level: 6 }));
}
