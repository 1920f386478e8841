import { describe, expect, it } from 'vitest';
import { EBUSY, EOPNOTSUPP } from 'kwq';
import { scenario } from '../../scenarios/emulatorpin.js';
import type { EmulatorpinRun } from '../../scenarios/emulatorpin.js';

describe('scenario emulatorpin', () => {
  it('moves a task-mode worker with the emulator threads and leaves a kthread in its snapshot cgroup', async () => {
    const r = await scenario.run({ ms: 10 });
    const task = r.data.task as EmulatorpinRun;
    const kth = r.data.kthread as EmulatorpinRun;
    expect(task.workerIsKthread).toBe(false);
    expect(task.workerCgroupAtSetOwner).toBe('/machine.slice/vm1');
    expect(task.workerCgroup).toBe('/machine.slice/vm1/emulator');
    expect(task.workerUs).toBeGreaterThan(1000); // the worker really ran (ms of virtual CPU)
    expect(task.vmOwnUs).toBe(0); // nothing left in vm1 itself
    expect(task.emulatorUs).toBeGreaterThanOrEqual(task.workerUs); // its time lands with the emulator threads
    expect(task.enableMemoryResult).toBe(0);

    expect(kth.workerIsKthread).toBe(true);
    expect(kth.workerCgroupAtSetOwner).toBe('/machine.slice/vm1'); // cgroup_attach_task_all, v2 included
    expect(kth.workerCgroup).toBe('/machine.slice/vm1'); // not moved with the process
    expect(kth.vmOwnUs).toBe(kth.workerUs); // its time lands in vm1 itself, outside emulator
    expect(kth.workerUs).toBeGreaterThan(1000);
    expect(kth.enableMemoryResult).toBe(-EBUSY); // a task in vm1: no internal processes
    // the VM's cgroup as a whole pays for the worker in both modes
    expect(task.vmCpuStatUs).toBeGreaterThanOrEqual(task.workerUs);
    expect(kth.vmCpuStatUs).toBeGreaterThanOrEqual(kth.workerUs);
  });

  it('--layout threaded: each QEMU thread goes to a threaded child by tid; the task-mode worker is one of them, the kthread is not', async () => {
    const r = await scenario.run({ ms: 10, layout: 'threaded' });
    const task = r.data.task as EmulatorpinRun;
    const kth = r.data.kthread as EmulatorpinRun;
    expect(task.moveResult).toBe(0); // every cgroup.threads write went through (+cpu beside QEMU was allowed)
    expect(task.workerCgroup).toBe('/machine.slice/vm1/emulator');
    expect(task.vmOwnUs).toBe(0);
    expect(task.emulatorUs).toBe(task.workerUs); // the vCPU thread is in vcpu0, not emulator
    expect(kth.workerCgroup).toBe('/machine.slice/vm1');
    expect(kth.vmOwnUs).toBe(kth.workerUs);
    expect(kth.emulatorUs).toBe(0);
    // vm1 is a thread root: no domain controller below it, tasks or not
    expect(task.enableMemoryResult).toBe(-EOPNOTSUPP);
    expect(kth.enableMemoryResult).toBe(-EOPNOTSUPP);
  });
});
