/**
 * The release table: which kernel `Kernel.boot({ release })` models, as a set of named
 * features. Drivers ask `k.has('vhost_task_worker')`; nothing outside this file compares
 * version numbers. `kwq.*` switches given on the command line override what a release
 * decides (a switch declares the feature its default follows: module.ts).
 *
 * A release X.Y is the newest X.Y.z stable kernel, as distributions ship it and as the
 * oracle boots it (Debian's 6.1.y and 6.12.y): a change a stable branch took is in that
 * release (`backports`), and so is the end of one (`until.backports`). The oracle showed
 * why: Debian's 6.12.118 has the fork-owner control and the 6.17 ioprio fix, so a
 * "mainline v6.12" model answered 21 recorded steps otherwise than the 6.12 people run.
 *
 * The designs, in the order they landed upstream (mainline vX.Y tags; `+y` marks a
 * stable backport into an older modelled line):
 *
 *   5.13  loop: one kthread "loopN" per device charges all backing I/O to root;
 *         vhost: a kthread "vhost-<pid>" (kthreadd's child) per device, attached once
 *         to the owner's v1 cgroups (cgroup_attach_task_all skipped v2)
 *   5.14  loop: a worker per issuing blkcg on a WQ_UNBOUND workqueue      loop_worker_per_cgroup
 *   5.16  cgroup_attach_task_all attaches to the v2 hierarchy too           cgroup_attach_v2_dfl
 *   5.19  loop's workqueue outlives LOOP_CLR_FD                            loop_wq_outlives_clr_fd
 *   6.1   (no design change from 5.19 in what kwq models)
 *   6.3   vhost-net offers VIRTIO_F_RING_RESET (bit 40)                     vhost_net_ring_reset
 *   6.4   vhost: the worker is a vhost_task, a thread of the owner          vhost_task_worker
 *         io-wq workers are PF_USER_WORKER too                             io_thread_user_worker
 *   6.5   vhost: VHOST_NEW_WORKER/FREE/ATTACH/GET (vhost-scsi)              vhost_worker_ioctls
 *   6.6   cgroup: cpu.stat.local (throttled_usec of this level)            cpu_stat_local
 *   6.6   tmpfs files can be opened O_DIRECT (FMODE_CAN_ODIRECT)           tmpfs_direct_io
 *   6.7   KVM: CONFIG_KVM_MAX_NR_VCPUS (Debian: 4096 vCPUs, 16384 ids)      kvm_max_nr_vcpus_config
 *   6.7   cpuset: cpus.exclusive, remote partitions                     cpuset_cpus_exclusive
 *   6.8   cpuset: the root's cpuset.cpus.isolated                       cpuset_cpus_isolated
 *   6.8   no io_context: effective ioprio IOPRIO_DEFAULT (until 6.17)       ioprio_default_without_ioc
 *   6.9   KVM: a TDP MMU root needs no MMU page quota (no memslot: no ENOSPC) kvm_tdp_root_without_quota
 *   6.11  LOOP_CLR_FD always defers the teardown to the last close          loop_clr_fd_autoclear
 *         io-wq gives up on a worker it cannot create after 3 retries      io_wq_worker_init_limit
 *         (+y: in 6.1.y, measured on 6.1.192)
 *         cgroup.stat: nr_subsys_<ss> / nr_dying_subsys_<ss>               cgroup_stat_nr_subsys
 *         misc: misc.peak (and the root's misc.current), misc.events.local  misc_peak, misc_events_local
 *   6.12  cpu.weight reads are clamped to 1..10000 (sched_ext's helpers)    cpu_weight_read_clamped
 *   6.13  cpu.stat: nice_usec (+y: in 6.12.y, measured on 6.12.118)        cpu_stat_nice_usec
 *   6.13  KVM: the NX huge page recovery worker is a vhost_task           kvm_nx_recovery_vhost_task
 *         (+y: in 6.12.y, measured on 6.12.118)
 *   6.14  KVM: ... made at the first KVM_RUN, not at KVM_CREATE_VM         kvm_nx_recovery_at_first_run
 *         (+y: in 6.12.y, measured on 6.12.118)
 *   6.15  loop's aio kiocb inherits the request's ioprio                    loop_aio_ioprio
 *   6.17  vhost: kthread mode is back, chosen per device                    vhost_fork_from_owner
 *         (+y: in 6.12.y, measured on 6.12.118)
 *         no io_context: nice-derived ioprio again (ends ioprio_default_without_ioc;
 *         +y: ended in 6.12.y too, measured on 6.12.118)
 *
 * Commit ids are 12-hex mainline short ids with their subjects; `source` says where
 * each was read: the behaviour reference (shared/kernel-reference.md: section 0 and
 * the vhost history, loop section 6.1), docs/divergences.md, or a public git log /
 * list mail (a shortlog line, a branch push, a stable "Upstream commit" header) found
 * while writing this table. `verified: false` marks a row whose id, subject or
 * release rests on less than that (and says what in a comment).
 */
import { KwqError } from './error.js';

/** The modelled releases, oldest first. */
const RELEASE_NAMES = ['5.13', '5.14', '6.1', '6.4', '6.5', '6.12', '6.17'] as const;

export type Release = (typeof RELEASE_NAMES)[number];

/** What `Kernel.boot()` models without a `release`: the newest, as kwq always has. */
export const DEFAULT_RELEASE: Release = '6.17';

export interface ReleaseCommit {
  /** 12-hex mainline short id */
  id: string;
  subject: string;
}

/** a change taken by a stable branch of an older modelled line */
export interface Backport {
  release: Release;
  /** how it is known to be there: the oracle's measurement or a stable mail */
  source: string;
}

