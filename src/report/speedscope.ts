/**
 * A speedscope file (https://www.speedscope.app/file-format-schema.json, the "sampled"
 * profile type) from V8 .cpuprofiles: every thread one profile, the frames shared, so
 * one file opens all threads of a `kwq profile` run side by side in speedscope (drop it
 * on www.speedscope.app or run `npx speedscope FILE`).
 */
import { FrameTable, threadSamples, type CpuProfile } from './cpuprofile.js';

export interface SpeedscopeFile {
  $schema: 'https://www.speedscope.app/file-format-schema.json';
  name: string;
  exporter: string;
  activeProfileIndex: number;
  shared: { frames: { name: string; file?: string; line?: number; col?: number }[] };
  profiles: {
    type: 'sampled';
    name: string;
    unit: 'microseconds';
    startValue: number;
    endValue: number;
    samples: number[][];
    weights: number[];
  }[];
}

export function toSpeedscope(threads: { label: string; profile: CpuProfile }[], o: { name: string; exporter: string }): SpeedscopeFile {
  const frames = new FrameTable();
  const profiles: SpeedscopeFile['profiles'] = threads.map(({ label, profile }) => {
    const s = threadSamples(profile, frames);
    const total = s.weights.reduce((a, b) => a + b, 0);
    return { type: 'sampled', name: label, unit: 'microseconds', startValue: 0, endValue: total, samples: s.stacks, weights: s.weights };
  });
  // the busiest thread opens first
  let active = 0;
  profiles.forEach((p, i) => {
    if (p.endValue > profiles[active]!.endValue) active = i;
  });
  return {
    $schema: 'https://www.speedscope.app/file-format-schema.json',
    name: o.name,
    exporter: o.exporter,
    activeProfileIndex: active,
    shared: { frames: frames.frames.map(({ kind: _k, ...f }) => f) },
    profiles,
  };
}
