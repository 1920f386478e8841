/**
 * The messages a kernel-model worker thread sends its owner on the main thread (loop's
 * kworkers, io-wq's workers): `ready` with its tid once it runs, `done` with its report
 * as it exits, `error` if it failed. One listener set for both owners.
 */
import type { Worker } from 'node:worker_threads';
import { threadCpuNs } from './thread-cpu.js';

interface HandshakeMessage<R> {
  type: string;
  tid?: number;
  report?: R;
  message?: string;
}

/** what the owner keeps of its thread: the tid and CPU meter, the final report */
export interface ThreadMeter<R> {
  tid: number | undefined;
  lastNs: number;
  report: R | null;
}

/**
 * Listen to `w` for `meter`: `ready` resolves when the thread runs (and its CPU meter
 * starts), and rejects on an error or an exit before it; `exited` resolves with the exit
 * code. `onError` gets one line per failure.
 */
export function threadHandshake<R>(w: Worker, meter: ThreadMeter<R>, onError: (line: string) => void): { ready: Promise<void>; exited: Promise<number> } {
  let rr!: () => void;
  let rj!: (e: Error) => void;
  const ready = new Promise<void>((res, rej) => { rr = res; rj = rej; });
  ready.catch(() => undefined);
  w.on('message', (m: HandshakeMessage<R>) => {
    if (m.type === 'ready') {
      meter.tid = m.tid;
      meter.lastNs = threadCpuNs(m.tid);
      rr();
    } else if (m.type === 'done') {
      meter.report = m.report!;
    } else if (m.type === 'error') {
      onError(m.message ?? 'failed');
      rj(new Error(m.message));
    }
  });
  w.on('error', (e) => {
    onError(e.message);
    rj(e);
  });
  const exited = new Promise<number>((res) => w.on('exit', (code) => { rj(new Error('exited')); res(code); }));
  return { ready, exited };
}
