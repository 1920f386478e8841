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
 *   6.4   vhost: the worker is a vhost_task, a thread of the owner          vhost_task_worker
 *         io-wq workers are PF_USER_WORKER too                             io_thread_user_worker
 *   6.5   vhost: VHOST_NEW_WORKER/FREE/ATTACH/GET (vhost-scsi)              vhost_worker_ioctls
 *   6.8   no io_context: effective ioprio IOPRIO_DEFAULT (until 6.17)       ioprio_default_without_ioc
 *   6.11  LOOP_CLR_FD always defers the teardown to the last close          loop_clr_fd_autoclear
 *         io-wq gives up on a worker it cannot create after 3 retries      io_wq_worker_init_limit
 *   6.12  (no design change from 6.11 in what kwq models)
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
    where: 'drivers/io_uring/io_uring.ts ioWqInitLimit',
    source: 'a public mainline log of the 6.11 merge window (0453aad676ff); stable backports under other ids',
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
