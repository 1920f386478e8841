/**
 * Virtual time: events ordered by (time, sequence) in a binary heap, and the
 * kernel's timer_list on top of it.
 *
 * Every pending thing in the sim runtime is a SimEvent: a timer, a CPU finishing a
 * slice, a callback. Events are objects owned by their user (a TimerList lives
 * inside the driver structure that owns it, as in the kernel; each virtual CPU owns
 * one completion event), so queueing one allocates nothing. The heap keeps each
 * event's index in the event itself, so removal (del_timer) is O(log n) too.
 *
 *   heap array (1 slot per pending event, sorted as a binary min-heap)
 *   +------+------+------+------+-----
 *   | ev0  | ev1  | ev2  | ev3  | ...      ev.heapIndex == its slot, -1 when not queued
 *   +------+------+------+------+-----
 *   order: a before b  iff  a.time < b.time || (a.time == b.time && a.seq < b.seq)
 *
 * `seq` is taken from one counter when an event is queued, so two events at the same
 * time fire in the order they were queued: this is what makes a run deterministic.
 */

/** TIMER_DEFERRABLE (include/linux/timer.h): the timer does not wake an idle CPU. */
export const TIMER_DEFERRABLE = 0x00080000;

export abstract class SimEvent {
  /** virtual ns at which it fires */
  time = 0;
  /** queueing order, the tie-breaker */
  seq = 0;
  /** slot in the heap, -1 when not queued */
  heapIndex = -1;
  /** a deferrable timer: does not keep the system busy (runUntilIdle ignores it) */
  deferrable = false;
  /** true while queued */
  get pending(): boolean {
    return this.heapIndex >= 0;
  }
  abstract fire(): void;
}

/** A one-shot callback event (allocates: for set-up paths, not hot paths). */
export class CallbackEvent extends SimEvent {
  constructor(private readonly fn: () => void) {
    super();
  }
  fire(): void {
    this.fn();
  }
}

function before(a: SimEvent, b: SimEvent): boolean {
  return a.time < b.time || (a.time === b.time && a.seq < b.seq);
}

/** A binary min-heap of SimEvents keyed by (time, seq). No allocation after growth. */
export class EventHeap {
  private items: SimEvent[] = [];
  private n = 0;

  get size(): number {
    return this.n;
  }

  peek(): SimEvent | undefined {
    return this.n > 0 ? this.items[0] : undefined;
  }

  push(ev: SimEvent): void {
    const i = this.n++;
    if (i === this.items.length) this.items.push(ev);
    else this.items[i] = ev;
    ev.heapIndex = i;
    this.up(i);
  }

  pop(): SimEvent | undefined {
    if (this.n === 0) return undefined;
    const top = this.items[0]!;
    this.removeAt(0);
    return top;
  }

  /** Remove a queued event; false if it was not queued in this heap. */
  remove(ev: SimEvent): boolean {
    const i = ev.heapIndex;
    if (i < 0 || i >= this.n || this.items[i] !== ev) return false;
    this.removeAt(i);
    return true;
  }

  private removeAt(i: number): void {
    const ev = this.items[i]!;
    const last = this.items[--this.n]!;
    this.items[this.n] = undefined as unknown as SimEvent; // drop the reference
    ev.heapIndex = -1;
    if (i === this.n) return;
    this.items[i] = last;
    last.heapIndex = i;
    if (i > 0 && before(last, this.items[(i - 1) >> 1]!)) this.up(i);
    else this.down(i);
  }

  private up(i: number): void {
    const items = this.items;
    const ev = items[i]!;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pe = items[p]!;
      if (!before(ev, pe)) break;
      items[i] = pe;
      pe.heapIndex = i;
      i = p;
    }
    items[i] = ev;
    ev.heapIndex = i;
  }

  private down(i: number): void {
    const items = this.items;
    const n = this.n;
    const ev = items[i]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && before(items[r]!, items[l]!) ? r : l;
      const ce = items[c]!;
      if (!before(ce, ev)) break;
      items[i] = ce;
      ce.heapIndex = i;
      i = c;
    }
    items[i] = ev;
    ev.heapIndex = i;
  }
}

/**
 * struct timer_list: `expires` in jiffies, a callback, flags (TIMER_DEFERRABLE).
 * Owned by its user and re-armed in place; the runtime's timer calls
 * (add_timer/mod_timer/timer_reduce/del_timer) queue it.
 */
export class TimerList extends SimEvent {
  /** expiry in jiffies (valid while pending, and after it fired) */
  expires = 0;
  /** set by the threads runtime: the host timeout handle while pending there */
  hostHandle: unknown = null;
  constructor(
    readonly fn: (timer: TimerList) => void,
    readonly flags = 0,
  ) {
    super();
    this.deferrable = (flags & TIMER_DEFERRABLE) !== 0;
  }
  override get pending(): boolean {
    return this.heapIndex >= 0 || this.hostHandle !== null;
  }
  fire(): void {
    this.fn(this);
  }
}

/** time_after(a, b): true if jiffies a is after b (no wrap-around: jiffies are JS numbers). */
export const timeAfter = (a: number, b: number): boolean => a > b;
/** time_after_eq(a, b) */
export const timeAfterEq = (a: number, b: number): boolean => a >= b;
/** time_is_after_jiffies(a): a is in the future. */
export const timeIsAfterJiffies = (a: number, jiffies: number): boolean => a > jiffies;
