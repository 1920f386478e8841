/**
 * loop-reap: per-cgroup loop workers come and go with the cgroups that issue I/O
 * (sections 6.4-6.6). Cgroups write to /dev/loop0 (O_DIRECT, so each write reaches
 * the loop worker at once) on a schedule; a worker goes idle after its last command,
 * and the deferrable reaper timer, armed with timer_reduce and re-armed at now + 60 s,
 * frees it at the first expiry at least 60 s after that. One cgroup comes back before
 * its worker is reaped (rescued from the idle list); one is removed while its worker
 * lives (the worker keeps the offline css until it is freed).
 *
 * Reported: live workers sampled every `sampleS`, and each reaping instant with the
 * time its worker went idle (freed - idle is >= 60 s, up to 120 s).
 */
import { Kernel, O_CREAT, O_DIRECT, O_RDWR, LOOP_CONFIGURE, loopInfo } from '../src/index.js';
import type { Scenario, ScenarioResult } from './types.js';

export interface ReapEvent {
  cgroup: string;
  idleAtS: number;
  freedAtS: number;
}

/** [time s, cgroup] writes; 'rm:/c' removes a cgroup (its task exits, then rmdir) */
export const SCHEDULE: [number, string][] = [
  [0, '/a'], [10, '/b'], [30, '/c'], [35, 'rm:/c'], [45, '/d'], [50, '/a'], [100, '/e'], [130, '/b'], [200, '/f'],
];

export async function runReap(o: { endS: number; sampleS: number; seed: number }): Promise<{ samples: [number, number][]; reaps: ReapEvent[]; rescued: number; created: number; freed: number; offlineReleased: boolean }> {
  const k = await Kernel.boot({ cmdline: 'kwq.loop_workers=per-cgroup', seed: o.seed });
  try {
    const root = k.init;
    const bfd = k.open(root, '/tmp/backing', O_RDWR | O_CREAT);
    k.ftruncate(root, bfd, 64 * 2 ** 20);
    const lfd = k.open(root, '/dev/loop0', O_RDWR);
    const r = k.ioctl(root, lfd, LOOP_CONFIGURE, { fd: bfd, info: { lo_file_name: '/tmp/backing' } });
    if (r !== 0) throw new Error(`LOOP_CONFIGURE: ${r}`);
    const reaps: ReapEvent[] = [];
    k.trace.on('loop_worker_free', (e) => {
      reaps.push({ cgroup: e['cgroup'] as string, idleAtS: (e['lastRanAt'] as number) / k.hz, freedAtS: k.now / 1e9 });
    });
    const tasks = new Map<string, ReturnType<Kernel['spawn']>>();
    let cRef: { released: boolean } | null = null;
    const samples: [number, number][] = [];
    let nextSample = 0;
    const events = SCHEDULE.slice();
    const step = (untilS: number): void => {
      while (nextSample <= untilS && nextSample <= o.endS) {
        k.advance(nextSample * 1000 - k.now / 1e6);
        samples.push([nextSample, loopInfo(k, 0).workers.length]);
        nextSample += o.sampleS;
      }
      if (untilS * 1000 > k.now / 1e6) k.advance(untilS * 1000 - k.now / 1e6);
    };
    for (const [t, what] of events) {
      if (t > o.endS) break;
      step(t);
      if (what.startsWith('rm:')) {
        const cg = what.slice(3);
        const task = tasks.get(cg)!;
        k.exit(task, 0);
        tasks.delete(cg);
        if (k.rmdir(root, `/sys/fs/cgroup${cg}`) !== 0) throw new Error(`rmdir ${cg}`);
        continue;
      }
      let task = tasks.get(what);
      if (task === undefined) {
        task = k.spawn({ comm: `w${what.slice(1)}`, cgroup: what });
        tasks.set(what, task);
      }
      if (what === '/c') cRef = (k as unknown as { cgroupByPath(p: string): { released: boolean } }).cgroupByPath('/c');
      const fd = k.open(task, '/dev/loop0', O_RDWR | O_DIRECT);
      const w = k.pwrite(task, fd, 65536, 0);
      if (w !== 65536) throw new Error(`write from ${what}: ${w}`);
      k.close(task, fd);
    }
    step(o.endS);
    const info = loopInfo(k, 0);
    return { samples, reaps, rescued: info.stats.rescued, created: info.stats.workersCreated, freed: info.stats.workersFreed, offlineReleased: cRef?.released ?? false };
  } finally {
    k.shutdown();
  }
}

export const scenario: Scenario = {
  name: 'loop-reap',
  title: 'per-cgroup loop workers come and go: live workers over time and the reaping instants',
  options: {
    endS: { type: 'number', default: 300, min: 0, max: 86_400, unit: 's', help: 'virtual seconds to run' },
    sampleS: { type: 'number', default: 10, min: 1, max: 86_400, unit: 's', help: 'sample the live workers every sampleS' },
    seed: { type: 'integer', default: 1, min: 0, max: 4294967295, help: 'PRNG seed' },
  },
  async run(opts): Promise<ScenarioResult> {
    const o = opts as { endS: number; sampleS: number; seed: number };
    const res = await runReap(o);
    const lines = [
      `loop-reap: writes to /dev/loop0 at ${SCHEDULE.filter(([t]) => t <= o.endS).map(([t, c]) => `${t}s ${c}`).join(', ')}`,
      `  live workers every ${o.sampleS}s: ${res.samples.map(([, n]) => n).join(' ')}`,
    ];
    for (const r of res.reaps) {
      lines.push(`  ${r.cgroup.padEnd(4)} idle at ${r.idleAtS.toFixed(1).padStart(6)} s, freed at ${r.freedAtS.toFixed(1).padStart(6)} s (+${(r.freedAtS - r.idleAtS).toFixed(1)} s)`);
    }
    lines.push(`outcome: ${res.created} workers made, ${res.freed} reaped, ${res.rescued} rescued from the idle list; the removed cgroup's css ${res.offlineReleased ? 'was released with its worker' : 'is still held'}`);
    return { lines, data: res as unknown as Record<string, unknown> };
  },
};
