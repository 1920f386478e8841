/**
 * Kernel.boot({ release }) and the release table (src/kernel/release.ts): every
 * modelled release boots, and each feature that differs between releases shows
 * through the public API, with the kwq.* switches overriding the release's default.
 */
import { describe, expect, test } from 'vitest';
import {
  EAGAIN, EINVAL, ENOBUFS, ENOMEM, ENOSPC, EOPNOTSUPP, EPERM, ENOENT, ENOTTY, FEATURES, IOPRIO_CLASS_BE, IOPRIO_PRIO_VALUE, IOPRIO_WHO_PGRP, IOPRIO_WHO_USER, Kernel, KwqError,
  IOPRIO_WHO_PROCESS, KVM_CAP_MAX_VCPU_ID, KVM_CAP_MAX_VCPUS, KVM_CHECK_EXTENSION, KVM_CREATE_VCPU, KVM_CREATE_VM, KVM_RUN,
  KVM_SET_USER_MEMORY_REGION, LO_FLAGS_DIRECT_IO, LOOP_CLR_FD, LOOP_CONFIGURE, LOOP_SET_DIRECT_IO, O_CREAT, O_DIRECT, O_RDWR, PF_KTHREAD, PF_NOFREEZE,
  PF_USER_WORKER, RELEASES, SIGKILL, VHOST_GET_FEATURES, VHOST_GET_VRING_WORKER, VHOST_NEW_WORKER, VHOST_SET_FEATURES, VHOST_SET_FORK_FROM_OWNER,
  VHOST_SET_OWNER, featureInfo, listFeatures, loopInfo, parseRelease, releaseHas, releaseNames, type Release, type Task, type TraceEvent,
} from 'kwq';

const BE4 = IOPRIO_PRIO_VALUE(IOPRIO_CLASS_BE, 4);

async function vhostScsi(release: Release, cmdline = ''): Promise<{ k: Kernel; qemu: Task; fd: number }> {
  const k = await Kernel.boot({ release, cmdline: `vhost_scsi.max_io_vqs=2 ${cmdline}`.trim(), cgroup: 'v2' });
  const qemu = k.spawn({ comm: 'qemu-system-x86', uid: 107, cgroup: '/machine.slice/vm1' });
  const fd = k.open(qemu, '/dev/vhost-scsi', O_RDWR);
  expect(fd).toBeGreaterThanOrEqual(0);
  return { k, qemu, fd };
}

function workers(k: Kernel, owner: Task): Task[] {
  return k.tasks().filter((t) => t.comm === `vhost-${owner.pid}`);
}

/**
 * A bound /dev/loop0 over a 16 MiB tmpfs file, opened (once) by root, and `dd`, a
 * process in /a spawned before that (so it shares none of root's fds).
 */
async function loop0(release: Release, cmdline = ''): Promise<{ k: Kernel; lfd: number; dd: Task }> {
  const k = await Kernel.boot({ release, cmdline });
  const dd = k.spawn({ comm: 'dd', cgroup: '/a' });
  const bfd = k.open(k.init, '/tmp/backing', O_RDWR | O_CREAT);
  expect(k.ftruncate(k.init, bfd, 16 << 20)).toBe(0);
  const lfd = k.open(k.init, '/dev/loop0', O_RDWR);
  expect(k.ioctl(k.init, lfd, LOOP_CONFIGURE, { fd: bfd, info: { lo_file_name: '/tmp/backing' } })).toBe(0);
  expect(k.close(k.init, bfd)).toBe(0);
  return { k, lfd, dd };
}

