/**
 * Fault injection (worker allocation failing: the arena full, or a failure rate) and a
 * fast-check property test of random interleavings: I/O from many cgroups, cgroup
 * creation and removal, clock advances. Invariants: every worker is in the tree exactly
 * once; a worker on the idle list has no commands; a reaped worker's css reference is
 * dropped; every request completes exactly once.
 */
import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import { O_DIRECT, O_RDWR, type Kernel, type Task } from 'kwq';
import {
  IOCB_CMD_PREAD, IOCB_CMD_PWRITE, LO_FLAGS_DIRECT_IO, ioGetevents, ioSetup, ioSubmit, type AioContext,
} from '../../../src/drivers/loop/index.js';
import type { LoopDevice } from '../../../src/drivers/loop/loop-device.js';
import type { Cgroup } from '../../../src/kernel/cgroup/cgroup.js';
import { backingFile, boot, dev, losetup } from './helpers.js';

const MiB = 1 << 20;

interface Issuer {
  task: Task;
  cgroup: string;
  ctx: AioContext;
  fds: number[];
}

/** a kernel with loop0 on a tmpfs file and loop1 on null_blk (direct I/O, so commands block) */
async function rig(cmdline: string): Promise<{ k: Kernel; los: LoopDevice[] }> {
  const k = await boot(`null_blk.nr_devices=1 null_blk.completion_nsec=200000 ${cmdline}`);
  const root = k.init;
  backingFile(k, root, '/tmp/backing', 256 * MiB);
  losetup(k, root, 0, '/tmp/backing');
  const l1 = k.open(root, '/dev/loop1', O_RDWR);
  const nb = k.open(root, '/dev/nullb0', O_RDWR);
  if (k.ioctl(root, l1, 0x4c0a, { fd: nb, info: { lo_flags: LO_FLAGS_DIRECT_IO } }) !== 0) throw new Error('configure loop1');
  return { k, los: [dev(k, 0), dev(k, 1)] };
}

function issuer(k: Kernel, name: string): Issuer {
  const task = k.spawn({ comm: name, cgroup: `/${name}` });
  const ctx = ioSetup(k, task, 4096) as AioContext;
  const fds = [k.open(task, '/dev/loop0', O_RDWR | O_DIRECT), k.open(task, '/dev/loop1', O_RDWR | O_DIRECT)];
  return { task, cgroup: `/${name}`, ctx, fds };
}

/** every invariant that must hold at any instant */
function checkInvariants(k: Kernel, los: LoopDevice[]): void {
  for (const lo of los) {
    if (lo.tree === null) continue;
    const shape = lo.tree.validate();
    const nodes = lo.tree.nodes();
    expect(shape.count).toBe(lo.nrWorkers);
    const ids = new Set<number>();
    for (const n of nodes) {
      const w = lo.workers[lo.tree.slot(n)]!;
      expect(w.node).toBe(n); // the tree's node is this worker's, exactly once
      expect(lo.tree.key(n)).toBe(w.blkcgCss.id);
      expect(ids.has(w.blkcgCss.id)).toBe(false);
      ids.add(w.blkcgCss.id);
      expect(w.blkcgCss.released).toBe(false); // the worker holds a reference
    }
    for (const w of lo.idleList()) {
      expect(w.cmdList.empty).toBe(true);
      expect(w.exec.waiting).toBeNull();
      expect(w.node).not.toBe(0);
    }
  }
}

/** after draining: css references are exactly the directory's (online) plus one per worker */
function checkRefs(k: Kernel, los: LoopDevice[], cgroups: Cgroup[]): void {
  for (const cg of cgroups) {
    let workers = 0;
    for (const lo of los) for (const w of lo.liveWorkers()) if (w.blkcgCss === cg) workers++;
    const want = (cg.online ? 1 : 0) + workers;
    expect(cg.refcnt, `${cg.path} refcnt`).toBe(want);
    expect(cg.released).toBe(want === 0);
  }
}

describe('fault injection: worker allocation failure sends I/O to the root queue and loses nothing', () => {
  for (const cmdline of ['kwq.loop_worker_max=2', 'kwq.loop_worker_fail=50']) {
    test(cmdline, async () => {
      const { k, los } = await rig(cmdline);
      const issuers = Array.from({ length: 6 }, (_, i) => issuer(k, `g${i}`));
      let id = 0;
      const submitted = new Set<number>();
      for (let round = 0; round < 4; round++) {
        for (const is of issuers) {
          const iocbs = [0, 1].map((d) => ({ aio_lio_opcode: IOCB_CMD_PWRITE, aio_fildes: is.fds[d]!, aio_nbytes: 64 * 1024, aio_offset: (id % 512) * 65536, aio_data: id++ }));
          for (const c of iocbs) submitted.add(c.aio_data);
          expect(ioSubmit(k, is.task, is.ctx, iocbs)).toBe(2);
        }
        k.advance(1);
      }
      const done = new Map<number, number>();
      for (const is of issuers) {
        const ev = ioGetevents(k, is.task, is.ctx, 8, 64) as { data: number; res: number }[];
        for (const e of ev) {
          expect(e.res).toBe(65536);
          done.set(e.data, (done.get(e.data) ?? 0) + 1);
        }
      }
      expect(done.size).toBe(submitted.size);
      expect([...done.values()].every((n) => n === 1)).toBe(true);
      const failures = los[0]!.stats.allocFailures + los[1]!.stats.allocFailures;
      expect(failures).toBeGreaterThan(0);
      for (const lo of los) {
        expect(lo.stats.completed).toBe(lo.stats.queued);
        expect(lo.stats.rootQueued).toBeGreaterThanOrEqual(lo.stats.allocFailures);
        if (cmdline.includes('max=2')) expect(lo.nrWorkers).toBeLessThanOrEqual(2);
      }
      // the commands that fell back ran as root: their shmem is not charged to their cgroups
      const charged = issuers.reduce((sum, is) => sum + Number(/^shmem (\d+)$/m.exec(k.readFile(k.init, `/sys/fs/cgroup${is.cgroup}/memory.stat`) as string)![1]), 0);
      expect(charged).toBeLessThan(issuers.length * 4 * 65536);
      expect(charged).toBe((los[0]!.stats.queued - los[0]!.stats.allocFailures) * 65536);
      checkInvariants(k, los);
      k.runUntilIdle();
      checkRefs(k, los, issuers.map((is) => k.cgroupByPath(is.cgroup)!));
    });
  }
});

