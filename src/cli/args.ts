/**
 * The conventions every `kwq` command follows, in one place:
 *
 *   - arguments parsed by node:util parseArgs (strict: an unknown option or an extra
 *     word is refused, never ignored);
 *   - `--help` / `-h` prints the command's usage on stdout and exits 0;
 *   - exit codes: 0 ok, 1 a check failed (or a run failed), 2 usage (a bad option,
 *     value, file or path);
 *   - errors on stderr in one line, naming what was wrong, with no stack trace
 *     (KWQ_DEBUG=1 prints the stack of an unexpected error).
 *
 * A command throws UsageError (or any KwqError) for bad input; kwq.ts's main turns it
 * into the one line and exit code 2.
 */
import { accessSync, constants, mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { KwqError } from '../kernel/error.js';

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

/** bad input to a command: the message names the option, the value and what is allowed */
export class UsageError extends KwqError {}

type OptionSpec = { type: 'string' | 'boolean'; short?: string; multiple?: boolean; default?: string | boolean };
export type OptionsSpec = Record<string, OptionSpec>;

export interface CommandSpec {
  /** e.g. 'kwq sweep' */
  name: string;
  /** one line: `kwq sweep FILE [--out FILE] ...` */
  usage: string;
  /** lines printed under the usage by --help: what it does, each option */
  help: readonly string[];
  options: OptionsSpec;
  /** how many words besides the options: [min, max] (max Infinity: any) */
  positionals: readonly [number, number];
}

export interface Parsed {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

/** True when the words ask for help (before a `--`, which ends the options). */
export function wantsHelp(argv: readonly string[]): boolean {
  for (const w of argv) {
    if (w === '--') return false;
    if (w === '--help' || w === '-h') return true;
  }
  return false;
}

export function printHelp(spec: Pick<CommandSpec, 'usage' | 'help'>): void {
  console.log(`usage: ${spec.usage}`);
  if (spec.help.length > 0) console.log(`\n${spec.help.join('\n')}`);
}

function optionList(options: OptionsSpec): string {
  return Object.keys(options).map((o) => `--${o}`).join(', ');
}

/**
 * parseArgs, strict, with its errors turned into one-line UsageErrors. Returns null
 * when --help was asked for (the usage has been printed: exit 0).
 */
export function parseCommand(spec: CommandSpec, argv: readonly string[]): Parsed | null {
  if (wantsHelp(argv)) {
    printHelp(spec);
    return null;
  }
  let parsed;
  try {
    parsed = parseArgs({ args: joinNegativeValues(argv, spec.options), options: spec.options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(spec.name, parseArgsMessage(e, spec.options));
  }
  const [min, max] = spec.positionals;
  const pos = parsed.positionals;
  if (pos.length > max) {
    const extra = pos.slice(max);
    throw new UsageError(spec.name, `unexpected ${extra.length === 1 ? 'word' : 'words'} ${extra.map((w) => `'${w}'`).join(' ')} (usage: ${spec.usage})`);
  }
  if (pos.length < min) throw new UsageError(spec.name, `missing argument (usage: ${spec.usage})`);
  return { values: parsed.values as Parsed['values'], positionals: pos };
}

/**
 * `--durationMs -1` -> `--durationMs=-1`: parseArgs takes a word starting with '-' for an
 * option, so a negative number would be refused as "ambiguous" before the option's own
 * check could name its range.
 */
function joinNegativeValues(argv: readonly string[], options: OptionsSpec): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const w = argv[i]!;
    const next = argv[i + 1];
    if (w === '--') {
      out.push(...argv.slice(i));
      break;
    }
    if (w.startsWith('--') && !w.includes('=') && options[w.slice(2)]?.type === 'string' && next !== undefined && /^-(\d|\.\d|Infinity)/.test(next)) {
      out.push(`${w}=${next}`);
      i++;
    } else out.push(w);
  }
  return out;
}

/** node's parseArgs messages are paragraphs; one line naming the option instead */
export function parseArgsMessage(e: unknown, options: OptionsSpec): string {
  const err = e as { code?: string; message?: string };
  const msg = err.message ?? String(e);
  const opt = /'(-[^' ]*)/.exec(msg)?.[1] ?? '';
  switch (err.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option '${opt}'; allowed: ${optionList(options) || '(none)'}, --help`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      if (/argument missing/.test(msg)) return `option '${opt}' needs a value`;
      if (/ambiguous/.test(msg)) return `option '${opt}' needs a value (one starting with '-' is written ${opt}=-VALUE)`;
      return `option '${opt}' takes no value`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected word ${/'([^']*)'/.exec(msg)?.[1] ?? ''}`.trim();
    default:
      return msg.split('\n')[0]!;
  }
}

/** a string option's value as a number in a range, or a UsageError naming it */
export function numberOption(where: string, name: string, word: string | undefined, o: { integer?: boolean; min?: number; max?: number; dflt: number; unit?: string }): number {
  if (word === undefined) return o.dflt;
  const n = word.trim() === '' ? NaN : Number(word);
  const unit = o.unit ? ` ${o.unit}` : '';
  const range = `${o.integer ? 'an integer' : 'a number'} in ${o.min ?? '-inf'}..${o.max ?? 'inf'}${unit}`;
  if (!Number.isFinite(n) || (o.integer && !Number.isInteger(n)) || (o.min !== undefined && n < o.min) || (o.max !== undefined && n > o.max)) {
    throw new UsageError(where, `option '--${name}' has value ${JSON.stringify(word)}; expected ${range}`);
  }
  return n;
}

function errnoText(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  // node's "ENOTDIR: not a directory, mkdir '/dev/null/x'" -> "ENOTDIR (not a directory)"
  const what = /^[A-Z]+: ([^,]+)/.exec(err.message ?? '')?.[1] ?? err.message;
  return err.code ? `${err.code} (${what})` : String(err.message ?? e);
}

/**
 * A directory that output goes to (--trace DIR, --out DIR), made if missing: checked
 * before the run, so an unwritable path is a one-line usage error, not a stack trace
 * after minutes of work.
 */
export function writableDir(where: string, dir: string): string {
  const abs = resolve(dir);
  try {
    mkdirSync(abs, { recursive: true });
    accessSync(abs, constants.W_OK);
  } catch (e) {
    throw new UsageError(where, `cannot write to directory ${dir}: ${errnoText(e)}`);
  }
  return abs;
}

/** A file that output goes to (--out FILE): its directory must exist and be writable, and it must not be a directory. */
export function writableFile(where: string, file: string): string {
  const abs = resolve(file);
  try {
    const st = statSync(abs, { throwIfNoEntry: false });
    if (st?.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    if (st) accessSync(abs, constants.W_OK);
    else {
      const dir = statSync(dirname(abs), { throwIfNoEntry: false });
      if (dir === undefined) throw Object.assign(new Error('no such directory'), { code: 'ENOENT' });
      if (!dir.isDirectory()) throw Object.assign(new Error(`${dirname(file)} is not a directory`), { code: 'ENOTDIR' });
      accessSync(dirname(abs), constants.W_OK);
    }
  } catch (e) {
    throw new UsageError(where, `cannot write to ${file}: ${errnoText(e)}`);
  }
  return abs;
}
