/**
 * cpu.weight, cpu.weight.nice and cpu.idle in the sim runtime: the fair class that
 * shares contended CPUs between sibling cgroups by their weights, as CFS (6.1,
 * kernel/sched/fair.c) and EEVDF (6.12) do over the long run. The files themselves are
 * parsed in cpu.ts (tg->shares); this is the run queue that uses them.
 *
 *   root GroupSe                 heap of entities ordered by (vruntime, seq):
 *     ├─ thread (root task)        threads of the group's own tasks, weight NICE_0_LOAD
 *     ├─ GroupSe /a  shares 1024   child groups with the cpu controller, weight = shares
 *     │    └─ thread, thread ...
 *     └─ GroupSe /b  shares 3072
 *
 *   pickNext   pick_next_entity from the root down: the least vruntime at each level
 *              (a group is in its parent's heap while it has a queued thread); the
 *              queue's min_vruntime moves up to the entity picked (update_min_vruntime)
 *   charge     update_curr: the thread's vruntime += ns, each group's on the way up
 *              += ns * NICE_0_LOAD / shares (calc_delta_fair), the group re-sorted
 *   enqueue    a thread the class does not account yet (woken, unthrottled, moved to
 *              another group) and every group on its path that becomes active
 *              (enqueue_entity on an idle cfs_rq) are placed at max(vruntime,
 *              min_vruntime) of their queue (place_entity without the sleeper credit):
 *              a long sleep banks nothing, a short one keeps what it had
 *   dequeue    sleep, throttle (CFS bandwidth parks the thread: its group leaves the
 *              queue until the refill, cpu-bandwidth.ts) or death: the path's groups
 *              go idle when their last thread leaves
 *
 * A thread belongs to its task's cpu css (kthreads and user workers included, as
 * cpu-bandwidth.ts charges them), looked up when it is enqueued; a task that moves
 * while its thread is queued runs that slice from the old group. cpu.idle = 1 is the
 * weight WEIGHT_IDLEPRIO (3), without SCHED_IDLE's wake-up rules.
 *
 * Installed only while some cgroup of the cpu hierarchy has shares other than
 * NICE_0_LOAD (checked when a weight is written, sim.ts schedTunablesChanged): with
 * every weight at the default the runtime keeps its FIFO run queue, which shares a CPU
 * by thread, not by group (docs/divergences.md). The threads runtime runs real
 * threads: weights are not applied there.
 */
import type { Kernel } from '../kernel.js';
import type { Task } from '../task.js';
import { registerSchedSupport, type FairSched, type SimRuntime } from '../../runtime/sim.js';
import type { SimThread, SchedEntity } from '../../runtime/sim-thread.js';
import type { Cgroup, CgroupRoot } from './cgroup.js';
import { attachPsi } from './psi.js';

/** NICE_0_LOAD after scale_load_down: the weight of a nice-0 task and a default group */
const NICE_0_LOAD = 1024;

type Entity = GroupSe | SimThread;

/** a task group's sched_entity and the cfs_rq it owns, folded into one object */
class GroupSe implements SchedEntity {
  vruntime = 0.5; // virtual ns scaled: a double from the start (sim.ts DOUBLE_FIELD)
  seq = 0;
  heapIdx = -1;
  /** cfs_rq->min_vruntime of the queue this group owns */
  minVruntime = 0.5;
  /** threads in the subtree that are queued or running (the cfs_rq is active while > 0) */
  nrRunning = 0;
  /** NICE_0_LOAD / shares: what one ns of CPU adds to this entity's vruntime */
  scale = 1;
  /** the queue's entities (threads of this group, child groups), a binary min-heap */
  readonly heap: Entity[] = [];
  constructor(
    readonly parent: GroupSe | null,
    readonly cg: Cgroup,
  ) {
    this.vruntime = 0;
    this.minVruntime = 0;
    this.setWeight();
  }
  setWeight(): void {
    this.scale = NICE_0_LOAD / Number(this.cg.cpuTg.shares);
  }
}

function before(a: Entity, b: Entity): boolean {
  return a.vruntime < b.vruntime || (a.vruntime === b.vruntime && a.seq < b.seq);
}

function siftUp(h: Entity[], i: number): void {
  const e = h[i]!;
  while (i > 0) {
    const p = (i - 1) >> 1;
    const q = h[p]!;
    if (!before(e, q)) break;
    h[i] = q;
    q.heapIdx = i;
    i = p;
  }
  h[i] = e;
  e.heapIdx = i;
}

function siftDown(h: Entity[], i: number): void {
  const e = h[i]!;
  const n = h.length;
  for (;;) {
    let c = 2 * i + 1;
    if (c >= n) break;
    if (c + 1 < n && before(h[c + 1]!, h[c]!)) c++;
    const x = h[c]!;
    if (!before(x, e)) break;
    h[i] = x;
    x.heapIdx = i;
    i = c;
  }
  h[i] = e;
  e.heapIdx = i;
}

function heapPush(h: Entity[], e: Entity): void {
  h.push(e);
  siftUp(h, h.length - 1);
}

function heapRemove(h: Entity[], e: Entity): void {
  const i = e.heapIdx;
  e.heapIdx = -1;
  const last = h.pop()!;
  if (last === e) return;
  h[i] = last;
  last.heapIdx = i;
  if (i > 0 && before(last, h[(i - 1) >> 1]!)) siftUp(h, i);
  else siftDown(h, i);
}

