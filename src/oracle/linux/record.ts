#!/usr/bin/env node
/**
 * `npm run oracle`: runs the step scripts (oracle/scripts/*.json) on real Linux kernels
 * (Debian 12's 6.1 and 6.12 packages) booted under QEMU TCG, both kernels at once, and
 * writes their answers to oracle/recorded/ (or, with --check, compares them with the
 * committed ones and exits 1 when they differ).
 *
 *   --kernel 6.1|6.12|all    which kernels (default all)
 *   --check                  do not write; exit 1 when the answers differ from the files
 *   --script NAME            only this script (repeatable)
 *   --keep                   keep the work directory (initramfs, serial logs)
 *   --kernel-6.1 PIN         a package name, Debian version or ABI (6.1.0-55) instead of
 *   --kernel-6.12 PIN          the newest (also KWQ_ORACLE_KERNEL_6_1 / _6_12)
 *   --timeout SECONDS        per boot (default 180: a whole corpus boot takes 30-65 s; a
 *                            guest that hangs, as 6.1 sometimes does destroying a VM under
 *                            TCG, is retried sooner), also KWQ_ORACLE_TIMEOUT
 *   --attempts N             boots per kernel before giving up (default 3)
 *
 * Exit status: 0 done (and, with --check, no difference); 1 --check found differences;
 * 2 an error (one line on stderr; a kernel that booted fine is still written).
 */
import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadScripts, scriptKernels, type StepScript } from '../script.js';
import { compileProgram } from '../wire.js';
import { parseInitReport } from './console.js';
import { say } from './exec.js';
import { fetchKernel, KERNEL_LINES, type Kernel, type KernelLine } from './fetch.js';
import { buildGuest } from './guest-bin.js';
import { parseGuestOutput, type GuestOutput } from './guest-output.js';
import { busyboxVersion, ensureHostTools, qemuVersion } from './host-tools.js';
import { buildInitramfs } from './initramfs.js';
import { planModules } from './modules.js';
import { makeProvenance, type Provenance } from './provenance.js';
import { bootWithRetries } from './qemu.js';
import { saveRecorded } from './save.js';

function repoRoot(): string {
  const here = fileURLToPath(import.meta.url);
  const cut = here.includes('/dist/src/') ? '/dist/src/' : '/src/oracle/';
  return here.slice(0, here.indexOf(cut));
}

interface Options {
  kernels: KernelLine[];
  check: boolean;
  scripts: string[];
  keep: boolean;
  pins: Record<KernelLine, string | undefined>;
  timeoutSec: number;
  attempts: number;
}

