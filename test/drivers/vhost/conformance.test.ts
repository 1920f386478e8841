/**
 * Every ioctl path of kernel-reference.md section 1 (and the research notes' Q7), in
 * both worker modes where the mode matters. Each rejected call is also checked to
 * leave the device and the task list exactly as they were.
 */
import { describe, expect, test } from 'vitest';
import {
  _IO, CLONE_FILES, CLONE_FS, CLONE_SIGHAND, CLONE_THREAD, CLONE_VM, E2BIG, EBADF, EBUSY, EFAULT, EINVAL, ENOBUFS, ENODEV, ENOMEM,
  ENOTTY, EOPNOTSUPP, EPERM, Kernel, KwqError, O_RDWR, PF_KTHREAD, PF_USER_WORKER, RLIMIT_NPROC, SIGKILL, SIGUSR1,
  VHOST_ATTACH_VRING_WORKER, VHOST_FORK_OWNER_KTHREAD, VHOST_FORK_OWNER_TASK, VHOST_FREE_WORKER, VHOST_GET_FEATURES,
  VHOST_GET_FORK_FROM_OWNER, VHOST_GET_VRING_WORKER, VHOST_NEW_WORKER, VHOST_RESET_OWNER, VHOST_SCSI_FEATURES,
  VHOST_SCSI_SET_ENDPOINT, VHOST_SET_FEATURES, VHOST_SET_FORK_FROM_OWNER, VHOST_SET_MEM_TABLE, VHOST_SET_OWNER,
  VHOST_SET_VRING_CALL, VHOST_SET_VRING_KICK, VHOST_VSOCK_SET_GUEST_CID, VHOST_VSOCK_SET_RUNNING, EADDRINUSE,
  VHOST_NET_SET_BACKEND, VirtioQueue, type Task,
} from 'kwq';
import { devOf, info, NO_MEM, SCSI_TARGET, setup, snapshot, workerTasks } from './helpers.js';
import { VhostEngine } from '../../../src/drivers/vhost/vhost-engine.js';
import { vhostVqWorkQueue } from '../../../src/drivers/vhost/vq.js';
import { vhostWorkerFlush, vhostWorkerQueue } from '../../../src/drivers/vhost/worker.js';

const THREAD = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD;
const MODES = [
  { name: 'task', fork: VHOST_FORK_OWNER_TASK },
  { name: 'kthread', fork: VHOST_FORK_OWNER_KTHREAD },
] as const;

/** `fn` returns `want` and changes nothing visible. */
function rejected(k: Kernel, t: Task, fd: number, fn: () => number, want: number): void {
  const before = snapshot(k, t, fd);
  expect(fn()).toBe(want);
  expect(snapshot(k, t, fd)).toBe(before);
}

describe('uapi numbers (section 1.3, notes Q7)', () => {
  test('request numbers are the _IOC encodings of the uapi header', async () => {
    const m = await import('kwq');
    expect(m.VHOST_SET_OWNER).toBe(0xaf01);
    expect(m.VHOST_RESET_OWNER).toBe(0xaf02);
    expect(m.VHOST_NEW_WORKER).toBe(0x8004af08);
    expect(m.VHOST_FREE_WORKER).toBe(0x4004af09);
    expect(m.VHOST_ATTACH_VRING_WORKER).toBe(0x4008af15);
    expect(m.VHOST_GET_VRING_WORKER).toBe(0xc008af16);
    expect(m.VHOST_SET_FORK_FROM_OWNER).toBe(0x4001af84);
    expect(m.VHOST_GET_FORK_FROM_OWNER).toBe(0x8001af85);
    expect(m.VHOST_SET_VRING_KICK).toBe(0x4008af20);
    expect(m.VHOST_SET_VRING_CALL).toBe(0x4008af21);
    expect(m.VHOST_GET_FEATURES).toBe(0x8008af00);
    expect(m.VHOST_SET_FEATURES).toBe(0x4008af00);
    expect(m.VHOST_SET_MEM_TABLE).toBe(0x4008af03);
    expect(m.VHOST_SCSI_SET_ENDPOINT).toBe(0x40e8af40);
    expect(m.VHOST_FORK_OWNER_TASK).toBe(1);
    expect(m.VHOST_FORK_OWNER_KTHREAD).toBe(0);
  });
});

describe('module parameter vhost.fork_from_owner_default (section 1.2)', () => {
  test('defaults to Y: a new device is in task mode', async () => {
    const { k, qemu, fd } = await setup('scsi');
    expect(k.readFile(k.init, '/sys/module/vhost/parameters/fork_from_owner_default')).toBe('Y\n');
    const box = { value: -1 };
    expect(k.ioctl(qemu, fd, VHOST_GET_FORK_FROM_OWNER, box)).toBe(0);
    expect(box.value).toBe(1);
  });

  test('=0 on the command line makes kthread mode the default', async () => {
    const { k, qemu, fd } = await setup('scsi', { cmdline: 'vhost.fork_from_owner_default=0' });
    expect(k.readFile(k.init, '/sys/module/vhost/parameters/fork_from_owner_default')).toBe('N\n');
    const box = { value: -1 };
    expect(k.ioctl(qemu, fd, VHOST_GET_FORK_FROM_OWNER, box)).toBe(0);
    expect(box.value).toBe(0);
    expect(k.ioctl(qemu, fd, VHOST_SET_OWNER)).toBe(0);
    expect(workerTasks(k, qemu.pid)[0]!.flags & PF_KTHREAD).toBeTruthy();
  });

  test('a bad value is a KwqError naming the word', async () => {
    await expect(Kernel.boot({ cmdline: 'vhost.fork_from_owner_default=maybe' })).rejects.toThrow(KwqError);
  });

  test('RESET_OWNER restores the module default on vhost-net', async () => {
    for (const [cmd, dflt] of [['', 1], ['vhost.fork_from_owner_default=0', 0]] as const) {
      const { k, qemu, fd } = await setup('net', { cmdline: cmd });
      expect(k.ioctl(qemu, fd, VHOST_SET_FORK_FROM_OWNER, 1 - dflt)).toBe(0);
      expect(k.ioctl(qemu, fd, VHOST_SET_OWNER)).toBe(0);
      expect(k.ioctl(qemu, fd, VHOST_RESET_OWNER)).toBe(0);
      const box = { value: -1 };
      expect(k.ioctl(qemu, fd, VHOST_GET_FORK_FROM_OWNER, box)).toBe(0);
      expect(box.value).toBe(dflt);
    }
  });
});