describe('the release table', () => {
  test('lists 5.13, 5.14, 6.1, 6.4, 6.5, 6.12 and 6.17, each a set of known features', () => {
    expect(releaseNames()).toEqual(['5.13', '5.14', '6.1', '6.4', '6.5', '6.12', '6.17']);
    expect(Object.keys(RELEASES)).toEqual(releaseNames());
    const names = new Set(FEATURES.map((f) => f.name));
    for (const r of releaseNames()) for (const f of RELEASES[r]) expect(names.has(f)).toBe(true);
  });

  test('every feature names a 12-hex commit with a subject, and the release that brought it', () => {
    for (const f of listFeatures()) {
      expect(f.commit, f.name).toMatch(/^[0-9a-f]{12}$/);
      expect(f.subject.length, f.name).toBeGreaterThan(10);
      expect(f.since, f.name).toMatch(/^\d+\.\d+$/);
    }
    expect(featureInfo('loop_worker_per_cgroup').commit).toEqual({ id: '87579e9b7d8d', subject: 'loop: use worker per cgroup instead of kworker' });
    expect(featureInfo('cgroup_attach_v2_dfl').commit.id).toBe('0061270307f2');
    expect(featureInfo('ioprio_default_without_ioc')).toMatchObject({ since: '6.8', until: { release: '6.17', commit: { id: 'e2ba58ccc909' } } });
  });

  test('reads as a changelog: a feature stays from its release on (until one ends it)', () => {
    const rs = releaseNames();
    for (const f of FEATURES) {
      const have = rs.map((r) => releaseHas(r, f.name));
      const first = have.indexOf(true);
      // some modelled release has it, unless a stable branch ended it in every line that had it
      if (first < 0) {
        expect(f.until?.backports?.length, `${f.name}: in no modelled release`).toBeGreaterThan(0);
        continue;
      }
      const last = have.lastIndexOf(true);
      // no gaps from the first release that has it upstream; a stable backport into an
      // older line (6.1.y) may leave lines between without it (6.4 and 6.5 ended before it)
      const backported = new Set((f.backports ?? []).map((b) => b.release));
      const upstream = rs.map((r, i) => have[i] && !backported.has(r));
      const from = upstream.indexOf(true);
      if (from >= 0) expect(upstream.slice(from, last + 1).every(Boolean), f.name).toBe(true);
      if (f.until === undefined) expect(last, f.name).toBe(rs.length - 1);
    }
    expect(listFeatures().find((f) => f.name === 'vhost_task_worker')!.releases).toEqual(['6.4', '6.5', '6.12', '6.17']);
    // 6.8-6.16 upstream; 6.12.y took the end of it (e2ba58ccc909), measured on 6.12.118
    expect(listFeatures().find((f) => f.name === 'ioprio_default_without_ioc')!.releases).toEqual([]);
    expect(releaseHas('5.13', 'loop_worker_per_cgroup')).toBe(false);
    expect(releaseHas('5.14', 'loop_worker_per_cgroup')).toBe(true);
    expect(releaseHas('6.1', 'vhost_fork_from_owner')).toBe(false);
    expect(releaseHas('6.12', 'vhost_fork_from_owner')).toBe(true); // 6.12.y's backport, measured on 6.12.118
    expect(releaseHas('6.17', 'vhost_fork_from_owner')).toBe(true);
  });

  test('an unknown release or feature is a KwqError naming it and what is allowed', async () => {
    await expect(Kernel.boot({ release: '6.2' as Release })).rejects.toThrow(KwqError);
    await expect(Kernel.boot({ release: '6.2' as Release })).rejects.toThrow(/release: unknown release "6\.2"; modelled releases: 5\.13, 5\.14, 6\.1, 6\.4, 6\.5, 6\.12, 6\.17/);
    await expect(Kernel.boot({ release: 6.1 as unknown as Release })).rejects.toThrow(/unknown release 6\.1;/);
    expect(() => parseRelease('4.19')).toThrow(/unknown release "4\.19"/);
    expect(parseRelease('6.12')).toBe('6.12');
    expect(() => releaseHas('6.1', 'vhost_tasks' as never)).toThrow(/unknown feature "vhost_tasks"; known: io_uring_feat_rsrc_tags, loop_worker_per_cgroup/);
    const k = await Kernel.boot({ release: '6.1' });
    expect(() => k.has('loop_per_cgroup' as never)).toThrow(KwqError);
    k.shutdown();
  });
});

describe('Kernel.boot({ release })', () => {
  test.each(releaseNames())('%s boots; k.release and k.has agree with the table', async (r) => {
    const k = await Kernel.boot({ release: r });
    expect(k.release).toBe(r);
    for (const f of FEATURES) expect(k.has(f.name)).toBe(RELEASES[r].has(f.name));
    expect(k.open(k.init, '/dev/vhost-net', O_RDWR)).toBeGreaterThanOrEqual(0);
    expect(k.open(k.init, '/dev/loop0', O_RDWR)).toBeGreaterThanOrEqual(0);
    k.shutdown();
  });

  test('without a release: 6.17, the behaviour kwq always had', async () => {
    const k = await Kernel.boot();
    expect(k.release).toBe('6.17');
    expect(k.has('vhost_fork_from_owner')).toBe(true);
    expect(k.has('ioprio_default_without_ioc')).toBe(false);
    k.shutdown();
  });
});

