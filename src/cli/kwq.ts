#!/usr/bin/env node
/**
 * The `kwq` command. `commands` maps a name to its summary, its usage and an async
 * function taking the remaining words and returning the exit code; add commands there.
 * Conventions (src/cli/args.ts): parseArgs, `--help`/`-h` everywhere, exit 0 ok /
 * 1 a check failed / 2 usage, errors on stderr in one line, `--json` where it measures.
 *
 *   kwq tour [--ms N] [--json]         the default tour (what `npm start` runs)
 *   kwq engine [--ms N] [--json]       the threaded engine alone
 *   kwq scenario NAME [--opt value]    one scenario; --json prints its data, --trace DIR
 *                                      writes a Chrome trace (Perfetto) per kernel it boots,
 *                                      --params FILE takes its options from a parameter file
 *   kwq list [--json]                  the scenarios and their options
 *   kwq sweep FILE [--out F]           a parameter file's grid on all cores, one JSON line a point
 *   kwq merge FILE...                  sweep shards joined in point order
 *   kwq compare WORKLOAD ...           two designs or two releases: who was charged what
 *   kwq profile [--out DIR] [WHAT]     CPU-profile the queue design (names kept)
 *   kwq bench [--quick] [--json FILE]  the benchmark suite
 *   kwq run FILE.json [--on ...]       a step script on kwq beside the real kernels' answers
 */
import { realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KwqError } from '../kernel/error.js';
import { Kernel } from '../kernel/kernel.js';
import { engineTour } from './engine-tour.js';
import { SCENARIOS, loadScenario, runScenario, scenarioAvailable } from './tour.js';
import { describeAllowed, optionHelpLines, optionsFromArgs, scenarioArgOptions } from './scenario-options.js';
import { profileCommand } from './profile.js';
import { runNodeScript } from './child.js';
import { runCommand, RUN_USAGE } from './run.js';
import { reportAfterTour, reportCommand, REPORT_SPEC } from './report.js';
import {
  EXIT_FAILED, EXIT_OK, EXIT_USAGE, numberOption, parseCommand, parseArgsMessage, printHelp, UsageError, wantsHelp,
  writableDir, type CommandSpec,
} from './args.js';
import { kwqVersion } from './version.js';
import { Progress } from './progress.js';
import { loadParams } from './params.js';
import { sweepCommand, SWEEP_SPEC } from './sweep.js';
import { mergeCommand, MERGE_SPEC } from './merge.js';
import { compareCommand, COMPARE_SPEC } from './compare.js';

export type Command = (args: string[]) => Promise<number>;

const TOUR_SPEC: CommandSpec = {
  name: 'kwq tour',
  usage: 'kwq tour [--ms N] [--json]',
  help: [
    'The threaded engine for --ms milliseconds (items/s with the exactly-once check), then every scenario at its defaults.',
    '  --ms N     the engine run, ms (default 1000)',
    '  --json     print {engine, scenarios: {name: data}} instead of the tables',
    'Exit 1 when the engine\'s exactly-once check fails.',
  ],
  options: { ms: { type: 'string' }, json: { type: 'boolean' } },
  positionals: [0, 0],
};

async function tour(args: string[]): Promise<number> {
  const p = parseCommand(TOUR_SPEC, args);
  if (p === null) return EXIT_OK;
  const ms = numberOption('kwq tour', 'ms', p.values.ms as string | undefined, { min: 1, max: 3_600_000, dflt: 1000, unit: 'ms' });
  const json = p.values.json === true;
  const print = json ? () => {} : (l: string) => console.log(l);
  print('# kwq tour\n');
  const r = await engineTour({ durationMs: ms, print });
  const names = SCENARIOS.filter((n) => scenarioAvailable(n));
  const progress = new Progress('kwq tour: scenario', names.length);
  const scenarios: Record<string, unknown> = {};
  for (const [i, name] of names.entries()) {
    progress.update(i, name);
    const sc = await loadScenario(name);
    const res = await runScenario(name);
    progress.clear();
    scenarios[name] = res.data;
    print(`\n## ${name}: ${sc.title}`);
    for (const line of res.lines) print(line);
  }
  progress.clear();
  if (json) console.log(JSON.stringify({ kwq: kwqVersion(), engine: r, scenarios }, null, 1));
  await reportAfterTour({ engine: r, engineMs: ms, json });
  return r.exactlyOnce ? EXIT_OK : EXIT_FAILED;
}

