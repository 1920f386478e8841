// @ts-check
/**
 * The request rings between a loop device's kworker threads and the kernel model on
 * the main thread (runtime 'threads'): one SharedArrayBuffer per device whose
 * kworkers are real threads (src/drivers/loop/loop-kthreads.ts makes it,
 * src/runtime/loop-kthread.js is the thread). Plain JavaScript, so that the worker
 * entry can import it on Node 20; the TypeScript side imports the same constants.
 *
 *   device block (Int32 words; byte offsets shown)
 *   line 0      +0   ABORT   1: the kernel model is gone (k.shutdown): kworkers stop
 *                            posting, drop what they take, and exit once stopped
 *               +4   NR      kworker threads (rings below)
 *   line 1 + i  one 64-byte line per kworker i (two kworkers never share a line)
 *               +0   REQ     request sequence: the kworker bumps it after writing
 *                            OP..N (Atomics.add + notify); the main thread waits on
 *                            it with Atomics.waitAsync
 *               +4   RESP    response sequence: the main thread stores REQ's value
 *                            when the request is done (Atomics.store + notify); the
 *                            kworker waits on it with Atomics.wait
 *               +8   OP      RING_OP_CMDS: handle N commands (loop_handle_cmd +
 *                            completion, in order) as this kworker for WORK;
 *                            RING_OP_IDLE: WORK's worker went idle (loop_set_timer)
 *               +12  WORK    the work_struct being executed (a key: never read by main)
 *               +16  PTR     byte offset (engine memory) of the N u32 command offsets:
 *                            the kworker's scratch `out` array, stable until RESP
 *               +20  N       commands
 *               +24  STATE   (inspection) KT_IDLE in loop_wq_pick, KT_RUN executing,
 *                            KT_WAIT waiting for the main thread
 *               +28  EXECUTIONS  ┐ counters written only by this kworker (Atomics.store);
 *               +32  HANDLED     │ read by the main thread for inspection ("may be stale")
 *               +36  BATCHES     │ requests of RING_OP_CMDS
 *               +40  IDLED       │ executions that ended with the worker going idle
 *               +44  REENTERED   │ times `active` showed another kworker in the same work
 *               +48  DROPPED     ┘ commands taken after ABORT (never completed)
 *   after the lines: active[rows], one Int32 per work: the loop_worker arena index
 *               (rows 0 .. capacity-1), then the device's root work (row = capacity).
 *               A kworker adds 1 when it starts executing the work and subtracts 1
 *               when it stops; seeing non-zero on entry means the work ran on two
 *               kworkers at once (REENTERED). Nothing else reads or writes it.
 *
 * Protocol (one request at a time per ring; the kworker waits for each answer):
 *   kworker                                   main thread (kernel model)
 *   write OP, WORK, PTR, N (plain stores)     Atomics.waitAsync(REQ, seen) resolves
 *   Atomics.add(REQ, 1); notify(REQ)    ──►   Atomics.load(REQ) != seen: read OP..N
 *   spin on RESP, then Atomics.wait(RESP)     run the commands (may wait for backing I/O)
 *   RESP == REQ: go on                  ◄──   Atomics.store(RESP, REQ); notify(RESP)
 * The seq-cst Atomics.add on REQ publishes the plain stores before it; the main
 * thread's Atomics.load of REQ orders its reads after them. RESP is the same the
 * other way round.
 */

/** Int32 words per ring line (64 bytes) */
export const RING_WORDS = 16;
export const RING = Object.freeze({
  REQ: 0, RESP: 1, OP: 2, WORK: 3, PTR: 4, N: 5, STATE: 6,
  EXECUTIONS: 7, HANDLED: 8, BATCHES: 9, IDLED: 10, REENTERED: 11, DROPPED: 12,
});
/** header words (line 0) */
export const RING_ABORT = 0;
export const RING_NR = 1;

export const RING_OP_CMDS = 1;
export const RING_OP_IDLE = 2;

export const KT_IDLE = 0;
export const KT_RUN = 1;
export const KT_WAIT = 2;

/** Int32 index of kworker i's line. @param {number} i */
export function ringBase(i) {
  return RING_WORDS * (1 + i);
}

/** Int32 index of active[0] for a device with `nr` kworkers. @param {number} nr */
export function activeBase(nr) {
  return RING_WORDS * (1 + nr);
}

/** Bytes of a device block. @param {number} nr kworkers @param {number} rows worker arena capacity + 1 */
export function ringBytes(nr, rows) {
  return 4 * (activeBase(nr) + rows);
}
