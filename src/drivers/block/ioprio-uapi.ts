/**
 * I/O priorities as user space writes them (include/uapi/linux/ioprio.h, current
 * mainline with the 6.5 hints; /tmp/research/notes.md Q2, and this machine's 6.1
 * header for the pre-hint part):
 *
 *   15  13 12                 3 2     0
 *  +------+--------------------+-------+
 *  |class |   hint (10 bits)   | level |      a 16-bit value (ioc->ioprio is an
 *  +------+--------------------+-------+      unsigned short)
 *
 *   class  IOPRIO_CLASS_NONE 0, RT 1, BE 2, IDLE 3 (4..7 invalid)
 *   level  0 (highest) .. 7; BE's default is IOPRIO_NORM = 4
 *
 * `which` for ioprio_set/ioprio_get: IOPRIO_WHO_PROCESS 1 (a thread; who 0 = the
 * caller), IOPRIO_WHO_PGRP 2 (every thread of a process group; 0 = the caller's),
 * IOPRIO_WHO_USER 3 (every thread whose real uid is `who`).
 */
export const IOPRIO_CLASS_SHIFT = 13;
export const IOPRIO_NR_CLASSES = 8;
export const IOPRIO_CLASS_MASK = IOPRIO_NR_CLASSES - 1;
export const IOPRIO_PRIO_MASK = (1 << IOPRIO_CLASS_SHIFT) - 1;

export const IOPRIO_CLASS_NONE = 0;
export const IOPRIO_CLASS_RT = 1;
export const IOPRIO_CLASS_BE = 2;
export const IOPRIO_CLASS_IDLE = 3;
/** ioprio_value()'s answer to an out-of-range class, level or hint */
export const IOPRIO_CLASS_INVALID = 7;

export const IOPRIO_LEVEL_NR_BITS = 3;
export const IOPRIO_NR_LEVELS = 1 << IOPRIO_LEVEL_NR_BITS;
export const IOPRIO_LEVEL_MASK = IOPRIO_NR_LEVELS - 1;
export const IOPRIO_BE_NR = IOPRIO_NR_LEVELS;
export const IOPRIO_NORM = 4;
export const IOPRIO_BE_NORM = IOPRIO_NORM;

export const IOPRIO_HINT_SHIFT = IOPRIO_LEVEL_NR_BITS;
export const IOPRIO_HINT_NR_BITS = 10;
export const IOPRIO_NR_HINTS = 1 << IOPRIO_HINT_NR_BITS;
export const IOPRIO_HINT_MASK = IOPRIO_NR_HINTS - 1;

export const IOPRIO_WHO_PROCESS = 1;
export const IOPRIO_WHO_PGRP = 2;
export const IOPRIO_WHO_USER = 3;

/** IOPRIO_DEFAULT (include/linux/ioprio.h since 5.19-ish): class NONE, level 0 */
export const IOPRIO_DEFAULT = 0;

/** IOPRIO_PRIO_CLASS */
export function IOPRIO_PRIO_CLASS(ioprio: number): number {
  return (ioprio >> IOPRIO_CLASS_SHIFT) & IOPRIO_CLASS_MASK;
}
/** IOPRIO_PRIO_DATA: hint and level together */
export function IOPRIO_PRIO_DATA(ioprio: number): number {
  return ioprio & IOPRIO_PRIO_MASK;
}
/** IOPRIO_PRIO_LEVEL */
export function IOPRIO_PRIO_LEVEL(ioprio: number): number {
  return ioprio & IOPRIO_LEVEL_MASK;
}
/** IOPRIO_PRIO_HINT */
export function IOPRIO_PRIO_HINT(ioprio: number): number {
  return (ioprio >> IOPRIO_HINT_SHIFT) & IOPRIO_HINT_MASK;
}

/** ioprio_value(class, level, hint): an out-of-range part gives IOPRIO_CLASS_INVALID << 13. */
/** IOPRIO_BAD_VALUE (a module function, not a closure per call) */
function bad(v: number, max: number): boolean {
  return !Number.isInteger(v) || v < 0 || v >= max;
}

export function ioprioValue(ioclass: number, level: number, hint: number): number {
  if (bad(ioclass, IOPRIO_NR_CLASSES) || bad(level, IOPRIO_NR_LEVELS) || bad(hint, IOPRIO_NR_HINTS)) {
    return IOPRIO_CLASS_INVALID << IOPRIO_CLASS_SHIFT;
  }
  return (ioclass << IOPRIO_CLASS_SHIFT) | (hint << IOPRIO_HINT_SHIFT) | level;
}

/** IOPRIO_PRIO_VALUE(class, level) */
export function IOPRIO_PRIO_VALUE(ioclass: number, level: number): number {
  return ioprioValue(ioclass, level, 0);
}

/** ioprio_valid (include/linux/ioprio.h, 5.17+): class RT, BE or IDLE. */
export function ioprioValid(ioprio: number): boolean {
  const c = IOPRIO_PRIO_CLASS(ioprio);
  return c > IOPRIO_CLASS_NONE && c <= IOPRIO_CLASS_IDLE;
}

/** 'be/4', 'rt/0', 'idle/0', 'none/0' (as ionice prints it), with '+hN' for a hint. */
export function ioprioName(ioprio: number): string {
  const names = ['none', 'rt', 'be', 'idle', 'class4', 'class5', 'class6', 'invalid'];
  const h = IOPRIO_PRIO_HINT(ioprio);
  return `${names[IOPRIO_PRIO_CLASS(ioprio)]}/${IOPRIO_PRIO_LEVEL(ioprio)}${h ? `+h${h}` : ''}`;
}
