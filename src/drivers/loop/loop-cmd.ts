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
 *   | wasm                        |  its loop_cmd in the shared memory: list_entry,
 *   |                             |  key, chosen worker (assembly/loop.ts)
 *   | rq                          |  the request's issuer, io_context and ioprio
 *   +-----------------------------+  (blk-mq.ts blkMqRqInit; reused with the cmd)
 *
 * Commands are pooled per device: queueing one allocates nothing in steady state. A
 * command is taken only by a request holding one of the device's tags, so a device
 * holds at most its queue depth of them; loop_add reserves that many in the kernel's
 * arena (loop-control.ts), so taking one cannot find the arena full.
 */
import type { Bio } from '../../kernel/vfs/blkdev.js';
import type { BioOp } from '../../kernel/blk-cgroup.js';
import type { Cgroup } from '../../kernel/cgroup/cgroup.js';
import type { KernelLoop } from './worker-tree.js';
import { IoIssue } from '../block/blk-ioc.js';
import { KwqError } from '../../kernel/error.js';

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
  /** its Wasm loop_cmd (the FIFO entry of the dispatch) */
  wasm = 0;
  /** its backing-device bio completed (the worker may finish it) */
  ioDone = false;
  /** virtual ns at loop_queue_rq (latency figures) */
  queuedNs = 0;
  /** times this command was handled (must end at exactly 1 per use) */
  handled = 0;
  /** the request on the loop disk's queue: who issued it, its io_context and rq->ioprio */
  readonly rq = new IoIssue();
}

/**
 * The tag set's preallocated pdus: a free list of commands, each with its Wasm
 * loop_cmd (the FIFO entry the dispatch links) made once and kept for reuse.
 */
export class CmdPool {
  private readonly free: LoopCmd[] = [];
  constructor(private readonly kl: KernelLoop) {}
  /** commands made (Wasm loop_cmds taken from the arena) */
  private made = 0;
  get(): LoopCmd {
    const c = this.free.pop();
    if (c !== undefined) return c;
    const nc = new LoopCmd();
    // cannot throw: loop_add reserved the device's queue depth of commands
    nc.wasm = this.kl.le.cmdAlloc();
    this.kl.cmds[this.kl.le.cmdIndex(nc.wasm)] = nc;
    this.made++;
    return nc;
  }
  put(c: LoopCmd): void {
    c.bio = null;
    c.blkcgCss = null;
    c.memcgCss = null;
    this.free.push(c);
  }
  /** give every command back to the arena (blk_mq_free_tag_set); all must be free */
  release(): void {
    if (this.free.length !== this.made) throw new KwqError('blk_mq_free_tag_set', `${this.made - this.free.length} loop command(s) still in use`);
    for (const c of this.free) {
      this.kl.cmds[this.kl.le.cmdIndex(c.wasm)] = null;
      this.kl.le.cmdFree(c.wasm);
    }
    this.free.length = 0;
    this.made = 0;
  }
}
