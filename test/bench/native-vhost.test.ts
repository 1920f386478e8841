// The native C reference of the vhost benchmarks (bench/native/kwq-native.c): its
// llist, threads (2 producers + 1 worker, and a worker per producer counting each work,
// as bench/vhost-scsi.ts runs it), scale (bench/scale.ts's rounds) and rbtree commands
// report every item run exactly once and the tree valid. Skipped, with the reason, without a compiler.
import { describe, expect, it } from 'vitest';
import { hasNative, nativeRef } from '../../bench/native/native.js';

const c = nativeRef();
if (!hasNative(c)) console.warn(`test/bench/native-vhost: ${c.note}`);

interface Round { itemsPerSec: number; added: number; run: number; counted: number; violations: number; leftQueued: number; exactlyOnce: boolean }

describe.skipIf(!hasNative(c))('native C vhost references (bench/native/kwq-native.c)', () => {
  const run = <T>(args: (string | number)[]): T => {
    if (!hasNative(c)) throw new Error(c.note);
    return c.run<T>(args, 60_000);
  };
  const threads = (mode: string, workers: number, fn: string): Round[] =>
    run<{ rounds: Round[] }>(['threads', mode, 64, 64, 32, 2, 50, 2, 150, 40, 10, 20, 6, workers, fn]).rounds;

  it('llist: every item taken once', () => {
    const r = run<{ exactlyOnce: boolean; items: number; medianNsPerItem: number }>(['llist', 256, 20]);
    expect(r.exactlyOnce).toBe(true);
    expect(r.items).toBeGreaterThan(0);
  });

  it('threads, ring-each and ring-batch, one worker: exactly once over every round', () => {
    for (const mode of ['ring-each', 'ring-batch']) {
      const rounds = threads(mode, 1, 'noop');
      expect(rounds).toHaveLength(2);
      for (const r of rounds) {
        expect(r, mode).toMatchObject({ exactlyOnce: true, violations: 0, leftQueued: 0 });
        expect(r.run).toBe(r.added);
        expect(r.added).toBeGreaterThan(0);
      }
    }
  });

  it('threads, a worker per producer, counting works: each run counted once', () => {
    for (const r of threads('ring-each', 2, 'count')) {
      expect(r).toMatchObject({ exactlyOnce: true, violations: 0, leftQueued: 0 });
      expect(r.counted).toBe(r.added);
    }
  });

  it('threads refuses more workers than producers and an unknown function', () => {
    expect(() => run(['threads', 'ring-each', 64, 64, 32, 2, 50, 1, 150, 40, 10, 20, 6, 3, 'noop'])).toThrow();
    expect(() => run(['threads', 'ring-each', 64, 64, 32, 2, 50, 1, 150, 40, 10, 20, 6, 1, 'spin'])).toThrow();
  });

  it('scale: every work of every device run once a round, in whole rounds', () => {
    for (const [devices, works] of [[1, 1], [7, 16], [300, 4]] as const) {
      const r = run<{ exactlyOnce: boolean; items: number; nsPerItem: number; spread: [number, number] }>(['scale', devices, works, 1000, 5]);
      expect(r.exactlyOnce, `${devices} x ${works}`).toBe(true);
      expect(r.items % (devices * works)).toBe(0);
      expect(r.items).toBeGreaterThanOrEqual(1000);
      expect(r.spread[0]).toBeLessThanOrEqual(r.nsPerItem);
      expect(r.nsPerItem).toBeLessThanOrEqual(r.spread[1]);
    }
  });

  it('scale with PSI (one group, a group per device): exactly once, every group idle at the end, the root saw stall', () => {
    for (const psi of ['psi', 'psi-groups']) {
      for (const [devices, works] of [[1, 16], [300, 16], [50, 1]] as const) {
        const r = run<{ exactlyOnce: boolean; items: number }>(['scale', devices, works, 1000, 5, psi]);
        expect(r.exactlyOnce, `${psi} ${devices} x ${works}`).toBe(true);
        expect(r.items % (devices * works)).toBe(0);
      }
    }
  });

  it('scale refuses no devices, no works or an unknown sixth argument', () => {
    expect(() => run(['scale', 0, 16, 1000, 5])).toThrow();
    expect(() => run(['scale', 4, 0, 1000, 5])).toThrow();
    expect(() => run(['scale', 4, 16, 1000, 5, 'pressure'])).toThrow(/psi or psi-groups/);
  });

  it('rbtree, both protocols: nothing lost or missed, the tree valid', () => {
    for (const protocol of ['same', 'fresh']) {
      const r = run<{ valid: boolean; lost: number; missed: number; left: number }>(['rbtree', 1000, 1, 20, protocol]);
      expect(r, protocol).toMatchObject({ valid: true, lost: 0, missed: 0, left: 0 });
    }
  });
});
