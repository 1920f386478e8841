import { describe, expect, it } from 'vitest';
import { scenario, type VmCpuMaxRun } from '../../scenarios/vm-cpu-max.js';

describe('scenario vm-cpu-max', () => {
  it('throttles both workers with vm1; after QEMU moves into vm1/emulator only 6.12\'s worker follows it under the emulator\'s limit', async () => {
    const r = await scenario.run({ percents: [25, 100], emulator: 10, ms: 300 });
    const runs = (r.data as { runs: VmCpuMaxRun[] }).runs;
    const get = (rel: string, p: number): VmCpuMaxRun => runs.find((x) => x.release === rel && x.percent === p)!;
    for (const rel of ['6.1', '6.12']) {
      const q = get(rel, 25);
      const full = get(rel, 100);
      expect(q.workerIsKthread).toBe(rel === '6.1');
      expect(q.before.workerCgroup).toBe('/machine.slice/vm1');
      // 25 % of a CPU: throttled every period, a quarter of the unthrottled I/O or less
      expect(q.before.nrThrottled).toBe(3);
      expect(q.before.ios).toBeLessThan(full.before.ios * 0.3);
      expect(q.before.ios).toBeGreaterThan(0);
    }
    // after the move: the emulator's 10 % throttles QEMU in both; the worker is where the design puts it
    expect(get('6.1', 25).after.workerCgroup).toBe('/machine.slice/vm1');
    expect(get('6.12', 25).after.workerCgroup).toBe('/machine.slice/vm1/emulator');
    expect(get('6.1', 25).after.emulatorThrottled).toBeGreaterThan(0);
    expect(get('6.12', 25).after.emulatorThrottled).toBeGreaterThan(0);
    // 6.1's kthread escapes the emulator's limit: its CPU time lands in vm1 itself, beyond the emulator's 10 %
    const k61 = get('6.1', 25).after;
    expect(k61.cpuByCgroup['/machine.slice/vm1']).toBe(k61.workerUs);
    expect(k61.workerUs).toBeGreaterThan(0);
    const k612 = get('6.12', 25).after;
    expect(k612.cpuByCgroup['/machine.slice/vm1']).toBeUndefined();
    // everything 6.12's QEMU ran, its worker included, fits in the emulator's 10 % (30 ms of 300 ms, one slice of slack)
    expect(k612.cpuByCgroup['/machine.slice/vm1/emulator']!).toBeLessThanOrEqual(31_000);
    expect(r.lines.join('\n')).toMatch(/6\.12\s+25\s+thread/);
  });
});
