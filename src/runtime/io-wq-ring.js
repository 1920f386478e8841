// @ts-check
/**
 * The request ring between one io-wq worker thread (iou-wrk-<pid> on a real
 * worker_thread, src/runtime/io-wq-thread.js) and the kernel model on the main thread
 * (src/drivers/io_uring/io-wq-threads.ts): one 64-byte SharedArrayBuffer per worker.
 * Plain JavaScript, so that the worker entry can import it on Node 20; the TypeScript
 * side imports the same constants.
 *
 *   Int32 words (byte offsets shown)
 *   +0   REQ      request sequence: the thread bumps it after writing OP and WORK
 *                 (Atomics.add + notify); the main thread waits on it (Atomics.waitAsync)
 *   +4   RESP     response sequence: the main thread stores REQ's value when the request
 *                 is done (Atomics.store + notify); the thread waits on it (Atomics.wait)
 *   +8   OP       RING_OP_RUN: io_wq_submit_work for WORK (the request's kernel-model
 *                 part: vfs_write / vfs_read / vfs_fsync as the worker's Task); the answer
 *                 is BLOCK_NS: 0 when the work is complete (io_wq_work_done and the CQE
 *                 were done on the main thread), else the blocking part the thread sleeps
 *                 through before RING_OP_COMPLETE
 *                 RING_OP_COMPLETE: the blocking part of WORK ended: io_wq_work_done, CQE
 *   +12  WORK     the io_wq_work (engine memory offset)
 *   +16  BLOCK_NS the main thread's answer to RING_OP_RUN (ns, < 2^31)
 *   +20  ABORT    1: the kernel model is gone (k.shutdown): the thread stops asking,
 *                 drops what it holds and exits
 *   +24  STATE    (inspection) KT_IDLE in io_wq_worker_loop, KT_RUN, KT_WAIT for an
 *                 answer, KT_BLOCK in the blocking part
 *   +28  RUNS     ┐ counters written only by the thread (Atomics.store), read by the
 *   +32  BLOCKED  │ main thread for inspection ("may be stale"): works asked for,
 *   +36  DROPPED  ┘ blocking parts slept, works dropped after ABORT
 *   +40  SLEEP    the word the blocking part sleeps on (Atomics.wait with a timeout;
 *                 notified only by ABORT)
 *
 * Protocol (one request at a time; the thread waits for each answer):
 *   thread                                    main thread (kernel model)
 *   write OP, WORK (plain stores)             Atomics.waitAsync(REQ, seen) resolves
 *   Atomics.add(REQ, 1); notify(REQ)    ──►   Atomics.load(REQ) != seen: read OP, WORK
 *   spin on RESP, then Atomics.wait(RESP)     run it, write BLOCK_NS
 *   RESP == REQ: read BLOCK_NS, go on   ◄──   Atomics.store(RESP, REQ); notify(RESP)
 * The seq-cst Atomics.add on REQ publishes the plain stores before it; the main
 * thread's Atomics.load of REQ orders its reads after them; RESP the other way round.
 */

/** Int32 words of a ring (64 bytes: one cache line) */
export const IOWQ_RING_WORDS = 16;
export const IOWQ_RING = Object.freeze({
  REQ: 0, RESP: 1, OP: 2, WORK: 3, BLOCK_NS: 4, ABORT: 5, STATE: 6, RUNS: 7, BLOCKED: 8, DROPPED: 9, SLEEP: 10,
});

export const RING_OP_RUN = 1;
export const RING_OP_COMPLETE = 2;

export const KT_IDLE = 0;
export const KT_RUN = 1;
export const KT_WAIT = 2;
export const KT_BLOCK = 3;

/** io_wq_worker_loop's answers (assembly/io-wq.ts) */
export const IO_WQ_LOOP_HOST = 1;
export const IO_WQ_LOOP_TIMEOUT = 2;
export const IO_WQ_LOOP_EXIT = 3;
/** the thread's exit reasons in its report: the loop's TIMEOUT / EXIT, or ABORT */
export const IOWQ_EXIT_ABORT = 4;
