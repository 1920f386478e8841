/**
 * `kwq run FILE.json|NAME [--on model|linux-6.12|linux-6.1|all] [--release R] [--json]`:
 * a step script's answers, step by step: kwq's alone (--on model, at --release, default
 * 6.12), or kwq's beside the real kernel's (recorded by `npm run oracle` for the corpus
 * scripts in oracle/scripts; a script changed since its recording says so), differences
 * marked. Exit 0 when every compared step agrees or is marked divergent, 1 otherwise.
 */
import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import { KwqError } from '../kernel/error.js';
import { parseRelease, type Release } from '../kernel/release.js';
import { loadScriptFile, loadScripts, ORACLE_KERNELS, type OracleKernel, type StepScript } from '../oracle/script.js';
import { runOnModel } from '../oracle/model.js';
import { readRecorded } from '../oracle/recorded.js';
import { scriptHash } from '../oracle/wire.js';
import { compareScript, type StepVerdict } from '../oracle/compare.js';
import type { StepRecord } from '../oracle/record.js';
import { corpusAgreement } from '../oracle/agreement.js';

export const RUN_USAGE = 'kwq run FILE.json|NAME [--on model|linux-6.12|linux-6.1|all] [--release R] [--json] | kwq run --all [--json]';

/** a record in one line: "0", "ENOMEM", "killed", "3 {worker_id:1}", text on the next lines */
export function showRecord(r: StepRecord | undefined): string {
  if (r === undefined) return '(no record)';
  if (r.error !== undefined) return `could not run: ${r.error}`;
  if (r.killed) return 'killed during the call';
  if (r.errno !== undefined) return `-${r.errno}`;
  const parts = [String(r.ret)];
  if (r.value !== undefined) parts.push(`value=${r.value}`);
  if (r.struct !== undefined) parts.push(JSON.stringify(r.struct));
  if (r.total !== undefined) parts.push(`total=${r.total}`);
  if (r.status !== undefined) parts.push(r.status);
  if (r.tasks !== undefined) for (const t of r.tasks) parts.push(`\n      ${t.comm} tid=${t.tid} tgid=${t.tgid} ppid=${t.ppid} [${t.flags.join(',')}] ${t.cgroup}`);
  if (r.text !== undefined) parts.push(`\n      ${r.text.trimEnd().split('\n').join('\n      ')}`);
  return parts.join(' ');
}

function stepLine(s: StepScript['steps'][number]): string {
  const { op, note: _n, check: _c, divergent: _d, ...rest } = s;
  const args = Object.entries(rest).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ');
  return `${op} ${args}`;
}

function resolveScript(arg: string): StepScript {
  if (existsSync(arg)) return loadScriptFile(arg);
  if (/^[a-z0-9][a-z0-9-]*$/.test(arg)) return loadScripts([arg])[0]!;
  throw new KwqError('kwq run', `no script file ${arg}`);
}

interface KernelRun {
  kernel: OracleKernel;
  recorded: 'yes' | 'stale' | 'no';
  verdicts: StepVerdict[];
  linux: StepRecord[];
}

export async function runCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv, allowPositionals: true, strict: true,
    options: { all: { type: 'boolean', default: false }, on: { type: 'string', default: 'all' }, release: { type: 'string' }, json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    console.log(`usage: ${RUN_USAGE}`);
    return 0;
  }
  if (values.all) {
    if (positionals.length > 0) throw new KwqError('kwq run --all', `takes no script (got ${positionals.join(' ')})`);
    return agreement(values.json === true);
  }
  if (positionals.length !== 1) throw new KwqError('kwq run', `name one script (usage: ${RUN_USAGE})`);
  const script = resolveScript(positionals[0]!);
  const on = values.on!;
  const allowed = ['model', 'all', ...ORACLE_KERNELS.map((k) => `linux-${k}`)];
  if (!allowed.includes(on)) throw new KwqError('kwq run: --on', `got '${on}'; allowed: ${allowed.join(', ')}`);

  if (on === 'model') {
    const release: Release = parseRelease(values.release ?? '6.12');
    const recs = await runOnModel(script, release);
    if (values.json) console.log(JSON.stringify({ script: script.name, release, records: recs }, null, 1));
    else {
      console.log(`# ${script.name} on kwq ${release}: ${script.description}`);
      script.steps.forEach((s, i) => console.log(`${String(i).padStart(3)} ${stepLine(s)}\n      ${showRecord(recs[i])}`));
    }
    return 0;
  }
  if (values.release !== undefined) throw new KwqError('kwq run: --release', 'only with --on model (a real kernel is compared with kwq at its own release)');
  const kernels = (on === 'all' ? ORACLE_KERNELS : [on.slice('linux-'.length)]) as OracleKernel[];
  const runs: KernelRun[] = [];
  for (const kernel of kernels) {
    const rec = readRecorded(kernel)?.scripts[script.name];
    const recorded = rec === undefined ? 'no' : rec.hash === scriptHash(script) ? 'yes' : 'stale';
    const kwq = await runOnModel(script, kernel);
    const linux = recorded === 'yes' ? rec!.records : [];
    runs.push({ kernel, recorded, linux, verdicts: recorded === 'yes' ? compareScript(script.steps, kernel, linux, kwq) : kwq.map((r) => ({ step: r.step, op: r.op, agree: false, diffs: [showRecord(r)] })) });
  }
  let failed = false;
  if (values.json) console.log(JSON.stringify({ script: script.name, runs }, null, 1));
  for (const run of runs) {
    if (run.recorded !== 'yes') {
      failed = true;
      if (!values.json) {
        console.log(`# ${script.name} on Linux ${run.kernel}: ${run.recorded === 'no' ? 'not recorded' : 'changed since it was recorded'}; ` +
          `record it with: npm run oracle -- --script ${script.name}`);
      }
      continue;
    }
    const agree = run.verdicts.filter((v) => v.agree).length;
    const divergent = run.verdicts.filter((v) => !v.agree && v.divergent !== undefined).length;
    const differ = run.verdicts.length - agree - divergent;
    if (differ > 0) failed = true;
    if (values.json) continue;
    console.log(`# ${script.name}: Linux ${run.kernel} (recorded) beside kwq ${run.kernel}: ${agree} agree, ${divergent} divergent (marked), ${differ} differ`);
    script.steps.forEach((s, i) => {
      const v = run.verdicts[i]!;
      const mark = v.agree ? '  ' : v.divergent !== undefined ? '~ ' : '! ';
      console.log(`${mark}${String(i).padStart(3)} ${stepLine(s)}\n        linux: ${showRecord(run.linux[i])}`);
      if (!v.agree) {
        for (const d of v.diffs) console.log(`        differs: ${d}`);
        if (v.divergent !== undefined) console.log(`        divergent: ${v.divergent}`);
      }
    });
  }
  return failed ? 1 : 0;
}

async function agreement(json: boolean): Promise<number> {
  const rows = await corpusAgreement();
  if (json) console.log(JSON.stringify(rows, null, 1));
  else {
    console.log('| kernel | recorded from | scripts | steps | agree | divergent (marked) | differ |');
    console.log('|---|---|---|---|---|---|---|');
    for (const r of rows) console.log(`| Linux ${r.kernel} | ${r.provenance} | ${r.scripts} | ${r.steps} | ${r.agree} | ${r.divergent} | ${r.differ} |`);
    for (const r of rows) if (r.unrecorded.length > 0) console.log(`\nnot recorded (or changed since) for ${r.kernel}: ${r.unrecorded.join(', ')}`);
  }
  return rows.every((r) => r.differ === 0 && r.unrecorded.length === 0) ? 0 : 1;
}
