/**
 * struct loop_cmd: the per-request data of a loop device (blk_mq_rq_to_pdu), with the
 * request fields the model needs beside it (the bio it belongs to, its byte range).
 *
 *   loop_cmd
 *   +-----------------------------+
 *   | bio, op, pos, len           |  the request (rq->bio, blk_rq_pos, blk_rq_bytes)
 *   | use_aio                     |  direct I/O on the backing file
 *   | blkcg_css  (not refcounted) |  the bio pins it (section 6.2)
 *   | memcg_css  (css_get'd)      |  cgroup_get_e_css(blkcg's cgroup, memory)
 *   | ret                         |  0, -EIO or -EOPNOTSUPP once handled
 *   | next                        |  intrusive FIFO link (list_entry)
 *   +-----------------------------+
 *
 * Commands are pooled per device: queueing one allocates nothing in steady state.
 */
import type { Bio } from '../../kernel/vfs/blkdev.js';
import type { BioOp } from '../../kernel/blk-cgroup.js';
import type { Cgroup } from '../../kernel/cgroup/cgroup.js';

export class LoopCmd {
  bio: Bio | null = null;
  op: BioOp = 'read';
  /** byte offset on the loop device */
  pos = 0;
  len = 0;
  useAio = false;
  blkcgCss: Cgroup | null = null;
  memcgCss: Cgroup | null = null;
  ret = 0;
  /** its backing-device bio completed (the worker may finish it) */
  ioDone = false;
  next: LoopCmd | null = null;
  /** virtual ns at loop_queue_rq (latency figures) */
  queuedNs = 0;
  /** times this command was handled (must end at exactly 1 per use) */
  handled = 0;
}

/** A FIFO of commands through their `next` links (a list_head used with list_add_tail). */
export class CmdList {
  head: LoopCmd | null = null;
  tail: LoopCmd | null = null;
  length = 0;
  push(c: LoopCmd): void {
    c.next = null;
    if (this.tail === null) this.head = c;
    else this.tail.next = c;
    this.tail = c;
    this.length++;
  }
  shift(): LoopCmd | null {
    const c = this.head;
    if (c === null) return null;
    this.head = c.next;
    if (this.head === null) this.tail = null;
    c.next = null;
    this.length--;
    return c;
  }
  get empty(): boolean {
    return this.head === null;
  }
}

/** A free list of commands (the tag set's preallocated pdus). */
export class CmdPool {
  private readonly free: LoopCmd[] = [];
  get(): LoopCmd {
    return this.free.pop() ?? new LoopCmd();
  }
  put(c: LoopCmd): void {
    c.bio = null;
    c.blkcgCss = null;
    c.memcgCss = null;
    c.next = null;
    this.free.push(c);
  }
}
