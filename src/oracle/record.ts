/**
 * One step's answer, as both executors give it and as oracle/recorded/*.json keeps it.
 * Values that differ by nature between two kernels are already symbolic here: a pid is
 * the name of the task the script gave it ("$qemu"), or "?" for a task the script did
 * not make; an mmap address is "addr". Everything else is the kernel's value.
 */
import { errnoName } from '../kernel/errno.js';

/** a task as /proc shows it (threads and ps) */
export interface TaskObs {
  /** "$name", or "?" for a task the script did not make */
  tid: string;
  /** "self" when the task leads its thread group, else "$name" or "?" */
  tgid: string;
  ppid: string;
  /** digits that are a script task's pid are written "$name" ("vhost-$qemu") */
  comm: string;
  /** the PF_* names of the flags kwq models (COMPARED_PF) */
  flags: string[];
  /** the v2 cgroup path */
  cgroup: string;
}

export type FieldValue = number | string | { [k: string]: FieldValue };

export interface StepRecord {
  step: number;
  op: string;
  /** the return value when >= 0 (a pid as "$name", an address as "addr") */
  ret?: number | string;
  /** the errno's name when the call failed */
  errno?: string;
  /** the task was killed during the call (an OOM kill, say) */
  killed?: true;
  /** the filled struct of an ioctl or getrlimit */
  struct?: Record<string, FieldValue>;
  /** the filled scalar of an `out` ioctl */
  value?: number | string;
  text?: string;
  /** bytes moved by a repeated read/write */
  total?: number;
  /** wait: "exited N" or "killed SIGNAME" */
  status?: string;
  tasks?: TaskObs[];
  /** the executor could not run the step (names why) */
  error?: string;
}

/** the PF_* flags compared (include/linux/sched.h; the same values in 6.1 and 6.12) */
export const COMPARED_PF: readonly [string, number][] = [
  ['PF_EXITING', 0x4],
  ['PF_IO_WORKER', 0x10],
  ['PF_WQ_WORKER', 0x20],
  ['PF_USER_WORKER', 0x4000],
  ['PF_NOFREEZE', 0x8000],
  ['PF_KTHREAD', 0x200000],
];

export function pfList(flags: number): string[] {
  return COMPARED_PF.filter(([, v]) => (flags & v) !== 0).map(([n]) => n);
}

/** ret / errno of a syscall-shaped return value */
export function retFields(r: number): Pick<StepRecord, 'ret' | 'errno'> {
  return r < 0 ? { errno: errnoName(-r) } : { ret: r };
}

/** Symbolic pids: raw pid -> the name the script gave the task. */
export class PidNames {
  private readonly byPid = new Map<number, string>();
  constructor(initPid: number, kthreaddPid: number) {
    this.byPid.set(initPid, 'init');
    this.byPid.set(kthreaddPid, 'kthreadd');
  }
  set(pid: number, name: string): void {
    this.byPid.set(pid, name);
  }
  name(pid: number): string {
    const n = this.byPid.get(pid);
    return n === undefined ? '?' : `$${n}`;
  }
  /** digit runs that are a script task's pid (not init's or kthreadd's) become "$name" */
  comm(comm: string): string {
    return comm.replace(/\d+/g, (d) => {
      const n = this.byPid.get(Number(d));
      return n === undefined || n === 'init' || n === 'kthreadd' ? d : `$${n}`;
    });
  }
  task(o: { tid: number; tgid: number; ppid: number; comm: string; flags: number; cgroup: string }): TaskObs {
    return {
      tid: this.name(o.tid),
      tgid: o.tgid === o.tid ? 'self' : this.name(o.tgid),
      ppid: this.name(o.ppid),
      comm: this.comm(o.comm),
      flags: pfList(o.flags),
      cgroup: o.cgroup,
    };
  }
  /** cgroup.procs / cgroup.threads text: one "$name" (or "?") per line, sorted */
  pidList(text: string): string {
    const lines = text.split('\n').filter((l) => l.trim() !== '');
    return lines.map((l) => this.name(Number(l.trim()))).sort().map((l) => `${l}\n`).join('');
  }
}

export function sortTasks(tasks: TaskObs[]): TaskObs[] {
  const key = (t: TaskObs): string => `${t.comm}\u0000${t.tid}\u0000${t.cgroup}`;
  return tasks.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

/** files whose text is a list of pids */
export function isPidListFile(path: string): boolean {
  return /\/(cgroup\.procs|cgroup\.threads|tasks)$/.test(path);
}
