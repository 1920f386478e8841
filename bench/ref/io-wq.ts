/**
 * The pure-TypeScript reference of io-wq's queue (assembly/io-wq.ts): io_wq_enqueue's
 * insert (hash tails, add-after), io_get_next_work (chain cut, hash bits, stalled
 * bit) and io_wq_work_done (hash release) over an Int32Array on a SharedArrayBuffer,
 * with the same spinlock (Atomics.compareExchange) and atomic bit operations
 * (Atomics.or / and), so bench/io-wq.ts can quote the Wasm path as a ratio to it.
 * Free-worker wake and worker accounting are left out (the Wasm path does them too,
 * so the ratio is in the reference's favour). Not part of the package API.
 *
 *   words: [0] acct lock  [1] acct flags  [2] first  [3] last  [4] hash map lo  [5] hash map hi
 *          [16..79] hash_tail[64]
 *   works: 4 words per work w (1-based): +0 next +1 flags (hashed 2, hash << 24) +2 runs
 */
export class RefIoWq {
  readonly q: Int32Array;
  readonly w: Int32Array;
  constructor(readonly capacity: number, q?: SharedArrayBuffer, w?: SharedArrayBuffer) {
    this.q = new Int32Array(q ?? new SharedArrayBuffer(4 * 128));
    this.w = new Int32Array(w ?? new SharedArrayBuffer(16 * (capacity + 1)));
  }
  /** Another thread's view of the same queue (bench/ref/io-wq-threads.ts). */
  static attach(capacity: number, q: SharedArrayBuffer, w: SharedArrayBuffer): RefIoWq {
    return new RefIoWq(capacity, q, w);
  }
  /** io_acct_run_queue: work queued and not stalled. May be stale. */
  runnable(): boolean {
    return Atomics.load(this.q, 2) !== 0 && (Atomics.load(this.q, 1) & 1) === 0; // pairs with enqueue's unlock and the STALLED ops
  }
  private lock(): void {
    while (Atomics.compareExchange(this.q, 0, 0, 1) !== 0); // pairs with unlock's store
  }
  private unlock(): void {
    Atomics.store(this.q, 0, 0); // pairs with lock's compareExchange
  }
  init(w: number, hashKey: number | null): void {
    const b = 4 * w;
    this.w[b] = 0;
    this.w[b + 2] = 0;
    this.w[b + 1] = hashKey === null ? 0 : 2 | ((Math.imul(hashKey, 0x61c88647) >>> 26) << 24);
  }
  enqueue(w: number): void {
    const q = this.q;
    const W = this.w;
    this.lock();
    const flags = W[4 * w + 1]!;
    W[4 * w] = 0;
    let appended = false;
    if (flags & 2) {
      const h = 16 + (flags >>> 24);
      const tail = q[h]!;
      q[h] = w;
      if (tail !== 0) {
        const next = W[4 * tail]!;
        W[4 * w] = next;
        W[4 * tail] = w;
        if (next === 0) q[3] = w;
        appended = true;
      }
    }
    if (!appended) {
      if (q[3] === 0) q[2] = w;
      else W[4 * q[3]!] = w;
      q[3] = w;
    }
    Atomics.and(q, 1, ~1); // clear STALLED
    this.unlock();
  }
  private cut(last: number, prev: number): void {
    const after = this.w[4 * last]!;
    if (prev === 0) this.q[2] = after;
    else this.w[4 * prev] = after;
    if (this.q[3] === last) this.q[3] = prev;
    this.w[4 * last] = 0;
  }
  getNextWork(): number {
    const q = this.q;
    const W = this.w;
    this.lock();
    let prev = 0;
    let node = q[2]!;
    let stall = -1;
    while (node !== 0) {
      const flags = W[4 * node + 1]!;
      if (!(flags & 2)) {
        this.cut(node, prev);
        this.unlock();
        return node;
      }
      const hash = flags >>> 24;
      const tail = q[16 + hash]!;
      const word = 4 + (hash >> 5);
      const bit = 1 << (hash & 31);
      if ((Atomics.or(q, word, bit) & bit) === 0) {
        q[16 + hash] = 0;
        this.cut(tail, prev);
        this.unlock();
        return node;
      }
      if (stall < 0) stall = hash;
      prev = tail;
      node = W[4 * tail]!;
    }
    if (stall >= 0) Atomics.or(q, 1, 1);
    this.unlock();
    return 0;
  }
  done(w: number): number {
    const W = this.w;
    const flags = W[4 * w + 1]!;
    const next = W[4 * w]!;
    Atomics.add(W, 4 * w + 2, 1);
    if (flags & 2 && next === 0) {
      const hash = flags >>> 24;
      Atomics.and(this.q, 4 + (hash >> 5), ~(1 << (hash & 31)));
      Atomics.and(this.q, 1, ~1);
    }
    return next;
  }
  runs(w: number): number {
    return this.w[4 * w + 2]!;
  }
}
