/** The kvm-lifetime scenario: what it prints is measured, and the story holds. */
import { describe, expect, test } from 'vitest';
import { EIO } from 'kwq';
import { scenario } from '../../scenarios/kvm-lifetime.js';
import { validateScenarioOptions } from '../../src/cli/scenario-options.js';

describe('scenario kvm-lifetime', () => {
  test('the VM outlives QEMU in vm1 until the helper closes the VM fd', async () => {
    const r = await scenario.run(validateScenarioOptions(scenario, { guestMiB: 64, vcpus: 2, holdMs: 10_000 }));
    const d = r.data as {
      guestBytes: number; runningMemoryCurrent: number; vmKernelBytesRunning: number; vmPageTableBytesRunning: number;
      afterExitMemoryCurrent: number; afterExitKernel: number; afterExitAnon: number; afterExitTasks: number;
      heldMemoryCurrent: number; freedMemoryCurrent: number; childIoctl: Record<string, number>; childOwnVm: number; childOwnVcpu: number;
      steps: { memoryCurrent: number }[];
    };
    // running: guest RAM (anon) + the VM's kernel memory, all in vm1
    expect(d.runningMemoryCurrent).toBeGreaterThanOrEqual(d.guestBytes + d.vmKernelBytesRunning);
    // QEMU gone, no task in vm1: the VM's kernel memory minus the page tables stays
    expect(d.afterExitTasks).toBe(0);
    expect(d.afterExitAnon).toBe(0);
    expect(d.afterExitKernel).toBe(d.vmKernelBytesRunning - d.vmPageTableBytesRunning);
    expect(d.afterExitMemoryCurrent).toBe(d.afterExitKernel);
    expect(d.afterExitMemoryCurrent).toBeGreaterThan(0);
    // the helper: -EIO everywhere on QEMU's VM, but /dev/kvm works for its own
    expect(d.childIoctl).toEqual({ KVM_CREATE_VCPU: -EIO, KVM_SET_USER_MEMORY_REGION: -EIO, KVM_RUN: -EIO });
    expect(d.childOwnVm).toBeGreaterThanOrEqual(0);
    expect(d.childOwnVcpu).toBeGreaterThan(d.childOwnVm as number); // its own VM answers it: the mm check passes
    // closing the vCPU fds frees nothing; closing the VM fd frees everything
    expect(d.heldMemoryCurrent).toBe(d.afterExitMemoryCurrent);
    expect(d.freedMemoryCurrent).toBe(0);
    expect(r.lines.join('\n')).toContain('kvm_destroy_vm');
    expect(r.lines.length).toBeGreaterThan(d.steps.length);
  });

  test('bad options name the field', async () => {
    // the option schema refuses it before the scenario runs (validateScenarioOptions throws)
    expect(() => validateScenarioOptions(scenario, { vcpus: 0 })).toThrow(/option 'vcpus' has value 0; expected an integer in 1\.\.64/);
    // and run() itself still guards a caller that skips the validation
    await expect(scenario.run({ guestMiB: 64, vcpus: 0, holdMs: 0, seed: 1 })).rejects.toThrow(/vcpus/);
  });
});