export interface FeatureInfo {
  name: Feature;
  /** the mainline release that brought it (a modelled release or one between them) */
  since: string;
  /** the commit that brought it; `also` lists the rest of the change */
  commit: ReleaseCommit;
  also?: readonly ReleaseCommit[];
  /** the release and commit that ended it, if a later release undid it (and the older lines whose stable branch took the end too) */
  until?: { release: string; commit: ReleaseCommit; backports?: readonly Backport[] };
  /** older modelled lines whose newest stable kernel took the change */
  backports?: readonly Backport[];
  /** what changes in the model, in one or two sentences */
  summary: string;
  /** where kwq decides it (driver file, function or switch) */
  where: string;
  /** where the ids and subjects were read (see the header) */
  source: string;
  /** false: the id, subject or release is not verified (a comment says which) */
  verified: boolean;
}

const FEATURE_LIST = [
  {
    name: 'io_uring_feat_rsrc_tags',
    since: '5.13',
    commit: { id: '9690557e22d6', subject: 'io_uring: add feature flag for rsrc tags' },
    also: [{ id: '992da01aa932', subject: 'io_uring: change registration/upd/rsrc tagging ABI' }],
    summary:
      'io_uring_setup reports IORING_FEAT_RSRC_TAGS (bit 10: IORING_REGISTER_FILES2/BUFFERS2 and tagged updates). ' +
      'Without it the features word ends at NATIVE_WORKERS (0x3ff). kwq models none of those registrations.',
    where: 'drivers/io_uring/io_uring.ts ioUringFeatures (io_uring_setup\'s params.features)',
    // measured: oracle/scripts/iouring-*.json (uring_setup: 6.1.192 reports 0x1fff, 6.12.118 0xffff)
    source: 'the io_uring-5.13 branch push of axboe/linux-block (June 12, 2021) and mainline rev-lists with both ids; the ' +
      'patch mail ([PATCH 2/2], Pavel Begunkov, June 2021); a 5.13-rc shortlog listing both',
    verified: true,
  },
  {
    name: 'loop_worker_per_cgroup',
    since: '5.14',
    commit: { id: '87579e9b7d8d', subject: 'loop: use worker per cgroup instead of kworker' },
    also: [
      { id: '04f94e3fbe1a', subject: 'mm: charge active memcg when no mm is set' },
      { id: 'c74d40e8b5e2', subject: 'loop: charge i/o to mem and blk cg' },
    ],
    summary:
      'loop runs each issuing blkcg\'s commands on its own loop_worker (rb-tree by css, root fallback queue, idle ' +
      'workers reaped after 60 s) and charges memory and I/O to the issuer. Without it: one kthread "loopN" per ' +
      'device, everything charged to root.',
    where: 'the default of kwq.loop_workers (per-cgroup | kworker); drivers/loop',
    source: 'kernel-reference.md 6.1; 87579e9b7d8d and 04f94e3fbe1a also in a public mainline shortlog',
    verified: true,
  },
  {
    name: 'cgroup_attach_v2_dfl',
    since: '5.16',
    commit: { id: '0061270307f2', subject: 'cgroup: cgroup-v1: do not exclude cgrp_dfl_root' },
    summary:
      'cgroup_attach_task_all() attaches to the v2 (default) hierarchy too, so a kthread-mode vhost worker lands ' +
      'in the owner\'s v2 cgroup. Without it the worker stays in the v2 root (v1 hierarchies are attached).',
    where: 'kernel/cgroup/cgroup-core.ts cgroupAttachTaskAll',
    source: 'docs/divergences.md; id and subject in the cgroup for-next pushes of the 5.16 cycle',
    verified: true,
  },
  {
    name: 'io_uring_feat_cqe_skip',
    since: '5.17',
    commit: { id: '04c76b41ca97', subject: 'io_uring: add option to skip CQE posting' },
    summary:
      'IOSQE_CQE_SKIP_SUCCESS and io_uring_setup\'s IORING_FEAT_CQE_SKIP (bit 11). kwq reports the bit only ' +
      '(it models no CQE skipping).',
    where: 'drivers/io_uring/io_uring.ts ioUringFeatures (io_uring_setup\'s params.features)',
    // the flag came with v2 of the series; its 2/4 adds it to io_uring_create
    source: 'the patch (v2 2/4, Pavel Begunkov, Nov 2021) and Jens Axboe\'s "Applied" mail naming 04c76b41ca97; the ' +
      'for-5.17/io_uring merge into for-next; stable mails citing the id; the oracle: 6.1.192 reports it',
    verified: true,
  },
  {
    name: 'io_uring_feat_linked_file',
    since: '5.18',
    commit: { id: 'c4212f3eb89f', subject: 'io_uring: flag the fact that linked file assignment is sane' },
    summary:
      'io_uring_setup reports IORING_FEAT_LINKED_FILE (bit 12): a linked request\'s file is assigned when it runs ' +
      '(6bf9c47a3989, "io_uring: defer file assignment"). The bit only, in kwq (links are not modelled).',
    where: 'drivers/io_uring/io_uring.ts ioUringFeatures (io_uring_setup\'s params.features)',
    // posted April 11, 2022 (after v5.18-rc1) and taken by 5.17.y (not a modelled line)
    source: 'the 5.17 stable review ("[PATCH 5.17 084/219]": "Upstream commit c4212f3eb89f...", Apr 2022); a rev-list ' +
      'with the 5.18-rc io_uring fixes; the patch mail (Jens Axboe, Apr 2022); the oracle: 6.1.192 reports it',
    verified: true,
  },
  {
    name: 'loop_wq_outlives_clr_fd',
    since: '5.19',
    commit: { id: 'd292dc80686a', subject: "loop: don't destroy lo->workqueue in __loop_clr_fd" },
    summary:
      'the per-cgroup workqueue and its idle workers stay after __loop_clr_fd and go in lo_free_disk. ' +
      'Without it (5.14-5.18) __loop_clr_fd destroys the workqueue and frees every idle worker; the next ' +
      'configure makes a new one.',
    where: 'drivers/loop/loop-device.ts finishClrFd',
    source: 'kernel-reference.md 0 and 6.1',
    verified: true,
  },
  {
    name: 'memcg_stat_khugepaged',
    since: '6.2',
    commit: { id: '57e9cc50f4dd', subject: 'mm: vmscan: split khugepaged stats from direct reclaim stats' },
    summary:
      'memory.stat has pgscan_khugepaged and pgsteal_khugepaged after pgscan_direct and pgsteal_direct. Without ' +
      'them khugepaged\'s reclaim counts as direct.',
    where: 'kernel/cgroup/memory-stat.ts STAT_KEYS',
    // the id is "the original commit in Linus's tree" of a stable mail; the release from its date (Oct 2022, the 6.2 window)
    source: 'a stable review mail naming 57e9cc50f4dd as the commit in Linus\'s tree; mm-unstable logs; the oracle: cgroup-files (6.12.118 has the keys, 6.1.192 not)',
    verified: true,
  },
  {
    name: 'vhost_net_ring_reset',
    since: '6.3',
    commit: { id: '313389be06ff', subject: 'vhost-net: support VIRTIO_F_RING_RESET' },
    summary:
      'VHOST_GET_FEATURES of vhost-net offers VIRTIO_F_RING_RESET (bit 40) and VHOST_SET_FEATURES accepts it ' +
      '(vhost-net needs nothing else for it). Without it the bit is not offered and setting it is -EOPNOTSUPP.',
    where: 'drivers/vhost/uapi.ts vhostNetFeatures, drivers/vhost/net.ts',
    // the oracle: 6.1.192 offers 0x33d008000, 6.12.118 0x1033d008000 (oracle/scripts/vhost-net-owner.json)
    source: 'the 6.3 merge-window rev-lists (mainline ids, with "vhost-scsi: convert sysfs snprintf and sprintf to ' +
      'sysfs_emit"); Jason Wang cites 313389be06ff on virtualization@; the patch mail (Kangjie Xu, Aug 2022)',
    verified: true,
  },
  {
    name: 'io_uring_feat_reg_reg_ring',
    since: '6.3',
    commit: { id: '7d3fd88d61a4', subject: 'io_uring: Support calling io_uring_register with a registered ring fd' },
    summary:
      'io_uring_register takes IORING_REGISTER_USE_REGISTERED_RING and io_uring_setup reports IORING_FEAT_REG_REG_RING ' +
      '(bit 13). kwq reports the bit only (no registered ring fds).',
    where: 'drivers/io_uring/io_uring.ts ioUringFeatures (io_uring_setup\'s params.features)',
    // v1 was applied as 04eb372cac91, then replaced on for-6.3/io_uring by v2 (7d3fd88d61a4)
    source: 'the pull tags/for-6.3/io_uring-2023-02-16 (up to 7d3fd88d61a4) and the for-6.3/io_uring push; the patch ' +
      'v2 (Josh Triplett) adds the flag to io_uring_create; the oracle: 6.12.118 reports it, 6.1.192 not',
    verified: true,
  },
  {
    name: 'vhost_task_worker',
    since: '6.4',
    commit: { id: '6e890c5d5021', subject: 'vhost: use vhost_tasks for worker threads' },
    also: [{ id: 'f9010dbdce91', subject: 'fork, vhost: Use CLONE_THREAD to fix freezer/ps regression' }],
    summary:
      'the vhost worker is a vhost_task: a PF_USER_WORKER thread of the owner, counted against its ' +
      'RLIMIT_NPROC; any creation failure is -ENOMEM. Without it the worker is a kthread (PF_KTHREAD, ' +
      'kthreadd\'s child) and SET_OWNER returns kthread_create\'s or the cgroup attach\'s own error.',
    where: 'drivers/vhost/dev.ts (the device\'s default mode), vhostDevSetOwner',
    source: 'kernel-reference.md, vhost history',
    verified: true,
  },
  {
    name: 'io_thread_user_worker',
    since: '6.4',
    commit: { id: '54e6842d0775', subject: 'fork: Add USER_WORKER flag to ignore signals' },
    summary:
      'create_io_thread sets user_worker as well as io_thread: io-wq workers are PF_IO_WORKER | PF_USER_WORKER. ' +
      'Without it they are PF_IO_WORKER only.',
    where: 'drivers/io_uring/io-wq.ts (the worker\'s flags)',
    // the subject is in the vhost_task series (v11 4/8 on the virtualization list); the mainline id was
    // not read in a mainline log here
    source: 'the series mails (v6..v11) on the virtualization list',
    verified: false,
  },
  {
    name: 'vhost_worker_ioctls',
    since: '6.5',
    commit: { id: 'c1ecd8e95007', subject: 'vhost: allow userspace to create workers' },
    also: [
      { id: '1cdaafa1b8b4', subject: 'vhost: replace single worker pointer with xarray' },
      { id: 'd74b55e65502', subject: 'vhost_scsi: add support for worker ioctls' },
    ],
    summary:
      'vhost-scsi routes VHOST_NEW_WORKER, VHOST_FREE_WORKER, VHOST_ATTACH_VRING_WORKER and ' +
      'VHOST_GET_VRING_WORKER to vhost_worker_ioctl. Without it they take the default path (vhost_dev_ioctl, ' +
      'then vhost_vring_ioctl): -EPERM for a non-owner, else -EFAULT/-ENOBUFS from the vq index or ENOTTY.',
    where: 'drivers/vhost/scsi.ts vhostScsiIoctl',
    source: 'kernel-reference.md, vhost history and 0',
    verified: true,
  },
  {
    name: 'memcg_swap_peak',
    since: '6.5',
    commit: { id: 'e0e0b4126c1f', subject: 'mm/memcontrol: export memcg.swap watermark via sysfs for v2 memcg' },
    summary:
      'a non-root v2 cgroup has memory.swap.peak (the swap page counter\'s watermark in bytes). Without it the file ' +
      'does not exist.',
    where: 'kernel/cgroup/cgroupfs.ts (memory.swap.peak)',
    source: 'a public mainline log (e0e0b4126c1f1effd480777507a61bd09360dc8f) and the runc/cgroups-rs issues citing it as 6.5; the oracle: cgroup-files',
    verified: true,
  },
  {
    name: 'tmpfs_direct_io',
    since: '6.6',
    commit: { id: 'e88e0d366f9c', subject: 'tmpfs: trivial support for direct IO' },
    summary:
      'shmem_file_open sets FMODE_CAN_ODIRECT: open(O_DIRECT) of a tmpfs file succeeds and a loop device backed by ' +
      'one can use direct I/O (LOOP_SET_DIRECT_IO 1). Without it do_dentry_open refuses O_DIRECT with -EINVAL (after ' +
      'an O_CREAT made the file) and loop keeps buffered I/O (LOOP_SET_DIRECT_IO 1: -EINVAL).',
    where: 'kernel/vfs/tmpfs.ts shmemFileOps.open, shmemCanDirectIo; drivers/loop/loop-device.ts backingCanDio',
    // measured: oracle/scripts/loop-state.json (LOOP_SET_DIRECT_IO on a /tmp file: EINVAL on 6.1.192, 0 on 6.12.118)
    source: 'the patch (v2, "[PATCH vfs.tmpfs v2 4/5]", Hugh Dickins, Aug 2023) and the vfs.tmpfs branch for v6.6; ' +
      'e88e0d366f9c in a mainline rev-list of the 6.6 merge window',
    verified: true,
  },
  {
    name: 'cpu_stat_local',
    since: '6.6',
    commit: { id: '677ea015f231', subject: 'sched: add throttled time stat for throttled children' },
    summary:
      'every v2 cgroup has cpu.stat.local ("throttled_usec N": time this level was throttled by its own or an ' +
      'ancestor\'s cpu.max). Without it the file does not exist.',
    where: 'kernel/cgroup/cgroupfs.ts (cpu.stat.local), cgroup/cpu.ts cpuLocalStat',
    // merged through tip sched/core for 6.6 (the cgroup for-6.6 thread and Tejun's fix-up mail name the id)
    source: 'the cgroup/for-6.6 discussion and a public mainline log listing 677ea015f231; the oracle: cgroup-files, cpu-max',
    verified: true,
  },
  {
    name: 'kvm_max_nr_vcpus_config',
    since: '6.7',
    commit: { id: 'f10a570b093e', subject: 'KVM: x86: Add CONFIG_KVM_MAX_NR_VCPUS to allow up to 4096 vCPUs' },
    summary:
      'KVM_MAX_VCPUS is CONFIG_KVM_MAX_NR_VCPUS (default 4096 with MAXSMP, as Debian builds: its 6.12 config has ' +
      'CONFIG_KVM_MAX_NR_VCPUS=4096) and KVM_MAX_VCPU_IDS 4 times that: KVM_CAP_MAX_VCPUS 4096, KVM_CAP_MAX_VCPU_ID ' +
      '16384. Without it x86 has 1024 and 4096 whatever the config (Debian 6.1 has MAXSMP=y too).',
    where: 'drivers/kvm/kvm.ts kvmMaxVcpus, kvmMaxVcpuIds',
    // the Debian configs were read in the oracle's kernel packages (boot/config-6.1.0-57-amd64, config-6.12.118+deb12-amd64)
    source: 'a mainline rev-list of the 6.7 merge window (with the LoongArch KVM series); QEMU list mails citing ' +
      'f10a570b093e; the Debian configs; measured: oracle/scripts/kvm-lifetime.json',
    verified: true,
  },
  {
    name: 'cpuset_cpus_exclusive',
    since: '6.7',
    commit: { id: 'e2ffe502ba45', subject: 'cgroup/cpuset: Add cpuset.cpus.exclusive for v2' },
    also: [
      { id: '0c7f293efc87', subject: 'cgroup/cpuset: Add cpuset.cpus.exclusive.effective for v2' },
      { id: '181c8e091aae', subject: 'cgroup/cpuset: Introduce remote partition' },
    ],
    summary:
      'a non-root cpuset has cpuset.cpus.exclusive and cpuset.cpus.exclusive.effective; a partition takes its ' +
      'effective exclusive CPUs (update_parent_effective_cpumask), may be remote (its parent a member), and the ' +
      'partition errors name cpuset.cpus.exclusive ("cpuset.cpus and cpuset.cpus.exclusive are empty"). Without it ' +
      'a partition takes cpuset.cpus into the parent\'s subparts_cpus (v6.1 update_parent_subparts_cpumask).',
    where: 'kernel/cgroup/cpuset.ts (the 6.1 and the 6.7 engines), kernel/cgroup/cgroupfs.ts (the files)',
    source: 'the pull "cgroup changes for v6.7" (tags/cgroup-for-6.7, Tejun Heo) listing the three; later Fixes: tags ' +
      'naming e2ffe502ba45; the oracle: cgroup-controllers (6.12.118 has the files and the wording, 6.1.192 not)',
    verified: true,
  },
  {
    name: 'memcg_stat_thp_swpout',
    since: '6.7',
    commit: { id: '811244a501b9', subject: 'mm: memcg: add THP swap out info for anonymous reclaim' },
    summary: 'memory.stat has thp_swpout and thp_swpout_fallback after thp_collapse_alloc.',
    where: 'kernel/cgroup/memory-stat.ts STAT_KEYS',
    source: 'a public mainline log listing 811244a501b9; the 6.6.y backport series naming it as the upstream commit; the oracle: cgroup-files',
    verified: true,
  },
  {
    name: 'ioprio_default_without_ioc',
    since: '6.8',
    commit: { id: '53889bcaf536', subject: 'block: make __get_task_ioprio() easier to read' },
    until: {
      release: '6.17', commit: { id: 'e2ba58ccc909', subject: 'block: Fix default IO priority if there is no IO context' },
      backports: [{ release: '6.12', source: 'the oracle: Debian 6.12.118 (oracle/scripts/ioprio-syscalls.json)' }],
    },
    summary:
      'the effective I/O priority of a task with no io_context is IOPRIO_DEFAULT (0) instead of the nice-derived ' +
      'one (be/4 in the model); ioprio_get(PGRP/USER) and bios see it. 6.17 restored the nice-derived value.',
    where: 'drivers/block/ioprio.ts getTaskIoprio',
    source: 'docs/divergences.md; both ids in the block tree (for-6.8/block, block-6.17) and the 6.12.y stable review',
    verified: true,
  },
  {
    name: 'cpuset_cpus_isolated',
    since: '6.8',
    commit: { id: '877c737db935', subject: 'cgroup/cpuset: Expose cpuset.cpus.isolated' },
    summary: 'the root cgroup has cpuset.cpus.isolated (the CPUs of isolated partitions). Without it the file does not exist.',
    where: 'kernel/cgroup/cgroupfs.ts (cpuset.cpus.isolated), kernel/cgroup/cpuset.ts cpusetShow',
    source: 'the patch (Waiman Long, Nov 2023) and the cgroup for-6.8 branch log listing 877c737db935; the oracle: cgroup-files, cgroup-controllers',
    verified: true,
  },
  {
    name: 'memcg_zswap_writeback',
    since: '6.8',
    commit: { id: '501a06fe8e4c', subject: 'zswap: memcontrol: implement zswap writeback disabling' },
    summary:
      'every v2 cgroup, the root included, has memory.zswap.writeback (1 by default; 0 keeps its pages in zswap). ' +
      'Without it the file does not exist.',
    where: 'kernel/cgroup/cgroupfs.ts (memory.zswap.writeback)',
    source: 'a public mainline log (501a06fe8e4c185bbda371b8cedbdf1b23a633d8) and the v6 patch thread (Nhat Pham, Dec 2023); the oracle: cgroup-files',
    verified: true,
  },
  {
    name: 'memcg_stat_zswpwb',
    since: '6.8',
    commit: { id: '7108cc3f765c', subject: 'mm: memcg: add per-memcg zswap writeback stat' },
    summary: 'memory.stat has zswpwb after zswpout.',
    where: 'kernel/cgroup/memory-stat.ts STAT_KEYS',
    source: 'a regression bisection mail naming 7108cc3f765c between v6.6 and v6.9; the v7/v8 patch mails; the oracle: cgroup-files',
    verified: true,
  },
  {
    name: 'kvm_tdp_root_without_quota',
    since: '6.9',
    commit: { id: 'f5238c2a60f1', subject: 'KVM: x86/mmu: Check for usable TDP MMU root while holding mmu_lock for read' },
    summary:
      'mmu_alloc_direct_roots takes a TDP MMU root before make_mmu_pages_available: a VM that never had a memslot ' +
      '(n_max_mmu_pages 0) runs. Without it the first KVM_RUN of such a VM is -ENOSPC (kvm_mmu_load: no MMU pages ' +
      'are available until a memslot is created or deleted), every time until then.',
    where: 'drivers/kvm/kvm-main.ts kvmArchVcpuIoctlRun',
    // measured: oracle/scripts/kvm-lifetime.json (KVM_RUN without memslots: ENOSPC on 6.1.192, 0 on 6.12.118)
    source: 'the patch (v1 6/8 of "KVM: x86/mmu: Allow TDP MMU (un)load to run in parallel", Sean Christopherson, ' +
      'Jan 2024) and the pull "KVM: x86: MMU changes for 6.9" (tags/kvm-x86-mmu-6.9); the id in a rev-list of it',
    verified: true,
  },
  {
    name: 'io_uring_feat_recvsend_bundle',
    since: '6.10',
    commit: { id: '2f9c9515bdfd', subject: 'io_uring/net: support bundles for recv' },
    also: [{ id: 'a05d1f625c7a', subject: 'io_uring/net: support bundles for send' }],
    summary:
      'IORING_RECVSEND_BUNDLE for send and recv, and io_uring_setup\'s IORING_FEAT_RECVSEND_BUNDLE (bit 14). kwq ' +
      'reports the bit only (no networking ops).',
    where: 'drivers/io_uring/io_uring.ts ioUringFeatures (io_uring_setup\'s params.features)',
    source: 'the patch ([PATCH 7/7], Jens Axboe, Mar 2024: "Now that both send and receive support bundles, add a ' +
      'feature flag"); both ids in the for-6.10/io_uring merge into for-next and in stable Fixes: tags; the oracle: 6.12.118',
    verified: true,
  },
  {
    name: 'loop_clr_fd_autoclear',
    since: '6.11',
    commit: { id: '18048c1af783', subject: 'loop: Fix a race between loop detach and loop open' },
    summary:
      'LOOP_CLR_FD always sets LO_FLAGS_AUTOCLEAR (Lo_rundown only for the sole opener) and the teardown runs ' +
      'at the last close. Without it a sole opener\'s LOOP_CLR_FD tears the device down at once; with more ' +
      'openers it sets AUTOCLEAR.',
    where: 'drivers/loop/loop-device.ts loopClrFd',
    source: 'kernel-reference.md 6.7 (subject); id from the for-6.11/block branch push and the LKP report on mainline',
    verified: true,
  },
  {
    name: 'io_wq_worker_init_limit',
    since: '6.11',
    commit: { id: '0453aad676ff', subject: 'io_uring/io-wq: limit retrying worker initialisation' },
    summary:
      'a worker that cannot be created is retried WORKER_INIT_LIMIT (3) times, then the acct\'s pending work ' +
      'is cancelled (-ECANCELED). Without it io-wq retries without limit (stable branches took it later).',
    backports: [{ release: '6.1', source: 'the oracle: Debian 6.1.192 (oracle/scripts/iouring-nproc.json: -ECANCELED at RLIMIT_NPROC); 6.1.y stable, Aug 2024' }],
    where: 'drivers/io_uring/io_uring.ts ioWqInitLimit',
    source: 'a public mainline log of the 6.11 merge window (0453aad676ff); stable backports under other ids',
    verified: true,
  },
  {
    name: 'cgroup_stat_nr_subsys',
    since: '6.11',
    commit: { id: 'ab0312526867', subject: 'cgroup: Show # of subsystem CSSes in cgroup.stat' },
    summary:
      'cgroup.stat prints nr_subsys_<ss> (live csses of the subtree, this cgroup included) after nr_descendants and ' +
      'nr_dying_subsys_<ss> after nr_dying_descendants, for every v2 subsystem the kernel has. Without it: the two ' +
      'nr_descendants lines only.',
    where: 'kernel/cgroup/cgroupfs.ts cgroupStatShow',
    source: 'a public mainline log (ab03125268679e058e1e7b6612f6d12610761769) and the LKP report naming it; the oracle: cgroup-files',
    verified: true,
  },
  {
    name: 'pids_events_local',
    since: '6.11',
    commit: { id: '3f26a885a068', subject: 'cgroup/pids: Add pids.events.local' },
    also: [{ id: '385a635cacfe', subject: 'cgroup/pids: Make event counters hierarchical' }],
    summary:
      'a non-root v2 cgroup has pids.events.local ("max N": forks refused at this level\'s limit, its own). Without ' +
      'it the file does not exist.',
    where: 'kernel/cgroup/cgroupfs.ts (pids.events.local)',
    source: 'Tejun Heo\'s "Applied 1-5 to cgroup/for-6.11" mail, the cgroup for-next push listing 3f26a885a068, and the for-6.11 pull shortlog; the oracle: cgroup-files',
    verified: true,
  },
  {
    name: 'misc_peak',
    since: '6.11',
    commit: { id: '1028f391d5f9', subject: 'cgroup/misc: Introduce misc.peak' },
    summary:
      'every cgroup with the misc controller, the root included, has misc.peak, and the root has misc.current too. ' +
      'Without it neither exists on the root and misc.peak nowhere.',
    where: 'kernel/cgroup/cgroupfs.ts (misc.peak, misc.current), kernel/cgroup/misc.ts',
    // misc.current on the root: measured (6.12.118 has it, 6.1.192 not) and put with misc.peak, which came in the
    // same pull; the commit that dropped its CFTYPE_NOT_ON_ROOT was not read
    source: 'the pull "cgroup changes for v6.11" (tags/cgroup-for-6.11) listing it; the v5 patch thread; the oracle: cgroup-files, cgroup-controllers',
    verified: true,
  },
  {
    name: 'misc_events_local',
    since: '6.11',
    commit: { id: 'eeac320e2593', subject: 'cgroup/misc: Introduce misc.events.local' },
    summary: 'a non-root cgroup with the misc controller has misc.events.local. Without it the file does not exist.',
    where: 'kernel/cgroup/cgroupfs.ts (misc.events.local), kernel/cgroup/misc.ts',
    source: 'the pull "cgroup changes for v6.11" and the cgroup for-next log listing eeac320e2593; the oracle: cgroup-controllers',
    verified: true,
  },
  {
    name: 'memcg_stat_numa_balancing',
    since: '6.11',
    commit: { id: 'f77f0c751478', subject: 'mm,memcg: provide per-cgroup counters for NUMA balancing operations' },
    summary:
      'memory.stat has pgdemote_kswapd, pgdemote_direct, pgdemote_khugepaged and pgpromote_success after the ' +
      'workingset keys (node items: memory.numa_stat too) and numa_pages_migrated, numa_pte_updates and ' +
      'numa_hint_faults at the end.',
    where: 'kernel/cgroup/memory-stat.ts STAT_KEYS',
    source: 'the Fixes: tags of later mm patches naming f77f0c751478; mm-stable logs of the 6.11 window; the oracle: cgroup-files, loop-charge',
    verified: true,
  },
  {
    name: 'cpu_weight_read_clamped',
    since: '6.12',
    commit: { id: '4f9c7ca85104', subject: 'sched: Factor out cgroup weight conversion functions' },
    summary:
      'cpu.weight reads sched_weight_to_cgroup(shares): clamped to 1..10000, so an idle group (shares 3) reads 1. ' +
      'Without it DIV_ROUND_CLOSEST(shares * 100, 1024) unclamped: an idle group reads 0.',
    where: 'kernel/cgroup/cpu.ts cpuWeightShow',
    // part of the sched_ext series merged for 6.12; the id is from a public log listing of that series (another
    // listing of a rebased branch shows f84c9a3f5c09), so the mainline id is not verified. The behaviour is: the
    // oracle, cpu-max (6.1 reads 0, 6.12 reads 1).
    source: 'the sched_ext series mails (PATCH 05/30, June 2024) and a public log listing; the oracle: cpu-max',
    verified: false,
  },
  {
    name: 'io_uring_feat_min_timeout',
    since: '6.12',
    commit: { id: '7ed9e09e2d13', subject: 'io_uring: wire up min batch wake timeout' },
    also: [{ id: '1100c4a2656d', subject: 'io_uring: add support for batch wait timeout' }],
    summary:
      'io_uring_getevents_arg.min_wait_usec (the batch wait) and io_uring_setup\'s IORING_FEAT_MIN_TIMEOUT (bit 15). ' +
      'kwq reports the bit only.',
    where: 'drivers/io_uring/io_uring.ts ioUringFeatures (io_uring_setup\'s params.features)',
    source: 'the pull "io_uring updates for 6.12-rc1" (tags/for-6.12/io_uring-20240913); a mainline log listing ' +
      '7ed9e09e2d13 and an io-uring list mail citing it; the patch (5/5, Aug 2024) adds the flag; the oracle: 6.12.118',
    verified: true,
  },
  {
    name: 'memcg_stat_swpin_zero',
    since: '6.12',
    commit: { id: '9677914d3b52', subject: 'mm: count zeromap read and set for swapout and swapin' },
    summary: 'memory.stat has swpin_zero and swpout_zero after pglazyfreed.',
    where: 'kernel/cgroup/memory-stat.ts STAT_KEYS',
    // the id is from an mm-hotfixes branch listing (Nov 2024), not checked against mainline; the release rests on
    // the pull shortlog that carried it in the 6.12-rc cycle and on the oracle (6.12.118 prints the keys)
    source: 'the v4 patch (Barry Song, Nov 2024), an mm-hotfixes listing and a 6.12-rc pull shortlog; the oracle: cgroup-files',
    verified: false,
  },
  {
    name: 'kvm_nx_recovery_vhost_task',
    since: '6.13',
    commit: { id: 'd96c77bd4eeb', subject: 'KVM: x86: switch hugepage recovery thread to vhost_task' },
    summary:
      'the VM\'s NX huge page recovery worker is a vhost_task "kvm-nx-lpage-recovery" (comm kvm-nx-lpage-re): a ' +
      'PF_USER_WORKER thread of the VMM, in its cgroup, killed with it. Without it a kthread "kvm-nx-lpage-recovery-' +
      '<pid>" (kvm_vm_create_worker_thread: kthreadd\'s child, attached to the creator\'s cgroups), made at ' +
      'KVM_CREATE_VM; both are stopped by kvm_destroy_vm.',
    backports: [{ release: '6.12', source: 'the oracle: Debian 6.12.118 (oracle/scripts/kvm-lifetime.json); a stable queue rev-list (91248a2e4101)' }],
    where: 'drivers/kvm/kvm.ts kvmNxRecoveryStart, kvmNxRecoveryStop',
    source: 'the kvm-6.13 pull shortlog (Paolo Bonzini); the LKP report on mainline d96c77bd4eeb; stable mails',
    verified: true,
  },
  {
    name: 'cpu_stat_nice_usec',
    since: '6.13',
    commit: { id: 'aefa398d93d5', subject: 'cgroup/rstat: Tracking cgroup-level niced CPU time' },
    backports: [{ release: '6.12', source: 'the 6.12.y stable review (PATCH 6.12 355/423) and the oracle: Debian 6.12.118 (cgroup-files)' }],
    summary: 'cpu.stat prints nice_usec after system_usec. Without it the line is absent.',
    where: 'kernel/cgroup/cgroupfs.ts cpuStat',
    source: 'the v4 patch mails, a public mainline log (aefa398d93d5db7c555be78a605ff015357f127d) and the 6.12.y stable review',
    verified: true,
  },
  {
    name: 'kvm_nx_recovery_at_first_run',
    since: '6.14',
    commit: { id: '931656b9e2ff', subject: 'kvm: defer huge page recovery vhost task to later' },
    summary:
      'the recovery vhost_task is made once per VM (call_once) by the first KVM_RUN, as its caller\'s thread, not at ' +
      'KVM_CREATE_VM; a failed creation makes every KVM_RUN -ENOMEM. Without it the worker comes with the VM.',
    backports: [{
      release: '6.12',
      source: 'the oracle: Debian 6.12.118 (oracle/scripts/kvm-lifetime.json); the 6.12-stable review of its fix ' +
        '43fb96ae7855 ("KVM: x86/mmu: Ensure NX huge page recovery thread is alive before waking", Feb 2025)',
    }],
    where: 'drivers/kvm/kvm-main.ts kvmArchVcpuIoctlRun, kvmDevIoctlCreateVm',
    source: 'the kvm for-linus pull after 6.13-rc7 (to 931656b9e2ff) and a rev-list of the 6.14 merge window; stable queue ids',
    verified: true,
  },
  {
    name: 'io_uring_feat_rw_attr',
    since: '6.14',
    commit: { id: '94d57442e56d', subject: 'io_uring: expose read/write attribute capability' },
    summary:
      'io_uring_setup reports IORING_FEAT_RW_ATTR (bit 16: read/write attributes, PI metadata). kwq reports the bit only.',
    where: 'drivers/io_uring/io_uring.ts ioUringFeatures (io_uring_setup\'s params.features)',
    // not measured: the oracle boots 6.1.192 and 6.12.118 (0xffff: not in 6.12.y)
    source: 'the pull tags/for-6.14/io_uring-20250119 (Anuj Gupta\'s patches), merged as a312e1706ce6 (pr-tracker-bot); ' +
      'Jens Axboe\'s "Applied" mail naming 94d57442e56d; a mainline log',
    verified: true,
  },
  {
    name: 'loop_aio_ioprio',
    since: '6.15',
    commit: { id: '1fdb8188c3d5', subject: 'loop: aio inherit the ioprio of original request' },
    summary:
      'the per-cgroup loop driver copies the request\'s priority into the backing kiocb (ki_ioprio). Without ' +
      'it the kiocb has none (the backing bio gets the worker\'s own priority).',
    // listed in 5.15.y, 6.6.y, 6.12.y and 6.14.y stable reviews; not observable by the oracle (it needs
    // BFQ's icq on the backing device), so not measured
    backports: [{ release: '6.12', source: 'the 6.12.y stable review (docs/divergences.md)' }],
    where: 'drivers/loop/loop-device.ts (the backing kiocb priority)',
    source: 'docs/divergences.md; id in the block-6.15 branch push',
    verified: true,
  },
  {
    name: 'io_uring_feat_no_iowait',
    since: '6.15',
    commit: { id: '07754bfd9aee', subject: 'io_uring: enable toggle of iowait usage when waiting on CQEs' },
    summary:
      'IORING_ENTER_NO_IOWAIT and io_uring_setup\'s IORING_FEAT_NO_IOWAIT (bit 17). kwq reports the bit only.',
    where: 'drivers/io_uring/io_uring.ts ioUringFeatures (io_uring_setup\'s params.features)',
    // not measured (see io_uring_feat_rw_attr); an earlier push of the patch had 851de8c96335
    source: 'the io_uring pull for 6.15 (shortlog) and the for-6.15/io_uring push of 07754bfd9aee; liburing man-page ' +
      'patches citing upstream 07754bfd9aee; the patch v2 adds the flag to io_uring_create',
    verified: true,
  },
  {
    name: 'vhost_fork_from_owner',
    since: '6.17',
    commit: { id: '7d9896e9f6d0', subject: 'vhost: Reintroduce kthread API and add mode selection' },
    also: [{ id: '24fc631539cc', subject: 'vhost: Fix ioctl # for VHOST_[GS]ET_FORK_FROM_OWNER' }],
    summary:
      'kthread workers are back beside vhost_tasks, chosen per device: VHOST_SET/GET_FORK_FROM_OWNER and the ' +
      'module parameter vhost.fork_from_owner_default (CONFIG_VHOST_ENABLE_FORK_OWNER_CONTROL=y); ' +
      'VHOST_NEW_WORKER is -EFAULT in kthread mode. Without it neither ioctl nor the parameter exists.',
    backports: [{ release: '6.12', source: 'the oracle: Debian 6.12.118 (oracle/scripts/vhost-fork-owner.json)' }],
    where: 'drivers/vhost/dev.ts vhostDevIoctl, drivers/vhost/index.ts (the parameter)',
    source: 'kernel-reference.md 0 and vhost history',
    verified: true,
  },
] as const satisfies readonly (Omit<FeatureInfo, 'name'> & { name: string })[];