describe('vhost_dev_ioctl (section 1.5)', () => {
  test('SET_FORK_FROM_OWNER: no owner check; -EFAULT without a value; -EINVAL outside 0/1; -EBUSY once owned, before reading the value', async () => {
    const { k, qemu, fd } = await setup('scsi');
    const other = k.spawn({ comm: 'other', uid: 1000 });
    // another process holding the fd (inherited) may set it before SET_OWNER
    const child = k.fork(qemu) as Task;
    expect(k.ioctl(child, fd, VHOST_SET_FORK_FROM_OWNER, 0)).toBe(0);
    expect(info(k, qemu, fd).forkOwner).toBe(false);
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, VHOST_SET_FORK_FROM_OWNER), -EFAULT);
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, VHOST_SET_FORK_FROM_OWNER, 2), -EINVAL);
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, VHOST_SET_FORK_FROM_OWNER, { value: 1 }), -EFAULT);
    expect(k.ioctl(qemu, fd, VHOST_SET_FORK_FROM_OWNER, 1)).toBe(0);
    expect(k.ioctl(qemu, fd, VHOST_SET_OWNER)).toBe(0);
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, VHOST_SET_FORK_FROM_OWNER, 0), -EBUSY);
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, VHOST_SET_FORK_FROM_OWNER), -EBUSY);
    rejected(k, qemu, fd, () => k.ioctl(child, fd, VHOST_SET_FORK_FROM_OWNER, 0), -EBUSY);
    void other;
  });

  test('GET_FORK_FROM_OWNER: no owner check, before and after SET_OWNER; -EFAULT without a box', async () => {
    const { k, qemu, fd } = await setup('net');
    const child = k.fork(qemu) as Task;
    expect(k.ioctl(qemu, fd, VHOST_SET_OWNER)).toBe(0);
    const box = { value: -1 };
    expect(k.ioctl(child, fd, VHOST_GET_FORK_FROM_OWNER, box)).toBe(0);
    expect(box.value).toBe(1);
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, VHOST_GET_FORK_FROM_OWNER), -EFAULT);
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, VHOST_GET_FORK_FROM_OWNER, Object.freeze({ value: 0 })), -EFAULT);
  });

  test('the owner check: -EPERM before SET_OWNER and from another mm; a thread of the owner passes', async () => {
    const { k, qemu, fd } = await setup('scsi');
    const mem = { nregions: 0, padding: 0, regions: [] };
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, VHOST_SET_MEM_TABLE, mem), -EPERM);
    const child = k.fork(qemu) as Task;
    const thread = k.clone(qemu, THREAD) as Task;
    expect(k.ioctl(qemu, fd, VHOST_SET_OWNER)).toBe(0);
    rejected(k, qemu, fd, () => k.ioctl(child, fd, VHOST_SET_MEM_TABLE, mem), -EPERM);
    expect(k.ioctl(thread, fd, VHOST_SET_MEM_TABLE, mem)).toBe(0);
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, VHOST_SET_OWNER), -EBUSY);
    rejected(k, qemu, fd, () => k.ioctl(child, fd, VHOST_SET_OWNER), -EBUSY);
  });

  test('SET_MEM_TABLE: -EFAULT, -EOPNOTSUPP (padding), -E2BIG (> 64 regions), bad regions -EFAULT', async () => {
    const { k, qemu, fd } = await setup('net');
    expect(k.ioctl(qemu, fd, VHOST_SET_OWNER)).toBe(0);
    const region = { guest_phys_addr: 0, memory_size: 1 << 30, userspace_addr: 0x7f0000000000, flags_padding: 0 };
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, VHOST_SET_MEM_TABLE), -EFAULT);
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, VHOST_SET_MEM_TABLE, { nregions: 1, padding: 1, regions: [region] }), -EOPNOTSUPP);
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, VHOST_SET_MEM_TABLE, { nregions: 65, padding: 0, regions: [] }), -E2BIG);
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, VHOST_SET_MEM_TABLE, { nregions: 2, padding: 0, regions: [region] }), -EFAULT);
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, VHOST_SET_MEM_TABLE, { nregions: 1, padding: 0, regions: [{ ...region, memory_size: 0 }] }), -EFAULT);
    expect(k.ioctl(qemu, fd, VHOST_SET_MEM_TABLE, { nregions: 1, padding: 0, regions: [region] })).toBe(0);
    expect(devOf(k, qemu, fd).umem).toHaveLength(1);
  });

  test('features: GET/SET without an owner check; unknown bits -EOPNOTSUPP', async () => {
    const { k, qemu, fd } = await setup('scsi');
    const box = { value: 0n };
    expect(k.ioctl(qemu, fd, VHOST_GET_FEATURES, box)).toBe(0);
    expect(box.value).toBe(VHOST_SCSI_FEATURES);
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, VHOST_SET_FEATURES, 1n << 60n), -EOPNOTSUPP);
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, VHOST_SET_FEATURES, 'x'), -EFAULT);
    expect(k.ioctl(qemu, fd, VHOST_SET_FEATURES, 1n << 32n)).toBe(0);
  });
});

describe.each(MODES)('VHOST_SET_OWNER in $name mode (sections 1.6, 1.7, 1.13)', ({ name, fork }) => {
  test('default worker id 0, attached to every vq', async () => {
    const { k, qemu, fd } = await setup('scsi', { ioVqs: 3 });
    expect(k.ioctl(qemu, fd, VHOST_SET_FORK_FROM_OWNER, fork)).toBe(0);
    expect(k.ioctl(qemu, fd, VHOST_SET_OWNER)).toBe(0);
    const i = info(k, qemu, fd);
    expect(i.workers).toHaveLength(1);
    expect(i.workers[0]).toMatchObject({ id: 0, mode: name, attachmentCnt: 5, killed: false });
    for (let v = 0; v < 5; v++) {
      const s = { index: v, worker_id: -1 };
      expect(k.ioctl(qemu, fd, VHOST_GET_VRING_WORKER, s)).toBe(0);
      expect(s).toEqual({ index: v, worker_id: 0 });
    }
  });

  test('what the worker inherits', async () => {
    const { k, qemu, fd } = await setup('scsi');
    const thread = k.clone(qemu, THREAD, { comm: 'CPU 0/KVM' }) as Task;
    expect(k.ioctl(thread, fd, VHOST_SET_FORK_FROM_OWNER, fork)).toBe(0);
    expect(k.ioctl(thread, fd, VHOST_SET_OWNER)).toBe(0); // the comm uses the calling THREAD's pid
    const [w] = workerTasks(k, thread.pid);
    expect(w).toBeDefined();
    if (name === 'task') {
      expect(w!.tgid).toBe(qemu.pid);
      expect(w!.flags & PF_USER_WORKER).toBeTruthy();
      expect(w!.flags & PF_KTHREAD).toBeFalsy();
      expect(w!.uid).toBe(107);
      expect(w!.mm).toBe(qemu.mm);
      expect(w!.nsproxy).toBe(qemu.nsproxy);
      expect(w!.signal).toBe(qemu.signal); // rlimits shared
    } else {
      expect(w!.ppid).toBe(2);
      expect(w!.tgid).toBe(w!.pid);
      expect(w!.flags & PF_KTHREAD).toBeTruthy();
      expect(w!.uid).toBe(0);
      expect(w!.mm).toBeNull(); // borrowed only while running works
      expect(w!.nsproxy).toBe(k.init.nsproxy);
    }
    expect(w!.cgroup).toBe('/machine.slice/vm1'); // both: the owner's cgroup (kthread: a snapshot, v2 too)
  });

  test('cgroup.procs migration of the owner: a task-mode worker follows, a kthread stays', async () => {
    const { k, qemu, fd } = await setup('net');
    expect(k.ioctl(qemu, fd, VHOST_SET_FORK_FROM_OWNER, fork)).toBe(0);
    expect(k.ioctl(qemu, fd, VHOST_SET_OWNER)).toBe(0);
    expect(k.mkdir(k.init, '/sys/fs/cgroup/machine.slice/vm2')).toBe(0);
    expect(k.writeFile(k.init, '/sys/fs/cgroup/machine.slice/vm2/cgroup.procs', String(qemu.pid))).toBeGreaterThan(0);
    const [w] = workerTasks(k, qemu.pid);
    expect(w!.cgroup).toBe(name === 'task' ? '/machine.slice/vm2' : '/machine.slice/vm1');
  });

  test('cgroup v1: attached to the owner\'s cgroup in every hierarchy', async () => {
    const { k, qemu, fd } = await setup('net', { cgroup: 'v1' });
    expect(k.ioctl(qemu, fd, VHOST_SET_FORK_FROM_OWNER, fork)).toBe(0);
    expect(k.ioctl(qemu, fd, VHOST_SET_OWNER)).toBe(0);
    const [w] = workerTasks(k, qemu.pid);
    expect(w!.cgroups.map((c) => c.path)).toEqual(qemu.cgroups.map((c) => c.path));
  });

  test('RLIMIT_NPROC: task mode -ENOMEM (device left ownerless, retry works); kthread mode not counted', async () => {
    const { k, qemu, fd } = await setup('scsi', { nproc: 1 });
    expect(k.ioctl(qemu, fd, VHOST_SET_FORK_FROM_OWNER, fork)).toBe(0);
    if (name === 'task') {
      rejected(k, qemu, fd, () => k.ioctl(qemu, fd, VHOST_SET_OWNER), -ENOMEM);
      expect(info(k, qemu, fd).hasOwner).toBe(false);
      expect(k.setrlimit(qemu, RLIMIT_NPROC, [2, 2])).toBe(0);
      expect(k.ioctl(qemu, fd, VHOST_SET_OWNER)).toBe(0);
      expect(info(k, qemu, fd).workers[0]!.id).toBe(0);
      rejected(k, qemu, fd, () => k.ioctl(qemu, fd, VHOST_NEW_WORKER, { worker_id: 0 }), -ENOMEM);
    } else {
      expect(k.ioctl(qemu, fd, VHOST_SET_OWNER)).toBe(0);
      expect(k.tasks().filter((t) => t.uid === 107)).toHaveLength(1);
    }
  });

  test('no free Wasm worker struct (kwq.vhost_workers): -ENOMEM', async () => {
    const { k, qemu, fd } = await setup('net', { cmdline: 'kwq.vhost_workers=1' });
    expect(k.ioctl(qemu, fd, VHOST_SET_FORK_FROM_OWNER, fork)).toBe(0);
    expect(k.ioctl(qemu, fd, VHOST_SET_OWNER)).toBe(0);
    const fd2 = k.open(qemu, '/dev/vhost-net', O_RDWR);
    expect(k.ioctl(qemu, fd2, VHOST_SET_FORK_FROM_OWNER, fork)).toBe(0);
    rejected(k, qemu, fd2, () => k.ioctl(qemu, fd2, VHOST_SET_OWNER), -ENOMEM);
    expect(k.close(qemu, fd)).toBe(0); // frees the struct
    expect(k.ioctl(qemu, fd2, VHOST_SET_OWNER)).toBe(0);
  });
});

