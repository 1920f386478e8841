/**
 * The loop device's tag set (blk-mq tags, loop.hw_queue_depth): a request past the queue
 * depth waits for a tag instead of failing, the per-kernel loop_cmd arena is reserved by
 * loop_add (so it cannot run out under I/O), and loopInfo lists any number of workers.
 */
import { describe, expect, test } from 'vitest';
import { O_DIRECT, O_RDWR, type Kernel } from 'kwq';
import {
  IOCB_CMD_PWRITE, LO_FLAGS_DIRECT_IO, LOOP_CTL_ADD, LOOP_CTL_REMOVE, ioGetevents, ioSetup, ioSubmit, loopInfo, type AioContext,
} from '../../../src/drivers/loop/index.js';
import { BlkMqTags, blkMqGetTag, blkMqPutTag } from '../../../src/drivers/block/blk-mq.js';
import { newBio } from '../../../src/kernel/vfs/blkdev.js';
import { LoopEngine } from '../../../src/wasm/loop.js';
import { boot, dev } from './helpers.js';

/** loop1 on null_blk with direct I/O: each command holds its tag for completion_nsec */
async function rig(cmdline: string): Promise<Kernel> {
  const k = await boot(`null_blk.nr_devices=1 null_blk.completion_nsec=200000 ${cmdline}`);
  const l1 = k.open(k.init, '/dev/loop1', O_RDWR);
  const nb = k.open(k.init, '/dev/nullb0', O_RDWR);
  if (k.ioctl(k.init, l1, 0x4c0a, { fd: nb, info: { lo_flags: LO_FLAGS_DIRECT_IO } }) !== 0) throw new Error('configure loop1');
  return k;
}

describe('loop tag set (loop.hw_queue_depth)', () => {
  test('a loop device with more requests than commands in flight waits for a tag (was a KwqError from io_submit)', async () => {
    // before: the loop_cmd arena (64) filled at the 65th request and io_submit threw
    const k = await rig('kwq.loop_cmd_max=64 loop.max_loop=2 loop.hw_queue_depth=16');
    const lo = dev(k, 1);
    expect(loopInfo(k, 1).tags).toEqual({ depth: 16, inUse: 0, waiting: 0, waited: 0 });
    const task = k.spawn({ comm: 'fio', cgroup: '/a' });
    const ctx = ioSetup(k, task, 512) as AioContext;
    const fd = k.open(task, '/dev/loop1', O_RDWR | O_DIRECT);
    let peak = 0;
    const off = k.trace.on('block_rq_issue', (ev) => {
      if ((ev as { disk: string }).disk === 'loop1') peak = Math.max(peak, lo.tags.nrInUse);
    });
    const N = 200;
    const iocbs = Array.from({ length: N }, (_, i) => ({ aio_lio_opcode: IOCB_CMD_PWRITE, aio_fildes: fd, aio_nbytes: 4096, aio_offset: i * 4096, aio_data: i }));
    expect(ioSubmit(k, task, ctx, iocbs)).toBe(N);
    // the submitter slept in blk_mq_get_tag until completions freed tags: time passed
    expect(k.now).toBeGreaterThan(0);
    expect(lo.tags.nrInUse).toBeLessThanOrEqual(16);
    expect(lo.tags.nrWaiting).toBe(0);
    expect(lo.tags.nrWaited).toBe(N - 16);
    const events = ioGetevents(k, task, ctx, N, N) as { data: number; res: number }[];
    off();
    expect(events).toHaveLength(N);
    expect(events.map((e) => e.data).sort((a, b) => a - b)).toEqual(Array.from({ length: N }, (_, i) => i)); // each exactly once
    expect(events.every((e) => e.res === 4096)).toBe(true);
    expect(peak).toBe(16); // the depth was used and never exceeded
    expect(lo.stats.queued).toBe(N);
    expect(lo.stats.completed).toBe(N);
    expect(loopInfo(k, 1).tags).toEqual({ depth: 16, inUse: 0, waiting: 0, waited: N - 16 });
  });

  test('the default depth is 128 (LOOP_DEFAULT_HW_Q_DEPTH); blk-mq caps a larger one at 10240', async () => {
    const k = await boot('loop.max_loop=1');
    expect(loopInfo(k, 0).tags.depth).toBe(128);
    const k2 = await boot('loop.max_loop=1 loop.hw_queue_depth=100000 kwq.loop_cmd_max=20000');
    expect(loopInfo(k2, 0).tags.depth).toBe(10240);
    await expect(boot('loop.hw_queue_depth=0')).rejects.toThrow(/hw_queue_depth/);
  });

  test('loop_add reserves its tag set in the loop_cmd arena: -ENOMEM when it does not fit, freed by LOOP_CTL_REMOVE', async () => {
    const k = await boot('loop.max_loop=2 loop.hw_queue_depth=100 kwq.loop_cmd_max=250');
    const ctl = k.open(k.init, '/dev/loop-control', O_RDWR);
    expect(k.ioctl(k.init, ctl, LOOP_CTL_ADD, 2)).toBe(-12); // 300 > 250
    expect(k.ioctl(k.init, ctl, LOOP_CTL_REMOVE, 1)).toBe(0);
    expect(k.ioctl(k.init, ctl, LOOP_CTL_ADD, 2)).toBe(2);
  });

  test('a request issued where the submitter cannot sleep waits on the tags and is issued, FIFO, as tags are freed', async () => {
    const k = await boot('loop.max_loop=0');
    const tags = new BlkMqTags(2);
    const issued: number[] = [];
    const issue = (_b: unknown, off: number): void => { issued.push(off); };
    const bio = newBio('write', 0, 0, k.cgroupRootFor('io'), null);
    k.rt.callAt(1000, () => {
      // a timer: no current task that could sleep
      for (let i = 0; i < 5; i++) blkMqGetTag(k, tags, issue, bio, i, 0);
    });
    k.runUntilIdle();
    expect(issued).toEqual([0, 1]);
    expect(tags.nrWaiting).toBe(3);
    blkMqPutTag(tags);
    expect(issued).toEqual([0, 1, 2]);
    blkMqPutTag(tags);
    blkMqPutTag(tags);
    expect(issued).toEqual([0, 1, 2, 3, 4]);
    expect(tags.nrInUse).toBe(2);
    // a waiter queued ahead keeps its place: a new request does not overtake it
    blkMqGetTag(k, tags, issue, bio, 5, 0);
    expect(tags.nrWaiting).toBe(1);
    blkMqPutTag(tags);
    expect(issued.at(-1)).toBe(5);
    blkMqPutTag(tags);
    blkMqPutTag(tags);
    expect(() => blkMqPutTag(tags)).toThrow(/not held/);
  });

  test('the worker snapshot lists more workers than the scratch slot holds', () => {
    const le = new LoopEngine({ workers: 5000, cmds: 5000, devices: 1 });
    const d = le.device(0, 1)!;
    const { outCap } = le.engine.scratch;
    const n = outCap + 500;
    // keys in a shuffled order: the snapshot must come back in key order
    const keys = Array.from({ length: n }, (_, i) => 2 + ((i * 7919) % n));
    for (const key of keys) d.queueWork(le.cmdAlloc(), key);
    const ws = d.workers();
    expect(ws).toHaveLength(n);
    expect(ws.map((w) => le.key(w))).toEqual(Array.from({ length: n }, (_, i) => 2 + i));
    expect(d.validate().count).toBe(n);
  });
});
