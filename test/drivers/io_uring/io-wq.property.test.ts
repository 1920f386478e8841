// Property tests (fast-check) of io-wq's hashed queue in Wasm (assembly/io-wq.ts):
// random interleavings of io_wq_enqueue and of several workers taking chains
// (io_get_next_work) and finishing works (io_wq_work_done). Pinned: one chain per
// hash bucket runs at a time, works of one bucket run in enqueue order, nothing is
// lost or run twice, and the stalled bit never hides runnable work for good.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  IoWqEngine, IO_WQ_ACCT_BOUND, IO_WQ_ENQ_CREATE, IO_WQ_ENQ_QUEUED, IO_WQ_FN_HOST, IO_WQ_WORK_UNBOUND,
} from '../../../src/wasm/io-wq.js';

type Op =
  | { op: 'enqueue'; key: number | null; unbound: boolean }
  | { op: 'step'; worker: number };

const WORKERS = 4;
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ op: fc.constant('enqueue' as const), key: fc.option(fc.nat(200), { nil: null }), unbound: fc.boolean() }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('step' as const), worker: fc.nat(WORKERS - 1) }) },
);

describe('io-wq hashed queue (Wasm) against its rules', () => {
  const ie = new IoWqEngine({ wqs: 2, works: 512 });

  it('one chain per hash at a time, FIFO within a hash, every work run exactly once', () => {
    fc.assert(fc.property(fc.array(opArb, { maxLength: 120 }), (ops) => {
      const wqOff = ie.wqAlloc();
      const wq = ie.wq(wqOff);
      wq.init(WORKERS, 64);
      const cur: number[][] = Array.from({ length: WORKERS }, () => []); // the chain each worker holds
      const accts = Array.from({ length: WORKERS }, (_, i) => (i % 2 === 0 ? 0 : 1));
      const all: number[] = [];
      const bucketOf = new Map<number, number>(); // work -> bucket (hashed only)
      const seqOf = new Map<number, number>();
      const lastRun = new Map<number, number>(); // bucket -> seq of the last work run
      const running = new Map<number, number>(); // bucket -> worker holding its chain
      let seq = 0;
      const step = (i: number): void => {
        if (cur[i]!.length === 0) {
          const w = wq.getNextWork(accts[i]!);
          if (w === 0) return;
          const chain: number[] = [];
          for (let p = w; p !== 0; p = ie.workNext(p)) chain.push(p);
          const b = bucketOf.get(w);
          if (b !== undefined) {
            // the hash bit was free: nobody else holds this bucket's chain
            expect(running.has(b)).toBe(false);
            running.set(b, i);
            for (const p of chain) expect(bucketOf.get(p)).toBe(b);
          } else expect(chain.length).toBe(1);
          cur[i] = chain;
          return;
        }
        const w = cur[i]!.shift()!;
        const b = bucketOf.get(w);
        if (b !== undefined) {
          expect(seqOf.get(w)!).toBeGreaterThan(lastRun.get(b) ?? -1);
          lastRun.set(b, seqOf.get(w)!);
        }
        const next = wq.workDone(w);
        expect(next).toBe(cur[i]![0] ?? 0);
        if (b !== undefined && next === 0) running.delete(b);
      };
      for (const o of ops) {
        if (o.op === 'enqueue') {
          const w = ie.workAlloc();
          ie.workInit(w, IO_WQ_FN_HOST, 0, 0);
          if (o.key !== null) {
            // hashed work is bound in io_uring (regular files); unbound only when unhashed
            bucketOf.set(w, ie.hashWork(w, o.key));
          } else if (o.unbound) ie.workSetFlags(w, IO_WQ_WORK_UNBOUND);
          seqOf.set(w, seq++);
          all.push(w);
          const r = wq.enqueue(w);
          expect(r & IO_WQ_ENQ_QUEUED).toBe(IO_WQ_ENQ_QUEUED);
          if (r & IO_WQ_ENQ_CREATE) wq.createFailed(o.key !== null || !o.unbound ? IO_WQ_ACCT_BOUND : 1); // no thread here: undo
        } else step(o.worker);
      }
      // drain: keep stepping every worker; the stalled bit must not block progress forever
      for (let guard = 0; guard < 10_000; guard++) {
        if (cur.every((c) => c.length === 0) && !wq.stats(0).pending && !wq.stats(1).pending) break;
        for (let i = 0; i < WORKERS; i++) step(i);
      }
      expect(cur.every((c) => c.length === 0)).toBe(true);
      expect(wq.stats(0).pending || wq.stats(1).pending).toBe(false);
      for (const w of all) expect(ie.workRuns(w)).toBe(1);
      expect(wq.hashMap()).toEqual({ lo: 0, hi: 0 });
      for (const w of all) ie.workFree(w);
      ie.wqFree(wqOff);
    }), { numRuns: 200 });
    expect(ie.freeWorks()).toBe(512);
  });

  it('a stalled acct is runnable again once the hash is released', () => {
    const wqOff = ie.wqAlloc();
    const wq = ie.wq(wqOff);
    wq.init(4, 64);
    const a = ie.workAlloc();
    const b = ie.workAlloc();
    for (const w of [a, b]) { ie.workInit(w, IO_WQ_FN_HOST, 0, 0); ie.hashWork(w, 7); }
    wq.enqueue(a);
    expect(wq.getNextWork(0)).toBe(a); // chain [a]
    wq.enqueue(b); // a new chain of the same hash, queued while a runs
    expect(wq.runQueue(0)).toBe(true);
    expect(wq.getNextWork(0)).toBe(0); // hash owned: stalled
    expect(wq.stats(0).stalled).toBe(true);
    expect(wq.runQueue(0)).toBe(false);
    expect(wq.workDone(a)).toBe(0); // releases the hash, clears STALLED
    expect(wq.stats(0).stalled).toBe(false);
    expect(wq.getNextWork(0)).toBe(b);
    wq.workDone(b);
    ie.workFree(a); ie.workFree(b); ie.wqFree(wqOff);
  });
});

