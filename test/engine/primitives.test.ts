// Unit tests of each assembly primitive's contract (kernel-reference.md sections 4, 5),
// run against build/kwq.wasm over a real shared memory.
import { describe, expect, it } from 'vitest';
import { Engine } from '../../src/wasm/engine.js';
import { KwqError } from '../../src/kernel/error.js';
import { ENOMEM } from '../../src/kernel/errno.js';

function setup(nodes = 16) {
  const engine = Engine.create({ works: 8, workers: 1, counters: 4, arenas: [{ name: 'nodes', objSize: 8, capacity: nodes }, { name: 'words', objSize: 64, capacity: 4 }] });
  const x = engine.exports;
  const nodeArena = engine.arena('nodes');
  const words = engine.arena('words');
  const head = words.alloc();
  x.init_llist_head(head);
  // arena objects are not zeroed (kmalloc, not kzalloc): the free list lives in word 0
  const zalloc = (): number => { const p = words.alloc(); engine.u32.fill(0, p >> 2, (p + 64) >> 2); return p; };
  const n: number[] = [];
  for (let i = 0; i < nodes; i++) n.push(nodeArena.alloc());
  return { engine, x, head, n, words: { alloc: zalloc } };
}

/** Follow a detached chain. */
function walk(engine: Engine, first: number): number[] {
  const out: number[] = [];
  for (let p = first; p !== 0; p = engine.u32[p >> 2]!) out.push(p);
  return out;
}

describe('llist', () => {
  it('llist_add returns 1 only when the list was empty', () => {
    const { x, head, n } = setup();
    expect(x.llist_empty(head)).toBe(1);
    expect(x.llist_add(n[0]!, head)).toBe(1);
    expect(x.llist_add(n[1]!, head)).toBe(0);
    expect(x.llist_add(n[2]!, head)).toBe(0);
    expect(x.llist_empty(head)).toBe(0);
  });

  it('llist_del_all returns newest first and empties the list; reverse gives FIFO', () => {
    const { engine, x, head, n } = setup();
    for (const p of [n[0]!, n[1]!, n[2]!]) x.llist_add(p, head);
    const chain = x.llist_del_all(head);
    expect(x.llist_empty(head)).toBe(1);
    expect(walk(engine, chain)).toEqual([n[2], n[1], n[0]]);
    expect(walk(engine, x.llist_reverse_order(chain))).toEqual([n[0], n[1], n[2]]);
    expect(x.llist_del_all(head)).toBe(0);
    expect(x.llist_reverse_order(0)).toBe(0);
  });

  it('llist_add_batch pushes a chain at the head and reports was-empty', () => {
    const { engine, x, head, n } = setup();
    x.llist_add(n[0]!, head);
    // chain n1 -> n2 (n2's next is overwritten by add_batch)
    engine.u32[n[1]! >> 2] = n[2]!;
    expect(x.llist_add_batch(n[1]!, n[2]!, head)).toBe(0);
    expect(walk(engine, x.llist_del_all(head))).toEqual([n[1], n[2], n[0]]);
    engine.u32[n[3]! >> 2] = n[4]!;
    expect(x.llist_add_batch(n[3]!, n[4]!, head)).toBe(1);
  });

  it('llist_add_array orders nodes so that del_all + reverse yields array order', () => {
    const { engine, x, head, n } = setup();
    x.llist_add(n[9]!, head); // an older node
    const at = engine.stageInput(n, 0, 5);
    expect(x.llist_add_array(at, 5, head)).toBe(0);
    expect(walk(engine, x.llist_reverse_order(x.llist_del_all(head)))).toEqual([n[9], n[0], n[1], n[2], n[3], n[4]]);
    expect(x.llist_add_array(at, 0, head)).toBe(0);
    expect(x.llist_empty(head)).toBe(1);
  });

  it('llist_del_first removes the newest entry, 0 when empty', () => {
    const { x, head, n } = setup();
    expect(x.llist_del_first(head)).toBe(0);
    x.llist_add(n[0]!, head);
    x.llist_add(n[1]!, head);
    expect(x.llist_del_first(head)).toBe(n[1]);
    expect(x.llist_del_first(head)).toBe(n[0]);
    expect(x.llist_del_first(head)).toBe(0);
    expect(x.llist_empty(head)).toBe(1);
  });

  it('init_llist_node marks a node off-list until it is added', () => {
    const { x, head, n } = setup();
    x.init_llist_node(n[0]!);
    expect(x.llist_on_list(n[0]!)).toBe(0);
    x.llist_add(n[1]!, head);
    x.llist_add(n[0]!, head);
    expect(x.llist_on_list(n[0]!)).toBe(1);
  });

  it('llist_del_all_to writes FIFO order and puts back what does not fit', () => {
    const { engine, x, head, n } = setup();
    for (let i = 0; i < 5; i++) x.llist_add(n[i]!, head);
    const out = engine.scratch.out;
    expect(x.llist_del_all_to(head, out, 3, 1)).toBe(3);
    expect(Array.from(engine.u32.subarray(out >> 2, (out >> 2) + 3))).toEqual([n[0], n[1], n[2]]);
    expect(walk(engine, x.llist_reverse_order(x.llist_del_all(head)))).toEqual([n[3], n[4]]);
  });
});

