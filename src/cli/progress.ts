/**
 * Progress of a long run on stderr, only when stderr is a terminal: a pipe, a file or
 * CI gets none (their stdout stays the data, their stderr the errors). One line,
 * rewritten in place ("\r" + erase line), at most every 100 ms.
 *
 * No library: a progress bar package (cli-progress, ora) brings its own rendering and
 * options for what is these twenty lines.
 */
export class Progress {
  private readonly on: boolean;
  private last = 0;
  private readonly t0 = Date.now();
  private shown = false;

  constructor(
    private readonly label: string,
    private readonly total: number,
    stream: NodeJS.WriteStream = process.stderr,
    private readonly out: NodeJS.WriteStream = stream,
  ) {
    this.on = stream.isTTY === true;
  }

  /** `done` of `total` finished; `what` says what runs now */
  update(done: number, what = ''): void {
    if (!this.on) return;
    const now = Date.now();
    if (now - this.last < 100 && done < this.total) return;
    this.last = now;
    const s = (now - this.t0) / 1000;
    const eta = done > 0 && done < this.total ? `, ~${Math.ceil((s / done) * (this.total - done))} s left` : '';
    const line = `${this.label} ${done}/${this.total} (${s.toFixed(0)} s${eta}) ${what}`;
    this.out.write(`\r\x1b[K${line.slice(0, (this.out.columns || 100) - 1)}`);
    this.shown = true;
  }

  /** erase the line (before printing results, or at the end) */
  clear(): void {
    if (this.on && this.shown) this.out.write('\r\x1b[K');
    this.shown = false;
  }
}
