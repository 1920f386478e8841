/**
 * ioprio: whose io_context and which I/O priority a worker's I/O carries when it
 * works for someone else (kernel-reference.md section 9; /tmp/research/notes.md Q1-Q4).
 *
 * QEMU (/machine.slice/vm1) runs three times: with no ioprio set, after
 * `ioprio_set(IOPRIO_WHO_PROCESS, 0, BE/2)`, and after IDLE. Each time it
 *
 *   - writes 64 KiB with O_DIRECT to /dev/loop0 (kworker design: one kthread "loop0")
 *     and /dev/loop1 (per-cgroup design: a kworker per issuing blkcg), each bound with
 *     LO_FLAGS_DIRECT_IO to its own null_blk disk whose elevator is BFQ (the elevator
 *     that keeps per-task state, so the I/O path creates io_contexts: bfq_prepare_request
 *     -> ioc_find_get_icq(current));
 *   - opens /dev/vhost-net twice and calls VHOST_SET_OWNER, once in task mode
 *     (vhost_task: copy_process without CLONE_IO from QEMU) and once in kthread mode
 *     (VHOST_SET_FORK_FROM_OWNER 0: a child of kthreadd).
 *
 * Loop rows come from the block_rq_issue tracepoint of the backing disk: the request
 * the loop worker issued (current, its io_context and refcount at issue, rq->ioprio),
 * and io.stat of vm1 on that disk. Vhost rows come from the worker Task itself
 * (vhost-net's backend is a socket, and vhost-scsi's LIO target is not modelled, so
 * no vhost worker issues block I/O here): what `current` would give any bio it
 * submits, i.e. its io_context and get_current_ioprio().
 */
import {
  IOPRIO_CLASS_BE, IOPRIO_CLASS_IDLE, IOPRIO_PRIO_VALUE, IOPRIO_WHO_PROCESS, Kernel, KwqError, LOOP_CONFIGURE,
  LO_FLAGS_DIRECT_IO, O_DIRECT, O_RDWR, VHOST_SET_FORK_FROM_OWNER, VHOST_SET_OWNER, errnoName, getTaskIoprio,
  getTaskRawIoprio, ioprioName, loopSetWorkers, taskIoContext, vhostDevInfo, type Task, type TraceEvent,
} from '../src/index.js';
import type { Scenario, ScenarioResult } from './types.js';

export type OwnerPrio = 'unset' | 'be/2' | 'idle';
export type WorkerKind = 'loop kworker' | 'loop per-cgroup' | 'vhost task' | 'vhost kthread';

/** An io_context as seen at the moment the row was measured. */
export interface IocView {
  /** IoContext.id */
  id: number;
  /** pids whose task->io_context it is */
  tasks: number[];
  refcount: number;
  activeRef: number;
  /** ioc->ioprio (raw; none/0 = not set) */
  ioprio: number;
}

export interface IoprioRow {
  owner: OwnerPrio;
  kind: WorkerKind;
  /** the task whose I/O this is: the loop worker that issued the backing request, or the vhost worker */
  pid: number;
  comm: string;
  /** the blkcg the backing request was charged to (loop), or the worker's cgroup (vhost) */
  blkcg: string;
  /** vm1's io.stat wbytes on the backing disk after the write (loop rows; 0 for vhost) */
  vm1Wbytes: number;
  /** the io_context the worker's request carried (loop: at issue; vhost: the worker's) */
  ioc: IocView | null;
  /** the worker's io_context after the request completed (loop) or now (vhost) */
  iocAfter: IocView | null;
  /** rq->ioprio of the worker's request (loop) / get_current_ioprio() of the worker (vhost) */
  ioprio: number;
  /** ioprio_get(IOPRIO_WHO_PROCESS, worker): the raw value */
  rawIoprio: number;
  /** QEMU's own request on /dev/loopN (loop rows): its priority and io_context id (0 = none) */
  ownerRqIoprio: number | null;
  ownerRqIoc: number | null;
  /** QEMU's pid and io_context id (0 = none) */
  ownerPid: number;
  ownerIoc: number;
}

const OWNER_PRIOS: Record<OwnerPrio, number | null> = {
  unset: null,
  'be/2': IOPRIO_PRIO_VALUE(IOPRIO_CLASS_BE, 2),
  idle: IOPRIO_PRIO_VALUE(IOPRIO_CLASS_IDLE, 0),
};

function must(where: string, r: number): number {
  if (r < 0) throw new KwqError('scenario ioprio', `${where} failed: ${errnoName(r)}`);
  return r;
}

function iocView(k: Kernel, t: Task): IocView | null {
  const ioc = taskIoContext(t);
  if (ioc === null) return null;
  const tasks = k.tasks().filter((x) => x.alive && taskIoContext(x) === ioc).map((x) => x.pid);
  return { id: ioc.id, tasks, refcount: ioc.refcount, activeRef: ioc.activeRef, ioprio: ioc.ioprio };
}