describe('bitops', () => {
  it('test_and_set_bit / test_and_clear_bit return the old bit; bit 1 is mask 0x2', () => {
    const { engine, x, words } = setup();
    const w = words.alloc();
    expect(x.test_and_set_bit(1, w)).toBe(0);
    expect(engine.u32[w >> 2]).toBe(0x2);
    expect(x.test_and_set_bit(1, w)).toBe(1);
    expect(x.test_bit(1, w)).toBe(1);
    expect(x.test_bit(0, w)).toBe(0);
    expect(x.test_and_clear_bit(1, w)).toBe(1);
    expect(x.test_and_clear_bit(1, w)).toBe(0);
    expect(engine.u32[w >> 2]).toBe(0);
  });

  it('set_bit / clear_bit address bit nr of word nr / 32 and leave other bits alone', () => {
    const { engine, x, words } = setup();
    const w = words.alloc();
    engine.u32[w >> 2] = 0x8000_0001;
    x.set_bit(33, w);
    expect(engine.u32[(w >> 2) + 1]).toBe(0x2);
    x.set_bit(4, w);
    expect(engine.u32[w >> 2]).toBe(0x8000_0011);
    x.clear_bit(31, w);
    expect(engine.u32[w >> 2]).toBe(0x11);
    expect(x.test_bit(33, w)).toBe(1);
  });
});

describe('arena', () => {
  it('allocates every object once, then returns 0 (tryAlloc: -ENOMEM) without corrupting the list', () => {
    const engine = Engine.create({ works: 4, workers: 0 });
    const seen = new Set<number>();
    for (let i = 0; i < 4; i++) seen.add(engine.works.alloc());
    expect(seen.size).toBe(4);
    for (const p of seen) expect(engine.works.contains(p)).toBe(true);
    expect(engine.exports.arena_alloc(engine.works.layout.header)).toBe(0);
    expect(engine.works.tryAlloc()).toBe(-ENOMEM);
    expect(() => engine.works.alloc()).toThrow(/arena works.*exhausted.*`works` option/);
    expect(engine.works.countFree()).toBe(0);
    for (const p of seen) engine.works.free(p);
    expect(engine.works.countFree()).toBe(4);
    const again = new Set<number>();
    for (let i = 0; i < 4; i++) again.add(engine.works.alloc());
    expect(again).toEqual(seen);
  });

  it('allocBatch is all-or-nothing and freeBatch returns everything', () => {
    const engine = Engine.create({ works: 10, workers: 0 });
    const out = new Uint32Array(6);
    engine.works.allocBatch(out);
    expect(new Set(out).size).toBe(6);
    expect(engine.works.countFree()).toBe(4);
    expect(() => engine.works.allocBatch(new Uint32Array(5))).toThrow(KwqError);
    expect(engine.works.countFree()).toBe(4); // the rejected call changed nothing
    engine.works.freeBatch(out);
    expect(engine.works.countFree()).toBe(10);
  });

  it('free of a foreign pointer is refused before it reaches Wasm', () => {
    const engine = Engine.create({ works: 2, workers: 0 });
    const p = engine.works.alloc();
    expect(() => engine.works.free(p + 4)).toThrow(/not an object of this arena/);
    expect(() => engine.works.free(0)).toThrow(KwqError);
    expect(engine.works.countFree()).toBe(1);
  });
});

