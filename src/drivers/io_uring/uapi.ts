/**
 * io_uring's uapi (include/uapi/linux/io_uring.h), the names and values kwq models.
 * Values checked against the 6.12 header; the opcode numbering is the 5.6+ one
 * (IORING_OP_NOP 0, READV 1, WRITEV 2, FSYNC 3, ..., READ 22, WRITE 23).
 */
/** ECANCELED (include/uapi/asm-generic/errno.h): a request cancelled by io-wq */
export const ECANCELED = 125;

// io_uring_setup flags
export const IORING_SETUP_IOPOLL = 1 << 0;
export const IORING_SETUP_SQPOLL = 1 << 1;
export const IORING_SETUP_SQ_AFF = 1 << 2;
export const IORING_SETUP_CQSIZE = 1 << 3;
export const IORING_SETUP_CLAMP = 1 << 4;
export const IORING_SETUP_ATTACH_WQ = 1 << 5;
export const IORING_SETUP_R_DISABLED = 1 << 6;
export const IORING_SETUP_SUBMIT_ALL = 1 << 7;
export const IORING_SETUP_COOP_TASKRUN = 1 << 8;
export const IORING_SETUP_TASKRUN_FLAG = 1 << 9;
export const IORING_SETUP_SQE128 = 1 << 10;
export const IORING_SETUP_CQE32 = 1 << 11;
export const IORING_SETUP_SINGLE_ISSUER = 1 << 12;
export const IORING_SETUP_DEFER_TASKRUN = 1 << 13;

/** IORING_MAX_ENTRIES / IORING_MAX_CQ_ENTRIES (io_uring/io_uring.h) */
export const IORING_MAX_ENTRIES = 32768;
export const IORING_MAX_CQ_ENTRIES = 2 * IORING_MAX_ENTRIES;

// sqe->flags
export const IOSQE_FIXED_FILE = 1 << 0;
export const IOSQE_IO_DRAIN = 1 << 1;
export const IOSQE_IO_LINK = 1 << 2;
export const IOSQE_IO_HARDLINK = 1 << 3;
export const IOSQE_ASYNC = 1 << 4;
export const IOSQE_BUFFER_SELECT = 1 << 5;
export const IOSQE_CQE_SKIP_SUCCESS = 1 << 6;

// opcodes (enum io_uring_op)
export const IORING_OP_NOP = 0;
export const IORING_OP_READV = 1;
export const IORING_OP_WRITEV = 2;
export const IORING_OP_FSYNC = 3;
export const IORING_OP_READ = 22;
export const IORING_OP_WRITE = 23;
/** IORING_OP_LAST in 6.1 is 48, in 6.12 55: anything the model does not know gets -EINVAL */
export const IORING_FSYNC_DATASYNC = 1 << 0;

// io_uring_enter flags
export const IORING_ENTER_GETEVENTS = 1 << 0;
export const IORING_ENTER_SQ_WAKEUP = 1 << 1;
export const IORING_ENTER_SQ_WAIT = 1 << 2;

// io_uring_params->features: bits 0..9 every modelled release reports (5.4..5.12); the
// later ones come with a release-table row each (ioUringFeatures in io_uring.ts)
export const IORING_FEAT_SINGLE_MMAP = 1 << 0;
export const IORING_FEAT_NODROP = 1 << 1;
export const IORING_FEAT_SUBMIT_STABLE = 1 << 2;
export const IORING_FEAT_RW_CUR_POS = 1 << 3;
export const IORING_FEAT_CUR_PERSONALITY = 1 << 4;
export const IORING_FEAT_FAST_POLL = 1 << 5;
export const IORING_FEAT_POLL_32BITS = 1 << 6;
export const IORING_FEAT_SQPOLL_NONFIXED = 1 << 7;
export const IORING_FEAT_EXT_ARG = 1 << 8;
export const IORING_FEAT_NATIVE_WORKERS = 1 << 9;
export const IORING_FEAT_RSRC_TAGS = 1 << 10;
export const IORING_FEAT_CQE_SKIP = 1 << 11;
export const IORING_FEAT_LINKED_FILE = 1 << 12;
export const IORING_FEAT_REG_REG_RING = 1 << 13;
export const IORING_FEAT_RECVSEND_BUNDLE = 1 << 14;
export const IORING_FEAT_MIN_TIMEOUT = 1 << 15;
export const IORING_FEAT_RW_ATTR = 1 << 16;
export const IORING_FEAT_NO_IOWAIT = 1 << 17;

// io_uring_register opcodes
export const IORING_REGISTER_IOWQ_MAX_WORKERS = 19;

/** struct io_sqring_offsets / io_cqring_offsets, as the model fills them (offsets into its ring object) */
export interface IoSqringOffsets { head: number; tail: number; ring_mask: number; ring_entries: number; flags: number; dropped: number; array: number }
export interface IoCqringOffsets { head: number; tail: number; ring_mask: number; ring_entries: number; overflow: number; cqes: number; flags: number }

/** struct io_uring_params: the caller passes flags (and cq_entries with CQSIZE); setup fills the rest. */
export interface IoUringParams {
  sq_entries?: number;
  cq_entries?: number;
  flags?: number;
  sq_thread_cpu?: number;
  sq_thread_idle?: number;
  features?: number;
  wq_fd?: number;
  sq_off?: IoSqringOffsets;
  cq_off?: IoCqringOffsets;
}
