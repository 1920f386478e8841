#!/usr/bin/env node
/**
 * The `kwq` command. `commands` maps a name to an async function taking the
 * remaining words and returning the exit code; add commands there.
 *
 *   kwq tour [--ms N]                  the default tour (what `npm start` runs)
 *   kwq engine [--ms N]                the threaded engine alone
 *   kwq scenario NAME [--opt value]    one scenario; --json prints its data, --trace DIR
 *                                      writes a Chrome trace (Perfetto) per kernel it boots
 *   kwq list                           the scenarios and their options
 *   kwq profile [--out DIR] [WHAT]     CPU-profile the queue design (names kept)
 *   kwq bench [--quick] [--json FILE]  the benchmark suite
 *   kwq run FILE.json [--on ...]       a step script on kwq beside the real kernels' answers
 */
import { mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KwqError } from '../kernel/error.js';
import { Kernel } from '../kernel/kernel.js';
import { engineTour } from './engine-tour.js';
import { SCENARIOS, loadScenario, runScenario, scenarioAvailable } from './tour.js';
import { parseOptionWords } from './scenario-options.js';
import { profileCommand } from './profile.js';
import { runNodeScript } from './child.js';
import { runCommand, RUN_USAGE } from './run.js';

export type Command = (args: string[]) => Promise<number>;

function takeFlag(args: string[], name: string): boolean {
  const i = args.indexOf(name);
  if (i < 0) return false;
  args.splice(i, 1);
  return true;
}

function takeValue(args: string[], name: string, where: string): string | undefined {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const v = args[i + 1];
  if (v === undefined || v.startsWith('--')) throw new KwqError(where, `${name} needs a value`);
  args.splice(i, 2);
  return v;
}

async function tour(args: string[]): Promise<number> {
  const msWord = takeValue(args, '--ms', 'kwq tour');
  const ms = msWord === undefined ? 1000 : Number(msWord);
  if (!Number.isFinite(ms) || ms <= 0) throw new KwqError('kwq tour', `--ms needs a positive number of milliseconds, got ${msWord}`);
  if (args.length) throw new KwqError('kwq tour', `unexpected arguments: ${args.join(' ')}`);
  let ok = true;
  console.log('# kwq tour\n');
  const r = await engineTour({ durationMs: ms });
  ok &&= r.exactlyOnce;
  for (const name of SCENARIOS) {
    if (!scenarioAvailable(name)) continue;
    const sc = await loadScenario(name);
    console.log(`\n## ${name}: ${sc.title}`);
    const res = await runScenario(name);
    for (const line of res.lines) console.log(line);
  }
  return ok ? 0 : 1;
}

async function scenario(args: string[]): Promise<number> {
  const [name, ...rest] = args;
  if (!name) throw new KwqError('kwq scenario', `name a scenario: ${SCENARIOS.join(', ')}`);
  const json = takeFlag(rest, '--json');
  const traceDir = takeValue(rest, '--trace', 'kwq scenario');
  // --trace DIR: record every kernel the scenario boots, one Chrome trace-event file
  // each (open it in Perfetto or chrome://tracing)
  const kernels: Kernel[] = [];
  const stop = traceDir === undefined ? () => {} : Kernel.onBoot((k) => {
    k.trace.record();
    kernels.push(k);
  });
  let res;
  try {
    res = await runScenario(name, parseOptionWords(`scenario ${name}`, rest));
  } finally {
    stop();
  }
  if (json) console.log(JSON.stringify(res.data, null, 2));
  else for (const line of res.lines) console.log(line);
  if (traceDir !== undefined) {
    mkdirSync(traceDir, { recursive: true });
    kernels.forEach((k, i) => {
      const file = join(traceDir, `${name}-${i + 1}.json`);
      writeFileSync(file, JSON.stringify(k.trace.exportChrome()));
      console.error(`trace: ${file} (${k.trace.events().length} events)`);
    });
  }
  return 0;
}

async function list(): Promise<number> {
  for (const name of SCENARIOS) {
    if (!scenarioAvailable(name)) { console.log(`${name.padEnd(16)} (not built)`); continue; }
    const sc = await loadScenario(name);
    console.log(`${name.padEnd(16)} ${sc.title}`);
    for (const [opt, spec] of Object.entries(sc.options)) {
      const choices = spec.choices ? ` (${spec.choices.join('|')})` : '';
      console.log(`  --${opt.padEnd(14)} ${spec.help}${choices}; default ${JSON.stringify(spec.default)}`);
    }
  }
  return 0;
}

export const commands: Record<string, { summary: string; run: Command }> = {
  tour: { summary: 'the default tour: the threaded engine, then every scenario', run: tour },
  engine: {
    summary: 'the threaded engine alone: kwq engine [--ms N] (2 producer threads, 1 vhost worker thread)',
    run: async (args) => {
      const msWord = takeValue(args, '--ms', 'kwq engine');
      const ms = msWord === undefined ? 1000 : Number(msWord);
      if (!Number.isFinite(ms) || ms <= 0) throw new KwqError('kwq engine', `--ms needs a positive number, got ${msWord}`);
      const r = await engineTour({ durationMs: ms });
      return r.exactlyOnce ? 0 : 1;
    },
  },
  scenario: { summary: 'run one scenario: kwq scenario NAME [--option value ...] [--json] [--trace DIR]', run: scenario },
  list: { summary: 'list the scenarios and their options', run: list },
  profile: {
    summary: 'CPU-profile the queue design: kwq profile [--out DIR] [--top N] [--ms N] [any kwq command line, e.g. scenario multiqueue]',
    run: profileCommand,
  },
  bench: {
    summary: 'run the benchmarks: kwq bench [--quick] [--json FILE] [--only NAME,...]',
    run: (args) => runNodeScript(new URL('../../bench/main.js', import.meta.url), args, ['--expose-gc']),
  },
  run: { summary: `a step script on kwq beside real Linux: ${RUN_USAGE}`, run: runCommand },
  help: {
    summary: 'list the commands',
    run: async () => {
      console.log('usage: kwq <command> [args]\n');
      for (const [name, c] of Object.entries(commands)) console.log(`  ${name.padEnd(10)} ${c.summary}`);
      return 0;
    },
  },
};

export async function main(argv: string[]): Promise<number> {
  const [name = 'help', ...rest] = argv;
  const cmd = commands[name];
  if (!cmd) {
    console.error(`kwq: unknown command ${JSON.stringify(name)}; commands: ${Object.keys(commands).join(', ')}`);
    return 2;
  }
  try {
    return await cmd.run(rest);
  } catch (e) {
    if (e instanceof KwqError) {
      console.error(e.message);
      return 2;
    }
    throw e;
  }
}

/** Run only when executed (`kwq ...`, `node dist/src/cli/kwq.js`), not when imported. */
function invokedDirectly(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (invokedDirectly()) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