export type Feature = (typeof FEATURE_LIST)[number]['name'];

/**
 * Changes between the modelled releases that kwq models in ONE form only, whatever
 * the release: listed so that nobody mistakes their absence from the table for "no
 * change". Each says which form kwq has.
 */
export const UNGATED_CHANGES: readonly { since: string; commit: ReleaseCommit; kwq: string; verified: boolean }[] = [
  {
    since: '5.17',
    commit: { id: '5fc11eebb4a9', subject: 'block: open code create_task_io_context in set_task_ioprio' },
    kwq: 'the 5.17+ blk-ioc (no nr_tasks; an io_context only where BFQ needs one). Before it the block layer gave ' +
      'every task that issued I/O an io_context, with ioprio 0: ioprio_get reads 0 in both designs.',
    verified: true, // id: kernel-reference.md 0 (blk-ioc); subject: a public block-tree shortlog
  },
  {
    since: '6.10',
    commit: { id: 'db5247d9bf5c', subject: 'vhost_task: Handle SIGKILL by flushing work and exiting' },
    kwq: 'vhost_worker_killed from 6.4 on: a SIGKILLed vhost_task leaves its vqs and exits. 6.4-6.9 kept ' +
      'running works until the device was released.',
    // id and subject from a public shortlog (with "kernel: Remove signal hacks for vhost_tasks");
    // the release inferred from its 6.9.y stable backport: not verified
    verified: false,
  },
  {
    since: '6.15',
    commit: { id: 'c0d0a9ff6d5b', subject: 'block: remove test of incorrect io priority level' },
    kwq: 'the 6.15 ioprio_check_cap with the 6.5 hint layout (IOPRIO_PRIO_LEVEL is 3 bits, so the removed test ' +
      'could not fail); releases before 6.5 rejected RT/BE data >= 8, which the model does not.',
    verified: true,
  },
];

