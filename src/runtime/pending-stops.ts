/**
 * Stops of real threads that nobody awaits (a device released on its last close, a
 * worker freed by an ioctl): the main thread never blocks, so each stop runs as a
 * promise that is tracked here, and `idle()` lets a caller (a test, `k.shutdown()`'s
 * users) wait for all of them. A failure is kept in `errors`, never lost.
 */
export class PendingStops {
  private readonly pending = new Set<Promise<void>>();
  /** failures on stop paths nobody awaits; tests assert there are none */
  readonly errors: string[] = [];

  get size(): number {
    return this.pending.size;
  }

  /** Count `p` until it settles; a rejection goes to `errors`. */
  track(p: Promise<unknown>): void {
    const q = p.then(
      () => undefined,
      (e: unknown) => {
        this.errors.push(e instanceof Error ? e.message : String(e));
      },
    );
    this.pending.add(q);
    void q.finally(() => this.pending.delete(q));
  }

  /** True once every stop tracked so far (and any tracked meanwhile) settled; false on timeout. */
  async idle(timeoutMs = 10_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.pending.size > 0) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.all([...this.pending]), new Promise((r) => { timer = setTimeout(r, left); })]);
      if (timer) clearTimeout(timer);
    }
    return true;
  }
}