describe('worker creation failures all collapse to -ENOMEM (section 1.6)', () => {
  test('pids.max of the owner\'s cgroup (task mode)', async () => {
    const { k, qemu, fd } = await setup('scsi');
    expect(k.writeFile(k.init, '/sys/fs/cgroup/machine.slice/vm1/pids.max', '1')).toBeGreaterThan(0);
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, VHOST_SET_OWNER), -ENOMEM);
  });

  test('a caught signal pending in the caller: copy_process -ERESTARTNOINTR -> -ENOMEM', async () => {
    const { k, qemu, fd } = await setup('scsi');
    expect(k.sigaction(qemu, SIGUSR1, 'catch')).toBe(0);
    expect(k.kill(qemu, SIGUSR1)).toBe(0);
    expect(k.ioctl(qemu, fd, VHOST_SET_OWNER)).toBe(-ENOMEM);
    expect(info(k, qemu, fd).hasOwner).toBe(false);
    expect(k.ioctl(qemu, fd, VHOST_SET_OWNER)).toBe(0); // the signal was handled on return
  });
});

describe('vhost_worker_ioctl on vhost-scsi (section 1.10)', () => {
  test('before SET_OWNER every worker ioctl is -EINVAL (not -EPERM)', async () => {
    const { k, qemu, fd } = await setup('scsi');
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, VHOST_NEW_WORKER, { worker_id: 0 }), -EINVAL);
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, VHOST_FREE_WORKER, { worker_id: 0 }), -EINVAL);
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, VHOST_ATTACH_VRING_WORKER, { index: 0, worker_id: 0 }), -EINVAL);
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, VHOST_GET_VRING_WORKER, { index: 0, worker_id: 0 }), -EINVAL);
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, VHOST_NEW_WORKER), -EINVAL);
  });

  test('GET/ATTACH_VRING_WORKER with a struct that has no index is a bad pointer: -EFAULT, nothing written', async () => {
    const { k, qemu, fd } = await setup('scsi');
    expect(k.ioctl(qemu, fd, VHOST_SET_OWNER)).toBe(0);
    for (const arg of [{ worker_id: 1 }, { value: 2 }]) {
      const before = JSON.stringify(arg);
      rejected(k, qemu, fd, () => k.ioctl(qemu, fd, VHOST_GET_VRING_WORKER, arg), -EFAULT);
      expect(JSON.stringify(arg)).toBe(before);
      rejected(k, qemu, fd, () => k.ioctl(qemu, fd, VHOST_ATTACH_VRING_WORKER, arg), -EFAULT);
    }
  });

  test('another mm: -EPERM for all four', async () => {
    const { k, qemu, fd } = await setup('scsi');
    const child = k.fork(qemu) as Task;
    expect(k.ioctl(qemu, fd, VHOST_SET_OWNER)).toBe(0);
    for (const [req, arg] of [[VHOST_NEW_WORKER, { worker_id: 0 }], [VHOST_FREE_WORKER, { worker_id: 0 }], [VHOST_ATTACH_VRING_WORKER, { index: 0, worker_id: 0 }], [VHOST_GET_VRING_WORKER, { index: 0, worker_id: 0 }]] as const) {
      rejected(k, qemu, fd, () => k.ioctl(child, fd, req, { ...arg }), -EPERM);
    }
  });

  test('NEW_WORKER in kthread mode: -EFAULT, nothing created', async () => {
    const { k, qemu, fd } = await setup('scsi');
    expect(k.ioctl(qemu, fd, VHOST_SET_FORK_FROM_OWNER, VHOST_FORK_OWNER_KTHREAD)).toBe(0);
    expect(k.ioctl(qemu, fd, VHOST_SET_OWNER)).toBe(0);
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, VHOST_NEW_WORKER, { worker_id: 0 }), -EFAULT);
  });

  test('NEW_WORKER ids: lowest free first from 0; unattached; counted as threads of the owner', async () => {
    const { k, qemu, fd } = await setup('scsi');
    expect(k.ioctl(qemu, fd, VHOST_SET_OWNER)).toBe(0);
    const ids: number[] = [];
    for (let i = 0; i < 3; i++) {
      const st = { worker_id: -1 };
      expect(k.ioctl(qemu, fd, VHOST_NEW_WORKER, st)).toBe(0);
      ids.push(st.worker_id);
    }
    expect(ids).toEqual([1, 2, 3]);
    expect(info(k, qemu, fd).workers.map((w) => w.attachmentCnt)).toEqual([4, 0, 0, 0]);
    expect(workerTasks(k, qemu.pid).every((t) => t.tgid === qemu.pid)).toBe(true);
    expect(k.ioctl(qemu, fd, VHOST_FREE_WORKER, { worker_id: 2 })).toBe(0);
    const st = { worker_id: -1 };
    expect(k.ioctl(qemu, fd, VHOST_NEW_WORKER, st)).toBe(0);
    expect(st.worker_id).toBe(2);
  });

  test('NEW_WORKER whose copy_to_user fails: -EFAULT and the worker stays created (the kernel\'s order)', async () => {
    const { k, qemu, fd } = await setup('scsi');
    expect(k.ioctl(qemu, fd, VHOST_SET_OWNER)).toBe(0);
    expect(k.ioctl(qemu, fd, VHOST_NEW_WORKER)).toBe(-EFAULT);
    expect(info(k, qemu, fd).workers.map((w) => w.id)).toEqual([0, 1]);
  });

  test('FREE_WORKER: -EFAULT, -ENODEV (unknown id), -EBUSY (attached); else destroyed and its thread gone', async () => {
    const { k, qemu, fd } = await setup('scsi');
    expect(k.ioctl(qemu, fd, VHOST_SET_OWNER)).toBe(0);
    const st = { worker_id: -1 };
    expect(k.ioctl(qemu, fd, VHOST_NEW_WORKER, st)).toBe(0);
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, VHOST_FREE_WORKER), -EFAULT);
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, VHOST_FREE_WORKER, { worker_id: 'x' }), -EFAULT);
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, VHOST_FREE_WORKER, { worker_id: 7 }), -ENODEV);
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, VHOST_FREE_WORKER, { worker_id: 0 }), -EBUSY);
    const t = k.tasks().find((x) => x.pid === info(k, qemu, fd).workers[1]!.pid)!;
    expect(k.ioctl(qemu, fd, VHOST_FREE_WORKER, { worker_id: 1 })).toBe(0);
    expect(t.alive).toBe(false);
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, VHOST_FREE_WORKER, { worker_id: 1 }), -ENODEV);
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, VHOST_ATTACH_VRING_WORKER, { index: 0, worker_id: 1 }), -ENODEV);
  });

  test('ATTACH/GET_VRING_WORKER: -EFAULT, -ENOBUFS, -ENODEV; counts move; the default worker can then be freed', async () => {
    const { k, qemu, fd } = await setup('scsi', { ioVqs: 1 }); // 3 vqs
    expect(k.ioctl(qemu, fd, VHOST_SET_OWNER)).toBe(0);
    const st = { worker_id: -1 };
    expect(k.ioctl(qemu, fd, VHOST_NEW_WORKER, st)).toBe(0);
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, VHOST_ATTACH_VRING_WORKER), -EFAULT);
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, VHOST_ATTACH_VRING_WORKER, { index: 3, worker_id: 1 }), -ENOBUFS);
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, VHOST_ATTACH_VRING_WORKER, { index: 0 }), -EFAULT);
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, VHOST_ATTACH_VRING_WORKER, { index: 0, worker_id: 9 }), -ENODEV);
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, VHOST_GET_VRING_WORKER), -EFAULT);
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, VHOST_GET_VRING_WORKER, { index: 3, worker_id: 0 }), -ENOBUFS);
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, VHOST_GET_VRING_WORKER, Object.freeze({ index: 0, worker_id: 0 })), -EFAULT);
    // re-attaching a vq to the worker it has: no net change
    expect(k.ioctl(qemu, fd, VHOST_ATTACH_VRING_WORKER, { index: 0, worker_id: 0 })).toBe(0);
    expect(info(k, qemu, fd).workers.map((w) => w.attachmentCnt)).toEqual([3, 0]);
    for (let v = 0; v < 3; v++) expect(k.ioctl(qemu, fd, VHOST_ATTACH_VRING_WORKER, { index: v, worker_id: 1 })).toBe(0);
    expect(info(k, qemu, fd).workers.map((w) => w.attachmentCnt)).toEqual([0, 3]);
    const g = { index: 2, worker_id: -1 };
    expect(k.ioctl(qemu, fd, VHOST_GET_VRING_WORKER, g)).toBe(0);
    expect(g.worker_id).toBe(1);
    expect(k.ioctl(qemu, fd, VHOST_FREE_WORKER, { worker_id: 0 })).toBe(0);
    const st2 = { worker_id: -1 };
    expect(k.ioctl(qemu, fd, VHOST_NEW_WORKER, st2)).toBe(0);
    expect(st2.worker_id).toBe(0); // id 0 is free again
  });

  test('attaching an active vq elsewhere flushes the old worker first', async () => {
    const { k, qemu, fd } = await setup('scsi', { ioVqs: 1 });
    expect(k.ioctl(qemu, fd, VHOST_SET_OWNER)).toBe(0);
    expect(k.ioctl(qemu, fd, VHOST_SET_MEM_TABLE, NO_MEM)).toBe(0);
    expect(k.ioctl(qemu, fd, VHOST_SCSI_SET_ENDPOINT, SCSI_TARGET)).toBe(0);
    const st = { worker_id: -1 };
    expect(k.ioctl(qemu, fd, VHOST_NEW_WORKER, st)).toBe(0);
    const q = VirtioQueue.attach(k, qemu, fd, 2) as VirtioQueue;
    expect(q.post(5)).toBe(true);
    q.notify(); // queued on worker 0, which has not run yet (no time passed)
    const dev = devOf(k, qemu, fd);
    expect(dev.vqs[2]!.ring.taken).toBe(0);
    expect(k.ioctl(qemu, fd, VHOST_ATTACH_VRING_WORKER, { index: 2, worker_id: st.worker_id })).toBe(0);
    expect(dev.vqs[2]!.ring.taken).toBe(5); // drained by the flush of worker 0
  });
});

