/**
 * The fuzzer's vocabulary: one command per syscall-shaped call of the public API, as
 * plain data (so fast-check can shrink a failing list and a reproducer can print it).
 * Task, fd, cgroup and path operands are small indices resolved against the world when
 * the command runs (world.ts): `p: 3` is "the fourth process slot", `fd: 2` "the
 * third open fd of that process"; a `rawFd` is passed as it is (-1, 999, NaN, ...).
 */
import fc from 'fast-check';
import {
  KVM_CHECK_EXTENSION, KVM_CREATE_DEVICE, KVM_CREATE_VCPU, KVM_CREATE_VM, KVM_GET_API_VERSION, KVM_GET_DEVICE_ATTR,
  KVM_GET_VCPU_MMAP_SIZE, KVM_HAS_DEVICE_ATTR, KVM_RUN, KVM_SET_DEVICE_ATTR, KVM_SET_USER_MEMORY_REGION, LOOP_CHANGE_FD,
  LOOP_CLR_FD, LOOP_CONFIGURE, LOOP_CTL_ADD, LOOP_CTL_GET_FREE, LOOP_CTL_REMOVE, LOOP_GET_STATUS, LOOP_GET_STATUS64,
  LOOP_SET_BLOCK_SIZE, LOOP_SET_CAPACITY, LOOP_SET_DIRECT_IO, LOOP_SET_FD, LOOP_SET_STATUS, LOOP_SET_STATUS64,
  O_CLOEXEC, O_CREAT, O_DIRECT, O_EXCL, O_RDONLY, O_RDWR, O_TRUNC, O_WRONLY, SIGKILL, SIGTERM, SIGUSR1, SIGSTOP, SIGCONT,
  VHOST_ATTACH_VRING_WORKER, VHOST_FREE_WORKER, VHOST_GET_FEATURES, VHOST_GET_FORK_FROM_OWNER, VHOST_GET_VRING_BASE,
  VHOST_GET_VRING_WORKER, VHOST_NET_SET_BACKEND, VHOST_NEW_WORKER, VHOST_RESET_OWNER, VHOST_SCSI_CLEAR_ENDPOINT,
  VHOST_SCSI_GET_ABI_VERSION, VHOST_SCSI_SET_ENDPOINT, VHOST_SET_FEATURES, VHOST_SET_FORK_FROM_OWNER, VHOST_SET_LOG_BASE,
  VHOST_SET_LOG_FD, VHOST_SET_MEM_TABLE, VHOST_SET_OWNER, VHOST_SET_VRING_ADDR, VHOST_SET_VRING_BASE, VHOST_SET_VRING_CALL,
  VHOST_SET_VRING_ERR, VHOST_SET_VRING_KICK, VHOST_SET_VRING_NUM, VHOST_VSOCK_SET_GUEST_CID, VHOST_VSOCK_SET_RUNNING,
} from '../../src/index.js';
import { argSpecArb, numArb, type ArgSpec, type Field } from './args.js';

/** What an ioctl argument is: a struct (its fields), a scalar, a `{ value }` box, or nothing. */
export type Shape = readonly Field[] | 'scalar' | 'fd' | 'box' | 'none';
export interface RequestInfo {
  req: number;
  name: string;
  shape: Shape;
}

const VRING_FILE = ['index', 'fd'];
const VRING_STATE = ['index', 'num'];
const VRING_WORKER = ['index', 'worker_id'];
const LOOP_INFO64 = [
  'lo_offset', 'lo_sizelimit', 'lo_flags', 'lo_file_name', 'lo_device', 'lo_inode', 'lo_rdevice', 'lo_number',
  'lo_encrypt_type', 'lo_encrypt_key_size', 'lo_crypt_name', 'lo_encrypt_key',
];
const r = (req: number, name: string, shape: Shape): RequestInfo => ({ req, name, shape });

