/**
 * Issue 13: "teardown: 2 vhost works still allocated" (the whole-kernel fuzzer, threads
 * runtime, seed 20261207, run 78). The kernel's flush work lives on the flusher's stack
 * and wait_for_completion cannot give up (__vhost_worker_flush, drivers/vhost/vhost.c):
 * a flush never leaves its work behind, and a stopped worker (vhost_worker_killed,
 * vhost_task_stop) has run and returned everything queued to it.
 *
 * In the threads runtime an ioctl's flush (vhost_vsock_flush after SET_OWNER, ...)
 * returns before the worker thread ran it; its work was freed only when its
 * Atomics.waitAsync waiter woke. That wake-up is a V8 task of its own, and Node ran it
 * after the worker thread's exit event: the stop of the worker (which saw its own flush
 * work done with a plain load) and vhostThreadsIdle() completed first, and the check
 * found the ioctl flushes' works still allocated. A flush whose wait timed out never
 * freed its work at all. These tests force both orders.
 */
import { describe, expect, test } from 'vitest';
import {
  ETIMEDOUT, Kernel, O_RDWR, SIGKILL, VHOST_SET_OWNER, vhostFlush, vhostThreadCount, vhostThreadsIdle, type Task,
} from 'kwq';
import { VhostEngine } from '../../../src/drivers/vhost/vhost-engine.js';

async function boot(): Promise<{ k: Kernel; qemu: Task; fd: number; ve: VhostEngine }> {
  const k = await Kernel.boot({ runtime: 'threads' });
  const qemu = k.spawn({ comm: 'qemu-system-x86', uid: 107, cgroup: '/machine.slice/vm1' });
  const fd = k.open(qemu, '/dev/vhost-vsock', O_RDWR);
  expect(fd).toBeGreaterThanOrEqual(0);
  return { k, qemu, fd, ve: VhostEngine.peek(k)! };
}

/**
 * Run `fn`, holding the wake-up of every Atomics.waitAsync it starts until release():
 * the order in which Node runs V8's waiter wake-ups and a worker's exit event is not
 * fixed, and this makes it the one the fuzzer met (the wake-ups last).
 */
function holdWakeups(fn: () => void): { held: number; release: () => void } {
  const real = Atomics.waitAsync;
  let release!: () => void;
  const gate = new Promise<void>((res) => { release = res; });
  let held = 0;
  Atomics.waitAsync = ((ta: Int32Array, index: number, value: number, timeout?: number) => {
    const r = real.call(Atomics, ta, index, value, timeout);
    if (!r.async) return r;
    held++;
    return { async: true, value: r.value.then(async (v) => { await gate; return v; }) };
  }) as typeof Atomics.waitAsync;
  try {
    fn();
  } finally {
    Atomics.waitAsync = real;
  }
  return { held, release };
}

describe('issue 13: no vhost work is left after the workers stopped (threads runtime)', () => {
  test('an ioctl flush whose waiter wakes after its worker was stopped: the stop gives its work back', async () => {
    const { k, qemu, fd, ve } = await boot();
    try {
      const devWorks = ve.worksInUse(); // the vqs' poll works
      // SET_OWNER starts the worker thread; vhost_vsock_flush then queues a flush work
      // the thread (still starting) has not run: its waiter waits, and wakes last
      const gate = holdWakeups(() => expect(k.ioctl(qemu, fd, VHOST_SET_OWNER)).toBe(0));
      expect(gate.held).toBe(1);
      expect(ve.worksInUse()).toBe(devWorks + 1);
      // the teardown: vhost_worker_killed (its thread runs the flush work, then its own
      // stop flush, and exits), then the last fput: cleanup destroys the worker
      expect(k.kill(qemu, SIGKILL)).toBe(0);
      expect(await vhostThreadsIdle(k)).toBe(true);
      expect(vhostThreadCount(k)).toBe(0);
      expect(ve.worksInUse()).toBe(0); // was 1: the ioctl's flush work, freed only when its waiter woke
      gate.release();
      await new Promise((res) => setTimeout(res, 10)); // the held waiter wakes: nothing to give back twice
      expect(ve.worksInUse()).toBe(0);
      expect(ve.threads!.errors).toEqual([]);
    } finally {
      k.shutdown();
    }
  });

  test('a flush that gave up waiting still gives its work back once the thread ran it; idle waits for that', async () => {
    const { k, qemu, fd, ve } = await boot();
    try {
      const devWorks = ve.worksInUse();
      expect(k.ioctl(qemu, fd, VHOST_SET_OWNER)).toBe(0);
      // the worker thread is still starting: a flush that waits 0 ms gives up
      expect(await vhostFlush(k, qemu, fd, 0)).toBe(-ETIMEDOUT);
      // every flush work queued so far has run and was given back (was: never freed)
      expect(await vhostThreadsIdle(k)).toBe(true);
      expect(ve.worksInUse()).toBe(devWorks);
      expect(await vhostFlush(k, qemu, fd)).toBe(0);
      expect(ve.worksInUse()).toBe(devWorks);
      expect(k.close(qemu, fd)).toBe(0);
      expect(await vhostThreadsIdle(k)).toBe(true);
      expect(vhostThreadCount(k)).toBe(0);
      expect(ve.worksInUse()).toBe(0);
      expect(ve.threads!.errors).toEqual([]);
    } finally {
      k.shutdown();
    }
  });
});