function positive(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, not '${v}'`);
  return n;
}

function options(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      kernel: { type: 'string', default: 'all' },
      check: { type: 'boolean', default: false },
      script: { type: 'string', multiple: true, default: [] },
      keep: { type: 'boolean', default: false },
      'kernel-6.1': { type: 'string' },
      'kernel-6.12': { type: 'string' },
      timeout: { type: 'string' },
      attempts: { type: 'string' },
    },
    strict: true,
    allowPositionals: false,
  });
  const k = values.kernel!;
  if (k !== 'all' && !(KERNEL_LINES as readonly string[]).includes(k)) {
    throw new Error(`--kernel must be 6.1, 6.12 or all, not '${k}'`);
  }
  return {
    kernels: k === 'all' ? [...KERNEL_LINES] : [k as KernelLine],
    check: values.check!,
    scripts: values.script!,
    keep: values.keep!,
    pins: {
      '6.1': values['kernel-6.1'] ?? process.env.KWQ_ORACLE_KERNEL_6_1,
      '6.12': values['kernel-6.12'] ?? process.env.KWQ_ORACLE_KERNEL_6_12,
    },
    timeoutSec: positive('--timeout', values.timeout ?? process.env.KWQ_ORACLE_TIMEOUT, 180),
    attempts: Math.floor(positive('--attempts', values.attempts, 3)),
  };
}

interface Prepared {
  line: KernelLine;
  kernel: Kernel;
  scripts: StepScript[];
  initrd: string;
  workDir: string;
}

interface Answer extends Prepared {
  guest: GuestOutput;
  provenance: Provenance;
}

function prepare(line: KernelLine, scripts: StepScript[], opt: Options, executor: string, work: string): Prepared {
  const kernel = fetchKernel(line, opt.pins[line]);
  say(`${line}: ${kernel.name} ${kernel.version} (${kernel.release}), ${scripts.length} script(s)`);
  const modules = planModules(kernel.modulesDir);
  if (modules.absent.length) say(`${line}: not in this kernel: ${modules.absent.join(' ')}`);
  const workDir = join(work, line);
  mkdirSync(workDir);
  const initrd = join(workDir, 'initrd.gz');
  buildInitramfs({ stageDir: join(workDir, 'root'), output: initrd, executor, program: compileProgram(scripts), modules });
  return { line, kernel, scripts, initrd, workDir };
}

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

async function main(argv: string[]): Promise<number> {
  const opt = options(argv);
  const scripts = loadScripts(opt.scripts);
  ensureHostTools();
  const guestBin = buildGuest(repoRoot());
  const tools = { qemu: qemuVersion(), busybox: busyboxVersion(), executorSha256: guestBin.sourceSha256 };
  const work = mkdtempSync(join(tmpdir(), 'kwq-oracle-'));
  // On any exit (an error, a signal below) the work dir goes; qemu.ts kills the QEMUs.
  process.on('exit', () => {
    if (opt.keep) say(`work directory kept: ${work}`);
    else rmSync(work, { recursive: true, force: true });
  });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(130));

  const prepared: Prepared[] = [];
  for (const line of opt.kernels) {
    const mine = scripts.filter((s) => scriptKernels(s).includes(line));
    if (mine.length === 0) say(`${line}: no script is recorded on this kernel; skipped`);
    else prepared.push(prepare(line, mine, opt, guestBin.path, work));
  }
  const started = Date.now();
  const settled = await Promise.allSettled(prepared.map((p) => boot(p, opt, tools)));
  say(`boots of ${prepared.map((p) => p.line).join(' and ')}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  let code = 0;
  const all = opt.scripts.length === 0;
  for (const r of settled) {
    try {
      if (r.status === 'rejected') throw r.reason;
      const a = r.value;
      if (!saveRecorded(a.line, a.provenance, a.guest, a.scripts, { check: opt.check, all })) code ||= 1;
    } catch (e) {
      say(`error: ${message(e)}`);
      code = 2;
    }
  }
  return code;
}

async function boot(p: Prepared, opt: Options, tools: Parameters<typeof makeProvenance>[2]): Promise<Answer> {
  const r = await bootWithRetries({
    label: p.line, vmlinuz: p.kernel.vmlinuz, initrd: p.initrd, workDir: p.workDir,
    timeoutSec: opt.timeoutSec, attempts: opt.attempts,
  });
  const retries = r.boots > 1 ? ` after ${r.boots - 1} failed boot(s)` : '';
  say(`${p.line}: @@done in ${r.seconds.toFixed(1)} s${retries}`);
  const init = parseInitReport(r.console);
  say(`${p.line}: modules loaded: ${init.loaded.join(' ') || '(none)'}`);
  for (const f of init.failures) say(`${p.line}: ${f}`);
  if (init.missingDevices.length) say(`${p.line}: missing devices: ${init.missingDevices.join(' ')}`);
  const guest = parseGuestOutput(r.records);
  if (guest.header.uname !== p.kernel.release) {
    throw new Error(`${p.line}: the guest says uname -r ${guest.header.uname}, the package is ${p.kernel.release}`);
  }
  const missing = p.scripts.filter((s) => !guest.scripts.some((g) => g.name === s.name)).map((s) => s.name);
  if (missing.length) throw new Error(`${p.line}: the guest gave no answers for ${missing.join(', ')}`);
  return { ...p, guest, provenance: makeProvenance(p.kernel, guest.header.uname, tools, init.loaded) };
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    say(`error: ${message(e)}`);
    process.exit(2);
  },
);
