/**
 * Every trace file kwq writes (`kwq scenario NAME --trace DIR`, k.trace.exportChrome())
 * against the Trace Event Format (the JSON that Perfetto and chrome://tracing load), for
 * every scenario, so that a user's Perfetto load cannot fail or silently drop slices:
 *
 *   - per phase, the required fields and their types (an ajv schema below): name, ph,
 *     pid, tid everywhere; ts everywhere but M; dur for X; s (g|p|t) for instant events;
 *     M only process_name / thread_name / *_sort_index with the matching args;
 *   - per track (pid, tid): ts never goes back in file order; B and E match like
 *     brackets, with nothing left open; X slices nest (Perfetto's slice tracker drops
 *     one that ends after its parent), compared in integer ns as Perfetto reads them
 *     (llround(ts * 1000), json_utils.h);
 *   - every track that has events is named by an M event.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Ajv from 'ajv';
import { describe, expect, it, vi } from 'vitest';
import { commands } from '../../src/cli/kwq.js';
import { SCENARIOS, scenarioAvailable } from '../../src/cli/tour.js';

type Ev = Record<string, unknown> & { ph: string; name: string; pid: number; tid: number; ts?: number; dur?: number };

const num = { type: 'number' };
const int = { type: 'integer' };
/** The Trace Event Format's per-phase fields (docs.google.com/document/d/1CvAClvFfyA5R-PhYUmn5OOQtYMH4h6I0nSsKchNAySU) */
const EVENT_SCHEMA = {
  type: 'object',
  required: ['name', 'ph', 'pid', 'tid'],
  properties: {
    name: { type: 'string', minLength: 1 },
    ph: { enum: ['B', 'E', 'X', 'i', 'I', 'C', 'M', 'b', 'e', 'n', 's', 't', 'f', 'P', 'O', 'N', 'D'] },
    pid: int, tid: int, ts: num, cat: { type: 'string' }, args: { type: 'object' },
  },
  allOf: [
    { if: { properties: { ph: { not: { const: 'M' } } } }, then: { required: ['ts'] } },
    { if: { properties: { ph: { const: 'X' } } }, then: { required: ['dur'], properties: { dur: { type: 'number', minimum: 0 } } } },
    { if: { properties: { ph: { enum: ['i', 'I'] } } }, then: { properties: { s: { enum: ['g', 'p', 't'] } } } },
    { if: { properties: { ph: { const: 'C' } } }, then: { required: ['args'], properties: { args: { additionalProperties: num } } } },
    {
      if: { properties: { ph: { const: 'M' } } },
      then: {
        required: ['args'],
        oneOf: [
          { properties: { name: { enum: ['process_name', 'thread_name', 'process_labels'] }, args: { required: ['name'], properties: { name: { type: 'string' } } } } },
          { properties: { name: { enum: ['process_sort_index', 'thread_sort_index'] }, args: { required: ['sort_index'], properties: { sort_index: int } } } },
        ],
      },
    },
  ],
};
const FILE_SCHEMA = {
  type: 'object',
  required: ['traceEvents'],
  properties: { traceEvents: { type: 'array', minItems: 1 }, displayTimeUnit: { enum: ['ms', 'ns'] } },
};

const ajv = new Ajv({ allErrors: false });
const validEvent = ajv.compile(EVENT_SCHEMA);
const validFile = ajv.compile(FILE_SCHEMA);

/** µs as Perfetto's JSON importer reads them: integer ns */
const ns = (us: number): number => Math.round(us * 1000);

