/**
 * io_getevents' ring (AioContext): completed events come out oldest first, each once,
 * with the caller's iocb and its aio_data, across the ring's growth and wrap-around
 * (the ring keeps events as numbers until they are reaped; issue 10).
 */
import { describe, expect, test } from 'vitest';
import { O_CREAT, O_RDWR } from 'kwq';
import { IOCB_CMD_PWRITE, ioGetevents, ioSetup, ioSubmit, type AioContext, type IoEvent } from '../../../src/drivers/loop/index.js';
import { boot } from './helpers.js';

describe('aio completion ring', () => {
  test('events reaped in submission order, once each, through growth and wrap-around', async () => {
    const k = await boot('');
    const task = k.spawn({ comm: 'fio', cgroup: '/a' });
    const fd = k.open(task, '/tmp/f', O_RDWR | O_CREAT); // buffered: each iocb completes in io_submit
    const ctx = ioSetup(k, task, 16) as AioContext;
    let next = 0;
    const expected: number[] = [];
    const got: IoEvent[] = [];
    const submit = (n: number): void => {
      if (n === 0) return;
      const iocbs = Array.from({ length: n }, () => ({ aio_lio_opcode: IOCB_CMD_PWRITE, aio_fildes: fd, aio_nbytes: 512, aio_offset: 0, aio_data: 2 ** 40 + next++ }));
      expect(ioSubmit(k, task, ctx, iocbs)).toBe(n);
      for (const c of iocbs) expected.push(c.aio_data);
      expect(ctx.ring.slice(-n).map((e) => e.obj)).toEqual(iocbs);
    };
    for (const [s, r] of [[3, 2], [5, 4], [7, 6], [10, 12], [16, 5], [0, 11], [9, 20]] as const) {
      submit(Math.min(s, 16 - ctx.nrEvents));
      const before = ctx.nrEvents;
      const ev = ioGetevents(k, task, ctx, 0, r) as IoEvent[];
      expect(ev.length).toBe(Math.min(r, before));
      expect(ctx.nrEvents).toBe(before - ev.length);
      got.push(...ev);
    }
    got.push(...(ioGetevents(k, task, ctx, 0, 16) as IoEvent[]));
    expect(got.map((e) => e.data)).toEqual(expected);
    expect(got.every((e) => e.res === 512 && e.res2 === 0 && e.obj.aio_data === e.data && e.completedNs >= e.submittedNs)).toBe(true);
    // a full ring refuses more (-EAGAIN) until reaped
    submit(16);
    expect(ioSubmit(k, task, ctx, [{ aio_lio_opcode: IOCB_CMD_PWRITE, aio_fildes: fd, aio_nbytes: 512, aio_offset: 0 }])).toBe(-11);
  });
});