function wbytes(k: Kernel, cg: string, dev: string): number {
  const text = k.readFile(k.init, `/sys/fs/cgroup${cg}/io.stat`);
  if (typeof text !== 'string') throw new KwqError('scenario ioprio', `cannot read ${cg}/io.stat: ${errnoName(text)}`);
  const line = text.split('\n').find((l) => l.startsWith(`${dev} `));
  const m = line?.match(/wbytes=(\d+)/);
  return m ? Number(m[1]) : 0;
}

async function runOwner(owner: OwnerPrio, o: { bs: number; elevator: string; seed: number }): Promise<IoprioRow[]> {
  const k = await Kernel.boot({ cmdline: 'null_blk.nr_devices=2', seed: o.seed });
  try {
    const root = k.init;
    const cg = '/machine.slice/vm1';
    // the two loop devices, each on its own null_blk disk with the chosen elevator
    const designs = ['kworker', 'per-cgroup'] as const;
    for (let i = 0; i < 2; i++) {
      must(`loopSetWorkers(loop${i})`, loopSetWorkers(k, i, designs[i]!));
      must(`nullb${i} scheduler`, k.writeFile(root, `/sys/block/nullb${i}/queue/scheduler`, o.elevator));
      const lfd = must(`open /dev/loop${i}`, k.open(root, `/dev/loop${i}`, O_RDWR));
      const nb = must(`open /dev/nullb${i}`, k.open(root, `/dev/nullb${i}`, O_RDWR));
      must('LOOP_CONFIGURE', k.ioctl(root, lfd, LOOP_CONFIGURE, { fd: nb, info: { lo_flags: LO_FLAGS_DIRECT_IO, lo_file_name: `/dev/nullb${i}` } }));
      k.close(root, nb);
    }
    const qemu = k.spawn({ comm: 'qemu-system-x86', cgroup: cg });
    const prio = OWNER_PRIOS[owner];
    if (prio !== null) must('ioprio_set', k.ioprio_set(qemu, IOPRIO_WHO_PROCESS, 0, prio));

    // vhost: task mode (the default) and kthread mode
    const vhost: { kind: WorkerKind; fd: number }[] = [];
    for (const kind of ['vhost task', 'vhost kthread'] as const) {
      const fd = must('open /dev/vhost-net', k.open(qemu, '/dev/vhost-net', O_RDWR));
      if (kind === 'vhost kthread') must('VHOST_SET_FORK_FROM_OWNER', k.ioctl(qemu, fd, VHOST_SET_FORK_FROM_OWNER, 0));
      must('VHOST_SET_OWNER', k.ioctl(qemu, fd, VHOST_SET_OWNER));
      vhost.push({ kind, fd });
    }

    const rows: IoprioRow[] = [];
    const events: TraceEvent[] = [];
    const off = k.trace.on('block_rq_issue', (ev) => events.push(ev));
    try {
      for (let i = 0; i < 2; i++) {
        events.length = 0;
        const fd = must(`open /dev/loop${i}`, k.open(qemu, `/dev/loop${i}`, O_RDWR | O_DIRECT));
        const w = must('pwrite', k.pwrite(qemu, fd, o.bs, 0));
        if (w !== o.bs) throw new KwqError('scenario ioprio', `short write to /dev/loop${i}: ${w}`);
        k.close(qemu, fd);
        const upper = events.find((e) => e['disk'] === `loop${i}`);
        const lower = events.find((e) => e['disk'] === `nullb${i}`);
        if (upper === undefined || lower === undefined) throw new KwqError('scenario ioprio', `no block_rq_issue on loop${i} and nullb${i}`);
        const worker = k.task(lower['pid'] as number);
        if (worker === undefined) throw new KwqError('scenario ioprio', `the loop worker ${String(lower['pid'])} is gone`);
        const id = lower['ioc'] as number;
        rows.push({
          owner, kind: i === 0 ? 'loop kworker' : 'loop per-cgroup', pid: worker.pid, comm: worker.comm,
          blkcg: lower['blkcg'] as string, vm1Wbytes: wbytes(k, cg, lower['dev'] as string),
          ioc: id === 0 ? null : {
            id, tasks: lower['iocTasks'] as number[], refcount: lower['iocRefcount'] as number,
            activeRef: lower['iocActiveRef'] as number, ioprio: lower['iocIoprio'] as number,
          },
          iocAfter: iocView(k, worker), ioprio: lower['ioprio'] as number, rawIoprio: k.ioprio_get(root, IOPRIO_WHO_PROCESS, worker.pid),
          ownerRqIoprio: upper['ioprio'] as number, ownerRqIoc: upper['ioc'] as number,
          ownerPid: qemu.pid, ownerIoc: taskIoContext(qemu)?.id ?? 0,
        });
      }
    } finally {
      off();
    }
    for (const v of vhost) {
      const info = vhostDevInfo(k, qemu, v.fd);
      if (typeof info === 'number') throw new KwqError('scenario ioprio', `vhostDevInfo: ${errnoName(info)}`);
      const wi = info.workers[0];
      if (wi === undefined) throw new KwqError('scenario ioprio', `${v.kind}: VHOST_SET_OWNER made no worker`);
      const worker = k.task(wi.pid);
      if (worker === undefined) throw new KwqError('scenario ioprio', `${v.kind}: worker ${wi.pid} not found`);
      const view = iocView(k, worker);
      rows.push({
        owner, kind: v.kind, pid: worker.pid, comm: worker.comm, blkcg: worker.cgroup, vm1Wbytes: 0, ioc: view, iocAfter: view,
        ioprio: getTaskIoprio(worker), rawIoprio: getTaskRawIoprio(worker), ownerRqIoprio: null, ownerRqIoc: null,
        ownerPid: qemu.pid, ownerIoc: taskIoContext(qemu)?.id ?? 0,
      });
    }
    return rows;
  } finally {
    k.shutdown();
  }
}

