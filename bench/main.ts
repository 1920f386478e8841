/**
 * Runs every benchmark section and prints a human table; `--json FILE` writes every
 * figure and ratio; `--quick` keeps the whole run under 2 minutes.
 *   node --expose-gc dist/bench/main.js [--quick] [--json FILE] [--only NAME[,NAME]]
 * (`npm run bench -- --quick --json out.json` builds first.)
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import os from 'node:os';
import type { BenchScript, BenchSection } from './types.js';
import llist from './llist.js';
import vhostThreads from './vhost-threads.js';
import boundary from './boundary.js';
import rbtree from './rbtree.js';
import sim from './sim.js';
import loop from './loop.js';
import vhostScsi from './vhost-scsi.js';
import ioWq from './io-wq.js';
import scale from './scale.js';
import cgroupCpu from './cgroup-cpu.js';

/** The options, by node:util parseArgs; a bad one is a one-line error and exit code 2. */
function options(argv: string[]): { quick: boolean; json?: string; only?: string[] } {
  const { values } = parseArgs({
    args: argv,
    options: { quick: { type: 'boolean' }, json: { type: 'string' }, only: { type: 'string' }, help: { type: 'boolean' } },
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write('usage: npm run bench -- [--quick] [--json FILE] [--only NAME[,NAME]]\n');
    process.exit(0);
  }
  return {
    quick: values.quick ?? false,
    ...(values.json !== undefined ? { json: values.json } : {}),
    ...(values.only !== undefined ? { only: values.only.split(',') } : {}),
  };
}

const fmt = (v: number): string => (Math.abs(v) >= 100 ? v.toFixed(1) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(3));

async function main(): Promise<void> {
  let args: ReturnType<typeof options>;
  try {
    args = options(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`bench: ${(e as Error).message}\n`);
    process.exitCode = 2;
    return;
  }
  const sections: [string, BenchScript][] = [
    ['io-wq', ioWq],
    ['llist', llist],
    ['vhost-threads', vhostThreads],
    ['boundary', boundary],
    ['rbtree', rbtree],
    ['sim', sim],
    ['loop', loop],
    ['vhost-scsi', vhostScsi],
    ['scale', scale],
    ['cgroup-cpu', cgroupCpu],
  ];
  if (args.only) {
    const known = sections.map(([n]) => n);
    const unknown = args.only.filter((n) => !known.includes(n));
    if (unknown.length) {
      process.stderr.write(`bench: --only ${unknown.join(',')}: no such section (sections: ${known.join(', ')})\n`);
      process.exitCode = 2;
      return;
    }
  }
  const results: (BenchSection & { section: string })[] = [];
  const t0 = performance.now();
  for (const [name, script] of sections) {
    if (args.only && !args.only.includes(name)) continue;
    (globalThis as { gc?: () => void }).gc?.();
    const s = await script({ quick: args.quick });
    results.push({ section: name, ...s });
    console.log(`\n## ${s.title}`);
    for (const f of s.figures) {
      const notes = f.notes ? Object.entries(f.notes).map(([k, v]) => `${k} ${v}`).join(', ') : '';
      console.log(`  ${f.name.padEnd(62)} ${fmt(f.value).padStart(10)} ${f.unit.padEnd(10)} ${notes}`);
    }
    for (const r of s.ratios) {
      const floor = r.floor === undefined ? '' : `  (floor ${r.floor}: ${r.pass ? 'pass' : 'FAIL'})`;
      console.log(`  ratio ${r.name.padEnd(56)} ${fmt(r.value).padStart(10)}${floor}`);
    }
    for (const n of s.notes ?? []) console.log(`  note: ${n}`);
  }
  const seconds = (performance.now() - t0) / 1000;
  console.log(`\n${results.length} section(s) in ${seconds.toFixed(1)} s${args.quick ? ' (--quick)' : ''}`);
  if (args.json) {
    const env = { node: process.version, cpus: os.cpus().length, cpu: os.cpus()[0]?.model, quick: args.quick, date: new Date().toISOString(), seconds };
    writeFileSync(args.json, JSON.stringify({ env, sections: results }, null, 2));
    console.log(`wrote ${args.json}`);
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
});
