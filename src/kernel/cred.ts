/**
 * struct cred: the ids and capabilities a task acts with. Threads of a group share
 * one cred object (CLONE_THREAD shares creds, kernel/cred.c copy_creds); fork copies.
 * Capabilities are a bitmask over capability numbers (include/uapi/linux/capability.h),
 * kept as a bigint because the numbers go past 31. Root (uid 0) starts with all.
 */
export const CAP_CHOWN = 0;
export const CAP_KILL = 5;
export const CAP_SETGID = 6;
export const CAP_SETUID = 7;
export const CAP_NET_ADMIN = 12;
export const CAP_IPC_LOCK = 14;
export const CAP_SYS_MODULE = 16;
export const CAP_SYS_RAWIO = 17;
export const CAP_SYS_PTRACE = 19;
export const CAP_SYS_ADMIN = 21;
export const CAP_SYS_NICE = 23;
export const CAP_SYS_RESOURCE = 24;
export const CAP_LAST_CAP = 40;

export const CAP_NAMES: Record<string, number> = {
  CAP_CHOWN, CAP_KILL, CAP_SETGID, CAP_SETUID, CAP_NET_ADMIN, CAP_IPC_LOCK, CAP_SYS_MODULE, CAP_SYS_RAWIO,
  CAP_SYS_PTRACE, CAP_SYS_ADMIN, CAP_SYS_NICE, CAP_SYS_RESOURCE,
};

/** CAP_FULL_SET */
export const CAP_FULL_SET = (1n << BigInt(CAP_LAST_CAP + 1)) - 1n;

export class Cred {
  constructor(
    /** real uid: RLIMIT_NPROC counts per real uid (the ucounts of cred->user) */
    public uid: number,
    public euid: number,
    public gid: number,
    /** effective capability set */
    public capEffective: bigint,
    /** saved set-user-ID (setresuid's third id) */
    public suid: number = euid,
    public egid: number = gid,
    public sgid: number = gid,
    /** permitted capability set: what a return to euid 0 regains */
    public capPermitted: bigint = capEffective,
  ) {}
  copy(): Cred {
    return new Cred(this.uid, this.euid, this.gid, this.capEffective, this.suid, this.egid, this.sgid, this.capPermitted);
  }
  /** capable(cap): the model has one user namespace. */
  capable(cap: number): boolean {
    return (this.capEffective & (1n << BigInt(cap))) !== 0n;
  }
}

/** INIT_USER is uid 0 in the initial user namespace. */
export const INIT_UID = 0;

export function rootCred(): Cred {
  return new Cred(0, 0, 0, CAP_FULL_SET);
}
