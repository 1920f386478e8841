/**
 * Handing a kernel's answers to src/oracle/recorded.ts: writeRecorded (`npm run oracle`)
 * or checkRecorded (`--check`: the list of differences from the committed files, empty
 * when Linux still answers what the repository says).
 */
import { checkRecorded, writeRecorded } from '../recorded.js';
import type { StepScript } from '../script.js';
import { say } from './exec.js';
import type { KernelLine } from './fetch.js';
import type { GuestOutput } from './guest-output.js';
import type { Provenance } from './provenance.js';

/** Writes (or checks) one kernel's answers; false when --check found differences. */
export function saveRecorded(
  kernel: KernelLine,
  provenance: Provenance,
  guest: GuestOutput,
  scripts: StepScript[],
  opts: { check: boolean; all: boolean },
): boolean {
  if (!opts.check) {
    say(`${kernel}: wrote ${writeRecorded(kernel, provenance, guest, scripts, opts.all)}`);
    return true;
  }
  const diffs = checkRecorded(kernel, provenance, guest, scripts);
  for (const d of diffs) say(`${kernel}: ${d}`);
  say(`${kernel}: ${diffs.length === 0 ? 'the answers match oracle/recorded' : `${diffs.length} difference(s) from oracle/recorded`}`);
  return diffs.length === 0;
}
