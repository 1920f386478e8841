/**
 * Task flags (include/linux/sched.h) and clone flags (include/uapi/linux/sched.h),
 * with the kernel's values.
 */
export const PF_IDLE = 0x00000002;
export const PF_EXITING = 0x00000004;
/** an io_uring io-wq worker (create_io_thread) */
export const PF_IO_WORKER = 0x00000010;
export const PF_USER_WORKER = 0x00004000;
export const PF_NOFREEZE = 0x00008000;
export const PF_KSWAPD = 0x00020000;
export const PF_MEMALLOC_NOIO = 0x00080000;
export const PF_LOCAL_THROTTLE = 0x00100000;
export const PF_KTHREAD = 0x00200000;
export const PF_NO_SETAFFINITY = 0x04000000;
export const PF_NPROC_EXCEEDED = 0x00001000;

export const CSIGNAL = 0x000000ff;
export const CLONE_VM = 0x00000100;
export const CLONE_FS = 0x00000200;
export const CLONE_FILES = 0x00000400;
export const CLONE_SIGHAND = 0x00000800;
export const CLONE_PIDFD = 0x00001000;
export const CLONE_PTRACE = 0x00002000;
export const CLONE_VFORK = 0x00004000;
export const CLONE_PARENT = 0x00008000;
export const CLONE_THREAD = 0x00010000;
export const CLONE_NEWNS = 0x00020000;
export const CLONE_SYSVSEM = 0x00040000;
export const CLONE_SETTLS = 0x00080000;
export const CLONE_UNTRACED = 0x00800000;
export const CLONE_NEWCGROUP = 0x02000000;
export const CLONE_NEWUTS = 0x04000000;
export const CLONE_NEWIPC = 0x08000000;
export const CLONE_NEWUSER = 0x10000000;
export const CLONE_NEWPID = 0x20000000;
export const CLONE_NEWNET = 0x40000000;
export const CLONE_IO = 0x80000000;

/** TASK_COMM_LEN: comm is truncated to 15 characters plus the NUL. */
export const TASK_COMM_LEN = 16;

/** The flag names, for messages and inspection. */
export function pfNames(flags: number): string[] {
  const out: string[] = [];
  const table: [number, string][] = [
    [PF_EXITING, 'PF_EXITING'], [PF_IO_WORKER, 'PF_IO_WORKER'], [PF_USER_WORKER, 'PF_USER_WORKER'], [PF_KTHREAD, 'PF_KTHREAD'],
    [PF_NOFREEZE, 'PF_NOFREEZE'], [PF_MEMALLOC_NOIO, 'PF_MEMALLOC_NOIO'], [PF_LOCAL_THROTTLE, 'PF_LOCAL_THROTTLE'],
    [PF_NO_SETAFFINITY, 'PF_NO_SETAFFINITY'], [PF_NPROC_EXCEEDED, 'PF_NPROC_EXCEEDED'],
  ];
  for (const [bit, name] of table) if (flags & bit) out.push(name);
  return out;
}
