/**
 * Random fork / clone(CLONE_IO) / thread / exit / ioprio_set / I/O sequences keep every
 * io_context's counts equal to what holds it, and free it exactly when the last
 * holder goes:
 *   active_ref == live tasks whose task->io_context is it
 *   refcount   == (active_ref > 0 ? 1 : 0) + requests in flight carrying one of its icqs
 *   freed      <=> refcount == 0, and then no task, icq or queue refers to it
 * and every icq is linked in its io_context's tree and list and its queue's list, or
 * in none of them (destroyed), with the hint null or one of the linked icqs.
 */
import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import { CLONE_FILES, CLONE_FS, CLONE_IO, CLONE_SIGHAND, CLONE_THREAD, CLONE_VM, EINVAL, EPERM, Kernel, type Task } from 'kwq';
import '../../../src/drivers/block/blk-ioc-index.js';
import {
  blkAllocQueue, blkIocState, blkQueueExit, ioContextForIssue, ioContextRequestDone, IOPRIO_WHO_PROCESS, taskIoContext,
  type IoContext, type IoIssue, type RequestQueue,
} from '../../../src/drivers/block/blk-ioc-index.js';

const THREAD = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD;

type Op =
  | { op: 'spawn' }
  | { op: 'fork' | 'cloneIo' | 'threadIo' | 'thread' | 'exit'; who: number }
  | { op: 'ioprio'; who: number; v: number }
  | { op: 'io'; who: number; q: number }
  | { op: 'done'; rq: number }
  | { op: 'requeue'; q: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('spawn' as const) }),
  fc.record({ op: fc.constantFrom('fork' as const, 'cloneIo' as const, 'threadIo' as const, 'thread' as const, 'exit' as const), who: fc.nat(40) }),
  fc.record({ op: fc.constant('ioprio' as const), who: fc.nat(40), v: fc.constantFrom(0, 0x2000, 0x4001, 0x4004, 0x6000, 0x2001, 9) }),
  fc.record({ op: fc.constant('io' as const), who: fc.nat(40), q: fc.nat(2) }),
  fc.record({ op: fc.constant('done' as const), rq: fc.nat(20) }),
  fc.record({ op: fc.constant('requeue' as const), q: fc.nat(2) }),
);

function check(k: Kernel, queues: RequestQueue[], inflight: IoIssue[], everSeen: Set<IoContext>): void {
  const holders = new Map<IoContext, number>();
  for (const t of k.tasks()) {
    const ioc = taskIoContext(t);
    if (ioc !== null) {
      expect(ioc.freed).toBe(false);
      holders.set(ioc, (holders.get(ioc) ?? 0) + 1);
      everSeen.add(ioc);
    }
  }
  const requests = new Map<IoContext, number>();
  for (const rq of inflight) if (rq.icq !== null) requests.set(rq.icq.ioc, (requests.get(rq.icq.ioc) ?? 0) + 1);
  const live = blkIocState(k).live;
  for (const ioc of everSeen) {
    const active = holders.get(ioc) ?? 0;
    const reqs = requests.get(ioc) ?? 0;
    if (ioc.freed) {
      expect(live.has(ioc)).toBe(false);
      expect(active + reqs).toBe(0);
      expect(ioc.icqList.size).toBe(0);
      expect(ioc.icqTree.size).toBe(0);
      continue;
    }
    expect(live.has(ioc)).toBe(true);
    expect(ioc.activeRef).toBe(active);
    expect(ioc.refcount).toBe((active > 0 ? 1 : 0) + reqs);
    expect(ioc.refcount).toBeGreaterThan(0);
    expect(ioc.icqTree.size).toBe(ioc.icqList.size);
    for (const icq of ioc.icqList) {
      expect(icq.destroyed).toBe(false);
      expect(ioc.icqTree.lookup(icq.q.id)).toBe(icq);
      expect(icq.q.icqList.has(icq)).toBe(true);
      if (active > 0) expect(icq.exited).toBe(false);
      else expect(icq.exited).toBe(true); // exited with the last task, kept for the requests in flight
    }
    if (ioc.icqHint !== null) expect(ioc.icqList.has(ioc.icqHint)).toBe(true);
  }
  for (const ioc of live) expect(everSeen.has(ioc) || (holders.get(ioc) ?? 0) > 0).toBe(true);
  for (const q of queues) for (const icq of q.icqList) expect(icq.ioc.icqList.has(icq)).toBe(true);
}