const ENGINE_SPEC: CommandSpec = {
  name: 'kwq engine',
  usage: 'kwq engine [--ms N] [--json]',
  help: [
    'The threaded engine alone: 2 producer threads queue works to 1 vhost worker thread (Wasm over shared memory).',
    '  --ms N     how long, ms (default 1000)',
    '  --json     print the measured figures as JSON',
    'Exit 1 when the exactly-once check fails.',
  ],
  options: { ms: { type: 'string' }, json: { type: 'boolean' } },
  positionals: [0, 0],
};

async function engine(args: string[]): Promise<number> {
  const p = parseCommand(ENGINE_SPEC, args);
  if (p === null) return EXIT_OK;
  const ms = numberOption('kwq engine', 'ms', p.values.ms as string | undefined, { min: 1, max: 3_600_000, dflt: 1000, unit: 'ms' });
  const json = p.values.json === true;
  const r = await engineTour({ durationMs: ms, print: json ? () => {} : undefined });
  if (json) console.log(JSON.stringify({ kwq: kwqVersion(), ...r }, null, 1));
  return r.exactlyOnce ? EXIT_OK : EXIT_FAILED;
}

const SCENARIO_USAGE = 'kwq scenario NAME [--OPTION VALUE ...] [--params FILE] [--json] [--trace DIR]';
const SCENARIO_COMMON = {
  json: { type: 'boolean' as const },
  trace: { type: 'string' as const },
  params: { type: 'string' as const },
};

function scenarioHelp(): string[] {
  return [
    'Run one scenario (kwq list shows them all with their options).',
    '  --OPTION VALUE   a scenario option (kwq scenario NAME --help lists them, with ranges and units)',
    '  --params FILE    take the options from a parameter file (JSON: {"scenario": NAME, "options": {...}}); words given here override it',
    '  --json           print the measured data as JSON instead of the tables',
    '  --trace DIR      write one Chrome trace-event file per kernel the scenario boots (open it in Perfetto)',
    `scenarios: ${SCENARIOS.join(', ')}`,
  ];
}