describe('vhost by release', () => {
  test('6.1: SET_OWNER makes a kthread vhost-<pid> (kthreadd\'s child, PF_KTHREAD) in the owner\'s v2 cgroup', async () => {
    const { k, qemu, fd } = await vhostScsi('6.1');
    expect(k.ioctl(qemu, fd, VHOST_SET_OWNER)).toBe(0);
    const [w, ...more] = workers(k, qemu);
    expect(more).toEqual([]);
    expect(w!.ppid).toBe(k.kthreadd.pid);
    expect(w!.tgid).toBe(w!.pid);
    expect(w!.flags & PF_KTHREAD).toBeTruthy();
    expect(w!.flags & PF_USER_WORKER).toBeFalsy();
    expect(w!.uid).toBe(0);
    expect(w!.cgroup).toBe('/machine.slice/vm1'); // cgroup_attach_v2_dfl (5.16)
    k.shutdown();
  });

  test('6.1: no worker ioctls (ENOTTY for the owner, EPERM for others), no fork-owner ioctls, no fork_from_owner_default', async () => {
    const { k, qemu, fd } = await vhostScsi('6.1');
    // before SET_OWNER the unknown numbers reach vhost_dev_ioctl's owner check
    expect(k.ioctl(qemu, fd, VHOST_SET_FORK_FROM_OWNER, 1)).toBe(-EPERM);
    expect(k.ioctl(qemu, fd, VHOST_NEW_WORKER, { worker_id: 0 })).toBe(-EPERM);
    expect(k.ioctl(qemu, fd, VHOST_SET_OWNER)).toBe(0);
    // vhost_vring_ioctl reads the first u32 (worker_id) as a vq index: 0 is vq 0, an
    // unknown request there; 7 is past the 4 vqs
    const st = { worker_id: 0 };
    expect(k.ioctl(qemu, fd, VHOST_NEW_WORKER, st)).toBe(-ENOTTY);
    expect(st.worker_id).toBe(0);
    expect(k.ioctl(qemu, fd, VHOST_NEW_WORKER, { worker_id: 7 })).toBe(-ENOBUFS);
    expect(k.ioctl(qemu, fd, VHOST_GET_VRING_WORKER, { index: 0, worker_id: 0 })).toBe(-ENOTTY);
    expect(k.ioctl(qemu, fd, VHOST_SET_FORK_FROM_OWNER, 1)).toBe(-ENOTTY);
    expect(workers(k, qemu)).toHaveLength(1);
    const child = k.fork(qemu) as Task; // inherits the fd, not the mm: not the owner
    expect(k.ioctl(child, fd, VHOST_NEW_WORKER, { worker_id: 0 })).toBe(-EPERM);
    expect(k.readFile(k.init, '/sys/module/vhost/parameters/fork_from_owner_default')).toBe(-ENOENT);
    k.shutdown();
    await expect(Kernel.boot({ release: '6.1', cmdline: 'vhost.fork_from_owner_default=1' }))
      .rejects.toThrow(/'vhost\.fork_from_owner_default=1': module 'vhost' has no parameter 'fork_from_owner_default' in release 6\.1 \(it came with 6\.17/);
  });

  test('SET_OWNER at max_threads: kthread_create\'s -EAGAIN itself on 6.1, collapsed to -ENOMEM from 6.4 (vhost_task_worker)', async () => {
    for (const r of ['6.1', '6.4', '6.17'] as const) {
      const k = await Kernel.boot({ release: r, maxThreads: 4 }); // init, kthreadd, the flusher, qemu
      const qemu = k.spawn({ comm: 'qemu' });
      const fd = k.open(qemu, '/dev/vhost-net', O_RDWR);
      expect(k.ioctl(qemu, fd, VHOST_SET_OWNER), r).toBe(r === '6.1' ? -EAGAIN : -ENOMEM);
      expect(workers(k, qemu)).toEqual([]);
      k.shutdown();
    }
  });

  test('5.13: the kthread worker is not attached to the v2 hierarchy (before 0061270307f2), only to v1 ones', async () => {
    const { k, qemu, fd } = await vhostScsi('5.13');
    expect(k.ioctl(qemu, fd, VHOST_SET_OWNER)).toBe(0);
    const [w] = workers(k, qemu);
    expect(w!.flags & PF_KTHREAD).toBeTruthy();
    expect(w!.cgroup).toBe('/');
    k.shutdown();
    const k1 = await Kernel.boot({ release: '5.13', cgroup: 'v1' });
    const q1 = k1.spawn({ comm: 'qemu', cgroup: '/machine.slice/vm1' });
    const fd1 = k1.open(q1, '/dev/vhost-net', O_RDWR);
    expect(k1.ioctl(q1, fd1, VHOST_SET_OWNER)).toBe(0);
    expect(workers(k1, q1)[0]!.cgroups.map((c) => c.path)).toEqual(q1.cgroups.map((c) => c.path));
    k1.shutdown();
  });

  test.each(['6.4', '6.5'] as const)('%s: the worker is a thread of the owner (PF_USER_WORKER) and there is no kthread mode', async (r) => {
    const { k, qemu, fd } = await vhostScsi(r);
    expect(k.ioctl(qemu, fd, VHOST_SET_FORK_FROM_OWNER, 0)).toBe(-EPERM); // not a request of this release
    expect(k.ioctl(qemu, fd, VHOST_SET_OWNER)).toBe(0);
    const [w] = workers(k, qemu);
    expect(w!.tgid).toBe(qemu.pid);
    expect(w!.flags & PF_USER_WORKER).toBeTruthy();
    expect(w!.flags & PF_KTHREAD).toBeFalsy();
    expect(k.ioctl(qemu, fd, VHOST_SET_FORK_FROM_OWNER, 0)).toBe(-ENOTTY);
    expect(workers(k, qemu)[0]!.flags & PF_USER_WORKER).toBeTruthy();
    expect(k.readFile(k.init, '/sys/module/vhost/parameters/fork_from_owner_default')).toBe(-ENOENT);
    const st = { worker_id: 0 };
    // VHOST_NEW_WORKER came with 6.5 (vhost_worker_ioctls); 6.4 takes the default path
    expect(k.ioctl(qemu, fd, VHOST_NEW_WORKER, st)).toBe(r === '6.4' ? -ENOTTY : 0);
    expect(st.worker_id).toBe(r === '6.4' ? 0 : 1);
    expect(workers(k, qemu)).toHaveLength(r === '6.4' ? 1 : 2);
    k.shutdown();
  });

  test.each(['6.12', '6.17'] as const)('%s: the fork-owner control exists (6.12 by its stable backport): kthread mode per device or by the module parameter', async (r) => {
    const { k, qemu, fd } = await vhostScsi(r);
    expect(k.ioctl(qemu, fd, VHOST_SET_FORK_FROM_OWNER, 0)).toBe(0);
    expect(k.ioctl(qemu, fd, VHOST_SET_OWNER)).toBe(0);
    expect(workers(k, qemu)[0]!.flags & PF_KTHREAD).toBeTruthy();
    k.shutdown();
    const b = await vhostScsi(r, 'vhost.fork_from_owner_default=0');
    expect(b.k.readFile(b.k.init, '/sys/module/vhost/parameters/fork_from_owner_default')).toBe('N\n');
    expect(b.k.ioctl(b.qemu, b.fd, VHOST_SET_OWNER)).toBe(0);
    expect(workers(b.k, b.qemu)[0]!.ppid).toBe(b.k.kthreadd.pid);
    b.k.shutdown();
  });
});

describe('vhost-net features by release', () => {
  test('VIRTIO_F_RING_RESET (bit 40) is offered and accepted from 6.3 (313389be06ff): 6.1 answers 0x33d008000, 6.12 0x1033d008000', async () => {
    const RING_RESET = 1n << 40n;
    for (const r of ['6.1', '6.4', '6.12', '6.17'] as const) {
      const k = await Kernel.boot({ release: r });
      const qemu = k.spawn({ comm: 'qemu' });
      const fd = k.open(qemu, '/dev/vhost-net', O_RDWR);
      const box = { value: 0n };
      expect(k.ioctl(qemu, fd, VHOST_GET_FEATURES, box)).toBe(0);
      expect(box.value, r).toBe(r === '6.1' ? 0x33d008000n : 0x1033d008000n); // measured: oracle/scripts/vhost-net-owner.json
      expect(k.ioctl(qemu, fd, VHOST_SET_FEATURES, RING_RESET), r).toBe(r === '6.1' ? -EOPNOTSUPP : 0);
      k.shutdown();
    }
  });
});

describe('tmpfs direct I/O by release', () => {
  test('open(O_DIRECT) of a tmpfs file: -EINVAL before 6.6 (the O_CREAT has made the file), an fd from 6.6 (e88e0d366f9c)', async () => {
    for (const r of ['6.1', '6.12'] as const) {
      const k = await Kernel.boot({ release: r });
      const fd = k.open(k.init, '/tmp/dio', O_RDWR | O_CREAT | O_DIRECT);
      if (r === '6.1') expect(fd).toBe(-EINVAL);
      else expect(fd).toBeGreaterThanOrEqual(0);
      expect(k.open(k.init, '/tmp/dio', O_RDWR), r).toBeGreaterThanOrEqual(0); // made either way
      k.shutdown();
    }
  });

  test('a loop device on a tmpfs file: LOOP_SET_DIRECT_IO 1 is -EINVAL on 6.1 (no FMODE_CAN_ODIRECT), 0 on 6.12; LOOP_CONFIGURE drops the flag silently', async () => {
    for (const r of ['6.1', '6.12'] as const) {
      const { k, lfd } = await loop0(r);
      expect(k.ioctl(k.init, lfd, LOOP_SET_DIRECT_IO, 1), r).toBe(r === '6.1' ? -EINVAL : 0);
      expect(k.readFile(k.init, '/sys/block/loop0/loop/dio'), r).toBe(r === '6.1' ? '0\n' : '1\n');
      expect(k.ioctl(k.init, lfd, LOOP_SET_DIRECT_IO, 0)).toBe(0);
      expect(k.ioctl(k.init, lfd, LOOP_CLR_FD)).toBe(0);
      k.close(k.init, lfd);
      const bfd = k.open(k.init, '/tmp/backing', O_RDWR);
      const l2 = k.open(k.init, '/dev/loop0', O_RDWR);
      expect(k.ioctl(k.init, l2, LOOP_CONFIGURE, { fd: bfd, info: { lo_flags: LO_FLAGS_DIRECT_IO } }), r).toBe(0);
      expect(k.readFile(k.init, '/sys/block/loop0/loop/dio'), r).toBe(r === '6.1' ? '0\n' : '1\n');
      k.shutdown();
    }
  });
});

describe('KVM by release', () => {
  async function vmm(release: Release): Promise<{ k: Kernel; vmm: Task; kvm: number }> {
    const k = await Kernel.boot({ release, cgroup: 'v2' });
    const t = k.spawn({ comm: 'vmm', cgroup: '/kvm.slice/vm1' });
    const kvm = k.open(t, '/dev/kvm', O_RDWR);
    expect(kvm).toBeGreaterThanOrEqual(0);
    return { k, vmm: t, kvm };
  }
  const recovery = (k: Kernel): Task[] => k.tasks().filter((t) => t.comm.startsWith('kvm-nx-lpage-re'));

  test('KVM_CAP_MAX_VCPUS / MAX_VCPU_ID: 1024 / 4096 on 6.1, CONFIG_KVM_MAX_NR_VCPUS (Debian 4096) / 16384 from 6.7 (f10a570b093e)', async () => {
    for (const r of ['6.1', '6.12'] as const) {
      const { k, vmm: t, kvm } = await vmm(r);
      expect(k.ioctl(t, kvm, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS), r).toBe(r === '6.1' ? 1024 : 4096);
      expect(k.ioctl(t, kvm, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPU_ID), r).toBe(r === '6.1' ? 4096 : 16384);
      const vm = k.ioctl(t, kvm, KVM_CREATE_VM, 0);
      const v = k.ioctl(t, vm, KVM_CREATE_VCPU, 4096);
      if (r === '6.1') expect(v).toBe(-EINVAL);
      else expect(v).toBeGreaterThanOrEqual(0);
      k.shutdown();
    }
  });

  test('the first KVM_RUN of a VM that never had a memslot: -ENOSPC before 6.9 (f5238c2a60f1), until a memslot exists', async () => {
    for (const r of ['6.1', '6.12'] as const) {
      const { k, vmm: t, kvm } = await vmm(r);
      const vm = k.ioctl(t, kvm, KVM_CREATE_VM, 0);
      const vcpu = k.ioctl(t, vm, KVM_CREATE_VCPU, 0);
      expect(k.ioctl(t, vcpu, KVM_RUN), r).toBe(r === '6.1' ? -ENOSPC : 0);
      expect(k.ioctl(t, vcpu, KVM_RUN), r).toBe(r === '6.1' ? -ENOSPC : 0);
      expect(k.faultAnon(t, 1 << 20)).toBe(0);
      const region = { slot: 0, flags: 0, guest_phys_addr: 0, memory_size: 1 << 20, userspace_addr: 0x7f0000000000 };
      expect(k.ioctl(t, vm, KVM_SET_USER_MEMORY_REGION, region)).toBe(0);
      expect(k.ioctl(t, vm, KVM_SET_USER_MEMORY_REGION, { ...region, memory_size: 0 })).toBe(0); // deleted again: the quota stays
      expect(k.ioctl(t, vcpu, KVM_RUN), r).toBe(0);
      k.shutdown();
    }
  });

  test('6.1: the NX recovery worker is a kthread kvm-nx-lpage-recovery-<pid> made at KVM_CREATE_VM in the creator\'s cgroup, until the VM goes', async () => {
    const { k, vmm: t, kvm } = await vmm('6.1');
    const vm = k.ioctl(t, kvm, KVM_CREATE_VM, 0);
    const [w, ...more] = recovery(k);
    expect(more).toEqual([]);
    expect(w!.comm).toBe(`kvm-nx-lpage-recovery-${t.pid}`); // /proc shows a kthread's full name
    expect(w!.ppid).toBe(k.kthreadd.pid);
    expect(w!.flags & (PF_KTHREAD | PF_NOFREEZE)).toBe(PF_KTHREAD | PF_NOFREEZE);
    expect(w!.cgroup).toBe('/kvm.slice/vm1');
    const child = k.fork(t) as Task; // holds the VM fd after the creator is gone
    expect(k.kill(t, SIGKILL)).toBe(0);
    expect(w!.alive).toBe(true);
    expect(k.close(child, vm)).toBe(0);
    expect(w!.alive).toBe(false);
    expect(recovery(k)).toEqual([]);
    k.shutdown();
  });

  test('6.12 (6.13 + 6.14, in 6.12.y): a vhost_task of the VMM made by the first KVM_RUN, killed with the VMM; a failed creation makes KVM_RUN -ENOMEM', async () => {
    const { k, vmm: t, kvm } = await vmm('6.12');
    const vm = k.ioctl(t, kvm, KVM_CREATE_VM, 0);
    const vcpu = k.ioctl(t, vm, KVM_CREATE_VCPU, 0);
    expect(recovery(k)).toEqual([]);
    expect(k.ioctl(t, vcpu, KVM_RUN)).toBe(0);
    const [w, ...more] = recovery(k);
    expect(more).toEqual([]);
    expect(w!.comm).toBe('kvm-nx-lpage-re');
    expect(w!.tgid).toBe(t.pid);
    expect(w!.flags & PF_USER_WORKER).toBeTruthy();
    expect(w!.flags & PF_KTHREAD).toBeFalsy();
    expect(w!.cgroup).toBe('/kvm.slice/vm1');
    expect(k.ioctl(t, vcpu, KVM_RUN)).toBe(0);
    expect(recovery(k)).toHaveLength(1); // once per VM
    // the VM fd outlives the VMM in a forked child; the vhost_task dies with its thread group
    const child = k.fork(t) as Task;
    expect(k.kill(t, SIGKILL)).toBe(0);
    expect(w!.alive).toBe(false);
    expect(k.close(child, vm)).toBe(0);
    k.shutdown();
    // pids.max reached at the first KVM_RUN: the worker cannot be made, and KVM_RUN says -ENOMEM every time
    const b = await vmm('6.12');
    expect(b.k.writeFile(b.k.init, '/sys/fs/cgroup/kvm.slice/vm1/pids.max', '1')).toBe(1);
    const vm2 = b.k.ioctl(b.vmm, b.kvm, KVM_CREATE_VM, 0);
    const vcpu2 = b.k.ioctl(b.vmm, vm2, KVM_CREATE_VCPU, 0);
    expect(b.k.ioctl(b.vmm, vcpu2, KVM_RUN)).toBe(-ENOMEM);
    expect(b.k.writeFile(b.k.init, '/sys/fs/cgroup/kvm.slice/vm1/pids.max', 'max')).toBe(3);
    expect(b.k.ioctl(b.vmm, vcpu2, KVM_RUN)).toBe(-ENOMEM); // call_once: no second try
    expect(recovery(b.k)).toEqual([]);
    b.k.shutdown();
  });
});

describe('loop by release', () => {
  test('5.13: one kworker "loop0" per device (the kworker design); 5.14 on: a worker per cgroup', async () => {
    for (const r of ['5.13', '5.14', '6.17'] as const) {
      const { k, dd } = await loop0(r);
      const fd = k.open(dd, '/dev/loop0', O_RDWR | O_DIRECT);
      expect(k.pwrite(dd, fd, 8192, 0)).toBe(8192);
      k.runUntilIdle();
      const info = loopInfo(k, 0);
      expect(info.design, r).toBe(r === '5.13' ? 'kworker' : 'per-cgroup');
      expect(k.tasks().filter((t) => t.comm === 'loop0'), r).toHaveLength(r === '5.13' ? 1 : 0);
      expect(info.workers.map((w) => w.cgroup), r).toEqual(r === '5.13' ? [] : ['/a']);
      k.shutdown();
    }
  });

  test('the kwq.loop_workers switch wins over the release when it is on the command line', async () => {
    const a = await loop0('5.13', 'kwq.loop_workers=per-cgroup');
    expect(loopInfo(a.k, 0).design).toBe('per-cgroup');
    expect(a.k.kwqSwitch('loop_workers')).toBe('per-cgroup');
    a.k.shutdown();
    const b = await loop0('6.17', 'kwq.loop_workers=kworker');
    expect(loopInfo(b.k, 0).design).toBe('kworker');
    b.k.shutdown();
    const c = await Kernel.boot({ release: '5.13' });
    expect(c.kwqSwitch('loop_workers')).toBe('kworker');
    c.shutdown();
  });

  test('LOOP_CLR_FD by the sole opener: torn down at once up to 6.10, at the last close from 6.11', async () => {
    for (const r of ['6.1', '6.12'] as const) {
      const { k, lfd } = await loop0(r);
      expect(k.ioctl(k.init, lfd, LOOP_CLR_FD)).toBe(0);
      expect(loopInfo(k, 0).state, r).toBe(r === '6.1' ? 'Lo_unbound' : 'Lo_rundown');
      expect(k.close(k.init, lfd)).toBe(0);
      expect(loopInfo(k, 0).state, r).toBe('Lo_unbound');
      k.shutdown();
    }
  });

  test('LOOP_CLR_FD with two openers sets AUTOCLEAR in both forms; the last close tears down', async () => {
    for (const r of ['6.1', '6.17'] as const) {
      const { k, lfd } = await loop0(r);
      const second = k.open(k.init, '/dev/loop0', O_RDWR);
      expect(k.ioctl(k.init, lfd, LOOP_CLR_FD)).toBe(0);
      expect(loopInfo(k, 0).state, r).toBe('Lo_bound');
      k.close(k.init, second);
      k.close(k.init, lfd);
      expect(loopInfo(k, 0).state, r).toBe('Lo_unbound');
      k.shutdown();
    }
  });

  test('5.14: __loop_clr_fd frees the per-cgroup workers; from 5.19 they outlive it', async () => {
    for (const r of ['5.14', '6.1'] as const) {
      const { k, lfd, dd } = await loop0(r);
      const fd = k.open(dd, '/dev/loop0', O_RDWR | O_DIRECT);
      expect(k.pwrite(dd, fd, 8192, 0)).toBe(8192);
      k.runUntilIdle();
      expect(loopInfo(k, 0).workers.map((w) => w.cgroup), r).toEqual(['/a']);
      expect(k.close(dd, fd)).toBe(0);
      expect(k.ioctl(k.init, lfd, LOOP_CLR_FD)).toBe(0);
      k.close(k.init, lfd);
      expect(loopInfo(k, 0).state).toBe('Lo_unbound');
      expect(loopInfo(k, 0).workers.map((w) => w.cgroup), r).toEqual(r === '5.14' ? [] : ['/a']);
      k.shutdown();
    }
  });
});

describe('blk-ioc by release', () => {
  test('no io_context: the effective priority is be/4 (nice-derived) in every modelled release (6.12.y took the 6.17 fix)', async () => {
    for (const r of ['6.1', '6.12', '6.17'] as const) {
      const k = await Kernel.boot({ release: r });
      const a = k.spawn({ comm: 'a', uid: 1000 });
      const want = BE4;
      expect(k.ioprio_get(a, IOPRIO_WHO_USER, 0), r).toBe(want);
      expect(k.ioprio_get(a, IOPRIO_WHO_PGRP, 0), r).toBe(want);
      k.shutdown();
    }
  });
});

describe('loop aio priority by release', () => {
  test('the backing request carries the issuer\'s priority from 6.15 (1fdb8188c3d5, in 6.12.y too); before it the worker\'s own', async () => {
    for (const r of ['6.1', '6.12', '6.17'] as const) {
      const k = await Kernel.boot({ release: r, cmdline: 'null_blk.nr_devices=1' });
      const t = k.spawn({ comm: 'dd', cgroup: '/a' });
      expect(k.writeFile(k.init, '/sys/block/nullb0/queue/scheduler', 'bfq')).toBe(3);
      const lfd = k.open(k.init, '/dev/loop0', O_RDWR);
      const nb = k.open(k.init, '/dev/nullb0', O_RDWR);
      expect(k.ioctl(k.init, lfd, LOOP_CONFIGURE, { fd: nb, info: { lo_flags: LO_FLAGS_DIRECT_IO } })).toBe(0);
      const evs: TraceEvent[] = [];
      k.trace.on('block_rq_issue', (e) => evs.push(e));
      expect(k.ioprio_set(t, IOPRIO_WHO_PROCESS, 0, IOPRIO_PRIO_VALUE(IOPRIO_CLASS_BE, 2))).toBe(0);
      const fd = k.open(t, '/dev/loop0', O_RDWR | O_DIRECT);
      expect(k.pwrite(t, fd, 8192, 0)).toBe(8192);
      const lower = evs.find((e) => e['disk'] === 'nullb0')!;
      expect(lower['pid']).not.toBe(t.pid); // issued by the loop worker's kworker
      // 6.1 has no loop_aio_ioprio: the worker's own nice-derived priority
      expect(lower['ioprio'], r).toBe(r === '6.1' ? BE4 : IOPRIO_PRIO_VALUE(IOPRIO_CLASS_BE, 2));
      expect(k.pwrite(t, fd, 8192, 8192)).toBe(8192);
      const second = evs.filter((e) => e['disk'] === 'nullb0')[1]!;
      expect(second['ioprio'], r).toBe(r === '6.1' ? BE4 : IOPRIO_PRIO_VALUE(IOPRIO_CLASS_BE, 2));
      k.shutdown();
    }
  });
});

describe('io_uring by release', () => {
  // io_uring_params.features from io_uring_setup: SINGLE_MMAP..NATIVE_WORKERS (0x3ff) in
  // every modelled release, then one release-table row per later IORING_FEAT_* bit. 6.1
  // and 6.12 are what Debian's 6.1.192 and 6.12.118 answered (oracle/scripts/iouring-*.json);
  // 6.17 adds RW_ATTR (6.14) and NO_IOWAIT (6.15), from the table only (not measured)
  const expected: Record<Release, number> = {
    '5.13': 0x7ff, // + RSRC_TAGS
    '5.14': 0x7ff,
    '6.1': 0x1fff, // + CQE_SKIP (5.17), LINKED_FILE (5.18)
    '6.4': 0x3fff, // + REG_REG_RING (6.3)
    '6.5': 0x3fff,
    '6.12': 0xffff, // + RECVSEND_BUNDLE (6.10), MIN_TIMEOUT (6.12)
    '6.17': 0x3ffff, // + RW_ATTR (6.14), NO_IOWAIT (6.15)
  };
  test.each(releaseNames())('%s: io_uring_setup reports the features word of the release', async (r) => {
    const k = await Kernel.boot({ release: r });
    const app = k.spawn({ comm: 'app', uid: 1000 });
    const p: { features?: number } = { features: 0xdead };
    expect(k.io_uring_setup(app, 8, p)).toBeGreaterThanOrEqual(0);
    expect(p.features, `${r}: 0x${(p.features ?? 0).toString(16)}`).toBe(expected[r]);
    // each bit past NATIVE_WORKERS is its row's: bit 10 + i is the i-th io_uring_feat_* row
    const rows = FEATURES.filter((f) => f.name.startsWith('io_uring_feat_'));
    expect(rows.length).toBe(8);
    rows.forEach((f, i) => expect(((p.features! >>> (10 + i)) & 1) === 1, f.name).toBe(k.has(f.name)));
    k.shutdown();
  });
});