describe('locks and counters', () => {
  it('spinlock and mutex: try/unlock on one thread', () => {
    const { x, words } = setup();
    const l = words.alloc();
    expect(x.spin_trylock(l)).toBe(1);
    expect(x.spin_trylock(l)).toBe(0);
    expect(x.spin_is_locked(l)).toBe(1);
    x.spin_unlock(l);
    x.spin_lock(l);
    x.spin_unlock(l);
    const m = words.alloc();
    expect(x.mutex_trylock(m)).toBe(1);
    expect(x.mutex_trylock(m)).toBe(0);
    x.mutex_unlock(m);
    x.mutex_lock(m); // uncontended: no wait
    expect(x.mutex_is_locked(m)).toBe(1);
    x.mutex_unlock(m);
    expect(x.mutex_is_locked(m)).toBe(0);
  });

  it('futex_wait returns not-equal / timed-out without blocking forever', () => {
    const { engine, x, words } = setup();
    const w = words.alloc();
    engine.u32[w >> 2] = 5;
    expect(x.futex_wait(w, 4, 0)).toBe(1);
    expect(x.futex_wait(w, 5, 1000)).toBe(2);
    expect(x.futex_wake(w, 1)).toBe(0);
  });

  it('counters add atomically, snapshot in batch, reject bad slots', () => {
    const { engine } = setup();
    engine.counters.add(1, 5);
    engine.counters.add(1, 2);
    engine.counters.add(3, 1);
    expect(Array.from(engine.counters.snapshot())).toEqual([0, 7, 0, 1]);
    expect(() => engine.counters.add(4, 1)).toThrow(/slot 4 does not exist/);
    engine.counters.reset();
    expect(engine.counters.get(1)).toBe(0);
  });
});

describe('Engine.create', () => {
  it('rejects bad options with a KwqError naming the field', () => {
    expect(() => Engine.create({ works: 0, workers: 1 })).toThrow(/option works must be an integer >= 1/);
    expect(() => Engine.create({ works: 1, workers: 1, arenas: [{ name: 'x', objSize: 12, capacity: 1 }] })).toThrow(/objSize must be a multiple of 8/);
    expect(() => Engine.create({ works: 1, workers: 1 }).worker(1)).toThrow(/vhost worker 1 does not exist/);
  });

  it('sizes the memory once: initial == maximum, layout regions 64-byte aligned and disjoint', () => {
    const engine = Engine.create({ works: 100, workers: 3, arenas: [{ name: 'a', objSize: 24, capacity: 10 }] });
    expect(engine.memory.buffer.byteLength).toBeGreaterThanOrEqual(engine.layout.totalBytes);
    expect(() => engine.memory.grow(1)).toThrow();
    const regions = [...engine.layout.regions].sort((a, b) => a.offset - b.offset);
    let end = 128;
    for (const r of regions) {
      expect(r.offset % 8).toBe(0);
      expect(r.offset).toBeGreaterThanOrEqual(end);
      end = r.offset + r.bytes;
    }
    expect(engine.layout.workers.base % 64).toBe(0);
  });
});