describe('io_context reference counting (property)', () => {
  test('counts match the holders and an io_context is freed exactly when the last holder goes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 80 }), async (ops) => {
        const k = await Kernel.boot({ seed: 1 });
        const pool: Task[] = [k.spawn({ uid: 1000 }), k.spawn({ uid: 1000 })];
        const queues = [blkAllocQueue(k, 'sda', 'bfq'), blkAllocQueue(k, 'sdb', 'bfq'), blkAllocQueue(k, 'sdc', 'mq-deadline')];
        const inflight: IoIssue[] = [];
        const everSeen = new Set<IoContext>();
        const pick = (i: number): Task | undefined => {
          const alive = pool.filter((t) => t.alive);
          return alive.length === 0 ? undefined : alive[i % alive.length];
        };
        for (const o of ops) {
          if (o.op === 'spawn') pool.push(k.spawn({ uid: 1000 }));
          else if (o.op === 'done') {
            if (inflight.length > 0) ioContextRequestDone(k, inflight.splice(o.rq % inflight.length, 1)[0]!);
          } else if (o.op === 'requeue') {
            const old = queues[o.q]!;
            blkQueueExit(k, old);
            queues[o.q] = blkAllocQueue(k, old.name, old.elevator);
          } else {
            const t = pick(o.who);
            if (t === undefined) continue;
            switch (o.op) {
              case 'fork':
              case 'cloneIo':
              case 'threadIo':
              case 'thread': {
                const flags = { fork: 0, cloneIo: CLONE_IO, threadIo: (THREAD | CLONE_IO) >>> 0, thread: THREAD }[o.op];
                const before = taskIoContext(t);
                const c = k.clone(t, flags);
                if (typeof c === 'number') break;
                pool.push(c);
                const got = taskIoContext(c);
                if (flags & CLONE_IO) expect(got).toBe(before);
                else if (before !== null && [1, 2, 3].includes(before.ioprio >> 13)) expect(got !== null && got !== before && got.ioprio === before.ioprio).toBe(true);
                else expect(got).toBeNull();
                break;
              }
              case 'exit':
                k.exit(t);
                break;
              case 'ioprio': {
                // RT without CAP_SYS_NICE/ADMIN: -EPERM; NONE with level 1: -EINVAL; a rejected call creates nothing
                const before = taskIoContext(t);
                const want = o.v >> 13 === 1 ? -EPERM : o.v === 9 ? -EINVAL : 0;
                expect(k.ioprio_set(t, IOPRIO_WHO_PROCESS, 0, o.v)).toBe(want);
                if (want < 0) expect(taskIoContext(t)).toBe(before);
                else expect(taskIoContext(t)!.ioprio).toBe(o.v);
                break;
              }
              case 'io': {
                const rq = ioContextForIssue(k, t, queues[o.q]!);
                inflight.push(rq);
                if (rq.ioc !== null) everSeen.add(rq.ioc);
                break;
              }
            }
          }
          check(k, queues, inflight, everSeen);
        }
        // drain: every request completes, every task exits: nothing is left
        while (inflight.length > 0) ioContextRequestDone(k, inflight.pop()!);
        for (const t of pool) if (t.alive) k.exit(t);
        check(k, queues, inflight, everSeen);
        expect(blkIocState(k).live.size).toBe(0);
        for (const ioc of everSeen) expect(ioc.freed).toBe(true);
      }),
      { numRuns: 150 },
    );
  });
});