const VHOST_COMMON: RequestInfo[] = [
  r(VHOST_SET_OWNER, 'VHOST_SET_OWNER', 'none'),
  r(VHOST_RESET_OWNER, 'VHOST_RESET_OWNER', 'none'),
  r(VHOST_GET_FEATURES, 'VHOST_GET_FEATURES', 'box'),
  r(VHOST_SET_FEATURES, 'VHOST_SET_FEATURES', 'scalar'),
  r(VHOST_SET_MEM_TABLE, 'VHOST_SET_MEM_TABLE', ['nregions', 'padding', { name: 'regions', array: 1, fields: ['guest_phys_addr', 'memory_size', 'userspace_addr', 'flags_padding'] }]),
  r(VHOST_SET_LOG_BASE, 'VHOST_SET_LOG_BASE', 'scalar'),
  r(VHOST_SET_LOG_FD, 'VHOST_SET_LOG_FD', 'fd'),
  r(VHOST_NEW_WORKER, 'VHOST_NEW_WORKER', ['worker_id']),
  r(VHOST_FREE_WORKER, 'VHOST_FREE_WORKER', ['worker_id']),
  r(VHOST_SET_VRING_NUM, 'VHOST_SET_VRING_NUM', VRING_STATE),
  r(VHOST_SET_VRING_ADDR, 'VHOST_SET_VRING_ADDR', ['index', 'flags', 'desc_user_addr', 'used_user_addr', 'avail_user_addr', 'log_guest_addr']),
  r(VHOST_SET_VRING_BASE, 'VHOST_SET_VRING_BASE', VRING_STATE),
  r(VHOST_GET_VRING_BASE, 'VHOST_GET_VRING_BASE', VRING_STATE),
  r(VHOST_ATTACH_VRING_WORKER, 'VHOST_ATTACH_VRING_WORKER', VRING_WORKER),
  r(VHOST_GET_VRING_WORKER, 'VHOST_GET_VRING_WORKER', VRING_WORKER),
  r(VHOST_SET_VRING_KICK, 'VHOST_SET_VRING_KICK', VRING_FILE),
  r(VHOST_SET_VRING_CALL, 'VHOST_SET_VRING_CALL', VRING_FILE),
  r(VHOST_SET_VRING_ERR, 'VHOST_SET_VRING_ERR', VRING_FILE),
  r(VHOST_SET_FORK_FROM_OWNER, 'VHOST_SET_FORK_FROM_OWNER', 'scalar'),
  r(VHOST_GET_FORK_FROM_OWNER, 'VHOST_GET_FORK_FROM_OWNER', 'box'),
];

