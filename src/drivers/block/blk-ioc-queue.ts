/**
 * The part of struct request_queue that blk-ioc needs: an id (q->id, from the
 * blk_queue_ida: the smallest free id, reused once freed), the elevator, and the
 * list of io_cq objects (q->icq_list). A block driver that wants io_context
 * semantics allocates one queue per disk:
 *
 *   const q = blkAllocQueue(k, 'loop0', 'none');   // or 'mq-deadline', 'kyber', 'bfq'
 *   ... ioContextForIssue(k, task, q, ioprio) for each request (blk-ioc.ts) ...
 *   blkQueueExit(k, q);                             // del_gendisk / queue release
 *
 * Only BFQ keeps per-task-per-queue state (elevator_type.icq_size; block/Kconfig.iosched:
 * IOSCHED_BFQ selects BLK_ICQ; mq-deadline, kyber and none have no icq: /tmp/research/
 * notes.md Q1, the absence in mq-deadline/kyber not read in full). Switching the
 * elevator away from one with icqs, or the queue going away, destroys the queue's
 * icqs (elevator_exit -> ioc_clear_queue).
 */
import { KwqError } from '../../kernel/error.js';
import type { Kernel } from '../../kernel/kernel.js';
import type { Tracepoint } from '../../kernel/trace.js';
import { iocClearQueue } from './blk-ioc.js';
import type { IoCq } from './blk-ioc-icq.js';

export type ElevatorName = 'none' | 'mq-deadline' | 'kyber' | 'bfq';
export const ELEVATORS: readonly ElevatorName[] = ['none', 'mq-deadline', 'kyber', 'bfq'];

/** elevator_type has an icq cache (icq_size != 0) */
export function elevatorHasIcq(e: ElevatorName): boolean {
  return e === 'bfq';
}

export class RequestQueue {
  /** q->icq_list */
  readonly icqList = new Set<IoCq>();
  dead = false;
  /** requests allocated and not yet completed (blk-mq.ts: blkMqRqInit / blkMqRqDone) */
  inflight = 0;
  /** the block_rq_issue tracepoint, looked up once (blk-mq.ts) */
  tpIssue: Tracepoint | null = null;
  constructor(
    readonly id: number,
    readonly name: string,
    public elevator: ElevatorName,
  ) {}
}

/** blk_queue_ida, per kernel */
const idaOf = new WeakMap<Kernel, Set<number>>();

function checkElevator(where: string, e: unknown): asserts e is ElevatorName {
  if (!ELEVATORS.includes(e as ElevatorName)) throw new KwqError(where, `unknown elevator ${JSON.stringify(e)}; allowed: ${ELEVATORS.join(', ')}`);
}

/** blk_alloc_queue: a queue with the smallest free id. */
export function blkAllocQueue(k: Kernel, name: string, elevator: ElevatorName): RequestQueue {
  checkElevator('blk_alloc_queue', elevator);
  let ids = idaOf.get(k);
  if (ids === undefined) {
    ids = new Set();
    idaOf.set(k, ids);
  }
  let id = 0;
  while (ids.has(id)) id++;
  ids.add(id);
  return new RequestQueue(id, name, elevator);
}

/** elevator_switch: the old elevator's icqs are destroyed (elevator_exit -> ioc_clear_queue). */
export function elevatorSwitch(k: Kernel, q: RequestQueue, elevator: ElevatorName): void {
  checkElevator('elevator_switch', elevator);
  if (q.dead) throw new KwqError('elevator_switch', `queue ${q.name} (id ${q.id}) is gone`);
  if (elevatorHasIcq(q.elevator)) iocClearQueue(k, q);
  q.elevator = elevator;
}

/** The queue goes (disk release): its icqs are destroyed and its id freed. */
export function blkQueueExit(k: Kernel, q: RequestQueue): void {
  if (q.dead) throw new KwqError('blk_queue_exit', `queue ${q.name} (id ${q.id}) already gone`);
  iocClearQueue(k, q);
  q.dead = true;
  idaOf.get(k)?.delete(q.id);
}
