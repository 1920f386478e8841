/**
 * Modules and their parameters (module_param), and the kernel command line.
 *
 * A driver registers a module BEFORE boot (src/index.ts imports the drivers for this
 * side effect); src/kernel never imports a driver. At boot the command line's
 * `module.param=value` words set parameters, then every module's init runs in
 * registration order (that is where drivers register their devices).
 *
 *   registerModule({ name: 'vhost',
 *                    params: { fork_from_owner_default: { type: 'bool', default: true } },
 *                    init(k, params) { ... } });
 *
 * Words with no dot are kernel parameters (the model knows none and rejects them);
 * `kwq.<switch>=value` are model-only switches, declared like parameters of the
 * pseudo-module 'kwq' (drivers may add switches there with registerKwqSwitch).
 *
 * Releases (release.ts): a parameter with `feature` exists only in releases that have
 * that feature (elsewhere it is unknown, as on a kernel without it); a parameter or
 * switch with `releaseDefault` takes `releaseDefault.without` as its default in
 * releases that lack the feature. A value given on the command line always wins.
 */
import { KwqError } from './error.js';
import type { Kernel } from './kernel.js';
import { DEFAULT_RELEASE, featureInfo, parseFeature, RELEASES, type Feature, type Release } from './release.js';

export type ParamType = 'bool' | 'int' | 'uint' | 'string' | 'enum';
export type ParamValue = boolean | number | string;

export interface ParamSpec {
  type: ParamType;
  default: ParamValue;
  /** for 'enum': the allowed values */
  values?: readonly string[];
  /** for 'int'/'uint': inclusive bounds */
  min?: number;
  max?: number;
  description?: string;
  /** the parameter exists only in releases with this feature (module_param added by that commit) */
  feature?: Feature;
  /** in releases without `feature`, the default is `without` (e.g. kwq.loop_workers=kworker before 5.14) */
  releaseDefault?: { feature: Feature; without: ParamValue };
}

export interface ModuleSpec {
  name: string;
  params?: Record<string, ParamSpec>;
  /** runs at boot, after parameters are parsed; registers devices */
  init?(k: Kernel, params: Record<string, ParamValue>): void | Promise<void>;
  /** runs at shutdown, in reverse order */
  exit?(k: Kernel): void;
}

const registry = new Map<string, ModuleSpec>();
const kwqSwitches: Record<string, ParamSpec> = {};

const NAME = /^[a-z_][a-z0-9_]*$/;

export function registerModule(spec: ModuleSpec): void {
  if (!NAME.test(spec.name)) throw new KwqError('registerModule', `bad module name '${spec.name}': use [a-z_][a-z0-9_]*`);
  if (spec.name === 'kwq') throw new KwqError('registerModule', "'kwq' is reserved for model switches (registerKwqSwitch)");
  if (registry.has(spec.name)) throw new KwqError('registerModule', `module '${spec.name}' is already registered`);
  for (const [p, ps] of Object.entries(spec.params ?? {})) checkSpec(`${spec.name}.${p}`, ps);
  registry.set(spec.name, spec);
}

/** A model-only switch `kwq.<name>` (e.g. kwq.loop_workers=kworker|per-cgroup). */
export function registerKwqSwitch(name: string, spec: ParamSpec): void {
  if (!/^[a-z_][a-z0-9_-]*$/.test(name)) throw new KwqError('registerKwqSwitch', `bad switch name '${name}'`);
  if (kwqSwitches[name] !== undefined) throw new KwqError('registerKwqSwitch', `kwq.${name} is already registered`);
  if (spec.feature !== undefined) throw new KwqError('registerKwqSwitch', `kwq.${name}: a model switch exists in every release (use releaseDefault, not feature)`);
  checkSpec(`kwq.${name}`, spec);
  kwqSwitches[name] = spec;
}

export function registeredModules(): ModuleSpec[] {
  return [...registry.values()];
}

/** For tests: forget a module registered by the test itself. */
export function unregisterModule(name: string): void {
  registry.delete(name);
}

function checkSpec(where: string, ps: ParamSpec): void {
  const text = (v: ParamValue): string => (typeof v === 'boolean' ? (v ? 'Y' : 'N') : String(v));
  const d = parseValue(where, ps, text(ps.default));
  if (d === undefined) throw new KwqError('registerModule', `${where}: default ${JSON.stringify(ps.default)} is not a valid ${ps.type}`);
  if (ps.feature !== undefined) parseFeature(ps.feature, `registerModule: ${where}.feature`);
  if (ps.releaseDefault !== undefined) {
    parseFeature(ps.releaseDefault.feature, `registerModule: ${where}.releaseDefault`);
    if (parseValue(where, ps, text(ps.releaseDefault.without)) === undefined) {
      throw new KwqError('registerModule', `${where}: releaseDefault.without ${JSON.stringify(ps.releaseDefault.without)} is not a valid ${ps.type}`);
    }
  }
}

/** Does the parameter exist in `release`? */
function paramExists(ps: ParamSpec, release: Release): boolean {
  return ps.feature === undefined || RELEASES[release].has(ps.feature);
}

/** The parameter's default in `release`. */
function releaseDefaultOf(ps: ParamSpec, release: Release): ParamValue {
  const rd = ps.releaseDefault;
  return rd === undefined || RELEASES[release].has(rd.feature) ? ps.default : rd.without;
}

/** A module's parameters that exist in `release` (for /sys/module). */
export function moduleParamsIn(m: ModuleSpec, release: Release): [string, ParamSpec][] {
  return Object.entries(m.params ?? {}).filter(([, ps]) => paramExists(ps, release));
}