/** The requests each kind of file answers (by the path its File carries). */
export const REQUESTS: Record<string, RequestInfo[]> = {
  '/dev/vhost-net': [...VHOST_COMMON, r(VHOST_NET_SET_BACKEND, 'VHOST_NET_SET_BACKEND', VRING_FILE)],
  '/dev/vhost-scsi': [
    ...VHOST_COMMON,
    r(VHOST_SCSI_SET_ENDPOINT, 'VHOST_SCSI_SET_ENDPOINT', ['abi_version', 'vhost_wwpn', 'vhost_tpgt', 'reserved']),
    r(VHOST_SCSI_CLEAR_ENDPOINT, 'VHOST_SCSI_CLEAR_ENDPOINT', ['abi_version', 'vhost_wwpn', 'vhost_tpgt', 'reserved']),
    r(VHOST_SCSI_GET_ABI_VERSION, 'VHOST_SCSI_GET_ABI_VERSION', 'box'),
  ],
  '/dev/vhost-vsock': [
    ...VHOST_COMMON,
    r(VHOST_VSOCK_SET_GUEST_CID, 'VHOST_VSOCK_SET_GUEST_CID', 'scalar'),
    r(VHOST_VSOCK_SET_RUNNING, 'VHOST_VSOCK_SET_RUNNING', 'scalar'),
  ],
  loop: [
    r(LOOP_SET_FD, 'LOOP_SET_FD', 'fd'),
    r(LOOP_CLR_FD, 'LOOP_CLR_FD', 'none'),
    r(LOOP_SET_STATUS, 'LOOP_SET_STATUS', LOOP_INFO64),
    r(LOOP_GET_STATUS, 'LOOP_GET_STATUS', LOOP_INFO64),
    r(LOOP_SET_STATUS64, 'LOOP_SET_STATUS64', LOOP_INFO64),
    r(LOOP_GET_STATUS64, 'LOOP_GET_STATUS64', LOOP_INFO64),
    r(LOOP_CHANGE_FD, 'LOOP_CHANGE_FD', 'fd'),
    r(LOOP_SET_CAPACITY, 'LOOP_SET_CAPACITY', 'none'),
    r(LOOP_SET_DIRECT_IO, 'LOOP_SET_DIRECT_IO', 'scalar'),
    r(LOOP_SET_BLOCK_SIZE, 'LOOP_SET_BLOCK_SIZE', 'scalar'),
    r(LOOP_CONFIGURE, 'LOOP_CONFIGURE', ['fd', 'block_size', { name: 'info', fields: LOOP_INFO64 }]),
  ],
  '/dev/loop-control': [
    r(LOOP_CTL_ADD, 'LOOP_CTL_ADD', 'scalar'),
    r(LOOP_CTL_REMOVE, 'LOOP_CTL_REMOVE', 'scalar'),
    r(LOOP_CTL_GET_FREE, 'LOOP_CTL_GET_FREE', 'none'),
  ],
  '/dev/kvm': [
    r(KVM_GET_API_VERSION, 'KVM_GET_API_VERSION', 'none'),
    r(KVM_CREATE_VM, 'KVM_CREATE_VM', 'scalar'),
    r(KVM_CHECK_EXTENSION, 'KVM_CHECK_EXTENSION', 'scalar'),
    r(KVM_GET_VCPU_MMAP_SIZE, 'KVM_GET_VCPU_MMAP_SIZE', 'none'),
  ],
  'anon_inode:kvm-vm': [
    r(KVM_CREATE_VCPU, 'KVM_CREATE_VCPU', 'scalar'),
    r(KVM_SET_USER_MEMORY_REGION, 'KVM_SET_USER_MEMORY_REGION', ['slot', 'flags', 'guest_phys_addr', 'memory_size', 'userspace_addr']),
    r(KVM_CREATE_DEVICE, 'KVM_CREATE_DEVICE', ['type', 'fd', 'flags']),
    r(KVM_CHECK_EXTENSION, 'KVM_CHECK_EXTENSION', 'scalar'),
  ],
  'anon_inode:kvm-vcpu': [r(KVM_RUN, 'KVM_RUN', 'none')],
  'anon_inode:kvm-vfio': [
    r(KVM_SET_DEVICE_ATTR, 'KVM_SET_DEVICE_ATTR', ['flags', 'group', 'attr', 'addr']),
    r(KVM_GET_DEVICE_ATTR, 'KVM_GET_DEVICE_ATTR', ['flags', 'group', 'attr', 'addr']),
    r(KVM_HAS_DEVICE_ATTR, 'KVM_HAS_DEVICE_ATTR', ['flags', 'group', 'attr', 'addr']),
  ],
};
export const ALL_REQUESTS: RequestInfo[] = Object.values(REQUESTS).flat();

/** The REQUESTS key of a file's path ('/dev/loop3' -> 'loop', 'anon_inode:kvm-vcpu:0' -> 'anon_inode:kvm-vcpu'). */
export function requestKind(path: string): string {
  if (/^\/dev\/loop\d+$/.test(path)) return 'loop';
  if (path.startsWith('anon_inode:kvm-vcpu')) return 'anon_inode:kvm-vcpu';
  return path;
}

export const OPEN_PATHS = [
  '/dev/vhost-net', '/dev/vhost-scsi', '/dev/vhost-vsock', '/dev/kvm', '/dev/loop-control', '/dev/loop0', '/dev/loop1',
  '/dev/loop2', '/dev/loop9', '/tmp/f0', '/tmp/f1', '/tmp/d/f', '/dev/null', '/dev/zero', '/sys/fs/cgroup/fuzz/memory.max', '/nonexistent',
];

/** cgroups the fuzzer works in (under /sys/fs/cgroup); some do not exist until a mkdir */
export const CGROUPS = ['', '/fuzz', '/fuzz/a', '/fuzz/b', '/fuzz/a/x', '/other'];
export const CG_FILES = [
  'memory.max', 'memory.high', 'memory.low', 'memory.min', 'memory.swap.max', 'memory.oom.group', 'memory.reclaim', 'pids.max',
  'cpu.max', 'cpu.weight', 'cpu.idle', 'io.max', 'io.weight', 'cgroup.procs', 'cgroup.threads', 'cgroup.subtree_control',
  'cgroup.type', 'cgroup.freeze', 'cgroup.kill', 'cgroup.max.depth', 'cgroup.max.descendants', 'memory.current', 'memory.events',
];

export type FdRef = { i: number } | { raw: number };

