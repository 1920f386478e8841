/**
 * A busy loop for the cpu-controller tests: a user worker of `owner` that uses every ns
 * of every slice it is given, and counts them.
 */
import type { Kernel, Task } from 'kwq';
import type { SimThread } from '../../src/runtime/sim-thread.js';

export function burner(k: Kernel, owner: Task): { task: Task; usedNs: () => number } {
  let used = 0;
  const t = k.userWorkerCreate(owner, 'burn', { run(th: SimThread, budget: number) { th.costNs += budget; used += budget; return true; } }, null);
  if (typeof t === 'number') throw new Error(`userWorkerCreate: ${t}`);
  k.wakeUpProcess(t);
  return { task: t, usedNs: () => used };
}
