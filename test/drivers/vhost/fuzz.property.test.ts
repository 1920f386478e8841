/**
 * Random ioctl sequences from several processes (the owner, a thread of it, a forked
 * child, a process of another user that inherited the fds) with random arguments on
 * a vhost-scsi and a vhost-net device: no call throws, every result is 0 or a listed
 * errno, and the invariants hold after every step:
 *   - each worker's attachment count equals the number of vqs pointing at it
 *   - worker ids are unique and are their worker_xa index; no owner => no worker
 *   - a live worker's thread is alive unless the worker was killed
 * and after every process is gone, no worker thread, worker struct or work is left.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import {
  _IO, CLONE_FILES, CLONE_FS, CLONE_SIGHAND, CLONE_THREAD, CLONE_VM, E2BIG, EADDRINUSE, EBADF, EBUSY, EEXIST, EFAULT,
  EINTR, EINVAL, ENOBUFS, ENODEV, ENOMEM, ENOTTY, EOPNOTSUPP, EPERM, Kernel, O_RDWR, SIGKILL, type Task,
  VHOST_ATTACH_VRING_WORKER, VHOST_FREE_WORKER, VHOST_GET_FEATURES, VHOST_GET_FORK_FROM_OWNER, VHOST_GET_VRING_BASE,
  VHOST_GET_VRING_WORKER, VHOST_NET_SET_BACKEND, VHOST_NEW_WORKER, VHOST_RESET_OWNER, VHOST_SCSI_CLEAR_ENDPOINT,
  VHOST_SCSI_GET_ABI_VERSION, VHOST_SCSI_SET_ENDPOINT, VHOST_SET_FEATURES, VHOST_SET_FORK_FROM_OWNER,
  VHOST_SET_MEM_TABLE, VHOST_SET_OWNER, VHOST_SET_VRING_BASE, VHOST_SET_VRING_CALL, VHOST_SET_VRING_KICK,
  VHOST_SET_VRING_NUM, VHOST_SET_LOG_FD,
} from 'kwq';
import type { VhostDev } from '../../../src/drivers/vhost/dev.js';
import { VhostEngine } from '../../../src/drivers/vhost/vhost-engine.js';

const ALLOWED = new Set([0, -EPERM, -EBUSY, -EINVAL, -EFAULT, -ENOMEM, -ENODEV, -ENOBUFS, -ENOTTY, -EBADF, -EOPNOTSUPP, -E2BIG, -EEXIST, -EADDRINUSE, -EINTR]);
const REQUESTS = [
  VHOST_SET_OWNER, VHOST_RESET_OWNER, VHOST_SET_FORK_FROM_OWNER, VHOST_GET_FORK_FROM_OWNER, VHOST_NEW_WORKER,
  VHOST_FREE_WORKER, VHOST_ATTACH_VRING_WORKER, VHOST_GET_VRING_WORKER, VHOST_SET_VRING_KICK, VHOST_SET_VRING_CALL,
  VHOST_GET_FEATURES, VHOST_SET_FEATURES, VHOST_SET_MEM_TABLE, VHOST_SET_VRING_NUM, VHOST_SET_VRING_BASE,
  VHOST_GET_VRING_BASE, VHOST_SET_LOG_FD, VHOST_SCSI_SET_ENDPOINT, VHOST_SCSI_CLEAR_ENDPOINT, VHOST_SCSI_GET_ABI_VERSION,
  VHOST_NET_SET_BACKEND, _IO(0xaf, 0x7f), 0x5401,
];

const u32ish = fc.oneof(fc.integer({ min: 0, max: 5 }), fc.constantFrom(-1, 0xffffffff, 2 ** 32, 1.5, NaN));
const small = fc.integer({ min: 0, max: 3 });
const argArb = fc.oneof(
  { weight: 6, arbitrary: fc.record({ index: small, worker_id: small }) },
  { weight: 2, arbitrary: fc.record({ worker_id: small }) },
  { weight: 2, arbitrary: fc.constantFrom(0, 1) },
  fc.constant(undefined),
  fc.constant(null),
  u32ish,
  fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
  fc.record({ value: u32ish }),
  fc.record({ worker_id: u32ish }),
  fc.record({ index: u32ish, worker_id: u32ish }),
  fc.record({ index: u32ish, worker_id: u32ish }).map((o) => Object.freeze(o)),
  fc.record({ index: u32ish, fd: fc.constantFrom(-1, -2, 0, 1, 2, 3, 4, 5, 99) }),
  fc.record({ index: u32ish, num: fc.constantFrom(0, 1, 256, 3, 0x10000) }),
  fc.record({ nregions: fc.integer({ min: 0, max: 70 }), padding: fc.constantFrom(0, 1), regions: fc.constant([{ guest_phys_addr: 0, memory_size: 4096, userspace_addr: 0 }]) }),
  fc.record({ abi_version: fc.constant(1), vhost_wwpn: fc.constantFrom('', 'naa.1'), vhost_tpgt: fc.constant(1), reserved: fc.constantFrom(0, 1) }),
  fc.string({ maxLength: 3 }),
);

type Cmd =
  | { kind: 'ioctl'; actor: number; dev: number; req: number; arg: unknown }
  | { kind: 'advance'; ms: number }
  | { kind: 'kill'; actor: number };

const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  {
    weight: 20,
    arbitrary: fc.record({
      kind: fc.constant('ioctl' as const),
      actor: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 2, arbitrary: fc.constant(1) }, fc.constant(2), fc.constant(3)),
      dev: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, fc.constant(1)),
      req: fc.oneof(
        { weight: 8, arbitrary: fc.constantFrom(VHOST_SET_OWNER, VHOST_NEW_WORKER, VHOST_FREE_WORKER, VHOST_ATTACH_VRING_WORKER, VHOST_GET_VRING_WORKER) },
        { weight: 5, arbitrary: fc.constantFrom(...REQUESTS) },
      ),
      arg: argArb,
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 2 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('kill' as const), actor: fc.integer({ min: 0, max: 3 }) }) },
);

function checkInvariants(dev: VhostDev): void {
  const workers = dev.liveWorkers();
  const ids = new Set<number>();
  for (const w of workers) {
    expect(dev.workers[w.id]).toBe(w);
    expect(ids.has(w.id)).toBe(false);
    ids.add(w.id);
    expect(w.attachmentCnt).toBe(dev.vqs.filter((vq) => vq.worker === w).length);
    if (!w.killed) expect(w.task!.alive).toBe(true);
  }
  for (const vq of dev.vqs) if (vq.worker !== null) expect(workers).toContain(vq.worker);
  if (!dev.hasOwner()) expect(workers).toHaveLength(0);
}

describe('vhost ioctl fuzz', () => {
  test('random sequences from four processes never throw, return 0 or a listed errno, keep the invariants, leak nothing', async () => {
    // coverage: the property is only worth something if the interesting paths were taken
    const seen = { setOwner: 0, newWorker: 0, attach: 0, freed: 0, killedWorkers: 0, results: new Set<number>() };
    await fc.assert(
      fc.asyncProperty(fc.array(cmdArb, { minLength: 5, maxLength: 60, size: 'large' }), fc.boolean(), fc.boolean(), async (cmds, kthreadDefault, ownFirst) => {
        const k = await Kernel.boot({ cmdline: `vhost_scsi.max_io_vqs=2 vhost.fork_from_owner_default=${kthreadDefault ? 0 : 1}`, ncpus: 2 });
        const qemu = k.spawn({ comm: 'qemu', uid: 107, rlimits: { RLIMIT_NPROC: [6, 6] } });
        const fds = [k.open(qemu, '/dev/vhost-scsi', O_RDWR), k.open(qemu, '/dev/vhost-net', O_RDWR)];
        k.eventfd(qemu); // fd 2 or so: a valid eventfd for KICK/CALL arguments
        k.open(qemu, '/dev/null', O_RDWR);
        const devs = fds.map((fd) => k.fileOf(qemu, fd)!.privateData as VhostDev);
        const actors: Task[] = [
          qemu,
          k.clone(qemu, CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD) as Task,
          k.fork(qemu) as Task,
          k.spawn({ parent: qemu, uid: 1000, comm: 'other' }),
        ];
        for (const a of actors) expect(typeof a).toBe('object');
        // half the runs start owned (by the owner or its thread), so that the worker paths get exercised
        if (ownFirst) expect(k.ioctl(actors[0]!, fds[0]!, VHOST_SET_OWNER)).toBe(0);
        const ve = VhostEngine.of(k);
        const structs = ve.workerStructsFree + devs.reduce((n, d) => n + d.liveWorkers().length, 0);
        for (const c of cmds) {
          if (c.kind === 'advance') k.advance(c.ms);
          else if (c.kind === 'kill') {
            if (actors[c.actor]!.alive) k.kill(actors[c.actor]!, SIGKILL);
          } else {
            const t = actors[c.actor]!;
            if (!t.alive) continue;
            const r = k.ioctl(t, fds[c.dev]!, c.req, c.arg);
            if (!ALLOWED.has(r)) throw new Error(`ioctl ${c.req.toString(16)} returned ${r}`);
            seen.results.add(r);
            if (r === 0 && c.req === VHOST_SET_OWNER) seen.setOwner++;
            if (r === 0 && c.req === VHOST_NEW_WORKER) seen.newWorker++;
            if (r === 0 && c.req === VHOST_ATTACH_VRING_WORKER) seen.attach++;
            if (r === 0 && c.req === VHOST_FREE_WORKER) seen.freed++;
          }
          for (const d of devs) if (!d.released) checkInvariants(d);
        }
        for (const d of devs) seen.killedWorkers += d.liveWorkers().filter((w) => w.killed).length;
        for (const a of actors) if (a.alive) k.kill(a, SIGKILL);
        // every fd is closed: every device released, no worker left
        for (const d of devs) expect(d.released).toBe(true);
        expect(k.tasks().filter((t) => t.comm.startsWith('vhost-'))).toHaveLength(0);
        expect(ve.workerStructsFree).toBe(structs);
        expect(ve.worksInUse()).toBe(0);
        k.shutdown();
      }),
      { numRuns: 120, seed: 4242 },
    );
    expect(seen.setOwner).toBeGreaterThan(10);
    expect(seen.newWorker).toBeGreaterThan(0);
    expect(seen.attach).toBeGreaterThan(0);
    expect(seen.freed).toBeGreaterThan(0);
    expect(seen.killedWorkers).toBeGreaterThan(0);
    expect(seen.results.size).toBeGreaterThanOrEqual(8);
  }, 60_000);
});
