/**
 * The workqueue semantics loop relies on (section 6.8), in both runtimes: a pending
 * work is not queued twice; a work never runs concurrently with itself (queued while
 * it runs, it runs again afterwards on the same kworker); different works run in
 * parallel on an unbound queue (one kworker each).
 */
import { describe, expect, test } from 'vitest';
import type { Kernel } from 'kwq';
import {
  allocWorkqueue, destroyWorkqueue, queueWork, workPending, workResume, WorkStruct, WORK_BLOCKED, WORK_DONE, WQ_UNBOUND,
  type Kworker,
} from '../../../src/drivers/loop/workqueue.js';
import { boot } from './helpers.js';

/** A work that blocks once per execution until resumed, recording who runs it and overlaps. */
function blockingWork(log: { runs: number; maxConcurrent: number; running: number; workers: Set<Kworker> }) {
  let blockedIn: Kworker | null = null;
  const w = new WorkStruct((_work, kw) => {
    if (blockedIn === null) {
      log.runs++;
      log.running++;
      log.maxConcurrent = Math.max(log.maxConcurrent, log.running);
      log.workers.add(kw);
      kw.thread.costNs += 1000;
      blockedIn = kw;
      return WORK_BLOCKED;
    }
    blockedIn = null;
    log.running--;
    return WORK_DONE;
  }, null);
  return { w, resume: () => blockedIn !== null && workResume(blockedIn), blocked: () => blockedIn !== null };
}

async function semantics(k: Kernel, settle: () => Promise<void>): Promise<void> {
  const wq = allocWorkqueue(k, 'test', WQ_UNBOUND, 0);
  const logA = { runs: 0, maxConcurrent: 0, running: 0, workers: new Set<Kworker>() };
  const a = blockingWork(logA);
  expect(queueWork(wq, a.w)).toBe(true);
  expect(workPending(a.w)).toBe(true);
  expect(queueWork(wq, a.w)).toBe(false); // pending: not queued twice
  await settle();
  expect(logA.runs).toBe(1);
  expect(workPending(a.w)).toBe(false); // cleared when execution started
  expect(a.blocked()).toBe(true);
  // queued again while it runs (blocked): pending, but it must not start on another kworker
  expect(queueWork(wq, a.w)).toBe(true);
  await settle();
  expect(logA.runs).toBe(1);
  expect(logA.maxConcurrent).toBe(1);
  // a different work runs in parallel on another kworker while a is blocked
  const logB = { runs: 0, maxConcurrent: 0, running: 0, workers: new Set<Kworker>() };
  const b = blockingWork(logB);
  expect(queueWork(wq, b.w)).toBe(true);
  await settle();
  expect(logB.runs).toBe(1);
  expect(wq.nrRunning).toBe(2);
  expect([...logB.workers][0]).not.toBe([...logA.workers][0]);
  // resume a: it finishes, then runs again (the collided queueing) on the same kworker
  a.resume();
  await settle();
  expect(logA.runs).toBe(2);
  expect(logA.workers.size).toBe(1);
  expect(logA.maxConcurrent).toBe(1);
  a.resume();
  b.resume();
  await settle();
  expect(wq.nrRunning).toBe(0);
  expect(wq.idleNow()).toBe(true);
  expect(a.w.nrRuns).toBe(2);
  expect(b.w.nrRuns).toBe(1);
}

describe('workqueue semantics', () => {
  test('sim runtime', async () => {
    const k = await boot();
    await semantics(k, async () => k.advance(1));
    const wq = allocWorkqueue(k, 'x', WQ_UNBOUND, 0);
    expect(destroyWorkqueue(wq)).toBe(true);
    expect(() => queueWork(wq, new WorkStruct(() => WORK_DONE, null))).toThrow(/destroyed/);
  });

  test('threads runtime (kworkers on the host loop, wall-clock time)', async () => {
    const k = await boot('', { runtime: 'threads' });
    try {
      await semantics(k, () => new Promise((r) => setTimeout(r, 5)));
    } finally {
      k.shutdown();
    }
  });

  test('max_active bounds the kworkers: a single-kthread queue runs works one after another', async () => {
    const k = await boot();
    const wq = allocWorkqueue(k, 'loop9', 0, 1, 'loop9');
    const log = { runs: 0, maxConcurrent: 0, running: 0, workers: new Set<Kworker>() };
    const a = blockingWork(log);
    const b = blockingWork(log);
    queueWork(wq, a.w);
    queueWork(wq, b.w);
    k.advance(1);
    expect(log.runs).toBe(1); // b waits behind the blocked a
    a.resume();
    k.advance(1);
    a.resume();
    expect(log.runs).toBe(2);
    b.resume();
    k.advance(1);
    expect(log.maxConcurrent).toBe(1);
    expect([...log.workers].map((w) => w.task.comm)).toEqual(['loop9']);
  });
});
