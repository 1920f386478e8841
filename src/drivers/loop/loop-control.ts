/**
 * The loop module: /dev/loop-control (misc 10:237), the /dev/loopN block devices
 * (major 7) and their ioctls, the module parameter and the model switches.
 *
 *   loop.max_loop=N              devices made at init (default 8, the kernel's
 *                                CONFIG_BLK_DEV_LOOP_MIN_COUNT)
 *   loop.hw_queue_depth=N        tags of each device's one hardware queue (default 128,
 *                                LOOP_DEFAULT_HW_Q_DEPTH; >= 1, blk-mq caps it at 10240):
 *                                requests in flight per device; more wait for a tag
 *   kwq.loop_workers=per-cgroup|kworker   the design of new devices (default per-cgroup)
 *   kwq.loop_worker_max=N        loop_worker arena capacity per kernel (default 65536; address space, not RAM)
 *   kwq.loop_worker_fail=P       percent of worker allocations that fail (fault injection)
 *   kwq.loop_cmd_max=N           loop_cmd arena capacity per kernel (default 1M; address space, not RAM):
 *                                each loop_add reserves its queue depth of commands (its
 *                                tag set's pdus), -ENOMEM when they do not fit
 *   kwq.loop_idle_timeout_ms=N   LOOP_IDLE_WORKER_TIMEOUT (default 60000: the kernel's 60 * HZ);
 *                                shorter only to watch reaping on wall-clock time
 *   kwq.loop_kthreads=N          runtime 'threads': kworker threads of a per-cgroup device's
 *                                unbound workqueue (default 0: the boot's ncpus, at most 32;
 *                                32 kworker threads per kernel in all: more is -ENOMEM)
 *
 * Device state machine (section 6.7, merged 6.11 LOOP_CLR_FD, notes Q6):
 *
 *   Lo_unbound --LOOP_SET_FD/LOOP_CONFIGURE--> Lo_bound --LOOP_CLR_FD (sole opener)--> Lo_rundown
 *       ^   |                                    |   LOOP_CLR_FD (others open): AUTOCLEAR, stays bound
 *       |   |                                    +--last close with AUTOCLEAR---------> Lo_rundown
 *       |   +--LOOP_CTL_REMOVE (no openers)--> Lo_deleting (gone)                         |
 *       +-----------------------------__loop_clr_fd at the last close--------------------+
 *
 * errnos: LOOP_SET_FD/CONFIGURE on a bound device -EBUSY; LOOP_CLR_FD not bound -ENXIO;
 * LOOP_GET_STATUS64 unbound -ENXIO, NULL arg -EINVAL; LOOP_SET_STATUS64 without write
 * access or CAP_SYS_ADMIN -EPERM; open during rundown/deleting -ENXIO; an unknown ioctl
 * on /dev/loopN -EINVAL (lo_simple_ioctl), on /dev/loop-control -ENOSYS; LOOP_CTL_ADD of a
 * taken number -EEXIST; LOOP_CTL_REMOVE of -1 -EINVAL, of a missing device -ENODEV, of a
 * bound or open one -EBUSY.
 */
