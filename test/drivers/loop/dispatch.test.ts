/**
 * The Wasm dispatch (assembly/loop.ts through src/wasm/loop.ts) on one thread: the
 * LOOP_QW_* contract of loop_queue_work, FIFO per list, the idle step, the reaper's
 * timing; a fast-check model test against the TypeScript reference of the same
 * algorithm (bench/ref/loop.ts); the batch entry point equal to N single calls; and
 * the Wasm workqueue's non-reentrancy rule (assembly/loop-wq.ts), deterministically.
 */
import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import {
  LoopEngine, LOOP_PW_IDLE, LOOP_QW_FAILED, LOOP_QW_NEW, LOOP_QW_QUEUE, LOOP_QW_RESCUED, LOOP_QW_ROOT, LC, LO, WQ,
} from '../../../src/wasm/loop.js';
import { RefLoopDispatch, REF_PW_IDLE } from '../../../bench/ref/loop.js';

const clearPending = (le: LoopEngine, work: number): void => void Atomics.and(le.engine.i32, le.workDataIndex(work), ~1);

describe('loop dispatch in Wasm', () => {
  test('regression: loop_process_batch that takes the last commands does not put the worker on the idle list with them in hand (it was reapable, and the timer never armed)', () => {
    const le = new LoopEngine({ workers: 4, cmds: 16, devices: 2 });
    const d = le.device(0, 1)!;
    const c = Array.from({ length: 3 }, () => le.cmdAlloc());
    for (const x of c) d.queueWork(x, 9);
    const w = le.cmdWorker(c[0]!);
    const work = le.workOf(w);
    clearPending(le, work);
    const { out, outCap } = le.engine.scratch;
    expect(le.x.loop_process_batch(work, out, outCap, 50)).toBe(3); // every command, list now empty
    expect(Array.from(le.u32.subarray(out >>> 2, (out >>> 2) + 3))).toEqual(c);
    expect(le.onIdle(w)).toBe(false); // not idle while the caller handles them
    expect(d.idleList()).toEqual([]);
    expect(le.x.loop_process_batch(work, out, outCap, 60)).toBe(-1); // the next call finds it empty: the idle step
    expect(le.onIdle(w)).toBe(true);
    expect(le.lastRanAt(w)).toBe(60);
    // the root work never idles: a batch that empties it returns what it took, then 0
    const r = Array.from({ length: 2 }, () => le.cmdAlloc());
    for (const x of r) d.queueWork(x, 0);
    clearPending(le, d.rootWork);
    expect(le.x.loop_process_batch(d.rootWork, out, outCap, 70)).toBe(2);
    expect(le.x.loop_process_batch(d.rootWork, out, outCap, 70)).toBe(0);
  });

  test("loop_queue_work's hint: taken only while it is the tree's live worker for the key, of this device; else the walk decides", () => {
    const le = new LoopEngine({ workers: 8, cmds: 32, devices: 2 });
    const d = le.device(0, 1)!;
    const d2 = le.device(1, 1)!;
    const c = (): number => le.cmdAlloc();
    const a = c();
    expect(d.queueWork(a, 7)).toBe(LOOP_QW_NEW | LOOP_QW_QUEUE);
    const w7 = le.cmdWorker(a);
    const b = c();
    d.queueWork(b, 8);
    const w8 = le.cmdWorker(b);
    // the right hint: the same worker; a wrong key's worker as the hint: still the right one
    let x = c();
    d.queueWork(x, 7, w7);
    expect(le.cmdWorker(x)).toBe(w7);
    x = c();
    d.queueWork(x, 8, w7);
    expect(le.cmdWorker(x)).toBe(w8);
    // another device's worker for the same key is not this device's
    const y = c();
    expect(d2.queueWork(y, 7, w7)).toBe(LOOP_QW_NEW | LOOP_QW_QUEUE);
    const w7b = le.cmdWorker(y);
    expect(w7b).not.toBe(w7);
    expect(d2.workers().map((w) => le.key(w))).toEqual([7]);
    expect(d.nrWorkers).toBe(2);
    // a freed worker's offset as the hint: its key is 0, so the walk makes a new worker
    for (const w of [w7, w8]) {
      const work = le.workOf(w);
      clearPending(le, work);
      while (d.processOne(work, 10) >= 64);
    }
    const freed: number[] = [];
    d.freeIdleWorkers(1000, 60, true, (w) => freed.push(w));
    expect(freed.sort()).toEqual([w7, w8].sort());
    expect(le.key(w7)).toBe(0);
    const z = c();
    expect(d.queueWork(z, 7, w7) & LOOP_QW_NEW).toBe(LOOP_QW_NEW);
    expect(d.workers().map((w) => le.key(w))).toEqual([7]);
  });

  test('loop_queue_work: new worker, pending dedupe, root queue, FIFO, idle, rescue, reaper at last_ran_at + timeout', () => {
    const le = new LoopEngine({ workers: 4, cmds: 16, devices: 2 });
    const d = le.device(0, 1)!;
    expect(d.lo % 64).toBe(0); // lo_work_lock on its own cache line
    const c = Array.from({ length: 6 }, () => le.cmdAlloc());
    expect(d.queueWork(c[0]!, 7)).toBe(LOOP_QW_NEW | LOOP_QW_QUEUE);
    const w7 = le.cmdWorker(c[0]!);
    expect(le.key(w7)).toBe(7);
    expect(d.queueWork(c[1]!, 7)).toBe(0); // found, already PENDING: queue_work is a no-op
    expect(le.cmdWorker(c[1]!)).toBe(w7);
    expect(d.queueWork(c[2]!, 0)).toBe(LOOP_QW_ROOT | LOOP_QW_QUEUE);
    expect(d.queueWork(c[3]!, 2 ** 40 + 5)).toBe(LOOP_QW_NEW | LOOP_QW_QUEUE); // u64 keys
    expect(le.key(le.cmdWorker(c[3]!))).toBe(2 ** 40 + 5);
    expect(d.nrWorkers).toBe(2);
    expect(d.workers().map((w) => le.key(w))).toEqual([7, 2 ** 40 + 5]);
    // the kworker: PENDING cleared as execution starts; commands in FIFO order; then idle
    const work = le.workOf(w7);
    clearPending(le, work);
    expect(d.processOne(work, 100)).toBe(c[0]);
    expect(d.processOne(work, 100)).toBe(c[1]);
    expect(d.processOne(work, 100)).toBe(LOOP_PW_IDLE);
    expect(le.onIdle(w7)).toBe(true);
    expect(le.lastRanAt(w7)).toBe(100);
    expect(d.processOne(work, 101)).toBe(0); // already idle: not added twice
    expect(d.processOne(d.rootWork, 100)).toBe(c[2]);
    expect(d.processOne(d.rootWork, 100)).toBe(0); // the root work never goes idle
    // new work while idle: rescued from the reaper
    expect(d.queueWork(c[4]!, 7)).toBe(LOOP_QW_RESCUED | LOOP_QW_QUEUE);
    expect(le.onIdle(w7)).toBe(false);
    // work queued again while it ran: not idle at the end (PENDING), idle after its next run
    clearPending(le, work);
    expect(d.processOne(work, 200)).toBe(c[4]);
    expect(d.queueWork(c[5]!, 7)).toBe(LOOP_QW_QUEUE);
    expect(d.processOne(work, 200)).toBe(c[5]);
    expect(d.processOne(work, 200)).toBe(0); // PENDING: it will run again
    clearPending(le, work);
    expect(d.processOne(work, 300)).toBe(LOOP_PW_IDLE);
    // the reaper: not before last_ran_at + timeout, then freed; nothing stays idle
    const freed: [number, number][] = [];
    expect(d.freeIdleWorkers(359, 60, false, (w, t) => freed.push([w, t]))).toBe(true);
    expect(freed).toEqual([]);
    expect(d.freeIdleWorkers(360, 60, false, (w, t) => freed.push([w, t]))).toBe(false);
    expect(freed).toEqual([[w7, 300]]);
    expect(d.find(7)).toBe(0);
    expect(d.nrWorkers).toBe(1);
    expect(d.validate().count).toBe(1);
    expect(d.stats()).toMatchObject({ queued: 6, rootQueued: 1, workersCreated: 2, workersFreed: 1, queueNoop: 1, rescued: 1 });
  });

  test('a full worker arena falls back to the root queue (LOOP_QW_FAILED)', () => {
    const le = new LoopEngine({ workers: 1, cmds: 4, devices: 1 });
    const d = le.device(0, 1)!;
    expect(d.queueWork(le.cmdAlloc(), 2) & LOOP_QW_NEW).toBeTruthy();
    const c = le.cmdAlloc();
    expect(d.queueWork(c, 3)).toBe(LOOP_QW_FAILED | LOOP_QW_ROOT | LOOP_QW_QUEUE);
    expect(le.cmdWorker(c)).toBe(0);
    expect(d.stats().allocFailures).toBe(1);
    expect(() => { le.cmdAlloc(); le.cmdAlloc(); le.cmdAlloc(); }).toThrow(/kwq\.loop_cmd_max/);
  });

  test('model: random queue / process / reap sequences give what the TypeScript reference gives', () => {
    type Op = { k: 'q'; key: number } | { k: 'p'; key: number } | { k: 'reap'; dt: number; all: boolean };
    const op: fc.Arbitrary<Op> = fc.oneof(
      { weight: 6, arbitrary: fc.record({ k: fc.constant('q' as const), key: fc.nat(6) }) },
      { weight: 4, arbitrary: fc.record({ k: fc.constant('p' as const), key: fc.nat(6) }) },
      { weight: 2, arbitrary: fc.record({ k: fc.constant('reap' as const), dt: fc.constantFrom(0, 1, 19, 20, 21, 60), all: fc.boolean() }) },
    );
    fc.assert(fc.property(fc.array(op, { minLength: 40, maxLength: 120 }), fc.constantFrom(0, 30), fc.integer({ min: 1, max: 5 }), (ops, failPct, cap) => {
      const le = new LoopEngine({ workers: cap, cmds: 256, devices: 1 });
      const d = le.device(failPct, 99)!;
      const ref = new RefLoopDispatch(cap, 256, failPct, 99);
      const wasmCmd: number[] = [0];
      const refOf = new Map<number, number>();
      let now = 0;
      const refWorkerOf = (key: number): number => (key === 0 ? 0 : ref.tree.find(key, 0) / 8);
      for (const o of ops) {
        if (o.k === 'q') {
          const i = wasmCmd.length;
          const c = le.cmdAlloc();
          wasmCmd.push(c);
          refOf.set(c, i);
          ref.setCmdKey(i, o.key, 0);
          expect(d.queueWork(c, o.key)).toBe(ref.queueWork(i));
          const w = le.cmdWorker(c);
          const rw = ref.cmdWorker(i);
          expect(w === 0 ? 0 : le.key(w)).toBe(rw === 0 ? 0 : ref.tree.keyLo(ref.tree.node(rw)));
        } else if (o.k === 'p') {
          // a kworker executes the work of `key`'s worker (or the root work) to the end
          const w = o.key === 0 ? d.rootWork : d.find(o.key);
          const rw = refWorkerOf(o.key);
          if ((w === 0) !== (o.key !== 0 && rw === 0)) throw new Error('worker sets differ');
          if (w === 0) continue;
          const work = o.key === 0 ? d.rootWork : le.workOf(w);
          clearPending(le, work);
          ref.startWork(rw);
          now += 1;
          for (;;) {
            const a = d.processOne(work, now);
            const b = ref.processOne(rw, now);
            if (a >= 64) expect(refOf.get(a)).toBe(b);
            else expect(a === LOOP_PW_IDLE ? REF_PW_IDLE : a).toBe(b);
            if (a < 64) break;
            le.cmdFree(a);
          }
        } else {
          now += o.dt;
          const freed: number[] = [];
          d.freeIdleWorkers(now, 20, o.all, (w) => freed.push(le.key(w)));
          const out = new Int32Array(64);
          const n = ref.freeIdleWorkers(now, 20, o.all, out);
          expect(freed.length).toBe(n);
        }
        expect(d.nrWorkers).toBe(ref.nrWorkers);
        const refTree: number[] = [];
        for (let n = ref.tree.first(); n !== 0; n = ref.tree.next(n)) refTree.push(ref.tree.keyLo(n));
        expect(d.workers().map((w) => le.key(w))).toEqual(refTree);
        const refIdle: number[] = [];
        for (let i = ref.idleHead; i !== 0; i = ref.w[i * 16 + 4]!) refIdle.push(ref.tree.keyLo(ref.tree.node(i)));
        expect(d.idleList().map((w) => le.key(w))).toEqual(refIdle);
        d.validate();
      }
      const s = d.stats();
      expect(s.queued).toBe(ref.queued);
      expect(s.queueNoop).toBe(ref.queueNoop);
    }), { numRuns: 150, seed: 12 });
  });

  test('loop_queue_work_batch gives each command what one loop_queue_work call per command gives', () => {
    const keys = Array.from({ length: 300 }, (_, i) => [0, 3, 5, 3, 9, 11, 5][i % 7]! + (i % 50 === 0 ? 100 : 0));
    const run = (batch: boolean): number[] => {
      const le = new LoopEngine({ workers: 4, cmds: 300, devices: 1 });
      const d = le.device(25, 7)!;
      const cmds = keys.map((k) => { const c = le.cmdAlloc(); le.setCmdKey(c, k); return c; });
      if (batch) d.queueWorkBatch(cmds);
      else for (const [i, c] of cmds.entries()) d.queueWork(c, keys[i]!);
      return cmds.map((c) => le.u32[(c + LC.RESULT) >>> 2]! * 1e9 + (le.cmdWorker(c) === 0 ? 0 : le.key(le.cmdWorker(c))));
    };
    expect(run(true)).toEqual(run(false));
  });
});