// ---- membership ----------------------------------------------------------------------

function versionKey(v: string): number {
  const m = /^(\d+)\.(\d+)$/.exec(v);
  if (m === null) throw new KwqError('release table', `bad version '${v}'`);
  return Number(m[1]) * 1000 + Number(m[2]);
}

function inRelease(f: FeatureInfo, r: Release): boolean {
  const rk = versionKey(r);
  const has = rk >= versionKey(f.since) || (f.backports ?? []).some((b) => b.release === r);
  if (!has || f.until === undefined) return has;
  return !(rk >= versionKey(f.until.release) || (f.until.backports ?? []).some((b) => b.release === r));
}

/** Every feature, in the order it landed (for docs and the CLI). */
export const FEATURES: readonly FeatureInfo[] = Object.freeze(FEATURE_LIST.map((f) => Object.freeze({ ...f }) as FeatureInfo));

const FEATURE_NAMES: ReadonlySet<string> = new Set(FEATURES.map((f) => f.name));

/** Each modelled release as the set of features it has. */
export const RELEASES: Readonly<Record<Release, ReadonlySet<Feature>>> = Object.freeze(
  Object.fromEntries(
    RELEASE_NAMES.map((r) => [r, new Set(FEATURES.filter((f) => inRelease(f, r)).map((f) => f.name))]),
  ) as unknown as Record<Release, ReadonlySet<Feature>>,
);