function allowed(ps: ParamSpec): string {
  switch (ps.type) {
    case 'bool': return 'one of 1, 0, y, n, Y, N, on, off, true, false';
    case 'int': return `an integer${ps.min !== undefined || ps.max !== undefined ? ` in [${ps.min ?? '-inf'}, ${ps.max ?? 'inf'}]` : ''}`;
    case 'uint': return `an unsigned integer${ps.max !== undefined ? ` <= ${ps.max}` : ''}`;
    case 'enum': return `one of ${(ps.values ?? []).join(', ')}`;
    default: return 'a string';
  }
}

/** param_set_bool & co.: the parsed value, or undefined if malformed */
function parseValue(_where: string, ps: ParamSpec, raw: string): ParamValue | undefined {
  switch (ps.type) {
    case 'bool': {
      // kstrtobool: first character y/Y/1 or n/N/0, or on/off (true/false accepted as the kernel's kstrtobool does via t/f)
      const v = raw.toLowerCase();
      if (['1', 'y', 'yes', 'on', 'true'].includes(v)) return true;
      if (['0', 'n', 'no', 'off', 'false'].includes(v)) return false;
      return undefined;
    }
    case 'int':
    case 'uint': {
      if (!/^[+-]?\d+$/.test(raw)) return undefined;
      const n = Number(raw);
      if (!Number.isSafeInteger(n)) return undefined;
      if (ps.type === 'uint' && n < 0) return undefined;
      if (ps.min !== undefined && n < ps.min) return undefined;
      if (ps.max !== undefined && n > ps.max) return undefined;
      return n;
    }
    case 'enum':
      return (ps.values ?? []).includes(raw) ? raw : undefined;
    default:
      return raw;
  }
}

export interface ParsedCmdline {
  /** module -> param -> value, defaults filled in */
  params: Map<string, Record<string, ParamValue>>;
  kwq: Record<string, ParamValue>;
}

/**
 * Parse the command line for `release` (defaults and which parameters exist depend on
 * it); a KwqError names the bad word and what is allowed.
 */
export function parseCmdline(cmdline: string, release: Release = DEFAULT_RELEASE): ParsedCmdline {
  if (typeof cmdline !== 'string') throw new KwqError('Kernel.boot: cmdline', `expected a string, got ${typeof cmdline}`);
  const params = new Map<string, Record<string, ParamValue>>();
  for (const m of registry.values()) {
    const vals: Record<string, ParamValue> = {};
    for (const [p, ps] of moduleParamsIn(m, release)) vals[p] = releaseDefaultOf(ps, release);
    params.set(m.name, vals);
  }
  const kwq: Record<string, ParamValue> = {};
  for (const [s, ps] of Object.entries(kwqSwitches)) kwq[s] = releaseDefaultOf(ps, release);
  const modNames = (): string => [...registry.keys(), 'kwq'].join(', ') || '(none)';
  for (const word of cmdline.split(/\s+/).filter((w) => w !== '')) {
    const eq = word.indexOf('=');
    const key = eq < 0 ? word : word.slice(0, eq);
    const raw = eq < 0 ? undefined : word.slice(eq + 1);
    const dot = key.indexOf('.');
    if (dot < 0) {
      throw new KwqError('Kernel.boot: cmdline', `'${word}': not a module parameter; the model takes module.param=value words (modules: ${modNames()})`);
    }
    const mod = key.slice(0, dot);
    const param = key.slice(dot + 1).replace(/-/g, '_');
    let spec: ParamSpec | undefined;
    let target: Record<string, ParamValue>;
    if (mod === 'kwq') {
      spec = kwqSwitches[key.slice(dot + 1)] ?? kwqSwitches[param];
      target = kwq;
      if (spec === undefined) {
        throw new KwqError('Kernel.boot: cmdline', `'${word}': unknown model switch 'kwq.${key.slice(dot + 1)}'; known: ${Object.keys(kwqSwitches).map((s) => `kwq.${s}`).join(', ') || '(none)'}`);
      }
    } else {
      const m = registry.get(mod);
      if (m === undefined) throw new KwqError('Kernel.boot: cmdline', `'${word}': unknown module '${mod}'; known modules: ${modNames()}`);
      spec = m.params?.[param];
      target = params.get(mod)!;
      if (spec !== undefined && !paramExists(spec, release)) {
        // as on a kernel built before the parameter existed: unknown
        const f = featureInfo(spec.feature!);
        const have = moduleParamsIn(m, release).map(([p]) => p);
        throw new KwqError('Kernel.boot: cmdline', `'${word}': module '${mod}' has no parameter '${param}' in release ${release} (it came with ${f.since}, feature ${f.name}, ${f.commit.id}); its parameters: ${have.join(', ') || '(none)'}`);
      }
      if (spec === undefined) {
        throw new KwqError('Kernel.boot: cmdline', `'${word}': module '${mod}' has no parameter '${param}'; its parameters: ${moduleParamsIn(m, release).map(([p]) => p).join(', ') || '(none)'}`);
      }
    }
    // a bare bool parameter means true, as the kernel's param_set_bool with no value
    const text = raw ?? (spec.type === 'bool' ? 'Y' : undefined);
    if (text === undefined) throw new KwqError('Kernel.boot: cmdline', `'${word}': missing value; expected ${allowed(spec)}`);
    const v = parseValue(word, spec, text);
    if (v === undefined) throw new KwqError('Kernel.boot: cmdline', `'${word}': bad value '${text}'; expected ${allowed(spec)}`);
    target[mod === 'kwq' ? (kwqSwitches[key.slice(dot + 1)] ? key.slice(dot + 1) : param) : param] = v;
  }
  return { params, kwq };
}

/** How /sys/module/<m>/parameters/<p> prints a value. */
export function formatParam(ps: ParamSpec, v: ParamValue): string {
  if (ps.type === 'bool') return v ? 'Y' : 'N';
  return String(v);
}