export type Cmd =
  | { op: 'spawn'; uid: number; cg: number; nproc: number; nofile: number }
  | { op: 'fork'; p: number }
  | { op: 'thread'; p: number }
  | { op: 'exit'; p: number }
  | { op: 'kill'; p: number; sig: number }
  | { op: 'setrlimit'; p: number; res: string; soft: number; hard: number }
  | { op: 'setresuid'; p: number; ruid: number; euid: number }
  | { op: 'open'; p: number; path: number; flags: number }
  | { op: 'close'; p: number; fd: FdRef }
  | { op: 'dup'; p: number; fd: FdRef }
  | { op: 'ioctl'; p: number; fd: FdRef; req: { pick: number } | { any: number } | { raw: number }; arg: ArgSpec }
  | { op: 'rw'; p: number; fd: FdRef; write: boolean; len: number; off: number }
  | { op: 'ftruncate'; p: number; fd: FdRef; size: number }
  | { op: 'fsync'; p: number; fd: FdRef }
  | { op: 'eventfd'; p: number }
  | { op: 'cgwrite'; p: number; cg: number; file: number; text: string }
  | { op: 'read'; p: number; file: number }
  | { op: 'mkdir'; p: number; cg: number }
  | { op: 'rmdir'; p: number; cg: number }
  | { op: 'fault'; p: number; bytes: number }
  | { op: 'uring_setup'; p: number; entries: number; params: ArgSpec }
  | { op: 'uring_enter'; p: number; fd: FdRef; submit: number; min: number; flags: number }
  | { op: 'uring_register'; p: number; fd: FdRef; opcode: number; arg: ArgSpec; nr: number }
  | { op: 'uring_io'; p: number; fd: FdRef; target: FdRef; n: number; async: boolean; write: boolean }
  | { op: 'ioprio'; p: number; which: number; who: number; prio: number }
  | { op: 'time'; ms: number };

/** the acting process: mostly the first (the device owner, usually), often the second */
const p = fc.oneof({ weight: 8, arbitrary: fc.constant(0) }, { weight: 3, arbitrary: fc.constant(1) }, { weight: 3, arbitrary: fc.nat(7) });
/** the process that exits or is killed: seldom the first (it would end most of a run's depth) */
const pEnd = fc.oneof({ weight: 1, arbitrary: fc.constant(0) }, { weight: 6, arbitrary: fc.integer({ min: 1, max: 7 }) });
const fdRef: fc.Arbitrary<FdRef> = fc.oneof(
  { weight: 12, arbitrary: fc.record({ i: fc.nat(15) }) },
  { weight: 1, arbitrary: fc.record({ raw: fc.constantFrom(-1, 999, 1 << 20, NaN, 2 ** 31, 0.5) }) },
);
/** garbage and near-valid texts for cgroupfs files ('$pid' becomes a process's pid) */
const cgText = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('max', '0', '1', '4096', '1M', '64M', '16M', '1G', '100000 100000', 'max 100000', '+memory +pids +io +cpu', '+memory', '-pids', '+cpu', 'threaded', 'domain', '$pid', '$pid', '7:0 wbps=1048576', '7:0 rbps=max', 'default 100', '50', '10000') },
  { weight: 2, arbitrary: fc.constantFrom('', '\n', ' ', '-1', 'NaN', 'Infinity', 'undefined', '1e3', '0x10', '99999999999999999999999', '18446744073709551616', 'max max', ' 42 ', '1.5', '+nosuch', '$pid $pid', '-', 'mAx', '4096K', '1T', '7:0', '7:0 wbps=', 'wbps=1', '1\n2', '\u00e9') },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
);

