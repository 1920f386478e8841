/**
 * The virtual CPU cost of what a vhost worker does, per device (a model knob, not
 * a kernel field). The sim runtime charges these to the thread running the worker,
 * so they land in the cpu.stat of the worker task's cgroup and bound throughput.
 * Defaults are the multiqueue scenario's calibration (scenarios/multiqueue.ts).
 */
export interface VhostCosts {
  /** a sleeping worker woken to run again (context switch in, cold caches), ns */
  wakeNs: number;
  /** dispatching one vhost_work (llist walk, indirect call, cond_resched), ns */
  workNs: number;
  /** handle_kick: one descriptor / command taken from the avail ring and handed on, ns */
  descNs: number;
  /** completion: one used-ring entry written, ns */
  usedNs: number;
  /** descriptors one handle_kick takes before it re-queues itself (vhost_exceeds_weight) */
  weight: number;
}

export const DEFAULT_VHOST_COSTS: Readonly<VhostCosts> = Object.freeze({
  wakeNs: 2500,
  workNs: 300,
  descNs: 1600,
  usedNs: 350,
  weight: 256,
});

const KEYS = Object.keys(DEFAULT_VHOST_COSTS) as (keyof VhostCosts)[];

/** The names of the cost fields (for validation messages). */
export function vhostCostKeys(): readonly string[] {
  return KEYS;
}

/** Validate a partial cost object; returns the bad field's message or null. */
export function checkVhostCosts(c: unknown): string | null {
  if (typeof c !== 'object' || c === null) return 'costs must be an object';
  for (const [key, v] of Object.entries(c)) {
    if (!(KEYS as string[]).includes(key)) return `unknown cost '${key}'; known: ${KEYS.join(', ')}`;
    const min = key === 'weight' ? 1 : 0;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || (key === 'weight' && !Number.isInteger(v))) {
      return `cost '${key}' must be a ${key === 'weight' ? 'positive integer' : 'finite number >= 0'}, got ${String(v)}`;
    }
  }
  return null;
}
