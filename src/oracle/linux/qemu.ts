/**
 * Booting a kernel and its initramfs under QEMU TCG: no network, no display, two serial
 * ports as files (ttyS0 the console, ttyS1 the executor's records). A boot whose records
 * lack the final `@@done` line (a timeout, an early oops: 6.12 under TCG sometimes takes
 * an int3 in sched_clock_cpu) is retried, up to `attempts` boots in all, and never read
 * as an answer; two boots that stop at the same step with a clean console are a hang,
 * not a flake, and get no third. The last attempt's console and records are kept in the
 * cache's logs/.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { cacheDir } from './cache.js';
import { say } from './exec.js';

export interface BootRequest {
  /** For messages and log names: `6.1`, `6.12`. */
  label: string;
  vmlinuz: string;
  initrd: string;
  /** Where the attempts' serial files go. */
  workDir: string;
  timeoutSec: number;
  attempts: number;
}

export interface BootResult {
  records: string;
  console: string;
  /** Seconds from QEMU's start to its exit, of the boot that answered. */
  seconds: number;
  /** Boots made (1 when the first one answered). */
  boots: number;
}

export const KERNEL_CMDLINE = 'console=ttyS0 quiet loglevel=3 panic=-1 oops=panic';

export function qemuArgs(vmlinuz: string, initrd: string, consoleFile: string, recordsFile: string): string[] {
  return [
    '-accel', 'tcg', '-cpu', 'max', '-m', '1024', '-smp', '2',
    '-nodefaults', '-display', 'none', '-nic', 'none', '-no-reboot',
    '-kernel', vmlinuz, '-initrd', initrd, '-append', KERNEL_CMDLINE,
    '-serial', `file:${consoleFile}`, '-serial', `file:${recordsFile}`,
  ];
}

interface Attempt {
  exit: string;
  seconds: number;
  stderr: string;
}

/** Running QEMUs, killed when this process exits (an error elsewhere, a signal). */
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

function runQemu(args: string[], timeoutSec: number): Promise<Attempt> {
  return new Promise((resolvePromise, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    live.add(child);
    let stderr = '';
    let timedOut = false;
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutSec * 1000);
    child.on('error', (e) => {
      clearTimeout(timer);
      live.delete(child);
      reject(new Error(`qemu-system-x86_64: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      live.delete(child);
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      const exit = timedOut ? 'timed out' : signal ? `killed by ${signal}` : `exit ${code}`;
      resolvePromise({ exit, seconds, stderr: stderr.trim() });
    });
  });
}

const read = (path: string) => (existsSync(path) ? readFileSync(path, 'utf8').replace(/\r/g, '') : '');

export function hasDone(records: string): boolean {
  return records.split('\n').some((l) => l.trim() === '@@done');
}

/** The last `n` non-empty lines of a log, indented, for an error report. */
export function tail(text: string, n = 15): string {
  const lines = text.split('\n').filter((l) => l.trim().length > 0);
  return lines.slice(-n).map((l) => `    ${l}`).join('\n');
}

/** Where the records stop: `script NAME, after step N` (or at its start), or `before any script`. */
export function progress(records: string): string {
  let where = 'before any script';
  for (const l of records.split('\n')) {
    const script = /^@@script (\S+)/.exec(l);
    const step = /^@@ (\d+) (?!thr )/.exec(l);
    if (script) where = `script ${script[1]}, at its start`;
    else if (step) where = where.replace(/, (at its start|after step \d+)$/, `, after step ${step[1]}`);
    else if (l.startsWith('@@end ')) where = `after script ${l.slice(6)}`;
  }
  return where;
}

/** A kernel that failed by itself (an oops, a panic): worth another boot. */
const KERNEL_FAILURE = /Kernel panic|Oops|BUG:|general protection fault|int3:/;

/**
 * Boots until one boot prints `@@done`; throws (after printing the console's tail) when
 * none does. Two boots in a row that stop at the same place with no kernel failure on the
 * console are a hang in the script, not a flake: no third boot then.
 */
export async function bootWithRetries(req: BootRequest): Promise<BootResult> {
  const logs = cacheDir('logs');
  const keptConsole = join(logs, `${req.label}-console.log`);
  const keptRecords = join(logs, `${req.label}-records.txt`);
  let last = '';
  let lastWhere = '';
  for (let boot = 1; boot <= req.attempts; boot++) {
    const consoleFile = join(req.workDir, `console-${boot}.log`);
    const recordsFile = join(req.workDir, `records-${boot}.txt`);
    rmSync(consoleFile, { force: true });
    rmSync(recordsFile, { force: true });
    const a = await runQemu(qemuArgs(req.vmlinuz, req.initrd, consoleFile, recordsFile), req.timeoutSec);
    const records = read(recordsFile);
    const consoleText = read(consoleFile);
    if (existsSync(consoleFile)) copyFileSync(consoleFile, keptConsole);
    if (existsSync(recordsFile)) copyFileSync(recordsFile, keptRecords);
    if (hasDone(records)) return { records, console: consoleText, seconds: a.seconds, boots: boot };
    const where = progress(records);
    last = `${a.exit}${a.stderr ? ` (${a.stderr.split('\n')[0]})` : ''}, records stop ${where}`;
    const hang = where === lastWhere && !KERNEL_FAILURE.test(consoleText);
    lastWhere = where;
    const again = boot < req.attempts && !hang ? '; booting again' : '';
    say(`${req.label}: boot ${boot}/${req.attempts} gave no @@done after ${a.seconds.toFixed(1)} s: ${last}${again}`);
    process.stderr.write(consoleText.trim() ? `${tail(consoleText)}\n` : '    (the console is empty)\n');
    if (hang) {
      throw new Error(`${req.label}: two boots hung at the same place (${where}); records: ${keptRecords}, console: ${keptConsole}`);
    }
  }
  throw new Error(`${req.label}: no boot of ${req.attempts} printed @@done (last: ${last}); console log: ${keptConsole}`);
}
