// The vhost worker's contract (kernel-reference.md 1.7, 1.8): QUEUED dedup, FIFO per
// batch, QUEUED cleared before fn runs, exact FIFO across built-in and HOST works.
import { describe, expect, it } from 'vitest';
import { Engine, type WorkRef } from '../../src/wasm/engine.js';
import { VHOST_FN_COUNT, VHOST_FN_HOST, VHOST_FN_NOOP, VHOST_FN_SPIN, VHOST_WORKER } from '../../src/wasm/layout.js';

function setup(works = 64) {
  const engine = Engine.create({ works, workers: 2, counters: 8 });
  return { engine, worker: engine.worker(0), arena: engine.works };
}

describe('vhost_worker_queue', () => {
  it('queuing an already-queued work adds nothing and sends no wake-up', () => {
    const { worker, arena } = setup();
    const w = arena.alloc();
    arena.init(w, VHOST_FN_NOOP);
    expect(arena.queued(w)).toBe(false);
    expect(worker.queue(w)).toBe(1);
    expect(arena.flags(w)).toBe(0x2);
    expect(worker.queue(w)).toBe(0);
    expect(worker.queue(w)).toBe(0);
    expect(worker.run()).toBe(1); // ran once, not three times
    expect(worker.stats()).toMatchObject({ items: 1, batches: 1, wakeups: 0, violations: 0 });
  });

  it('wakes the worker only when it said it is asleep, once per sleep', () => {
    const { engine, worker, arena } = setup();
    const [a, b] = [arena.alloc(), arena.alloc()];
    arena.init(a, VHOST_FN_NOOP);
    arena.init(b, VHOST_FN_NOOP);
    // pretend the worker thread published SLEEPING (vhost_worker_loop does this before wait32)
    Atomics.store(engine.u32, (worker.offset + VHOST_WORKER.STATE) >> 2, 1);
    expect(worker.sleeping).toBe(true);
    expect(worker.queue(a)).toBe(3); // added + woke
    expect(worker.sleeping).toBe(false);
    expect(worker.queue(b)).toBe(1); // added, worker already awake: no second notify
    expect(worker.stats().wakeups).toBe(1);
  });

  it('vhost_worker_queue_nowake (the sim runtime\'s: the host wakes) dedups on QUEUED and leaves the state word alone', () => {
    const { engine, worker, arena } = setup();
    const w = arena.alloc();
    arena.init(w, VHOST_FN_NOOP);
    Atomics.store(engine.u32, (worker.offset + VHOST_WORKER.STATE) >> 2, 1); // as if parked
    expect(engine.exports.vhost_worker_queue_nowake(worker.offset, w)).toBe(1);
    expect(engine.exports.vhost_worker_queue_nowake(worker.offset, w)).toBe(0);
    expect(worker.sleeping).toBe(true); // not woken: that is the caller's
    expect(worker.run()).toBe(1);
    expect(worker.stats()).toMatchObject({ items: 1, batches: 1, wakeups: 0, violations: 0 });
  });

  it('runs works in FIFO order per batch, counting into per-cgroup slots', () => {
    const { engine, worker, arena } = setup();
    const refs: WorkRef[] = [];
    for (let i = 0; i < 5; i++) {
      const w = arena.alloc();
      arena.init(w, VHOST_FN_HOST + i, i, 10);
      refs.push(w);
    }
    for (const w of refs) worker.queue(w);
    const order: number[] = [];
    expect(worker.run((_w, fn, arg) => { order.push(fn - VHOST_FN_HOST); expect(arg).toBe(fn - VHOST_FN_HOST); })).toBe(5);
    expect(order).toEqual([0, 1, 2, 3, 4]);
    expect(worker.stats()).toMatchObject({ items: 5, hostItems: 5, vcost: 50 });
    // COUNT: one add per run into slot arg
    const c = arena.alloc();
    arena.init(c, VHOST_FN_COUNT, 6);
    worker.queue(c);
    worker.run();
    worker.queue(c);
    worker.run();
    expect(engine.counters.get(6)).toBe(2);
  });

  it('clears QUEUED before fn runs: a work that re-queues itself lands in the next batch', () => {
    const { worker, arena } = setup();
    const w = arena.alloc();
    const other = arena.alloc();
    arena.init(w, VHOST_FN_HOST);
    arena.init(other, VHOST_FN_HOST + 1);
    worker.queue(w);
    worker.queue(other);
    const seen: string[] = [];
    let requeues = 0;
    worker.run((work, fn) => {
      seen.push(fn === VHOST_FN_HOST ? 'w' : 'o');
      expect(arena.queued(work)).toBe(false); // cleared before the handler runs
      if (work === w && requeues < 2) { requeues++; expect(worker.queue(w)).toBe(1); }
    }, 1);
    // one batch: w, other; w's re-queue is in the list, not in this batch
    expect(seen).toEqual(['w', 'o']);
    expect(worker.hasWork()).toBe(true);
    worker.run((work) => { seen.push('again'); if (requeues < 2) { requeues++; worker.queue(work); } });
    expect(seen).toEqual(['w', 'o', 'again', 'again']);
    expect(worker.stats()).toMatchObject({ batches: 3, items: 4, violations: 0 });
  });

  it('keeps exact FIFO across built-in and HOST works, even when the output buffer is small', () => {
    const engine = Engine.create({ works: 300, workers: 1, counters: 1, slotBytes: 1024 });
    const worker = engine.worker(0);
    const arena = engine.works;
    const cap = engine.scratch.outCap;
    expect(cap).toBeLessThan(200);
    const trace: number[] = [];
    const refs: WorkRef[] = [];
    // 250 works: runs of HOST works (longer than the out buffer) between COUNT works
    for (let i = 0; i < 250; i++) {
      const w = arena.alloc();
      const host = i % 100 < 90;
      arena.init(w, host ? VHOST_FN_HOST : VHOST_FN_COUNT, 0);
      arena.setTag(w, 0, i);
      refs.push(w);
    }
    worker.queueBatch(refs);
    worker.run((w) => {
      // every COUNT before this HOST work has already run: counter == COUNT works before i
      const i = arena.seq(w);
      const countsBefore = refs.slice(0, i).filter((r) => arena.fn(r) === VHOST_FN_COUNT).length;
      expect(engine.counters.get(0)).toBe(countsBefore);
      trace.push(i);
    });
    expect(trace).toEqual(refs.map((_, i) => i).filter((i) => i % 100 < 90));
    expect(engine.counters.get(0)).toBe(250 - trace.length);
  });

  it('vhost_work_queue_batch skips queued works, keeps array order, wakes at most once', () => {
    const { engine, worker, arena } = setup();
    const refs: WorkRef[] = [];
    for (let i = 0; i < 6; i++) { const w = arena.alloc(); arena.init(w, VHOST_FN_HOST, i); refs.push(w); }
    worker.queue(refs[2]!);
    Atomics.store(engine.u32, (worker.offset + VHOST_WORKER.STATE) >> 2, 1); // "asleep"
    expect(worker.queueBatch(refs)).toBe(5);
    expect(worker.stats().wakeups).toBe(1);
    const args: number[] = [];
    worker.run((_w, _fn, arg) => args.push(arg));
    expect(args).toEqual([2, 0, 1, 3, 4, 5]);
  });

  it('SPIN stores a result and the virtual cost is summed', () => {
    const { worker, arena } = setup();
    const w = arena.alloc();
    arena.init(w, VHOST_FN_SPIN, 1000, 250);
    worker.queue(w);
    worker.run();
    expect(arena.result(w)).not.toBe(0);
    expect(worker.stats().vcost).toBe(250);
  });

  it('refuses unknown built-in ids and HOST works without a handler', () => {
    const { worker, arena } = setup();
    const w = arena.alloc();
    expect(() => arena.init(w, 7)).toThrow(/work function 7 does not exist/);
    arena.init(w, VHOST_FN_HOST + 3);
    worker.queue(w);
    expect(() => worker.run()).toThrow(/no handler was given/);
  });
});