type Op =
  | { kind: 'io'; who: number; dev: number; n: number; write: boolean }
  | { kind: 'mkcg' }
  | { kind: 'rmcg'; who: number }
  | { kind: 'advance'; ms: number }
  | { kind: 'reap'; who: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('io' as const), who: fc.nat(63), dev: fc.nat(1), n: fc.integer({ min: 1, max: 4 }), write: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('mkcg' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('rmcg' as const), who: fc.nat(63) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.oneof(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 1000, max: 70_000 })) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('reap' as const), who: fc.nat(63) }) },
);

describe('property: random interleavings keep the worker invariants', () => {
  test('I/O from many cgroups, cgroup creation and removal, clock advances', async () => {
    const totals = { created: 0, failures: 0 };
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 5, maxLength: 40 }), fc.constantFrom('', 'kwq.loop_worker_fail=20', 'kwq.loop_worker_max=3'), async (ops, cmdline) => {
        const { k, los } = await rig(cmdline);
        const live: Issuer[] = [issuer(k, 'c0')];
        const all: Cgroup[] = [k.cgroupByPath('/c0')!];
        let next = 1;
        let id = 0;
        const submitted = new Set<number>();
        const seen = new Map<number, number>();
        const byIssuer = new Map<Issuer, Set<number>>();
        const record = (is: Issuer, ev: unknown): void => {
          if (!Array.isArray(ev)) return;
          for (const e of ev as { data: number; res: number }[]) {
            seen.set(e.data, (seen.get(e.data) ?? 0) + 1);
            byIssuer.get(is)?.delete(e.data);
          }
        };
        for (const op of ops) {
          if (op.kind === 'io' && live.length > 0) {
            const is = live[op.who % live.length]!;
            const iocbs = Array.from({ length: op.n }, () => ({
              aio_lio_opcode: op.write ? IOCB_CMD_PWRITE : IOCB_CMD_PREAD, aio_fildes: is.fds[op.dev]!, aio_nbytes: 4096 * (1 + (id % 16)), aio_offset: (id % 1000) * 65536, aio_data: id++,
            }));
            expect(ioSubmit(k, is.task, is.ctx, iocbs)).toBe(op.n);
            for (const c of iocbs) {
              submitted.add(c.aio_data);
              if (!byIssuer.has(is)) byIssuer.set(is, new Set());
              byIssuer.get(is)!.add(c.aio_data);
            }
          } else if (op.kind === 'mkcg') {
            const name = `c${next++}`;
            live.push(issuer(k, name));
            all.push(k.cgroupByPath(`/${name}`)!);
          } else if (op.kind === 'rmcg' && live.length > 0) {
            const is = live.splice(op.who % live.length, 1)[0]!;
            // wait for its requests, exit, rmdir: the worker may outlive the cgroup (offline)
            const pending = byIssuer.get(is)?.size ?? 0;
            if (pending > 0) record(is, ioGetevents(k, is.task, is.ctx, pending, 4096));
            k.exit(is.task);
            expect(k.rmdir(k.init, `/sys/fs/cgroup${is.cgroup}`)).toBe(0);
          } else if (op.kind === 'advance') {
            k.advance(op.ms);
          } else if (op.kind === 'reap' && live.length > 0) {
            const is = live[op.who % live.length]!;
            record(is, ioGetevents(k, is.task, is.ctx, 0, 4096));
          }
          checkInvariants(k, los);
        }
        for (const is of live) {
          const pending = byIssuer.get(is)?.size ?? 0;
          record(is, ioGetevents(k, is.task, is.ctx, pending, 4096));
        }
        expect(seen.size).toBe(submitted.size);
        for (const n of seen.values()) expect(n).toBe(1);
        k.runUntilIdle();
        checkInvariants(k, los);
        checkRefs(k, los, all);
        // after the reaper's time has passed, every worker is gone and every removed cgroup released
        k.advance(130_000);
        for (const lo of los) expect(lo.nrWorkers).toBe(0);
        checkRefs(k, los, all);
        for (const cg of all) if (!cg.online) expect(cg.released).toBe(true);
        for (const lo of los) totals.created += lo.stats.workersCreated;
        totals.failures += los[0]!.stats.allocFailures + los[1]!.stats.allocFailures;
        k.shutdown();
      }),
      { numRuns: 40, seed: 5, endOnFailure: true },
    );
    // the runs did exercise worker creation and the fallback
    expect(totals.created).toBeGreaterThan(40);
    expect(totals.failures).toBeGreaterThan(0);
  });
});