import { EEXIST, EINVAL, ENODEV, ENOMEM, ENOSYS, EBUSY, EFAULT, EPERM } from '../../kernel/errno.js';
import { CAP_SYS_ADMIN } from '../../kernel/cred.js';
import { KwqError } from '../../kernel/error.js';
import { ioctlArg, ioctlIntArg } from '../../kernel/ioctl.js';
import type { Kernel } from '../../kernel/kernel.js';
import { registerKwqSwitch, registerModule } from '../../kernel/module.js';
import { registerChrdev } from '../../kernel/vfs/chrdev.js';
import { registerBlkdev, unregisterBlkdev } from '../../kernel/vfs/blkdev.js';
import { blkSysfsAdd, blkSysfsDel } from '../block/blk-sysfs.js';
import { blkQueueExit } from '../block/blk-ioc-queue.js';
import { BLK_MQ_MAX_DEPTH } from '../block/blk-mq.js';
import { kernelKthreadsIfAny } from './loop-kthreads.js';
import type { File, FileOperations } from '../../kernel/vfs/file.js';
import type { Task } from '../../kernel/task.js';
import {
  LoopDevice, loopChangeFd, loopClrFd, loopConfigure, loopSetBlockSize, loopSetCapacity, loopSetDio, loopFreeDisk, loopGetStatus, loopOpen, loopRelease, loopSetStatus, loopSubmitBio,
  Lo_deleting, Lo_unbound, LOOP_DESIGNS, type LoopDesign,
} from './loop-device.js';
import {
  LOOP_CLR_FD, LOOP_CONFIGURE, LOOP_CTL_ADD, LOOP_CTL_GET_FREE, LOOP_CTL_REMOVE, LOOP_CTRL_MINOR, LOOP_GET_STATUS64, LOOP_MAJOR,
  LOOP_SET_FD, LOOP_SET_STATUS64, MISC_MAJOR, readConfig, LOOP_CHANGE_FD, LOOP_SET_CAPACITY, LOOP_SET_DIRECT_IO,
  LOOP_SET_BLOCK_SIZE,
} from './uapi.js';

/** MINORMASK: the largest minor a gendisk may have (device_add_disk's range check) */
const MINORMASK = (1 << 20) - 1;

/** The loop driver's per-kernel state: loop_index_idr, hw_queue_depth. */
export class LoopDriver {
  readonly devices = new Map<number, LoopDevice>();
  /** loop_cmds the devices' tag sets hold in the kernel's arena (kwq.loop_cmd_max) */
  cmdsReserved = 0;
  constructor(
    readonly k: Kernel,
    public defaultDesign: LoopDesign,
    /** the hw_queue_depth module parameter: each new device's tag_set.queue_depth */
    readonly hwQueueDepth: number,
  ) {}
}

const drivers = new WeakMap<Kernel, LoopDriver>();

/** The loop driver of a booted kernel (throws if the loop module is not there). */
export function loopDriver(k: Kernel): LoopDriver {
  const d = drivers.get(k);
  if (d === undefined) throw new KwqError('loop', 'this kernel has no loop driver (was it booted before the driver was imported?)');
  return d;
}

/** The LoopDevice of loop<n>, or null. */
export function loopDevice(k: Kernel, n: number): LoopDevice | null {
  return loopDriver(k).devices.get(n) ?? null;
}


// ---- /dev/loopN -------------------------------------------------------------------------

function loFops(): FileOperations {
  return {
    open(_k, inode, _file, _task) {
      return loopOpen(blkLo(inode.iPrivate));
    },
    release(_k, inode) {
      loopRelease(blkLo(inode.iPrivate));
    },
    unlockedIoctl(_k, file, task, request, arg) {
      return loIoctl(blkLo(file.inode.iPrivate), file, task, request, arg);
    },
  };
}

function blkLo(bdev: unknown): LoopDevice {
  return (bdev as { data: LoopDevice }).data;
}

/** lo_ioctl */
function loIoctl(lo: LoopDevice, file: File, task: Task, request: number, arg: unknown): number {
  switch (request) {
    case LOOP_SET_FD: {
      const fd = ioctlIntArg('ioctl(LOOP_SET_FD)', arg);
      const cfg = readConfig({ fd: fd >>> 0 })!;
      return loopConfigure(lo, task, file, cfg);
    }
    case LOOP_CONFIGURE: {
      const cfg = readConfig(arg);
      if (cfg === null) return -EFAULT;
      return loopConfigure(lo, task, file, cfg);
    }
    case LOOP_CLR_FD:
      return loopClrFd(lo);
    case LOOP_SET_STATUS64:
      return loopSetStatus(lo, task, file, arg);
    case LOOP_GET_STATUS64:
      return loopGetStatus(lo, arg);
    case LOOP_CHANGE_FD:
      return loopChangeFd(lo, task, ioctlIntArg('ioctl(LOOP_CHANGE_FD)', arg));
    case LOOP_SET_CAPACITY:
    case LOOP_SET_DIRECT_IO:
    case LOOP_SET_BLOCK_SIZE: {
      // "if (!(mode & FMODE_WRITE) && !capable(CAP_SYS_ADMIN)) return -EPERM", then lo_simple_ioctl
      if (!file.writable && !task.cred.capable(CAP_SYS_ADMIN)) return -EPERM;
      if (request === LOOP_SET_CAPACITY) return loopSetCapacity(lo);
      // the argument is an unsigned long: loop_set_dio tests !!arg, blk_validate_block_size
      // compares all of it (a size past 2^53 is as invalid as any past PAGE_SIZE)
      const v = ioctlArg(request === LOOP_SET_DIRECT_IO ? 'ioctl(LOOP_SET_DIRECT_IO)' : 'ioctl(LOOP_SET_BLOCK_SIZE)', arg);
      return request === LOOP_SET_DIRECT_IO ? loopSetDio(lo, v !== 0n ? 1 : 0) : loopSetBlockSize(lo, task, Number(v > 0xffffffffn ? 0xffffffffn : v));
    }
    default:
      return -EINVAL; // lo_simple_ioctl
  }
}