describe('VhostWorkerHandle reads of the worker struct (no Wasm call)', () => {
  it('itemsTaken, batchesTaken and hasWork agree with vhost_worker_stats / vhost_worker_has_work', () => {
    const { engine, worker, arena } = setup();
    const refs: WorkRef[] = [];
    for (let i = 0; i < 10; i++) { const w = arena.alloc(); arena.init(w, i % 2 ? VHOST_FN_HOST : VHOST_FN_NOOP, i); refs.push(w); }
    for (let round = 0; round < 3; round++) {
      expect(worker.hasWork()).toBe(engine.exports.vhost_worker_has_work(worker.offset) === 1);
      worker.queueBatch(refs);
      expect(worker.hasWork()).toBe(true);
      expect(engine.exports.vhost_worker_has_work(worker.offset)).toBe(1);
      worker.run(() => {});
      expect(worker.hasWork()).toBe(false);
      const st = worker.stats();
      expect(worker.itemsTaken()).toBe(st.items);
      expect(worker.batchesTaken()).toBe(st.batches);
    }
    expect(worker.itemsTaken()).toBe(30);
  });

  it('reads the u64 statistics across the 2^32 boundary (VHOST_WORKER.ITEMS / BATCHES match assembly/vhost.ts)', () => {
    const { engine, worker } = setup();
    const u32 = engine.u32;
    const items = (worker.offset + VHOST_WORKER.ITEMS) >> 2;
    const batches = (worker.offset + VHOST_WORKER.BATCHES) >> 2;
    u32[items] = 0xffff_fff0; u32[items + 1] = 7; // 7 * 2^32 + 2^32 - 16
    u32[batches] = 5; u32[batches + 1] = 1;
    const st = worker.stats();
    expect(st.items).toBe(7 * 2 ** 32 + 2 ** 32 - 16);
    expect(st.batches).toBe(2 ** 32 + 5);
    expect(worker.itemsTaken()).toBe(st.items);
    expect(worker.batchesTaken()).toBe(st.batches);
  });

  it('the spin floor and the wake-up count do not share bytes (the floor sat inside the u64 count until ABI 2)', () => {
    const { engine, worker, arena } = setup();
    const w = arena.alloc();
    arena.init(w, VHOST_FN_NOOP);
    worker.setSpinFloor(6);
    Atomics.store(engine.u32, (worker.offset + VHOST_WORKER.STATE) >> 2, 1); // "asleep"
    worker.queue(w);
    expect(worker.stats().wakeups).toBe(1);
    expect(engine.u32[(worker.offset + VHOST_WORKER.SPIN_FLOOR) >> 2]).toBe(6);
    worker.run();
    worker.setSpinFloor(0);
  });
});