describe('vhost-net and vhost-vsock do not route the worker ioctls (section 1.4, notes Q7)', () => {
  for (const dev of ['net', 'vsock'] as const) {
    test(`${dev}: -EPERM before SET_OWNER; then vhost_vring_ioctl: -EFAULT / -ENOBUFS / -ENOTTY`, async () => {
      const { k, qemu, fd } = await setup(dev);
      rejected(k, qemu, fd, () => k.ioctl(qemu, fd, VHOST_NEW_WORKER, { worker_id: 0 }), -EPERM);
      expect(k.ioctl(qemu, fd, VHOST_SET_OWNER)).toBe(0);
      for (const req of [VHOST_NEW_WORKER, VHOST_FREE_WORKER]) {
        rejected(k, qemu, fd, () => k.ioctl(qemu, fd, req), -EFAULT);
        rejected(k, qemu, fd, () => k.ioctl(qemu, fd, req, { worker_id: 0 }), -ENOTTY);
        rejected(k, qemu, fd, () => k.ioctl(qemu, fd, req, { worker_id: 2 }), -ENOBUFS);
      }
      for (const req of [VHOST_ATTACH_VRING_WORKER, VHOST_GET_VRING_WORKER]) {
        rejected(k, qemu, fd, () => k.ioctl(qemu, fd, req, { index: 1, worker_id: 0 }), -ENOTTY);
        rejected(k, qemu, fd, () => k.ioctl(qemu, fd, req, { index: 2, worker_id: 0 }), -ENOBUFS);
      }
    });
  }

  test('RESET_OWNER on vhost-scsi and vhost-vsock: no handler (-EFAULT for the owner, -EPERM otherwise)', async () => {
    for (const dev of ['scsi', 'vsock'] as const) {
      const { k, qemu, fd } = await setup(dev);
      rejected(k, qemu, fd, () => k.ioctl(qemu, fd, VHOST_RESET_OWNER), -EPERM);
      expect(k.ioctl(qemu, fd, VHOST_SET_OWNER)).toBe(0);
      rejected(k, qemu, fd, () => k.ioctl(qemu, fd, VHOST_RESET_OWNER), -EFAULT);
      rejected(k, qemu, fd, () => k.ioctl(qemu, fd, VHOST_RESET_OWNER, { index: 0 }), -ENOTTY);
      const child = k.fork(qemu) as Task;
      rejected(k, qemu, fd, () => k.ioctl(child, fd, VHOST_RESET_OWNER), -EPERM);
    }
  });

  test('an unknown vhost number from the owner goes to vhost_vring_ioctl', async () => {
    const { k, qemu, fd } = await setup('scsi');
    expect(k.ioctl(qemu, fd, VHOST_SET_OWNER)).toBe(0);
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, _IO(0xaf, 0x7f)), -EFAULT);
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, _IO(0xaf, 0x7f), { index: 0 }), -ENOTTY);
  });
});