async function scenario(args: string[]): Promise<number> {
  // the name decides which options exist: find it before parsing (or take it from --params)
  const first = args[0];
  let name = first !== undefined && !first.startsWith('-') ? first : undefined;
  const rest = name === undefined ? args : args.slice(1);
  if (name === undefined) {
    if (wantsHelp(args)) {
      printHelp({ usage: SCENARIO_USAGE, help: scenarioHelp() });
      return EXIT_OK;
    }
    const i = args.indexOf('--params');
    const file = i >= 0 ? args[i + 1] : args.find((a) => a.startsWith('--params='))?.slice('--params='.length);
    if (file === undefined) throw new UsageError('kwq scenario', `name a scenario: ${SCENARIOS.join(', ')}`);
    const exp = await loadParams(file);
    if (exp.kind !== 'scenario') throw new UsageError('kwq scenario', `${file} is a compare file: run it with kwq compare --params ${file}`);
    name = exp.name;
  }
  const sc = await loadScenario(name);
  const spec: CommandSpec = {
    name: `kwq scenario ${name}`,
    usage: `kwq scenario ${name} [--OPTION VALUE ...] [--params FILE] [--json] [--trace DIR]`,
    help: [`${name}: ${sc.title}`, '', 'options (VALUE out of range: exit 2, nothing runs):', ...optionHelpLines(sc), '', ...scenarioHelp().slice(1, 5)],
    options: { ...scenarioArgOptions(sc), ...SCENARIO_COMMON },
    positionals: [0, 0],
  };
  for (const o of Object.keys(SCENARIO_COMMON)) {
    if (o in sc.options) throw new KwqError(`scenario ${name}`, `option '${o}' clashes with the command's own --${o}`);
  }
  const p = parseCommand(spec, rest);
  if (p === null) return EXIT_OK;
  let raw = optionsFromArgs(sc, p.values);
  const paramsFile = p.values.params as string | undefined;
  if (paramsFile !== undefined) {
    const exp = await loadParams(paramsFile);
    if (exp.kind !== 'scenario' || exp.name !== name) throw new UsageError(`kwq scenario ${name}: --params`, `${paramsFile} is for ${exp.kind} ${exp.name}, not scenario ${name}`);
    if (exp.axes.length > 0) throw new UsageError(`kwq scenario ${name}: --params`, `${paramsFile} sweeps ${exp.axes.map(([a]) => a).join(', ')}: run it with kwq sweep ${paramsFile}`);
    raw = { ...exp.options, ...raw };
  }
  const traceDir = p.values.trace === undefined ? undefined : writableDir(`kwq scenario ${name}: --trace`, p.values.trace as string);
  // --trace DIR: record every kernel the scenario boots, one Chrome trace-event file
  // each (open it in Perfetto or chrome://tracing)
  const kernels: Kernel[] = [];
  const stop = traceDir === undefined ? () => {} : Kernel.onBoot((k) => {
    k.trace.record();
    kernels.push(k);
  });
  let res;
  try {
    res = await runScenario(name, raw);
  } finally {
    stop();
  }
  if (p.values.json === true) console.log(JSON.stringify(res.data, null, 2));
  else for (const line of res.lines) console.log(line);
  if (traceDir !== undefined) {
    kernels.forEach((k, i) => {
      const file = join(traceDir, `${name}-${i + 1}.json`);
      try {
        writeFileSync(file, JSON.stringify(k.trace.exportChrome()));
      } catch (e) {
        throw new UsageError(`kwq scenario ${name}: --trace`, `cannot write ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
      console.error(`trace: ${file} (${k.trace.events().length} events)`);
    });
  }
  return EXIT_OK;
}

const LIST_SPEC: CommandSpec = {
  name: 'kwq list',
  usage: 'kwq list [--json]',
  help: ['The scenarios and their options, with ranges, units and defaults.', '  --json     as JSON (each option\'s JSON Schema type, range and default)'],
  options: { json: { type: 'boolean' } },
  positionals: [0, 0],
};

async function list(args: string[]): Promise<number> {
  const p = parseCommand(LIST_SPEC, args);
  if (p === null) return EXIT_OK;
  const out: Record<string, unknown> = {};
  for (const name of SCENARIOS) {
    if (!scenarioAvailable(name)) {
      if (p.values.json !== true) console.log(`${name.padEnd(16)} (not built)`);
      continue;
    }
    const sc = await loadScenario(name);
    if (p.values.json === true) {
      out[name] = { title: sc.title, options: Object.fromEntries(Object.entries(sc.options).map(([o, s]) => [o, { ...s, allowed: describeAllowed(s) }])) };
      continue;
    }
    console.log(`${name.padEnd(16)} ${sc.title}`);
    for (const line of optionHelpLines(sc)) console.log(line);
  }
  if (p.values.json === true) console.log(JSON.stringify(out, null, 1));
  return EXIT_OK;
}

/** a command whose words go to another program: answer --help here when it is the first word */
function passThrough(usage: string, help: string[], run: Command): Command {
  return async (args) => {
    if (args[0] === '--help' || args[0] === '-h') {
      printHelp({ usage, help });
      return EXIT_OK;
    }
    return run(args);
  };
}

const BENCH_USAGE = 'kwq bench [--quick] [--json FILE] [--only NAME,...]';
const PROFILE_USAGE = 'kwq profile [--out DIR] [--top N] [--ms N] [KWQ COMMAND LINE, e.g. scenario multiqueue]';

export const commands: Record<string, { summary: string; run: Command }> = {
  tour: { summary: 'the default tour: the threaded engine, then every scenario', run: tour },
  engine: { summary: 'the threaded engine alone (2 producer threads, 1 vhost worker thread)', run: engine },
  scenario: { summary: 'run one scenario: kwq scenario NAME [--option value ...] [--params FILE] [--json] [--trace DIR]', run: scenario },
  list: { summary: 'list the scenarios and their options', run: list },
  sweep: { summary: `a parameter file's grid on all cores, one JSON line per point: ${SWEEP_SPEC.usage}`, run: sweepCommand },
  merge: { summary: `join sweep shards in point order: ${MERGE_SPEC.usage}`, run: mergeCommand },
  compare: { summary: `two designs or two releases on one workload, who was charged what: ${COMPARE_SPEC.usage}`, run: compareCommand },
  profile: {
    summary: `CPU-profile the queue design: ${PROFILE_USAGE}`,
    run: passThrough(PROFILE_USAGE, [
      'Re-runs a kwq command line (default: kwq engine --ms 2000) under --cpu-prof with the Wasm build that keeps names,',
      'then prints each thread\'s top functions by self time.',
      '  --out DIR  where the .cpuprofile files go (default: a new temporary directory)',
      '  --top N    functions per thread (default 12)',
      '  --ms N     the engine run\'s length, ms (default 2000)',
    ], profileCommand),
  },
  bench: {
    summary: `run the benchmarks: ${BENCH_USAGE}`,
    run: passThrough(BENCH_USAGE, [
      'The benchmark suite (bench/): each figure a ratio from one run, with the exactly-once check and the machine\'s CAS cost beside it.',
      '  --quick        short runs',
      '  --json FILE    also write the JSON summary to FILE',
      '  --only A,B     only these benchmarks',
    ], (args) => runNodeScript(new URL('../../bench/main.js', import.meta.url), args, ['--expose-gc'])),
  },
  run: { summary: `a step script on kwq beside real Linux: ${RUN_USAGE}`, run: runCommand },
  report: { summary: `the tour as one HTML page with its charts, or sweep results as a chart: ${REPORT_SPEC.usage}`, run: reportCommand },
  help: {
    summary: 'list the commands (kwq COMMAND --help for one)',
    run: async (args) => {
      if (args.length > 0 && args[0] !== '--help' && args[0] !== '-h') {
        const c = commands[args[0]!];
        if (!c || args.length > 1) throw new UsageError('kwq help', `no command ${JSON.stringify(args.join(' '))}; commands: ${Object.keys(commands).join(', ')}`);
        return c.run(['--help']);
      }
      usage();
      return EXIT_OK;
    },
  },
};

function usage(): void {
  console.log('usage: kwq <command> [args]   (kwq <command> --help for its options)\n');
  for (const [name, c] of Object.entries(commands)) console.log(`  ${name.padEnd(10)} ${c.summary}`);
  console.log('\n  --version  print the version');
  console.log('\nexit codes: 0 ok, 1 a check failed, 2 usage (a bad option, value, file or path)');
}

/** One line on stderr for any error; the exit code it means. */
export function reportError(e: unknown): number {
  if (e instanceof KwqError) {
    console.error(e.message);
    return EXIT_USAGE;
  }
  const err = e as { code?: string; message?: string; stack?: string };
  if (typeof err?.code === 'string' && err.code.startsWith('ERR_PARSE_ARGS_')) {
    console.error(`kwq: ${parseArgsMessage(e, {})}`);
    return EXIT_USAGE;
  }
  // not a usage error: a failure inside a run. One line; the stack on request.
  const msg = (err?.message ?? String(e)).split('\n')[0];
  console.error(`kwq: ${msg}${process.env['KWQ_DEBUG'] ? `\n${err?.stack ?? ''}` : ' (KWQ_DEBUG=1 prints the stack)'}`);
  return EXIT_FAILED;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h') {
    usage();
    return EXIT_OK;
  }
  if (name === '--version' || name === '-V') {
    if (rest.length > 0) {
      console.error(`kwq --version: unexpected words ${rest.join(' ')}`);
      return EXIT_USAGE;
    }
    console.log(kwqVersion());
    return EXIT_OK;
  }
  const cmd = commands[name];
  if (!cmd) {
    console.error(`kwq: unknown command ${JSON.stringify(name)}; commands: ${Object.keys(commands).join(', ')} (kwq --help)`);
    return EXIT_USAGE;
  }
  try {
    return await cmd.run(rest);
  } catch (e) {
    return reportError(e);
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
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.exitCode = reportError(e);
    },
  );
}