// ---- /dev/loop-control ----------------------------------------------------------------

/** loop_add(i): the new device's number, or -errno. */
export function loopAdd(d: LoopDriver, i: number): number {
  const k = d.k;
  let n = i;
  if (i >= 0) {
    if (i > MINORMASK) return -EINVAL;
    if (d.devices.has(i)) return -EEXIST; // idr_alloc's -ENOSPC becomes -EEXIST
  } else {
    n = 0;
    while (d.devices.has(n)) n++;
    if (n > MINORMASK) return -EINVAL;
  }
  // blk_mq_alloc_tag_set: the tags' requests and their pdus (loop_cmd) are allocated
  // here, depth of them (BLK_MQ_MAX_DEPTH at most); the model reserves them in the
  // kernel's loop_cmd arena, so a request holding a tag always finds its command
  const depth = Math.min(d.hwQueueDepth, BLK_MQ_MAX_DEPTH);
  if (d.cmdsReserved + depth > (k.kwqSwitch('loop_cmd_max') as number)) return -ENOMEM;
  const bdev = registerBlkdev(k, {
    name: `loop${n}`, major: LOOP_MAJOR, minor: n, sizeBytes: 0,
    ops: { submitBio: loopSubmitBio, fops: loFops() },
  });
  const lo = new LoopDevice(k, n, bdev, d.defaultDesign, depth);
  d.cmdsReserved += lo.tags.depth;
  bdev.data = lo;
  blkSysfsAdd(k, bdev.name, lo.q, {
    size: () => `${Math.floor(lo.bdev.sizeBytes / 512)}\n`, // get_capacity, in 512-byte sectors
    ro: () => (lo.bdev.readOnly ? '1\n' : '0\n'),
  }, {
    logical_block_size: () => `${lo.blockSize}\n`,
  });
  d.devices.set(n, lo);
  return n;
}

/** loop_control_remove(idx) */
export function loopControlRemove(d: LoopDriver, idx: number): number {
  if (idx < 0) return -EINVAL; // "deleting an unspecified loop device is not supported"
  const lo = d.devices.get(idx);
  if (lo === undefined || !lo.visible) return -ENODEV;
  lo.visible = false; // hidden from GET_FREE while checked
  if (lo.state !== Lo_unbound || lo.openers > 0) {
    lo.visible = true;
    return -EBUSY;
  }
  lo.state = Lo_deleting;
  unregisterBlkdev(d.k, lo.bdev);
  blkSysfsDel(d.k, lo.bdev.name);
  d.devices.delete(idx);
  loopFreeDisk(lo);
  blkQueueExit(d.k, lo.q); // the disk's release: its icqs go and its queue id is freed
  lo.freeTagSet(); // blk_mq_free_tag_set
  d.cmdsReserved -= lo.tags.depth;
  return 0;
}

/** loop_control_get_free: the first visible unbound device (open ones count), else a new one. */
export function loopControlGetFree(d: LoopDriver): number {
  const nums = [...d.devices.keys()].sort((a, b) => a - b);
  for (const n of nums) {
    const lo = d.devices.get(n)!;
    if (lo.visible && lo.state === Lo_unbound) return n;
  }
  return loopAdd(d, -1);
}