describe('IoWqEngine.workInitBatch', () => {
  const ie = new IoWqEngine({ wqs: 1, works: 2 * 9000 + 2 });
  it('is workInit + hashWork per work, across scratch-sized chunks', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 9000 }), fc.boolean(), fc.nat(), (n, hashed, salt) => {
      const one = new Uint32Array(n);
      const batch = new Uint32Array(n);
      ie.works.allocBatch(one);
      ie.works.allocBatch(batch);
      const keys = Array.from({ length: n }, (_, i) => (i * 2654435761 + salt) >>> 0);
      for (let i = 0; i < n; i++) {
        ie.workSetFlags(batch[i]!, IO_WQ_WORK_UNBOUND); // stale flags the init must clear
        ie.workInit(one[i]!, IO_WQ_FN_HOST, 0, 0);
        if (hashed) ie.hashWork(one[i]!, keys[i]!);
      }
      ie.workInitBatch(batch, IO_WQ_FN_HOST, hashed ? keys : undefined);
      for (let i = 0; i < n; i++) {
        expect(ie.workFlags(batch[i]!)).toBe(ie.workFlags(one[i]!));
        expect(ie.workFn(batch[i]!)).toBe(IO_WQ_FN_HOST);
        expect(ie.workRuns(batch[i]!)).toBe(0);
      }
      ie.works.freeBatch(one);
      ie.works.freeBatch(batch);
    }), { numRuns: 20 });
  });
  it('names the mismatch when there are fewer keys than works', () => {
    const w = new Uint32Array(2);
    ie.works.allocBatch(w);
    expect(() => ie.workInitBatch(w, IO_WQ_FN_HOST, [1])).toThrow(/2 works but only 1 keys/);
    ie.works.freeBatch(w);
  });
});
