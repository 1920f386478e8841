/**
 * Signal delivery (kernel/signal.c), reduced to default actions plus one model
 * switch per signal: a process may 'catch' a signal (a user handler exists), which
 * keeps it pending until the task's current or next call returns, so that
 * copy_process sees it (-ERESTARTNOINTR) as the kernel does.
 *
 *   SIGKILL          the whole process exits; PF_USER_WORKER threads run their kill hook
 *   SIGSTOP/TSTP     group stop: its threads (user workers included) do not run
 *   SIGCONT          ends a group stop
 *   kthreads         ignore every signal
 *   blocked          stays pending (and does not count as pending for fork)
 *   others           caught: pending until handled; ignored (CHLD, URG, WINCH, or
 *                    'ignore'): dropped; default: terminate the process
 */
import { EINVAL, ESRCH } from './errno.js';
import type { Kernel } from './kernel.js';
import { doGroupExit } from './exit.js';
import { SIGCHLD, SIGCONT, SIGKILL, SIGSTOP, SIGTSTP, sigmask } from './signal-numbers.js';
import type { Task } from './task.js';
import { setGroupStopped, sharedPendingAdd, sharedPendingDel } from './signal-struct.js';

export type SigDisposition = 'default' | 'ignore' | 'catch';

const SIGURG = 23;
const SIGWINCH = 28;
const SIGTTIN = 21;
const SIGTTOU = 22;

function isStop(sig: number): boolean {
  return sig === SIGSTOP || sig === SIGTSTP || sig === SIGTTIN || sig === SIGTTOU;
}

/** Send `sig` to the process of `target`. 0 or -errno. */
export function sendSigProcess(k: Kernel, target: Task, sig: number): number {
  if (!Number.isInteger(sig) || sig < 0 || sig > 64) return -EINVAL;
  if (!target.alive) return -ESRCH;
  if (sig === 0) return 0;
  const tp = k.tp.signalGenerate;
  if (tp.enabled) tp.emit({ name: tp.name, ts: tp.now, sig, pid: target.pid, comm: target.comm });
  if (target.isKthread) return 0; // kthreads ignore signals
  const sigs = target.signal;
  if (sig === SIGKILL) {
    setGroupStopped(k, sigs, false);
    doGroupExit(k, target.groupLeader.alive ? target.groupLeader : target, 128 + SIGKILL);
    return 0;
  }
  if (sig > 31) return 0; // real-time signals: no default action modelled beyond being ignored
  const disp = k.sigDisposition(sigs, sig);
  if (sig === SIGCONT) {
    if (sigs.stopped) {
      setGroupStopped(k, sigs, false);
      for (const t of sigs.threads) if (t.thread !== null) k.rt.wakeUpProcess(t.thread);
    }
    if (disp !== 'catch') return 0;
  }
  if (sig === SIGSTOP) {
    setGroupStopped(k, sigs, true);
    return 0;
  }
  // blocked in every thread that could take it: pending on the group
  let taker: Task | null = null;
  for (const t of sigs.threads) {
    if ((t.blocked & sigmask(sig)) === 0) {
      taker = t;
      break;
    }
  }
  if (disp === 'ignore' || (disp === 'default' && (sig === SIGCHLD || sig === SIGURG || sig === SIGWINCH || sig === SIGCONT))) return 0;
  if (taker === null || disp === 'catch') {
    sharedPendingAdd(k, sigs, sigmask(sig));
    return 0;
  }
  if (isStop(sig)) {
    setGroupStopped(k, sigs, true);
    return 0;
  }
  doGroupExit(k, target.groupLeader.alive ? target.groupLeader : target, 128 + sig);
  return 0;
}

/** The task returns to user space: caught, unblocked pending signals are handled (cleared). */
export function handleCaughtSignals(k: Kernel, t: Task): void {
  if (k.nrSharedPending === 0) return; // nothing is pending in any process
  const deliverable = t.signal.sharedPending & ~t.blocked;
  if (deliverable === 0) return;
  sharedPendingDel(k, t.signal, deliverable);
}