function iocText(v: IocView | null, ownerPid: number): string {
  if (v === null) return 'none';
  const whose = v.tasks.map((p) => (p === ownerPid ? `qemu(${p})` : String(p))).join(',');
  return `#${v.id} of ${whose || '-'} ref ${v.refcount}`;
}

export const scenario: Scenario = {
  name: 'ioprio',
  title: "whose io_context and I/O priority a worker's I/O carries: loop kworker, per-cgroup loop worker, vhost_task, vhost kthread",
  options: {
    bs: { type: 'integer', default: 65536, min: 512, max: 4 * 2 ** 20, multipleOf: 512, unit: 'bytes', help: 'bytes QEMU writes to each loop device (O_DIRECT)' },
    elevator: { type: 'string', default: 'bfq', choices: ['bfq', 'mq-deadline', 'kyber', 'none'], help: "the backing null_blk disks' I/O scheduler (only bfq creates io_contexts on the I/O path)" },
    seed: { type: 'integer', default: 1, min: 0, max: 4294967295, help: 'PRNG seed' },
  },
  async run(opts): Promise<ScenarioResult> {
    const o = opts as { bs: number; elevator: string; seed: number };
    if (!Number.isInteger(o.bs) || o.bs <= 0 || o.bs % 512 !== 0) throw new KwqError('scenario ioprio', `bs must be a positive multiple of 512, got ${o.bs}`);
    const rows: IoprioRow[] = [];
    for (const owner of Object.keys(OWNER_PRIOS) as OwnerPrio[]) rows.push(...(await runOwner(owner, o)));
    const lines = [
      `ioprio: QEMU in /machine.slice/vm1 writes ${o.bs / 1024}K O_DIRECT to loop0 (kworker) and loop1 (per-cgroup), each on a null_blk disk with ${o.elevator}; vhost-net workers in task and kthread mode`,
      `  loop rows: the backing request the worker issued (block_rq_issue; ref = the worker's + the request's); vhost rows: the worker task itself (vhost issues no block I/O in the model): what its bios would carry`,
      `  ioprio: the worker's request (loop) / get_current_ioprio() of the worker (vhost); QEMU rq: QEMU's own request on the loop device; vm1 io.stat: wbytes on the backing disk`,
      `  ${'owner'.padEnd(6)} ${'worker'.padEnd(16)} ${'issued by'.padEnd(20)} ${'blkcg'.padEnd(22)} ${'io_context at issue'.padEnd(24)} ${'ioprio'.padEnd(7)} ${'QEMU rq'.padEnd(7)} ${'vm1 io.stat'.padStart(11)}`,
    ];
    for (const r of rows) {
      lines.push(
        `  ${r.owner.padEnd(6)} ${r.kind.padEnd(16)} ${`${r.comm}(${r.pid})`.padEnd(20)} ${r.blkcg.padEnd(22)} ${iocText(r.ioc, r.ownerPid).padEnd(24)} ` +
          `${ioprioName(r.ioprio).padEnd(7)} ${(r.ownerRqIoprio === null ? '-' : ioprioName(r.ownerRqIoprio)).padEnd(7)} ${(r.kind.startsWith('loop') ? `${r.vm1Wbytes / 1024}K` : '-').padStart(11)}`,
      );
    }
    const pick = (owner: OwnerPrio, kind: WorkerKind): IoprioRow => rows.find((r) => r.owner === owner && r.kind === kind)!;
    const pc = pick('be/2', 'loop per-cgroup');
    const kw = pick('be/2', 'loop kworker');
    const vt = pick('be/2', 'vhost task');
    lines.push(
      `outcome: with QEMU at be/2, the per-cgroup loop worker's request carries ${ioprioName(pc.ioprio)} (QEMU's, copied from its request) in the worker's own io_context ` +
        `${iocText(pc.ioc, pc.ownerPid)}, the kworker's ${ioprioName(kw.ioprio)}; the vhost_task worker has a fresh io_context ${iocText(vt.ioc, vt.ownerPid)} at ${ioprioName(vt.ioprio)}` +
        ` (QEMU's is #${vt.ownerIoc}), the kthread ${pick('be/2', 'vhost kthread').ioc === null ? 'none' : 'one'}`,
    );
    return { lines, data: { rows, options: o } };
  },
};