describe('the Wasm workqueue (assembly/loop-wq.ts)', () => {
  test('pending dedupe; a work queued while it runs goes to its kworker, never to another', () => {
    const le = new LoopEngine({ workers: 2, cmds: 4, devices: 1, workqueues: 1 });
    const d = le.device(0, 1)!;
    const wq = le.workqueue(2);
    const x = le.x;
    const a = d.rootWork;
    expect(x.loop_queue_work_on(wq, a)).toBe(1);
    expect(x.loop_queue_work_on(wq, a)).toBe(0); // PENDING: not queued twice
    expect(x.loop_wq_pick(wq, 0, 0) >>> 0).toBe(a); // kworker 0 runs it; PENDING cleared
    expect(x.loop_queue_work_on(wq, a)).toBe(1); // queued again while running
    x.loop_wq_stop(wq); // from here pick returns 0 instead of sleeping when it finds nothing
    expect(x.loop_wq_pick(wq, 1, 0)).toBe(0); // kworker 1 must not get it
    expect(x.loop_wq_idle(wq)).toBe(0);
    x.loop_wq_done(wq, 0, a);
    expect(x.loop_wq_pick(wq, 0, 0) >>> 0).toBe(a); // from kworker 0's scheduled list
    x.loop_wq_done(wq, 0, a);
    expect(x.loop_wq_idle(wq)).toBe(1);
    const u = le.u32;
    expect([u[(wq + WQ.QUEUED) >>> 2], u[(wq + WQ.EXECUTED) >>> 2], u[(wq + WQ.COLLISIONS) >>> 2]]).toEqual([2, 2, 1]);
    expect(a - d.lo).toBe(LO.ROOT_WORK);
  });
});
