/** Signal numbers (x86/arm64/riscv, include/uapi/asm-generic/signal.h). */
export const SIGHUP = 1;
export const SIGINT = 2;
export const SIGQUIT = 3;
export const SIGILL = 4;
export const SIGTRAP = 5;
export const SIGABRT = 6;
export const SIGBUS = 7;
export const SIGFPE = 8;
export const SIGKILL = 9;
export const SIGUSR1 = 10;
export const SIGSEGV = 11;
export const SIGUSR2 = 12;
export const SIGPIPE = 13;
export const SIGALRM = 14;
export const SIGTERM = 15;
export const SIGCHLD = 17;
export const SIGCONT = 18;
export const SIGSTOP = 19;
export const SIGTSTP = 20;
export const _NSIG = 64;

/** sigmask(sig) for signals 1..31 (the model keeps standard signals in one 32-bit word). */
export const sigmask = (sig: number): number => (1 << (sig - 1)) >>> 0;
/** Everything blocked but SIGKILL and SIGSTOP: siginitsetinv(&blocked, sigmask(SIGKILL)|sigmask(SIGSTOP)). */
export const BLOCK_ALL_BUT_KILL_STOP = ~(sigmask(SIGKILL) | sigmask(SIGSTOP)) >>> 0;

/** Signals whose default action terminates the process (the model's subset: all but CHLD/CONT/STOP/TSTP). */
export function sigDefaultKills(sig: number): boolean {
  return sig !== SIGCHLD && sig !== SIGCONT && sig !== SIGSTOP && sig !== SIGTSTP;
}