describe('VHOST_RESET_OWNER on vhost-net (section 1.11)', () => {
  test('-EPERM before SET_OWNER and for another mm; the owner tears everything down and can own it again', async () => {
    const { k, qemu, fd } = await setup('net');
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, VHOST_RESET_OWNER), -EPERM);
    expect(k.ioctl(qemu, fd, VHOST_SET_OWNER)).toBe(0);
    const child = k.fork(qemu) as Task;
    rejected(k, qemu, fd, () => k.ioctl(child, fd, VHOST_RESET_OWNER), -EPERM);
    const [w] = workerTasks(k, qemu.pid);
    expect(k.ioctl(qemu, fd, VHOST_RESET_OWNER)).toBe(0);
    expect(w!.alive).toBe(false);
    expect(info(k, qemu, fd)).toMatchObject({ hasOwner: false, workers: [] });
    expect(k.ioctl(qemu, fd, VHOST_SET_OWNER)).toBe(0);
    expect(info(k, qemu, fd).workers[0]!.id).toBe(0);
  });
});

describe('vring kick/call (notes Q7) and the guest-side traffic', () => {
  test('SET_VRING_KICK/CALL: -EPERM, -EFAULT, -ENOBUFS, -EBADF, -EINVAL (not an eventfd); -1 unbinds', async () => {
    const { k, qemu, fd } = await setup('net');
    const efd = k.eventfd(qemu);
    const nul = k.open(qemu, '/dev/null', O_RDWR);
    for (const req of [VHOST_SET_VRING_KICK, VHOST_SET_VRING_CALL]) {
      rejected(k, qemu, fd, () => k.ioctl(qemu, fd, req, { index: 0, fd: efd }), -EPERM);
    }
    expect(k.ioctl(qemu, fd, VHOST_SET_OWNER)).toBe(0);
    for (const req of [VHOST_SET_VRING_KICK, VHOST_SET_VRING_CALL]) {
      rejected(k, qemu, fd, () => k.ioctl(qemu, fd, req), -EFAULT);
      rejected(k, qemu, fd, () => k.ioctl(qemu, fd, req, { index: 2, fd: efd }), -ENOBUFS);
      rejected(k, qemu, fd, () => k.ioctl(qemu, fd, req, { index: 0 }), -EFAULT);
      rejected(k, qemu, fd, () => k.ioctl(qemu, fd, req, { index: 0, fd: 99 }), -EBADF);
      rejected(k, qemu, fd, () => k.ioctl(qemu, fd, req, { index: 0, fd: -2 }), -EBADF);
      rejected(k, qemu, fd, () => k.ioctl(qemu, fd, req, { index: 0, fd: nul }), -EINVAL);
      expect(k.ioctl(qemu, fd, req, { index: 0, fd: efd })).toBe(0);
      expect(k.ioctl(qemu, fd, req, { index: 0, fd: -1 })).toBe(0);
    }
    expect(info(k, qemu, fd).vqs[0]).toMatchObject({ kick: false, call: false });
  });

  test('a write to the kick eventfd runs handle_kick on the worker; completions signal the call eventfd', async () => {
    const { k, qemu, fd } = await setup('net');
    expect(k.ioctl(qemu, fd, VHOST_SET_OWNER)).toBe(0);
    const sock = k.open(qemu, '/dev/null', O_RDWR);
    expect(k.ioctl(qemu, fd, VHOST_SET_MEM_TABLE, NO_MEM)).toBe(0);
    expect(k.ioctl(qemu, fd, VHOST_NET_SET_BACKEND, { index: 1, fd: sock })).toBe(0);
    const q = VirtioQueue.attach(k, qemu, fd, 1) as VirtioQueue;
    const events: string[] = [];
    k.trace.on('workqueue_queue_work', (e) => events.push(`queue ${String(e.added)}`));
    k.trace.on('workqueue_execute_start', (e) => events.push(`start ${String(e.fn)}`));
    q.post(3);
    expect(k.write(qemu, q.kickFd, 8)).toBe(8); // user space kicks through the eventfd
    k.advance(1);
    expect(events).toEqual(['queue true', 'start pollWorkFn']);
    expect(devOf(k, qemu, fd).vqs[1]!.ring.taken).toBe(3);
    expect(q.reap()).toBe(3);
    expect(k.read(qemu, q.callFd, 8)).toBe(8); // the call eventfd was signalled
    expect(q.interrupts).toBe(1);
  });

  test('a kick eventfd already readable at SET_VRING_KICK queues the handler at once (vhost_poll_start)', async () => {
    const { k, qemu, fd } = await setup('net');
    expect(k.ioctl(qemu, fd, VHOST_SET_OWNER)).toBe(0);
    const sock = k.open(qemu, '/dev/null', O_RDWR);
    expect(k.ioctl(qemu, fd, VHOST_SET_MEM_TABLE, NO_MEM)).toBe(0);
    expect(k.ioctl(qemu, fd, VHOST_NET_SET_BACKEND, { index: 0, fd: sock })).toBe(0);
    const dev = devOf(k, qemu, fd);
    dev.vqs[0]!.ring.availIdx = 4;
    const efd = k.eventfd(qemu);
    expect(k.write(qemu, efd, 8)).toBe(8);
    expect(k.ioctl(qemu, fd, VHOST_SET_VRING_KICK, { index: 0, fd: efd })).toBe(0);
    k.advance(1);
    expect(dev.vqs[0]!.ring.taken).toBe(4);
  });

  test('vhost-vsock: SET_GUEST_CID checks; SET_RUNNING checks the owner, then vhost_vq_access_ok (a mem table)', async () => {
    const { k, qemu, fd } = await setup('vsock');
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, VHOST_VSOCK_SET_GUEST_CID, 2), -EINVAL);
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, VHOST_VSOCK_SET_GUEST_CID, 0xffffffff), -EINVAL);
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, VHOST_VSOCK_SET_GUEST_CID, 2 ** 33), -EINVAL);
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, VHOST_VSOCK_SET_GUEST_CID), -EFAULT);
    expect(k.ioctl(qemu, fd, VHOST_VSOCK_SET_GUEST_CID, 3)).toBe(0);
    const fd2 = k.open(qemu, '/dev/vhost-vsock', O_RDWR);
    expect(k.ioctl(qemu, fd2, VHOST_VSOCK_SET_GUEST_CID, 3)).toBe(-EADDRINUSE);
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, VHOST_VSOCK_SET_RUNNING, 1), -EPERM);
    expect(k.ioctl(qemu, fd, VHOST_SET_OWNER)).toBe(0);
    // no VHOST_SET_MEM_TABLE: vq->umem is NULL, vhost_vq_access_ok fails (Linux 6.1 and 6.12: EFAULT)
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, VHOST_VSOCK_SET_RUNNING, 1), -EFAULT);
    expect(info(k, qemu, fd).vqs.some((v) => v.backend)).toBe(false);
    expect(k.ioctl(qemu, fd, VHOST_SET_MEM_TABLE, { nregions: 0, padding: 0 })).toBe(0);
    expect(k.ioctl(qemu, fd, VHOST_VSOCK_SET_RUNNING, 1)).toBe(0);
    expect(info(k, qemu, fd).vqs.every((v) => v.backend)).toBe(true);
  });
});

