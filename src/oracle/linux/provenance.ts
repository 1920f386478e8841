/**
 * Where a recording came from: the exact kernel package, what the guest's `uname -r`
 * said, the QEMU and busybox that ran it, the executor source's sha256, the modules
 * the guest loaded and the date. A type (not an interface) so that it passes as
 * recorded.ts's string-valued Provenance.
 */
import type { Kernel, KernelLine } from './fetch.js';

export type Provenance = {
  kernel: KernelLine;
  /** e.g. `linux-image-6.12.118+deb12-amd64-unsigned` */
  package: string;
  /** e.g. `6.12.118-1~deb12u1` */
  version: string;
  /** `uname -r` in the guest (the records' header) */
  uname: string;
  /** first line of `qemu-system-x86_64 --version` */
  qemu: string;
  busybox: string;
  /** sha256 of oracle/guest/kwq-oracle.c */
  executorSha256: string;
  /** the modules the guest loaded (from its console), space-separated in load order */
  modules: string;
  /** ISO 8601 date of the recording (YYYY-MM-DD) */
  date: string;
};

export function makeProvenance(
  k: Kernel,
  uname: string,
  tools: { qemu: string; busybox: string; executorSha256: string },
  modules: string[],
): Provenance {
  return {
    kernel: k.line,
    package: k.name,
    version: k.version,
    uname,
    qemu: tools.qemu,
    busybox: tools.busybox,
    executorSha256: tools.executorSha256,
    modules: modules.join(' '),
    date: new Date().toISOString().slice(0, 10),
  };
}
