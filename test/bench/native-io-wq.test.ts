// The native C reference of the io-wq benchmark (bench/native/io-wq.c, built into
// kwq-native by bench/native/native.ts): it builds with the machine's cc, and its
// `io-wq` command runs a small count and reports every work run exactly once, no two
// works of a key at once and no reorder. Skipped, with the reason, without a compiler.
import { describe, expect, it } from 'vitest';
import { hasNative, nativeRef } from '../../bench/native/native.js';

const c = nativeRef();
if (!hasNative(c)) console.warn(`test/bench/native-io-wq: ${c.note}`);

describe.skipIf(!hasNative(c))('native C io-wq reference (bench/native/io-wq.c)', () => {
  const run = <T>(args: (string | number)[]): T => {
    if (!hasNative(c)) throw new Error(c.note);
    return c.run<T>(args, 60_000);
  };

  it('one thread, unhashed and hashed: every work ran once', () => {
    for (const mode of ['unhashed', 'hashed']) {
      const r = run<{ exactlyOnce: boolean; never: number; twice: number; done: number; left: boolean; nsPerWork: number; taken: number }>(['io-wq', 'single', mode, 512, 3, 1]);
      expect(r, mode).toMatchObject({ exactlyOnce: true, never: 0, twice: 0, left: false, done: 512 * 4 });
      expect(r.nsPerWork).toBeGreaterThan(0);
      // hashed over keys i & 15: whole chains are taken, far fewer than the works
      if (mode === 'hashed') expect(r.taken).toBeLessThan(512 * 4);
      else expect(r.taken).toBe(512 * 4);
    }
  });

  it('threads, 2 producers + 2 workers, 16 keys: exactly once, no overlap, no reorder', () => {
    const r = run<{ ok: boolean; exactlyOnce: boolean; overlaps: number; reorders: number; problems: string; worksPerSec: number; taken: number; takenAtProducersEnd: number; startLagMs: number }>(['io-wq', 'threads', 2, 2, 5000, 16, 64, 0, 4096]);
    expect(r.problems).toBe('');
    expect(r).toMatchObject({ ok: true, exactlyOnce: true, overlaps: 0, reorders: 0 });
    expect(r.worksPerSec).toBeGreaterThan(0);
    // the round's regime, as bench/io-wq.ts reads it for kwq too
    expect(r.takenAtProducersEnd).toBeLessThanOrEqual(r.taken);
    expect(r.startLagMs).toBeGreaterThanOrEqual(0);
  });

  it('threads, unhashed works with a cost: exactly once', () => {
    const r = run<{ ok: boolean; exactlyOnce: boolean; problems: string }>(['io-wq', 'threads', 1, 2, 3000, 0, 16, 50, 64]);
    expect(r.problems).toBe('');
    expect(r).toMatchObject({ ok: true, exactlyOnce: true });
  });

  it('a wrong command line is an error, not a made-up figure', () => {
    expect(() => run(['io-wq', 'single', 'sideways', 10, 1])).toThrow();
  });
});
