/**
 * The recorded real-kernel answers: oracle/recorded/linux-<kernel>.json, one file per
 * kernel, written only by `npm run oracle` (src/oracle/linux/record.ts) from what the
 * guest printed. Each script's entry carries the hash of its compiled program block
 * (wire.ts scriptHash), so a script changed after its recording is caught by npm test,
 * and the file's provenance says which kernel package, QEMU and executor answered.
 *
 *   {
 *     "kernel": "6.12",
 *     "provenance": { "package": ..., "version": ..., "uname": ..., "qemu": ..., "date": ... },
 *     "scripts": { "<name>": { "hash": "<16 hex>", "records": [ StepRecord, ... ] } }
 *   }
 */
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { KwqError } from '../kernel/error.js';
import type { OracleKernel, StepScript } from './script.js';
import { scriptsDir } from './script.js';
import type { StepRecord } from './record.js';
import { decodeGuest, scriptHash, type GuestScript } from './wire.js';
import { compareRecords } from './compare.js';

export interface Provenance {
  [key: string]: string | number;
}

export interface RecordedScript {
  hash: string;
  records: StepRecord[];
}

export interface RecordedFile {
  kernel: OracleKernel;
  provenance: Provenance;
  scripts: Record<string, RecordedScript>;
}

/** what src/oracle/linux/guest-output.ts parses from the guest's records */
export interface GuestOutput {
  header: Record<string, string>;
  scripts: GuestScript[];
}

export function recordedDir(): string {
  return join(dirname(scriptsDir()), 'recorded');
}

export function recordedPath(kernel: OracleKernel): string {
  return join(recordedDir(), `linux-${kernel}.json`);
}

export function readRecorded(kernel: OracleKernel): RecordedFile | null {
  const p = recordedPath(kernel);
  if (!existsSync(p)) return null;
  try {
    return JSON.parse(readFileSync(p, 'utf8')) as RecordedFile;
  } catch (e) {
    throw new KwqError(p, `not a recorded-answers file: ${(e as Error).message}`);
  }
}

/** the guest's answers as records, per script, checked to be whole */
export function decodeAll(guest: GuestOutput, scripts: readonly StepScript[]): Record<string, RecordedScript> {
  const initPid = Number(guest.header.pid ?? 1);
  const out: Record<string, RecordedScript> = {};
  for (const s of scripts) {
    const g = guest.scripts.find((x) => x.name === s.name);
    if (g === undefined) throw new KwqError('oracle', `the guest printed no answers for script '${s.name}'`);
    out[s.name] = { hash: scriptHash(s), records: decodeGuest(s, g, { initPid, kthreaddPid: 2 }) };
  }
  return out;
}

/** steps the executor could not run on Linux: a recording with them is not an answer */
export function unrunSteps(recs: Record<string, RecordedScript>): string[] {
  return Object.entries(recs).flatMap(([name, r]) => r.records.filter((x) => x.error !== undefined).map((x) => `${name}#${x.step} (${x.op}): ${x.error}`));
}

/** write (merge) the fresh answers into oracle/recorded/linux-<kernel>.json */
export function writeRecorded(kernel: OracleKernel, provenance: Provenance, guest: GuestOutput, scripts: readonly StepScript[], all = true): string {
  const fresh = decodeAll(guest, scripts);
  const old = readRecorded(kernel);
  const merged: Record<string, RecordedScript> = all ? {} : { ...(old?.scripts ?? {}) };
  Object.assign(merged, fresh);
  const sorted = Object.fromEntries(Object.keys(merged).sort().map((k) => [k, merged[k]!]));
  const file: RecordedFile = { kernel, provenance, scripts: sorted };
  mkdirSync(recordedDir(), { recursive: true });
  const p = recordedPath(kernel);
  writeFileSync(p, `${JSON.stringify(file, null, 1)}\n`);
  return p;
}

/**
 * The fresh answers against the committed ones, by each step's check rules: one line per
 * difference (an unrecorded script, a script changed since its recording, a step whose
 * answer moved). Empty: Linux still answers what the repository says.
 */
export function checkRecorded(kernel: OracleKernel, _provenance: Provenance, guest: GuestOutput, scripts: readonly StepScript[]): string[] {
  const fresh = decodeAll(guest, scripts);
  const old = readRecorded(kernel);
  const out: string[] = [];
  for (const s of scripts) {
    const was = old?.scripts[s.name];
    const now = fresh[s.name]!;
    if (was === undefined) {
      out.push(`${s.name}: not recorded for ${kernel} (run npm run oracle and commit oracle/recorded)`);
      continue;
    }
    if (was.hash !== now.hash) {
      out.push(`${s.name}: changed since it was recorded for ${kernel} (hash ${was.hash}, now ${now.hash})`);
      continue;
    }
    s.steps.forEach((step, i) => {
      const a = was.records[i];
      const b = now.records[i];
      if (a === undefined || b === undefined) {
        out.push(`${s.name}#${i}: missing record`);
        return;
      }
      for (const d of compareRecords(step, a, b, ['recorded', 'now'])) out.push(`${s.name}#${i} (${step.op}): ${d}`);
    });
  }
  return out;
}
