// @ts-check
/**
 * The worker thread's side of a request line it shares with the main thread (the loop
 * kworker threads' and the io-wq worker threads' rings): the payload words are written
 * first, then
 *
 *   STATE := KT_WAIT      (inspection)
 *   REQ   += 1            publishes the payload; its new value is the request's seq
 *   notify(REQ)           wakes the main thread's Atomics.waitAsync
 *   spin on RESP == seq   `spin` loads
 *   wait on RESP          100 ms at a time, re-checking ABORT
 *   STATE := KT_RUN
 *
 * Each ring file keeps its own layout and passes the Int32 indexes of its four words.
 */

/**
 * @typedef {{ req: number; resp: number; state: number; abort: number }} RequestLine
 * Int32 indexes of a line's words
 */

/**
 * Post the request whose payload is written and wait for its answer. False once the
 * ring is aborted (the answer abandoned).
 * @param {Int32Array} r @param {RequestLine} line @param {number} spin
 * @param {number} waitState the line's KT_WAIT @param {number} runState the line's KT_RUN
 */
export function postRequest(r, line, spin, waitState, runState) {
  Atomics.store(r, line.state, waitState); // (inspection)
  // publishes the payload: pairs with the main thread's Atomics.load of REQ
  const seq = (Atomics.add(r, line.req, 1) + 1) | 0;
  Atomics.notify(r, line.req, 1); // pairs with the main thread's Atomics.waitAsync
  let ok = false;
  for (let i = 0; i < spin; i++) {
    if (Atomics.load(r, line.resp) === seq) { ok = true; break; } // pairs with the main thread's store
  }
  while (!ok) {
    const cur = Atomics.load(r, line.resp); // pairs with the main thread's Atomics.store + notify
    if (cur === seq) { ok = true; break; }
    if (Atomics.load(r, line.abort) !== 0) break; // pairs with the abort store (and its notify of RESP)
    Atomics.wait(r, line.resp, cur, 100); // 100 ms cap: re-check ABORT
  }
  Atomics.store(r, line.state, runState);
  return ok;
}