/** The modelled releases, oldest first. */
export function releaseNames(): Release[] {
  return [...RELEASE_NAMES];
}

/** `s` as a modelled release; a KwqError naming it and the allowed list otherwise. */
export function parseRelease(s: unknown, where = 'release'): Release {
  if (typeof s === 'string' && (RELEASE_NAMES as readonly string[]).includes(s)) return s as Release;
  throw new KwqError(where, `unknown release ${JSON.stringify(s)}; modelled releases: ${RELEASE_NAMES.join(', ')}`);
}

/** `s` as a feature name; a KwqError naming it and the known features otherwise. */
export function parseFeature(s: unknown, where = 'feature'): Feature {
  if (typeof s === 'string' && FEATURE_NAMES.has(s)) return s as Feature;
  throw new KwqError(where, `unknown feature ${JSON.stringify(s)}; known: ${[...FEATURE_NAMES].join(', ')}`);
}

/** Does `release` have `feature`? Both are checked (a KwqError for a name not in the table). */
export function releaseHas(release: Release, feature: Feature): boolean {
  const r = parseRelease(release, 'releaseHas');
  return RELEASES[r].has(parseFeature(feature, 'releaseHas'));
}

/** One feature's row. */
export function featureInfo(feature: Feature): FeatureInfo {
  const name = parseFeature(feature, 'featureInfo');
  return FEATURES.find((f) => f.name === name)!;
}

/**
 * The features with their commits, as rows for a table (docs, `kwq` CLI): for each,
 * the release that brought it (and ended it), the commit, and which modelled
 * releases have it.
 */
export function listFeatures(): {
  name: Feature; since: string; until: string | null; commit: string; subject: string; releases: Release[]; verified: boolean;
}[] {
  return FEATURES.map((f) => ({
    name: f.name,
    since: f.since,
    until: f.until?.release ?? null,
    commit: f.commit.id,
    subject: f.commit.subject,
    releases: RELEASE_NAMES.filter((r) => RELEASES[r].has(f.name)),
    verified: f.verified,
  }));
}