const loopCtlFops: FileOperations = {
  unlockedIoctl(k, _file, _task, request, arg) {
    const d = loopDriver(k);
    switch (request) {
      case LOOP_CTL_ADD:
        return loopAdd(d, ioctlIntArg('ioctl(LOOP_CTL_ADD)', arg));
      case LOOP_CTL_REMOVE:
        return loopControlRemove(d, ioctlIntArg('ioctl(LOOP_CTL_REMOVE)', arg));
      case LOOP_CTL_GET_FREE:
        return loopControlGetFree(d);
      default:
        return -ENOSYS;
    }
  },
};

// ---- the module ---------------------------------------------------------------------

registerKwqSwitch('loop_workers', {
  type: 'enum', values: LOOP_DESIGNS, default: 'per-cgroup',
  // the release decides unless the switch is on the command line: kworker before 5.14
  releaseDefault: { feature: 'loop_worker_per_cgroup', without: 'kworker' },
  description: 'loop device worker design: per-cgroup (5.14+) or kworker (<= 5.13); default: the release\'s',
});
registerKwqSwitch('loop_worker_max', {
  type: 'uint', default: 65536, min: 1, max: 1 << 20,
  description: 'capacity of the loop_worker arena per kernel (a full arena makes worker allocation fail)',
});
registerKwqSwitch('loop_cmd_max', {
  type: 'uint', default: 1 << 20, min: 1, max: 1 << 22,
  description: 'capacity of the loop_cmd arena per kernel: each loop device reserves loop.hw_queue_depth commands at loop_add (-ENOMEM when they do not fit)',
});
registerKwqSwitch('loop_idle_timeout_ms', {
  type: 'uint', default: 60_000, min: 1, max: 3_600_000,
  description: 'LOOP_IDLE_WORKER_TIMEOUT in ms (the kernel: 60 s); shorter to watch reaping in wall-clock time',
});
registerKwqSwitch('loop_kthreads', {
  type: 'uint', default: 0, min: 0, max: 32,
  description: "runtime 'threads': kworker threads per per-cgroup loop device (0: one per CPU of the boot's ncpus, at most 32); 32 kworker threads per kernel in all",
});
registerKwqSwitch('loop_worker_fail', {
  type: 'uint', default: 0, min: 0, max: 100,
  description: 'fault injection: percent of loop_worker allocations that fail',
});

registerModule({
  name: 'loop',
  params: {
    max_loop: { type: 'uint', default: 8, max: 1 << 20, description: 'loop devices made at init (CONFIG_BLK_DEV_LOOP_MIN_COUNT)' },
    // loop_set_hw_queue_depth: kstrtoint, then "if (qd < 1) return -EINVAL"
    hw_queue_depth: { type: 'uint', default: 128, min: 1, max: 0x7fff_ffff, description: 'queue depth of each hardware queue (LOOP_DEFAULT_HW_Q_DEPTH 128; blk-mq caps it at 10240)' },
  },
  init(k, params) {
    const d = new LoopDriver(k, k.kwqSwitch('loop_workers') as LoopDesign, params['hw_queue_depth'] as number);
    // the driver's tracepoints: a worker made (loop_queue_work) or freed (reaper, teardown)
    k.trace.define('loop_worker_alloc');
    k.trace.define('loop_worker_free');
    k.trace.define('block_rq_issue');
    drivers.set(k, d);
    registerChrdev(k, { name: 'loop-control', major: MISC_MAJOR, minor: LOOP_CTRL_MINOR, fops: loopCtlFops });
    const n = params['max_loop'] as number;
    for (let i = 0; i < n; i++) loopAdd(d, i);
  },
  exit(k) {
    const d = drivers.get(k);
    if (d === undefined) return;
    for (const lo of d.devices.values()) {
      // module unload: timers must not fire into a dead kernel
      k.rt.delTimer(lo.timer);
    }
    // threads runtime: every kworker thread stops (what they hold is dropped: the
    // kernel model is going away); loopThreadsIdle(k) resolves once they exited
    kernelKthreadsIfAny(k)?.shutdown();
  },
});