describe('queueing and flushing on the Wasm structures (sections 1.7-1.9)', () => {
  test('vhost_vq_work_queue: true with a worker, also when deduplicated; false without one', async () => {
    const { k, qemu, fd } = await setup('scsi', { ioVqs: 1 });
    const dev = devOf(k, qemu, fd);
    let runs = 0;
    const w = dev.ve.workAlloc(() => { runs++; }, null);
    if (typeof w === 'number') throw new Error('alloc');
    expect(vhostVqWorkQueue(dev.vqs[0]!, w)).toBe(false); // no worker before SET_OWNER
    expect(k.ioctl(qemu, fd, VHOST_SET_OWNER)).toBe(0);
    expect(vhostVqWorkQueue(dev.vqs[0]!, w)).toBe(true);
    expect(dev.ve.engine.works.queued(w.ref)).toBe(true);
    expect(vhostVqWorkQueue(dev.vqs[0]!, w)).toBe(true); // already QUEUED: nothing added, still true
    k.advance(1);
    expect(runs).toBe(1);
  });

  test('QUEUED is clear before fn runs; a fn that re-queues itself runs again in the next batch', async () => {
    const { k, qemu, fd } = await setup('scsi', { ioVqs: 1 });
    expect(k.ioctl(qemu, fd, VHOST_SET_OWNER)).toBe(0);
    const dev = devOf(k, qemu, fd);
    const seen: boolean[] = [];
    const w = dev.ve.workAlloc((self) => {
      seen.push(dev.ve.engine.works.queued(self.ref));
      if (seen.length < 3) expect(vhostVqWorkQueue(dev.vqs[0]!, self)).toBe(true);
    }, null);
    if (typeof w === 'number') throw new Error('alloc');
    vhostVqWorkQueue(dev.vqs[0]!, w);
    k.advance(1);
    expect(seen).toEqual([false, false, false]);
  });

  test('a workAlloc fn is given its work, a workAllocData fn its data, traced or not; a freed slot runs its new fn', async () => {
    const { k, qemu, fd } = await setup('scsi', { ioVqs: 1 });
    expect(k.ioctl(qemu, fd, VHOST_SET_OWNER)).toBe(0);
    const dev = devOf(k, qemu, fd);
    const got: unknown[] = [];
    const data = { name: 'the data' };
    const byWork = dev.ve.workAlloc((self) => got.push(self), data);
    const byData = dev.ve.workAllocData((d: typeof data) => got.push(d), data);
    if (typeof byWork === 'number' || typeof byData === 'number') throw new Error('alloc');
    const round = (): void => {
      vhostVqWorkQueue(dev.vqs[0]!, byWork);
      vhostVqWorkQueue(dev.vqs[0]!, byData);
      k.advance(1);
    };
    round();
    expect(got).toEqual([byWork, data]);
    expect(got[1]).toBe(data);
    // traced: the dispatch with the workqueue_execute_* events calls the same fns the same way
    const fns: unknown[] = [];
    const off = k.trace.on('workqueue_execute_start', (e) => fns.push(e.fn));
    got.length = 0;
    round();
    off();
    expect(got).toEqual([byWork, data]);
    expect(fns).toHaveLength(2);
    // the slot of a freed work is taken by the next allocation, with its own fn and argument
    dev.ve.workFree(byData);
    const again = dev.ve.workAllocData((n: number) => got.push(n), 7);
    if (typeof again === 'number') throw new Error('alloc');
    expect(dev.ve.indexOf(again)).toBe(dev.ve.indexOf(byData));
    got.length = 0;
    vhostVqWorkQueue(dev.vqs[0]!, again);
    k.advance(1);
    expect(got).toEqual([7]);
  });

  test('flush waits for works queued before it on an attached worker, and skips an unattached one', async () => {
    const { k, qemu, fd } = await setup('scsi', { ioVqs: 1 });
    expect(k.ioctl(qemu, fd, VHOST_SET_OWNER)).toBe(0);
    const st = { worker_id: -1 };
    expect(k.ioctl(qemu, fd, VHOST_NEW_WORKER, st)).toBe(0);
    const dev = devOf(k, qemu, fd);
    const order: string[] = [];
    const a = dev.ve.workAlloc(() => order.push('a'), null);
    const b = dev.ve.workAlloc(() => order.push('b'), null);
    if (typeof a === 'number' || typeof b === 'number') throw new Error('alloc');
    const w0 = dev.workers[0]!;
    const w1 = dev.workers[1]!;
    vhostWorkerQueue(w0, a);
    vhostWorkerQueue(w1, b); // w1 is unattached
    expect(vhostWorkerFlush(w1)).toBe(true); // skipped: returns at once
    expect(order).toEqual([]);
    expect(vhostWorkerFlush(w0)).toBe(true); // runs the simulation until the flush work ran
    expect(order[0]).toBe('a');
  });

  test('kthread mode borrows the owner\'s mm only while it runs works', async () => {
    const { k, qemu, fd } = await setup('scsi', { ioVqs: 1 });
    expect(k.ioctl(qemu, fd, VHOST_SET_FORK_FROM_OWNER, 0)).toBe(0);
    expect(k.ioctl(qemu, fd, VHOST_SET_OWNER)).toBe(0);
    const dev = devOf(k, qemu, fd);
    const kt = dev.workers[0]!.task!;
    let mmInside: unknown = 'unset';
    const w = dev.ve.workAlloc(() => { mmInside = kt.mm; }, null);
    if (typeof w === 'number') throw new Error('alloc');
    vhostVqWorkQueue(dev.vqs[0]!, w);
    k.advance(1);
    expect(mmInside).toBe(qemu.mm);
    expect(kt.mm).toBeNull();
  });

  test('CPU time of the works is charged to the cgroup of the worker that ran them', async () => {
    for (const fork of [1, 0]) {
      const { k, qemu, fd } = await setup('scsi', { ioVqs: 1 });
      expect(k.ioctl(qemu, fd, VHOST_SET_FORK_FROM_OWNER, fork)).toBe(0);
      expect(k.ioctl(qemu, fd, VHOST_SET_OWNER)).toBe(0);
      const dev = devOf(k, qemu, fd);
      const w = dev.ve.workAlloc(() => dev.ve.charge(5_000_000), null); // 5 ms of work
      if (typeof w === 'number') throw new Error('alloc');
      vhostVqWorkQueue(dev.vqs[0]!, w);
      k.advance(10);
      const stat = k.readFile(k.init, '/sys/fs/cgroup/machine.slice/vm1/cpu.stat') as string;
      const us = Number(/usage_usec (\d+)/.exec(stat)![1]);
      expect(us).toBeGreaterThanOrEqual(5000);
      expect(us).toBeLessThan(6000);
    }
  });
});

