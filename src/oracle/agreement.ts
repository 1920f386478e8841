/**
 * The corpus's agreement with each recorded kernel: every script of oracle/scripts run on
 * kwq at the kernel's release and compared step by step (what `kwq run --all`, the README
 * table and the report's chart show).
 */
import { loadScripts, ORACLE_KERNELS, type OracleKernel } from './script.js';
import { runOnModel } from './model.js';
import { readRecorded } from './recorded.js';
import { scriptHash } from './wire.js';
import { compareScript } from './compare.js';

/** one line per kernel */
export interface Agreement {
  kernel: OracleKernel;
  provenance: string;
  scripts: number;
  steps: number;
  agree: number;
  divergent: number;
  differ: number;
  unrecorded: string[];
}

export async function corpusAgreement(): Promise<Agreement[]> {
  const scripts = loadScripts();
  const out: Agreement[] = [];
  for (const kernel of ORACLE_KERNELS) {
    const file = readRecorded(kernel);
    const a: Agreement = {
      kernel, provenance: file ? `${file.provenance.package ?? ''} ${file.provenance.version ?? ''}`.trim() : '(not recorded)',
      scripts: 0, steps: 0, agree: 0, divergent: 0, differ: 0, unrecorded: [],
    };
    for (const s of scripts) {
      if (!(s.kernels ?? ORACLE_KERNELS).includes(kernel)) continue;
      const rec = file?.scripts[s.name];
      if (rec === undefined || rec.hash !== scriptHash(s)) {
        a.unrecorded.push(s.name);
        continue;
      }
      const v = compareScript(s.steps, kernel, rec.records, await runOnModel(s, kernel));
      a.scripts++;
      a.steps += v.length;
      a.agree += v.filter((x) => x.agree).length;
      a.divergent += v.filter((x) => !x.agree && x.divergent !== undefined).length;
      a.differ += v.filter((x) => !x.agree && x.divergent === undefined).length;
    }
    out.push(a);
  }
  return out;
}