export const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ op: fc.constant('spawn' as const), uid: fc.constantFrom(0, 107, 1000, 1000), cg: fc.nat(5), nproc: fc.constantFrom(4, 8, 64, Infinity), nofile: fc.constantFrom(8, 64, 1024) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('fork' as const), p }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('thread' as const), p }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('exit' as const), p: pEnd }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('kill' as const), p: pEnd, sig: fc.constantFrom(SIGKILL, SIGTERM, SIGUSR1, SIGSTOP, SIGCONT, 0, 65) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('setrlimit' as const), p, res: fc.constantFrom('RLIMIT_NPROC', 'RLIMIT_NOFILE', 'RLIMIT_MEMLOCK', 'RLIMIT_AS'), soft: fc.constantFrom(0, 1, 4, 16, 1024, Infinity), hard: fc.constantFrom(0, 4, 16, 1024, Infinity) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('setresuid' as const), p, ruid: fc.constantFrom(-1, 0, 107, 1000), euid: fc.constantFrom(-1, 0, 107, 1000) }) },
  { weight: 6, arbitrary: fc.record({ op: fc.constant('open' as const), p, path: fc.nat(OPEN_PATHS.length - 1), flags: fc.oneof({ weight: 8, arbitrary: fc.constant(O_RDWR) }, fc.constantFrom(O_RDONLY, O_WRONLY, O_RDWR | O_CREAT, O_RDWR | O_CREAT | O_EXCL, O_RDWR | O_TRUNC, O_RDWR | O_DIRECT, O_RDWR | O_CLOEXEC, 3, 0x7fffffff)) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('close' as const), p, fd: fdRef }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('dup' as const), p, fd: fdRef }) },
  {
    weight: 30,
    arbitrary: fc.record({
      op: fc.constant('ioctl' as const), p, fd: fdRef,
      req: fc.oneof({ weight: 12, arbitrary: fc.record({ pick: fc.nat(40) }) }, { weight: 1, arbitrary: fc.record({ any: fc.nat(ALL_REQUESTS.length - 1) }) }, { weight: 1, arbitrary: fc.record({ raw: fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.constantFrom(0x5451, 0x5450, 0xaf7f, 0x4c8f, 0xae7f)) }) }),
      arg: argSpecArb,
    }),
  },
  // offsets up to the kernel's: loff_t, s_maxbytes = MAX_LFS_FILESIZE = LLONG_MAX on 64-bit
  // (the page cache is sparse since issue 13); 2^63 - 1024 is the largest double below it,
  // so a len >= 1024 there is rw_verify_area's -EINVAL
  { weight: 3, arbitrary: fc.record({ op: fc.constant('rw' as const), p, fd: fdRef, write: fc.boolean(), len: fc.constantFrom(0, 1, 512, 4096, 65536, 1 << 20, 8 << 20), off: fc.constantFrom(-1, 0, 4096, 1 << 20, 2 ** 30, 2 ** 40, 2 ** 53 + 2, 2 ** 62, 2 ** 63 - 1024) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('ftruncate' as const), p, fd: fdRef, size: fc.constantFrom(0, 4096, 1 << 20, 64 << 20, -1, 2 ** 45) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('fsync' as const), p, fd: fdRef }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('eventfd' as const), p }) },
  { weight: 6, arbitrary: fc.record({ op: fc.constant('cgwrite' as const), p, cg: fc.nat(CGROUPS.length - 1), file: fc.nat(CG_FILES.length - 1), text: cgText }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('read' as const), p, file: fc.nat(1000) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('mkdir' as const), p, cg: fc.nat(CGROUPS.length - 1) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('rmdir' as const), p, cg: fc.nat(CGROUPS.length - 1) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('fault' as const), p, bytes: fc.constantFrom(0, 4096, 1 << 20, 16 << 20, 64 << 20, 300 << 20) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('uring_setup' as const), p, entries: numArb, params: argSpecArb }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('uring_enter' as const), p, fd: fdRef, submit: numArb, min: numArb, flags: numArb }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('uring_register' as const), p, fd: fdRef, opcode: fc.constantFrom(19, 0, 99), arg: argSpecArb, nr: fc.constantFrom(2, 1, 0) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('uring_io' as const), p, fd: fdRef, target: fdRef, n: fc.integer({ min: 1, max: 4 }), async: fc.boolean(), write: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('ioprio' as const), p, which: fc.constantFrom(1, 2, 3, 0, 9), who: fc.constantFrom(0, 1, 2, 107, -1), prio: fc.constantFrom(0, 0x4004, 0x2000, 0x6007, 0xe000, -1, 0x10000) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('time' as const), ms: fc.constantFrom(0, 1, 10, 100, 6000, 61_000) }) },
);

/** The io_uring_params fields (the template for uring_setup's ArgSpec). */
export const IO_URING_PARAMS: Field[] = ['sq_entries', 'cq_entries', 'flags', 'sq_thread_cpu', 'sq_thread_idle', 'features', 'wq_fd'];