describe('the killed path (section 1.12) and cleanup', () => {
  test('task mode: SIGKILL of the owner detaches the worker, drains its list; FREE -EBUSY, ATTACH silently 0, GET -EINVAL', async () => {
    const { k, qemu, fd } = await setup('scsi', { ioVqs: 1 });
    // a second process sharing the mm (CLONE_VM, not CLONE_THREAD) survives the kill and keeps the fd
    const sibling = k.clone(qemu, CLONE_VM) as Task;
    expect(k.ioctl(qemu, fd, VHOST_SET_OWNER)).toBe(0);
    const st = { worker_id: -1 };
    expect(k.ioctl(qemu, fd, VHOST_NEW_WORKER, st)).toBe(0);
    const dev = devOf(k, sibling, fd);
    let ran = 0;
    const w = dev.ve.workAlloc(() => { ran++; }, null);
    if (typeof w === 'number') throw new Error('alloc');
    vhostVqWorkQueue(dev.vqs[0]!, w); // queued on worker 0, not run yet
    const [w0task, w1task] = [dev.workers[0]!.task!, dev.workers[1]!.task!];
    expect(k.kill(qemu, SIGKILL)).toBe(0);
    expect(qemu.alive).toBe(false);
    expect(w0task.alive).toBe(false);
    expect(w1task.alive).toBe(false);
    expect(ran).toBe(1); // drained by vhost_worker_killed
    const i = info(k, sibling, fd);
    expect(i.workers.map((x) => x.killed)).toEqual([true, true]);
    expect(i.workers[0]!.attachmentCnt).toBe(0);
    expect(i.vqs.every((v) => v.worker === null)).toBe(true);
    expect(vhostVqWorkQueue(dev.vqs[0]!, w)).toBe(false);
    rejected(k, sibling, fd, () => k.ioctl(sibling, fd, VHOST_FREE_WORKER, { worker_id: 0 }), -EBUSY);
    rejected(k, sibling, fd, () => k.ioctl(sibling, fd, VHOST_FREE_WORKER, { worker_id: 1 }), -EBUSY);
    rejected(k, sibling, fd, () => k.ioctl(sibling, fd, VHOST_ATTACH_VRING_WORKER, { index: 0, worker_id: 0 }), 0);
    rejected(k, sibling, fd, () => k.ioctl(sibling, fd, VHOST_GET_VRING_WORKER, { index: 0, worker_id: 0 }), -EINVAL);
    // a new worker (a thread of the sibling now) can take the vq
    const st2 = { worker_id: -1 };
    expect(k.ioctl(sibling, fd, VHOST_NEW_WORKER, st2)).toBe(0);
    expect(st2.worker_id).toBe(2);
    expect(k.ioctl(sibling, fd, VHOST_ATTACH_VRING_WORKER, { index: 0, worker_id: 2 })).toBe(0);
    expect(vhostVqWorkQueue(dev.vqs[0]!, w)).toBe(true);
    // the killed workers stay in worker_xa until cleanup: close frees all
    expect(k.close(sibling, fd)).toBe(0);
    expect(workerTasks(k, sibling.pid).filter((t) => t.alive)).toHaveLength(0);
  });

  test('kthread mode: the worker ignores SIGKILL; the owner\'s death closes the fd and cleanup stops it', async () => {
    const { k, qemu, fd } = await setup('net');
    expect(k.ioctl(qemu, fd, VHOST_SET_FORK_FROM_OWNER, 0)).toBe(0);
    expect(k.ioctl(qemu, fd, VHOST_SET_OWNER)).toBe(0);
    const [kt] = workerTasks(k, qemu.pid);
    expect(k.kill(kt!, SIGKILL)).toBe(0);
    expect(kt!.alive).toBe(true);
    expect(k.kill(qemu, SIGKILL)).toBe(0);
    expect(kt!.alive).toBe(false); // the last fput ran release -> vhost_dev_cleanup -> kthread_stop
  });

  test('close frees every worker, its Wasm struct and the device\'s works', async () => {
    const { k, qemu, fd } = await setup('scsi');
    const ve = VhostEngine.of(k);
    const structs = ve.workerStructsFree;
    const works = ve.worksInUse();
    expect(k.ioctl(qemu, fd, VHOST_SET_OWNER)).toBe(0);
    for (let i = 0; i < 3; i++) expect(k.ioctl(qemu, fd, VHOST_NEW_WORKER, { worker_id: 0 })).toBe(0);
    expect(ve.workerStructsFree).toBe(structs - 4);
    expect(k.close(qemu, fd)).toBe(0);
    expect(ve.workerStructsFree).toBe(structs);
    expect(ve.worksInUse()).toBe(works - 6); // 4 poll works + 2 completion works (io vqs)
    expect(workerTasks(k, qemu.pid)).toHaveLength(0);
  });
});