/** The format problems of one trace file, as lines naming the event (empty when it is valid). */
export function traceFormatProblems(trace: unknown): string[] {
  const problems: string[] = [];
  const say = (p: string): void => {
    if (problems.length < 20) problems.push(p);
  };
  if (!validFile(trace)) return [`file: ${ajv.errorsText(validFile.errors)}`];
  const events = (trace as { traceEvents: Ev[] }).traceEvents;
  const lastTs = new Map<string, number>();
  const open = new Map<string, Ev[]>();
  const slices = new Map<string, Ev[]>();
  const named = new Set<string>();
  const used = new Set<string>();
  events.forEach((e, i) => {
    if (!validEvent(e)) {
      say(`event ${i} ${JSON.stringify(e).slice(0, 120)}: ${ajv.errorsText(validEvent.errors)}`);
      return;
    }
    const track = `${e.pid}:${e.tid}`;
    if (e.ph === 'M') {
      named.add(e.name === 'process_name' ? `${e.pid}` : track);
      return;
    }
    used.add(track);
    const ts = e.ts!;
    const prev = lastTs.get(track);
    if (prev !== undefined && ts < prev) say(`event ${i} (${e.ph} ${e.name}) on track ${track}: ts ${ts} before the previous ${prev}`);
    lastTs.set(track, ts);
    if (e.ph === 'B') (open.get(track) ?? open.set(track, []).get(track)!).push(e);
    else if (e.ph === 'E') {
      const b = open.get(track)?.pop();
      if (b === undefined) say(`event ${i} (E ${e.name}) on track ${track}: no B open`);
    } else if (e.ph === 'X') (slices.get(track) ?? slices.set(track, []).get(track)!).push(e);
  });
  for (const [track, stack] of open) if (stack.length > 0) say(`track ${track}: ${stack.length} B event(s) never ended (first: ${stack[0]!.name} at ${stack[0]!.ts})`);
  for (const [track, list] of slices) {
    // longest first at equal starts, so a parent precedes its children
    const sorted = list.map((e) => ({ e, t0: ns(e.ts!), t1: ns(e.ts!) + ns(e.dur!) })).sort((a, b) => a.t0 - b.t0 || b.t1 - a.t1);
    const stack: typeof sorted = [];
    for (const s of sorted) {
      while (stack.length > 0 && stack[stack.length - 1]!.t1 <= s.t0) stack.pop();
      const parent = stack[stack.length - 1];
      if (parent !== undefined && s.t1 > parent.t1) {
        say(`track ${track}: X ${s.e.name} [${s.t0}, ${s.t1}) ns overlaps X ${parent.e.name} [${parent.t0}, ${parent.t1}) ns without nesting`);
      }
      stack.push(s);
    }
  }
  for (const track of used) {
    const pid = track.split(':')[0]!;
    if (!named.has(track) && !named.has(pid)) say(`track ${track}: neither the thread nor its process is named by an M event`);
  }
  return problems;
}

describe('the trace-event format checker', () => {
  const ok = { traceEvents: [
    { name: 'process_name', ph: 'M', pid: 1, tid: 0, args: { name: 'p' } },
    { name: 'a', ph: 'B', pid: 1, tid: 2, ts: 1 },
    { name: 'x', ph: 'X', pid: 1, tid: 2, ts: 1.5, dur: 1 },
    { name: 'y', ph: 'X', pid: 1, tid: 2, ts: 1.6, dur: 0.4 },
    { name: 'a', ph: 'E', pid: 1, tid: 2, ts: 3 },
    { name: 'i', ph: 'i', s: 't', pid: 1, tid: 2, ts: 3 },
  ] };
  it('accepts a valid file', () => {
    expect(traceFormatProblems(ok)).toEqual([]);
  });
  it.each([
    ['a missing ts', (t: Ev[]) => { delete t[1]!.ts; }, /must have required property 'ts'/],
    ['an X without dur', (t: Ev[]) => { delete t[2]!.dur; }, /'dur'/],
    ['ts going back on a track', (t: Ev[]) => { t[5]!.ts = 2; }, /before the previous/],
    ['an E without its B', (t: Ev[]) => { t[1]!.ph = 'i'; }, /no B open/],
    ['a B never ended', (t: Ev[]) => { t[4]!.ph = 'i'; }, /never ended/],
    ['X slices that overlap without nesting', (t: Ev[]) => { t[3]!.dur = 1; }, /without nesting/],
    ['an unnamed track', (t: Ev[]) => { t[0]!.pid = 7; }, /neither the thread nor its process/],
    ['an unknown metadata name', (t: Ev[]) => { t[0]!.name = 'colour'; }, /oneOf|allowed values/],
  ])('rejects %s', (_what, spoil, msg) => {
    const t = structuredClone(ok) as { traceEvents: Ev[] };
    spoil(t.traceEvents);
    expect(traceFormatProblems(t).join('\n')).toMatch(msg);
  });
});

describe('every trace file kwq writes loads as the trace-event format', () => {
  const names = SCENARIOS.filter((n) => scenarioAvailable(n));
  it.each(names)('kwq scenario %s --trace DIR', async (name) => {
    const dir = mkdtempSync(join(tmpdir(), `kwq-trace-${name}-`));
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    const err = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      expect(await commands.scenario!.run([name, '--trace', dir])).toBe(0);
      const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
      expect(files.length, 'one file per kernel booted').toBeGreaterThan(0);
      for (const f of files) {
        const problems = traceFormatProblems(JSON.parse(readFileSync(join(dir, f), 'utf8')));
        expect(problems, f).toEqual([]);
      }
    } finally {
      log.mockRestore();
      err.mockRestore();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
