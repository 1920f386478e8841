/**
 * struct kvm_memory_slot: one guest-physical range backed by the VMM's memory
 * (KVM_SET_USER_MEMORY_REGION). What it costs, and who pays:
 *
 *   the slot struct + x86 lpage_info     kernel memory, GFP_KERNEL_ACCOUNT, charged at
 *   (+ the dirty bitmap if LOG_DIRTY)    the ioctl to the caller's memcg; freed when the
 *                                        slot is deleted or the VM is destroyed
 *   the guest RAM itself                 the VMM's ANONYMOUS memory (userspace_addr):
 *                                        charged to the memcg of kvm->mm's owner when it
 *                                        is faulted in (here: by KVM_RUN), uncharged when
 *                                        that mm is torn down (exit_mmap), whatever KVM does
 *
 * Sizes: lpage_info is __vcalloc(lpages, sizeof(struct kvm_lpage_info) = 4) for the 2M
 * and 1G levels (arch/x86/kvm/x86.c kvm_alloc_memslot_metadata); the dirty bitmap is
 * kvm_alloc_dirty_bitmap's __vcalloc(2, dirty_bytes) on x86 (from memory, not re-read);
 * the struct is one small kzalloc, a whole page in the model (KmemObj granularity).
 */
import type { KmemObj } from '../../kernel/memcontrol.js';

export const KVM_MEMSLOT_STRUCT_BYTES = 256;

export class KvmMemorySlot {
  /** guest pages of this slot mapped by the guest so far (faulted in by KVM_RUN) */
  mappedPages = 0;
  /** the dirty bitmap, when flags has KVM_MEM_LOG_DIRTY_PAGES */
  dirtyBitmap: KmemObj | null = null;
  constructor(
    /** address space id (slot >> 16) */
    readonly asId: number,
    /** slot id (slot & 0xffff) */
    readonly id: number,
    public flags: number,
    /** guest frame number of the first page */
    public baseGfn: bigint,
    readonly npages: number,
    readonly userspaceAddr: bigint,
    /** the slot struct and its lpage_info arrays */
    readonly kmem: KmemObj[],
  ) {}
}

/** Bytes of x86 lpage_info for a slot of `npages` at `baseGfn` (levels 2M and 1G, 4 bytes per entry). */
export function lpageInfoBytes(baseGfn: bigint, npages: number): number {
  let bytes = 0;
  for (const shift of [9n, 18n]) {
    const first = baseGfn >> shift;
    const last = (baseGfn + BigInt(npages) - 1n) >> shift;
    bytes += Number(last - first + 1n) * 4;
  }
  return bytes;
}

/** kvm_dirty_bitmap_bytes(memslot) * 2: one bit per page, rounded to longs, doubled (x86). */
export function dirtyBitmapBytes(npages: number): number {
  return Math.ceil(npages / 64) * 8 * 2;
}