describe('driver ioctls and the other vring ioctls', () => {
  test('VHOST_NET_SET_BACKEND: -EFAULT first, then -EPERM, -ENOBUFS, -EFAULT (no mem table), -EBADF; -1 unbinds', async () => {
    const { k, qemu, fd } = await setup('net');
    const sock = k.open(qemu, '/dev/null', O_RDWR);
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, VHOST_NET_SET_BACKEND), -EFAULT);
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, VHOST_NET_SET_BACKEND, { index: 5, fd: sock }), -EPERM);
    expect(k.ioctl(qemu, fd, VHOST_SET_OWNER)).toBe(0);
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, VHOST_NET_SET_BACKEND, { index: 2, fd: sock }), -ENOBUFS);
    // vhost_vq_access_ok: vq->umem is NULL until VHOST_SET_MEM_TABLE, checked before the fd
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, VHOST_NET_SET_BACKEND, { index: 0, fd: 77 }), -EFAULT);
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, VHOST_NET_SET_BACKEND, { index: 0, fd: sock }), -EFAULT);
    expect(k.ioctl(qemu, fd, VHOST_SET_MEM_TABLE, NO_MEM)).toBe(0);
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, VHOST_NET_SET_BACKEND, { index: 0, fd: 77 }), -EBADF);
    expect(k.ioctl(qemu, fd, VHOST_NET_SET_BACKEND, { index: 0, fd: sock })).toBe(0);
    expect(info(k, qemu, fd).vqs[0]!.backend).toBe(true);
    expect(k.ioctl(qemu, fd, VHOST_NET_SET_BACKEND, { index: 0, fd: -1 })).toBe(0);
    expect(info(k, qemu, fd).vqs[0]!.backend).toBe(false);
  });

  test('SET_VRING_NUM/BASE: -EBUSY with a backend (before reading), -EINVAL bad values; GET_VRING_BASE fills the struct', async () => {
    const m = await import('kwq');
    const { k, qemu, fd } = await setup('scsi', { ioVqs: 1 });
    expect(k.ioctl(qemu, fd, VHOST_SET_OWNER)).toBe(0);
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, m.VHOST_SET_VRING_NUM, { index: 2, num: 3 }), -EINVAL);
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, m.VHOST_SET_VRING_NUM, { index: 2, num: 0x20000 }), -EINVAL);
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, m.VHOST_SET_VRING_NUM, { index: 2 }), -EFAULT);
    expect(k.ioctl(qemu, fd, m.VHOST_SET_VRING_NUM, { index: 2, num: 1024 })).toBe(0);
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, m.VHOST_SET_VRING_BASE, { index: 2, num: 0x10000 }), -EINVAL);
    expect(k.ioctl(qemu, fd, m.VHOST_SET_VRING_BASE, { index: 2, num: 7 })).toBe(0);
    const s = { index: 2, num: 0 };
    expect(k.ioctl(qemu, fd, m.VHOST_GET_VRING_BASE, s)).toBe(0);
    expect(s).toEqual({ index: 2, num: 7 });
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, m.VHOST_SET_VRING_ADDR, { index: 2, flags: 2, desc_user_addr: 0, used_user_addr: 0, avail_user_addr: 0, log_guest_addr: 0 }), -EOPNOTSUPP);
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, m.VHOST_SET_VRING_ADDR, { index: 2, flags: 0, desc_user_addr: 8, used_user_addr: 0, avail_user_addr: 0, log_guest_addr: 0 }), -EINVAL);
    expect(k.ioctl(qemu, fd, VHOST_SET_MEM_TABLE, NO_MEM)).toBe(0);
    expect(k.ioctl(qemu, fd, m.VHOST_SCSI_SET_ENDPOINT, SCSI_TARGET)).toBe(0);
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, m.VHOST_SET_VRING_NUM, { index: 2, num: 256 }), -EBUSY);
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, m.VHOST_SET_VRING_BASE, { index: 2 }), -EBUSY);
  });

  test('vhost-scsi endpoint: -EFAULT, -EOPNOTSUPP (reserved), -EFAULT (no mem table), -ENODEV (no target); ABI version', async () => {
    const m = await import('kwq');
    const { k, qemu, fd } = await setup('scsi');
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, m.VHOST_SCSI_SET_ENDPOINT), -EFAULT);
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, m.VHOST_SCSI_SET_ENDPOINT, { ...SCSI_TARGET, reserved: 1 }), -EOPNOTSUPP);
    // no owner check; vhost_vq_access_ok fails on every vq until VHOST_SET_MEM_TABLE (measured on 6.1 and 6.12)
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, m.VHOST_SCSI_SET_ENDPOINT, { ...SCSI_TARGET, vhost_wwpn: '' }), -EFAULT);
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, m.VHOST_SCSI_SET_ENDPOINT, SCSI_TARGET), -EFAULT);
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, m.VHOST_SCSI_CLEAR_ENDPOINT, SCSI_TARGET), -EFAULT);
    expect(k.ioctl(qemu, fd, VHOST_SET_OWNER)).toBe(0);
    expect(k.ioctl(qemu, fd, VHOST_SET_MEM_TABLE, NO_MEM)).toBe(0);
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, m.VHOST_SCSI_SET_ENDPOINT, { ...SCSI_TARGET, vhost_wwpn: '' }), -m.ENODEV);
    expect(k.ioctl(qemu, fd, m.VHOST_SCSI_CLEAR_ENDPOINT, SCSI_TARGET)).toBe(0); // nothing set: 0
    const box = { value: 0 };
    expect(k.ioctl(qemu, fd, m.VHOST_SCSI_GET_ABI_VERSION, box)).toBe(0);
    expect(box.value).toBe(m.VHOST_SCSI_ABI_VERSION);
    expect(k.ioctl(qemu, fd, m.VHOST_SCSI_SET_ENDPOINT, SCSI_TARGET)).toBe(0);
    expect(info(k, qemu, fd).vqs.every((v) => v.backend)).toBe(true);
    rejected(k, qemu, fd, () => k.ioctl(qemu, fd, m.VHOST_SCSI_CLEAR_ENDPOINT, { ...SCSI_TARGET, vhost_wwpn: 'naa.other' }), -EINVAL);
    expect(k.ioctl(qemu, fd, m.VHOST_SCSI_CLEAR_ENDPOINT, SCSI_TARGET)).toBe(0);
    expect(info(k, qemu, fd).vqs.some((v) => v.backend)).toBe(false);
  });

  test('RESET_OWNER in kthread mode stops the kthread', async () => {
    const { k, qemu, fd } = await setup('net');
    expect(k.ioctl(qemu, fd, VHOST_SET_FORK_FROM_OWNER, 0)).toBe(0);
    expect(k.ioctl(qemu, fd, VHOST_SET_OWNER)).toBe(0);
    const [kt] = workerTasks(k, qemu.pid);
    expect(kt!.alive).toBe(true);
    expect(k.ioctl(qemu, fd, VHOST_RESET_OWNER)).toBe(0);
    expect(kt!.alive).toBe(false);
  });
});

describe('tracepoints inside a worker batch', () => {
  test('a listener a work attaches or detaches mid-batch takes effect from the next work of the batch', async () => {
    const { k, qemu, fd } = await setup('net');
    expect(k.ioctl(qemu, fd, VHOST_SET_OWNER)).toBe(0);
    const dev = devOf(k, qemu, fd);
    const seen: unknown[] = [];
    let off: (() => void) | null = null;
    const fn = (w: { data: unknown }): void => {
      // work 1 attaches a listener, work 3 detaches it: works 2 and 3 are traced
      if (w.data === 1) off = k.trace.on('workqueue_execute_start', (e) => seen.push(e['work']));
      if (w.data === 3) off!();
    };
    const works = [0, 1, 2, 3, 4].map((i) => dev.ve.workAlloc(fn, i));
    for (const w of works) if (typeof w !== 'number') vhostWorkerQueue(dev.workers[0]!, w);
    k.runUntilIdle();
    expect(seen).toEqual([works[2], works[3]].map((w) => (w as { ref: number }).ref));
  });
});

describe('threads runtime', () => {
  test('the same device and Wasm structures run with the worker on a real thread', async () => {
    const k = await Kernel.boot({ runtime: 'threads', cmdline: 'vhost_scsi.max_io_vqs=1' });
    try {
      const qemu = k.spawn({ comm: 'qemu', uid: 107 });
      const fd = k.open(qemu, '/dev/vhost-scsi', O_RDWR);
      expect(k.ioctl(qemu, fd, VHOST_SET_OWNER)).toBe(0);
      expect(k.ioctl(qemu, fd, VHOST_SET_MEM_TABLE, NO_MEM)).toBe(0);
      expect(k.ioctl(qemu, fd, VHOST_SCSI_SET_ENDPOINT, SCSI_TARGET)).toBe(0);
      const q = VirtioQueue.attach(k, qemu, fd, 2) as VirtioQueue;
      q.post(10);
      q.notify();
      // A real worker thread: its start-up and the JIT take longer on a loaded
      // machine, so wait by deadline, not by a count of short sleeps.
      const deadline = Date.now() + 10_000;
      while (q.completed < 10 && Date.now() < deadline) {
        q.reap();
        if (q.completed < 10) await k.sleep(2);
      }
      expect(q.completed).toBe(10);
      expect(k.close(qemu, fd)).toBe(0);
    } finally {
      k.shutdown();
    }
  });
});
