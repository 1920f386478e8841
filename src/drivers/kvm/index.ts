/**
 * The KVM driver: importing this file registers the 'kvm' module (/dev/kvm) and the
 * kwq.kvm_run_us switch. The public names are re-exported by src/index.ts.
 */
import './kvm-main.js';

export * from './uapi.js';
export { kvmVms, kvmVcpuExitReason } from './kvm-main.js';
export type { KvmInfo } from './kvm-main.js';
