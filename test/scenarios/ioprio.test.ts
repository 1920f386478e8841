/**
 * Scenario "ioprio" (issue 6, blk-ioc "What it shows users"): every figure the table
 * prints is measured from the drivers' issue path (block_rq_issue on the backing disk)
 * or the worker Task; these tests pin what each worker kind carries.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { scenario, type IoprioRow, type OwnerPrio, type WorkerKind } from '../../scenarios/ioprio.js';
import { IOPRIO_CLASS_BE, IOPRIO_CLASS_IDLE, IOPRIO_PRIO_VALUE } from '../../src/index.js';

const BE = (l: number): number => IOPRIO_PRIO_VALUE(IOPRIO_CLASS_BE, l);
const IDLE = IOPRIO_PRIO_VALUE(IOPRIO_CLASS_IDLE, 0);
const OWNER: Record<OwnerPrio, number> = { unset: BE(4), 'be/2': BE(2), idle: IDLE };

describe('scenario ioprio', () => {
  let rows: IoprioRow[];
  let lines: string[];
  const row = (owner: OwnerPrio, kind: WorkerKind): IoprioRow => rows.find((r) => r.owner === owner && r.kind === kind)!;

  beforeAll(async () => {
    const r = await scenario.run({ bs: 65536, elevator: 'bfq', seed: 1 });
    rows = r.data['rows'] as IoprioRow[];
    lines = r.lines;
  });

  it('has one row per owner setting and worker kind, and prints each', () => {
    expect(rows).toHaveLength(12);
    for (const r of rows) expect(lines.some((l) => l.includes(r.kind) && l.includes(`(${r.pid})`))).toBe(true);
  });

  for (const owner of ['unset', 'be/2', 'idle'] as const) {
    it(`${owner}: QEMU's own request on each loop device carries QEMU's effective priority`, () => {
      for (const kind of ['loop kworker', 'loop per-cgroup'] as const) expect(row(owner, kind).ownerRqIoprio).toBe(OWNER[owner]);
    });

    it(`${owner}: the loop workers issue the backing request themselves, in their own io_context (BFQ made it: ref 2 in flight, 1 after), charged to vm1`, () => {
      for (const kind of ['loop kworker', 'loop per-cgroup'] as const) {
        const r = row(owner, kind);
        expect(r.pid).not.toBe(r.ownerPid);
        expect(r.comm).toMatch(kind === 'loop kworker' ? /^loop0$/ : /^kworker\//);
        expect(r.ioc).not.toBeNull();
        expect(r.ioc!.tasks).toEqual([r.pid]);
        expect(r.ioc!.id).not.toBe(r.ownerIoc);
        expect(r.ioc!.refcount).toBe(2);
        expect(r.iocAfter).toMatchObject({ id: r.ioc!.id, refcount: 1, activeRef: 1, ioprio: 0 });
        expect(r.rawIoprio).toBe(0); // the worker never had ioprio_set
        expect(r.blkcg).toBe('/machine.slice/vm1');
        expect(r.vm1Wbytes).toBe(65536);
      }
    });

    it(`${owner}: the kworker design passes a NONE kiocb priority (<= 5.13), so its request has the worker's be/4; per-cgroup copies QEMU's (1fdb8188c3d5)`, () => {
      expect(row(owner, 'loop kworker').ioprio).toBe(BE(4));
      expect(row(owner, 'loop per-cgroup').ioprio).toBe(OWNER[owner]);
    });

    it(`${owner}: the vhost kthread has kthreadd's defaults: no io_context, be/4`, () => {
      const r = row(owner, 'vhost kthread');
      expect(r.ioc).toBeNull();
      expect(r.ioprio).toBe(BE(4));
      expect(r.rawIoprio).toBe(0);
    });
  }

  it('vhost_task without an owner ioprio: no io_context (copy_io: the owner has none)', () => {
    const r = row('unset', 'vhost task');
    expect(r.ownerIoc).toBe(0);
    expect(r.ioc).toBeNull();
    expect(r.ioprio).toBe(BE(4));
  });

  for (const owner of ['be/2', 'idle'] as const) {
    it(`vhost_task with the owner at ${owner}: a fresh io_context of its own (not CLONE_IO) with a copy of the owner's ioprio`, () => {
      const r = row(owner, 'vhost task');
      expect(r.ownerIoc).toBeGreaterThan(0);
      expect(r.ioc).not.toBeNull();
      expect(r.ioc!.id).not.toBe(r.ownerIoc);
      expect(r.ioc!.tasks).toEqual([r.pid]);
      expect(r.ioc).toMatchObject({ refcount: 1, activeRef: 1, ioprio: OWNER[owner] });
      expect(r.ioprio).toBe(OWNER[owner]);
      expect(r.rawIoprio).toBe(OWNER[owner]);
    });
  }

  it('with mq-deadline on the backing disks no io_context is created on the I/O path, and the priorities stay the same', async () => {
    const r = await scenario.run({ bs: 4096, elevator: 'mq-deadline', seed: 1 });
    const rs = r.data['rows'] as IoprioRow[];
    for (const x of rs.filter((x) => x.kind.startsWith('loop'))) {
      expect(x.ioc).toBeNull();
      expect(x.iocAfter).toBeNull();
      expect(x.ioprio).toBe(x.kind === 'loop per-cgroup' ? OWNER[x.owner] : BE(4));
    }
  });

  it('rejects a bad block size by name', async () => {
    await expect(scenario.run({ bs: 1000, elevator: 'bfq', seed: 1 })).rejects.toThrow(/bs must be/);
  });
});