/** The fair class of one kernel's sim runtime. */
class CfsFair implements FairSched {
  readonly root: GroupSe;
  private readonly groups = new Map<Cgroup, GroupSe>();
  private seq = 0;

  constructor(
    private readonly k: Kernel,
    cpuRoot: CgroupRoot,
  ) {
    this.root = new GroupSe(null, cpuRoot.root);
  }

  /** the group entity of a cgroup with the cpu css, made on first use */
  private se(cg: Cgroup): GroupSe {
    if (cg.parent === null) return this.root;
    let g = this.groups.get(cg);
    if (g === undefined) {
      g = new GroupSe(this.se(cg.parent), cg);
      this.groups.set(cg, g);
    }
    return g;
  }

  /** the run queue of the thread's task: its cpu css (a dead task's thread runs in the root's) */
  private groupOf(th: SimThread): GroupSe {
    const task = th.owner as Task;
    if (!task.alive) return this.root;
    return this.se(this.k.cgroupOf(task, 'cpu'));
  }

  /** the weights were written: new scales; groups of removed cgroups are forgotten */
  refreshWeights(): void {
    for (const [cg, g] of this.groups) {
      if (!cg.online && g.nrRunning <= 0 && g.heapIdx < 0) this.groups.delete(cg);
      else g.setWeight();
    }
  }

  enqueue(th: SimThread): void {
    const g = this.groupOf(th);
    const cur = th.seGroup as GroupSe | null;
    if (cur !== g) {
      if (cur !== null) deactivate(cur);
      // place_entity: a vruntime from another queue means nothing here
      th.vruntime = th.seLast === g ? Math.max(th.vruntime, g.minVruntime) : g.minVruntime;
      for (let x: GroupSe | null = g; x !== null; x = x.parent) {
        if (x.nrRunning++ === 0 && x.parent !== null && x.vruntime < x.parent.minVruntime) x.vruntime = x.parent.minVruntime;
      }
      th.seGroup = g;
      th.seLast = g;
    }
    th.seq = this.seq++;
    heapPush(g.heap, th);
    // the path up to the first group already queued joins its parent's heap
    for (let x = g; x.parent !== null && x.heapIdx < 0; x = x.parent) {
      x.seq = this.seq++;
      heapPush(x.parent.heap, x);
      if (x.parent.heap.length > 1) break;
    }
  }

  pickNext(): SimThread | null {
    let g = this.root;
    if (g.heap.length === 0) return null;
    for (;;) {
      const e = g.heap[0]!;
      if (e.vruntime > g.minVruntime) g.minVruntime = e.vruntime;
      if (e instanceof GroupSe) {
        g = e;
        continue;
      }
      heapRemove(g.heap, e);
      unqueueEmpty(g);
      return e;
    }
  }

  charge(th: SimThread, ns: number): void {
    th.vruntime += ns;
    for (let g = th.seGroup as GroupSe | null; g !== null && g.parent !== null; g = g.parent) {
      g.vruntime += ns * g.scale;
      if (g.heapIdx >= 0) siftDown(g.parent.heap, g.heapIdx);
    }
  }

  dequeue(th: SimThread, queued: boolean): void {
    const g = th.seGroup as GroupSe | null;
    if (g === null) return;
    if (queued && th.heapIdx >= 0) {
      heapRemove(g.heap, th);
      unqueueEmpty(g);
    }
    deactivate(g);
    th.seGroup = null;
  }
}

/** a thread left the path: groups whose last thread left go idle (dequeue_entity) */
function deactivate(g: GroupSe): void {
  for (let x: GroupSe | null = g; x !== null; x = x.parent) x.nrRunning--;
}

/** groups left with an empty queue leave their parent's heap, up the path */
function unqueueEmpty(g: GroupSe): void {
  for (let x = g; x.heap.length === 0 && x.parent !== null && x.heapIdx >= 0; x = x.parent) heapRemove(x.parent.heap, x);
}

/** the hierarchy the cpu controller is bound to, or null */
function cpuRootOf(k: Kernel): CgroupRoot | null {
  for (const r of k.cgroupRoots) if (r.controllers.has('cpu')) return r;
  return null;
}

/** does any cgroup with its own cpu css have shares other than NICE_0_LOAD? */
function anyWeighted(r: CgroupRoot): boolean {
  for (const c of r.root.subtree()) if (c.hasCss('cpu') && c.cpuTg.shares !== BigInt(NICE_0_LOAD)) return true;
  return false;
}

const fairOf = new WeakMap<SimRuntime, CfsFair>();

/** install the fair class while a weight differs from the default, drop it otherwise */
function refresh(rt: SimRuntime, owner: unknown): void {
  const k = (owner as Task).kernel as Kernel;
  const r = cpuRootOf(k);
  const want = r !== null && anyWeighted(r);
  let f = fairOf.get(rt);
  if (!want) {
    if (f !== undefined) {
      fairOf.delete(rt);
      rt.setFairSched(null);
    }
    return;
  }
  if (f === undefined) {
    f = new CfsFair(k, r!);
    fairOf.set(rt, f);
    rt.setFairSched(f);
  } else f.refreshWeights();
}

registerSchedSupport({
  attach(rt, owner) {
    attachPsi(rt, (owner as Task).kernel as Kernel);
    refresh(rt, owner);
  },
  refresh,
});
