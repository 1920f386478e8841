/**
 * Resource limits (include/uapi/asm-generic/resource.h): `[soft, hard]` pairs held by
 * the thread group's signal_struct, so every thread of a process sees the same ones.
 * RLIM_INFINITY is `Infinity` in the model.
 */
import { EINVAL, EPERM } from './errno.js';
import { KwqError } from './error.js';

export const RLIMIT_CPU = 0;
export const RLIMIT_FSIZE = 1;
export const RLIMIT_DATA = 2;
export const RLIMIT_STACK = 3;
export const RLIMIT_CORE = 4;
export const RLIMIT_RSS = 5;
export const RLIMIT_NPROC = 6;
export const RLIMIT_NOFILE = 7;
export const RLIMIT_MEMLOCK = 8;
export const RLIMIT_AS = 9;
export const RLIMIT_LOCKS = 10;
export const RLIMIT_SIGPENDING = 11;
export const RLIMIT_MSGQUEUE = 12;
export const RLIMIT_NICE = 13;
export const RLIMIT_RTPRIO = 14;
export const RLIMIT_RTTIME = 15;
export const RLIM_NLIMITS = 16;
export const RLIM_INFINITY = Infinity;

export const RLIMIT_NAMES = [
  'RLIMIT_CPU', 'RLIMIT_FSIZE', 'RLIMIT_DATA', 'RLIMIT_STACK', 'RLIMIT_CORE', 'RLIMIT_RSS',
  'RLIMIT_NPROC', 'RLIMIT_NOFILE', 'RLIMIT_MEMLOCK', 'RLIMIT_AS', 'RLIMIT_LOCKS',
  'RLIMIT_SIGPENDING', 'RLIMIT_MSGQUEUE', 'RLIMIT_NICE', 'RLIMIT_RTPRIO', 'RLIMIT_RTTIME',
] as const;

/** sysctl fs.nr_open: the largest RLIMIT_NOFILE hard limit (-EPERM above it). */
export const NR_OPEN = 1048576;

export type Rlimit = [soft: number, hard: number];

/** INIT_RLIMITS (include/asm-generic/resource.h); RLIMIT_NPROC and SIGPENDING as fork_init sets them from max_threads / 2. */
export function initRlimits(maxThreads: number): Rlimit[] {
  const r: Rlimit[] = [];
  for (let i = 0; i < RLIM_NLIMITS; i++) r.push([RLIM_INFINITY, RLIM_INFINITY]);
  r[RLIMIT_STACK] = [8 * 1024 * 1024, RLIM_INFINITY];
  r[RLIMIT_CORE] = [0, RLIM_INFINITY];
  r[RLIMIT_NPROC] = [Math.floor(maxThreads / 2), Math.floor(maxThreads / 2)];
  r[RLIMIT_NOFILE] = [1024, 4096];
  r[RLIMIT_MEMLOCK] = [8 * 1024 * 1024, 8 * 1024 * 1024];
  r[RLIMIT_SIGPENDING] = [Math.floor(maxThreads / 2), Math.floor(maxThreads / 2)];
  r[RLIMIT_MSGQUEUE] = [819200, 819200];
  r[RLIMIT_NICE] = [0, 0];
  r[RLIMIT_RTPRIO] = [0, 0];
  return r;
}

/** A resource given by number or by name ('RLIMIT_NPROC'); a KwqError for anything else. */
export function resolveResource(where: string, resource: number | string): number {
  if (typeof resource === 'number' && Number.isInteger(resource) && resource >= 0 && resource < RLIM_NLIMITS) return resource;
  if (typeof resource === 'string') {
    const i = (RLIMIT_NAMES as readonly string[]).indexOf(resource);
    if (i >= 0) return i;
  }
  throw new KwqError(where, `unknown resource ${JSON.stringify(resource)}; expected one of ${RLIMIT_NAMES.join(', ')} or 0..${RLIM_NLIMITS - 1}`);
}

/** Validate a JS `[soft, hard]` value: non-negative integers or Infinity. */
export function checkRlimitValue(where: string, v: unknown): Rlimit {
  const ok = (x: unknown): x is number => typeof x === 'number' && (x === Infinity || (Number.isInteger(x) && x >= 0));
  if (!Array.isArray(v) || v.length !== 2 || !ok(v[0]) || !ok(v[1])) {
    throw new KwqError(where, `bad rlimit ${JSON.stringify(v)}: expected [soft, hard] with integers >= 0 or Infinity`);
  }
  return [v[0], v[1]];
}

/**
 * do_prlimit's checks: soft > hard -> -EINVAL; raising the hard limit needs
 * CAP_SYS_RESOURCE -> -EPERM; RLIMIT_NOFILE above nr_open -> -EPERM.
 * Returns 0 and updates `limits` in place, or -errno with nothing changed.
 */
export function doPrlimit(limits: Rlimit[], resource: number, nw: Rlimit, capSysResource: boolean): number {
  if (nw[0] > nw[1]) return -EINVAL;
  if (resource === RLIMIT_NOFILE && nw[1] > NR_OPEN) return -EPERM;
  const old = limits[resource]!;
  if (nw[1] > old[1] && !capSysResource) return -EPERM;
  limits[resource] = [nw[0], nw[1]];
  return 0;
}
