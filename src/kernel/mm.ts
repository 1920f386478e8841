/**
 * struct mm_struct, reduced to what the model needs: two reference counts and the
 * anonymous memory charged for it.
 *
 *   mm_users  users of the address space (threads with CLONE_VM, mmget/get_task_mm,
 *             vhost's dev->mm in task mode). When it drops to 0 the address space is
 *             torn down (exit_mmap: anon pages uncharged, release hooks run).
 *   mm_count  references to the struct itself (mmgrab, e.g. vhost's kthread mode and
 *             kvm->mm); mm_users holds one. Freed at 0.
 *
 * Anonymous pages are counted per objcg (the charge owner), so uncharging them on
 * exit_mmap or reparenting needs no per-page state.
 */
import { KwqError } from './error.js';
import type { Task } from './task.js';
import type { ObjCgroup } from './memcontrol.js';

export class MmStruct {
  mmUsers = 1;
  mmCount = 1;
  /** mm->owner: the task whose memcg anon faults charge (mm_update_next_owner moves it on exit) */
  owner: Task | null;
  /** resident anon pages by charge owner */
  readonly anon = new Map<ObjCgroup, number>();
  /** swapped-out anon pages by charge owner */
  readonly swap = new Map<ObjCgroup, number>();
  nrAnon = 0;
  nrSwap = 0;
  /** address space torn down (mm_users reached 0) */
  exited = false;
  /** mmu_notifier release-style hooks, run by exit_mmap (e.g. KVM) */
  readonly releaseHooks: ((mm: MmStruct) => void)[] = [];
  constructor(
    readonly id: number,
    owner: Task,
  ) {
    this.owner = owner;
  }
}

/** mmget: take an mm_users reference (the mm must still have users). */
export function mmget(mm: MmStruct): void {
  if (mm.mmUsers <= 0) throw new KwqError('mmget', `mm ${mm.id} has no users left (use mmget_not_zero)`);
  mm.mmUsers++;
}

/** mmget_not_zero: true if a reference was taken. */
export function mmgetNotZero(mm: MmStruct): boolean {
  if (mm.mmUsers <= 0) return false;
  mm.mmUsers++;
  return true;
}

/** mmgrab: pin the struct (not the address space). */
export function mmgrab(mm: MmStruct): void {
  if (mm.mmCount <= 0) throw new KwqError('mmgrab', `mm ${mm.id} is freed`);
  mm.mmCount++;
}

/** mmdrop */
export function mmdrop(mm: MmStruct): void {
  if (mm.mmCount <= 0) throw new KwqError('mmdrop', `mm ${mm.id}: mm_count underflow`);
  mm.mmCount--;
}

/**
 * mmput: drop an mm_users reference; the last one runs exit_mmap (`exitMmap`, given by
 * the kernel so this file stays free of memcg code) and drops the users' mm_count.
 */
export function mmput(mm: MmStruct, exitMmap: (mm: MmStruct) => void): void {
  if (mm.mmUsers <= 0) throw new KwqError('mmput', `mm ${mm.id}: mm_users underflow`);
  if (--mm.mmUsers === 0) {
    mm.exited = true;
    for (const h of mm.releaseHooks) h(mm);
    exitMmap(mm);
    mmdrop(mm);
  }
}
