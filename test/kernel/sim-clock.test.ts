import { describe, expect, test } from 'vitest';
import { Kernel, KwqError, O_CREAT, O_WRONLY, registerModule, SIGKILL } from 'kwq';
import { TimerList, TIMER_DEFERRABLE } from '../../src/runtime/clock.js';
import { unregisterModule } from '../../src/kernel/module.js';
import type { SimThread } from '../../src/runtime/sim-thread.js';

describe('clock and timers', () => {
  test('jiffies at HZ; mod_timer, del_timer, timer_reduce only moves earlier', async () => {
    const k = await Kernel.boot({ hz: 250 });
    const fired: number[] = [];
    const t = new TimerList(() => fired.push(k.jiffies));
    k.rt.addTimer(t, 100);
    expect(() => k.rt.addTimer(t, 50)).toThrow(KwqError);
    expect(k.rt.timerReduce(t, 200)).toBe(1); // later: unchanged
    expect(t.expires).toBe(100);
    expect(k.rt.timerReduce(t, 50)).toBe(1); // earlier: moved
    k.advance(199); // 49.75 jiffies at 250 Hz
    expect(fired).toEqual([]);
    k.advance(1);
    expect(fired).toEqual([50]);
    expect(k.rt.timerReduce(t, 300)).toBe(0); // idle: armed
    expect(k.rt.modTimer(t, 400)).toBe(1);
    expect(k.rt.delTimer(t)).toBe(1);
    expect(k.rt.delTimer(t)).toBe(0);
    k.advance(2000);
    expect(fired).toEqual([50]);
    expect(k.jiffies).toBe(550);
  });

  test('deferrable timers fire as time passes but do not keep the system busy', async () => {
    const k = await Kernel.boot();
    let n = 0;
    const t = new TimerList(() => n++, TIMER_DEFERRABLE);
    k.rt.modTimer(t, k.jiffies + 60_000);
    k.runUntilIdle();
    expect(n).toBe(0);
    expect(k.now).toBe(0);
    k.advance(60_000);
    expect(n).toBe(1);
  });

  test('threads run on virtual CPUs, are charged to their cgroup, and sleep until woken', async () => {
    const k = await Kernel.boot({ ncpus: 2 });
    const q = k.spawn({ comm: 'qemu', cgroup: '/vm' });
    let items = 100;
    const w = k.userWorkerCreate(q, 'vhost', {
      run(th: SimThread, budget: number) {
        while (items > 0 && th.costNs + 10_000 <= budget) {
          items--;
          th.costNs += 10_000; // 10 µs per item
        }
        return items > 0;
      },
    }, null) as typeof q;
    k.wakeUpProcess(w);
    k.runUntilIdle();
    expect(items).toBe(0);
    expect(k.now).toBe(1_000_000); // 100 x 10 µs on one CPU
    expect(w.thread!.nrRuns).toBe(1);
    expect(k.readFile(k.init, '/sys/fs/cgroup/vm/cpu.stat')).toMatch(/^usage_usec 1000$/m);
    expect(k.readFile(k.init, '/sys/fs/cgroup/vm/cpu.stat')).toMatch(/^system_usec 1000$/m);
    // a wake-up while running is not lost
    let runs = 0;
    const kt = k.kthreadCreate('kt', { run(th) { runs++; th.costNs += 1; if (runs === 1) k.wakeUpProcess(kt as typeof q); return false; } }) as typeof q;
    k.wakeUpProcess(kt);
    k.runUntilIdle();
    expect(runs).toBe(2);
    // a body cannot run the simulation from inside it
    let err: unknown = null;
    const bad = k.kthreadCreate('bad', { run() { try { k.advance(1); } catch (e) { err = e; } return false; } });
    k.wakeUpProcess(bad as typeof q);
    k.runUntilIdle();
    expect(err).toBeInstanceOf(KwqError);
  });

  test('a thread that never sleeps makes runUntilIdle a KwqError, not a hang', async () => {
    const k = await Kernel.boot();
    const kt = k.kthreadCreate('spin', { run: (th) => { th.costNs += 1000; return true; } });
    k.wakeUpProcess(kt as never);
    expect(() => k.rt.runUntilIdle(10_000)).toThrow(/still busy/);
  });

  test('threads runtime: wall clock, advance() is a KwqError, sleep works', async () => {
    const k = await Kernel.boot({ runtime: 'threads' });
    expect(() => k.advance(1)).toThrow(/wall-clock/);
    const t0 = k.now;
    await k.sleep(5);
    expect(k.now - t0).toBeGreaterThanOrEqual(4e6);
    k.shutdown();
  });
});

