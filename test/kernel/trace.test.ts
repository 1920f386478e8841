/**
 * Tracepoint events: what a listener gets in both emit forms, and the emit sites of
 * the kernel model written in the fast form (name and ts in the literal).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { Kernel, type TraceEvent } from 'kwq';

describe('trace events', () => {
  test('both emit forms give the same event: name, ts = virtual now, the fields; one object for listeners and the buffer', async () => {
    const k = await Kernel.boot();
    const tp = k.trace.define('kwq_test_event');
    const seen: TraceEvent[] = [];
    const off = k.trace.on('kwq_test_event', (e) => seen.push(e));
    k.trace.record();
    k.advance(2500); // past 2^30 ns: ts is no longer a small integer
    tp.emit({ name: tp.name, ts: tp.now, pid: 7, work: 1 });
    tp.emit({ pid: 7, work: 2 });
    expect(seen).toEqual([
      { name: 'kwq_test_event', ts: 2500e6, pid: 7, work: 1 },
      { pid: 7, work: 2, name: 'kwq_test_event', ts: 2500e6 },
    ]);
    const recorded = k.trace.events().filter((e) => e.name === 'kwq_test_event');
    expect(recorded[0]).toBe(seen[0]);
    expect(recorded[1]).toBe(seen[1]);
    off();
    k.trace.record(false);
    expect(tp.enabled).toBe(false);
  });

  test('events carry the time inside a running slice (start + cost used so far)', async () => {
    const k = await Kernel.boot();
    const tp = k.trace.define('kwq_test_slice');
    const ts: number[] = [];
    k.trace.on('kwq_test_slice', (e) => ts.push(e.ts));
    const kt = k.kthreadCreate('kt', {
      run: (th) => {
        for (let i = 0; i < 3; i++) {
          th.costNs += 1000;
          if (tp.enabled) tp.emit({ name: tp.name, ts: tp.now, i });
        }
        return false;
      },
    });
    if (typeof kt === 'number') throw new Error(String(kt));
    k.advance(1);
    const t0 = k.now;
    k.wakeUpProcess(kt);
    k.runUntilIdle();
    expect(ts).toEqual([t0 + 1000, t0 + 2000, t0 + 3000]);
  });

  test('every emit site in src/kernel writes name and ts in its literal (the fast form, trace.ts)', () => {
    const root = join(import.meta.dirname, '../../src/kernel');
    const files: string[] = [];
    const walk = (d: string): void => {
      for (const n of readdirSync(d)) {
        const p = join(d, n);
        if (statSync(p).isDirectory()) walk(p);
        else if (p.endsWith('.ts')) files.push(p);
      }
    };
    walk(root);
    const slow: string[] = [];
    let sites = 0;
    for (const f of files) {
      readFileSync(f, 'utf8').split('\n').forEach((line, i) => {
        if (line.trimStart().startsWith('*')) return; // comments
        for (const m of line.matchAll(/(\w+)\.emit\(\{([^}]*)/g)) {
          sites++;
          const tpVar = m[1]!;
          if (!m[2]!.trimStart().startsWith(`name: ${tpVar}.name, ts: ${tpVar}.now,`)) slow.push(`${f}:${i + 1}`);
        }
      });
    }
    expect(sites).toBeGreaterThan(10);
    expect(slow).toEqual([]);
  });
});