describe('determinism', () => {
  async function run(seed: number): Promise<string> {
    const k = await Kernel.boot({ seed, ncpus: 2 });
    k.trace.record();
    const r = k.init;
    k.mkdir(r, '/sys/fs/cgroup/t');
    k.writeFile(r, '/sys/fs/cgroup/t/memory.max', '1M');
    k.writeFile(r, '/sys/fs/cgroup/t/memory.swap.max', '0');
    const ps = Array.from({ length: 4 }, (_, i) => k.spawn({ comm: `p${i}`, cgroup: '/t' }));
    for (const p of ps) {
      let left = Math.floor(k.random() * 50) + 1;
      const w = k.userWorkerCreate(p, 'w', {
        run(th) {
          th.costNs += Math.floor(k.random() * 5000);
          return --left > 0;
        },
      }, () => {});
      if (typeof w !== 'number') k.wakeUpProcess(w);
    }
    k.advance(1);
    const fd = k.open(ps[0]!, '/tmp/x', O_CREAT | O_WRONLY);
    k.pwrite(ps[0]!, fd, 2 << 20, 0);
    k.kill(ps[1]!, SIGKILL);
    k.runUntilIdle();
    return JSON.stringify(k.trace.events());
  }

  test('same seed, same calls: the same trace byte for byte; another seed differs', async () => {
    const a = await run(7);
    const b = await run(7);
    const c = await run(8);
    expect(a.length).toBeGreaterThan(1000);
    expect(a).toBe(b);
    expect(a).not.toBe(c);
    expect(a).toContain('"name":"mark_victim"');
    expect(a).toContain('"name":"sched_slice"');
  });

  test('chrome export has complete events per CPU and instants per task', async () => {
    const k = await Kernel.boot();
    k.trace.record();
    const kt = k.kthreadCreate('kt', { run: (th) => { th.costNs += 5000; return false; } });
    k.wakeUpProcess(kt as never);
    k.runUntilIdle();
    const ex = k.trace.exportChrome();
    expect(ex.traceEvents.some((e) => e['ph'] === 'X' && e['dur'] === 5)).toBe(true);
    expect(ex.traceEvents.some((e) => e['ph'] === 'i' && e['name'] === 'task_newtask')).toBe(true);
    expect(() => JSON.stringify(ex)).not.toThrow();
  });

  test('tracepoints are off until someone listens; listeners detach', async () => {
    const k = await Kernel.boot();
    expect(k.tp.newtask.enabled).toBe(false);
    const seen: number[] = [];
    const off = k.trace.on('task_newtask', (e) => seen.push(e['pid'] as number));
    expect(k.tp.newtask.enabled).toBe(true);
    const p = k.spawn();
    off();
    k.spawn();
    expect(seen).toEqual([p.pid]);
    expect(k.tp.newtask.enabled).toBe(false);
    expect(() => k.trace.on('no_such_point', () => {})).toThrow(/no tracepoint/);
  });
});

describe('boot options and the command line', () => {
  test('every malformed option is a KwqError naming it and the allowed values', async () => {
    const cases: [object, RegExp][] = [
      [{ hz: 999 }, /hz.*100, 250, 300, 1000/],
      [{ seed: -1 }, /seed/],
      [{ seed: 1.5 }, /seed/],
      [{ runtime: 'fast' }, /runtime.*sim, threads/],
      [{ cgroup: 'v3' }, /cgroup.*v2, v1/],
      [{ ncpus: 0 }, /ncpus/],
      [{ tmpfsSize: '512Q' }, /tmpfsSize.*512Q/],
      [{ tmpfsSize: -1 }, /tmpfsSize/],
      [{ memory: 'lots' }, /memory/],
      [{ bogus: 1 }, /unknown option 'bogus'/],
      [{ cmdline: 'quiet' }, /'quiet': not a module parameter/],
      [{ cmdline: 'nosuch.param=1' }, /unknown module 'nosuch'/],
      [{ cmdline: 'kwq.nosuch=1' }, /unknown model switch/],
    ];
    for (const [opts, re] of cases) await expect(Kernel.boot(opts as never), JSON.stringify(opts)).rejects.toThrow(re);
  });

  test('module parameters: parsed, defaulted, validated, shown in sysfs; init runs at boot', async () => {
    const inits: unknown[] = [];
    registerModule({
      name: 'testmod',
      params: {
        flag: { type: 'bool', default: true },
        depth: { type: 'uint', default: 128, max: 4096 },
        mode: { type: 'enum', values: ['a', 'b'], default: 'a' },
      },
      init: (_k, p) => void inits.push(p),
    });
    try {
      const k = await Kernel.boot({ cmdline: 'testmod.flag=0 testmod.depth=64  testmod.mode=b' });
      expect(inits).toEqual([{ flag: false, depth: 64, mode: 'b' }]);
      expect(k.readFile(k.init, '/sys/module/testmod/parameters/flag')).toBe('N\n');
      expect(k.readFile(k.init, '/sys/module/testmod/parameters/depth')).toBe('64\n');
      const d = await Kernel.boot();
      expect(d.moduleParams('testmod')).toEqual({ flag: true, depth: 128, mode: 'a' });
      await expect(Kernel.boot({ cmdline: 'testmod.flag=maybe' })).rejects.toThrow(/'testmod.flag=maybe': bad value 'maybe'; expected one of 1, 0, y, n/);
      await expect(Kernel.boot({ cmdline: 'testmod.depth=5000' })).rejects.toThrow(/unsigned integer <= 4096/);
      await expect(Kernel.boot({ cmdline: 'testmod.mode=c' })).rejects.toThrow(/one of a, b/);
      await expect(Kernel.boot({ cmdline: 'testmod.nope=1' })).rejects.toThrow(/no parameter 'nope'; its parameters: flag, depth, mode/);
      await expect(Kernel.boot({ cmdline: 'testmod.depth' })).rejects.toThrow(/missing value/);
      expect(() => registerModule({ name: 'testmod' })).toThrow(/already registered/);
    } finally {
      unregisterModule('testmod');
    }
  });
});
