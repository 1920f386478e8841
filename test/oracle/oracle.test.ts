/**
 * kwq against the recorded real kernels: every script of oracle/scripts runs on kwq
 * booted at the release of each kernel it was recorded on (oracle/recorded/*.json, made
 * by `npm run oracle`), and every step must agree with Linux or be marked divergent with
 * its reason. A divergent mark that now agrees must go: marks stay honest both ways.
 */
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { loadScripts, scriptKernels, ORACLE_KERNELS } from '../../src/oracle/script.js';
import { readRecorded, unrunSteps } from '../../src/oracle/recorded.js';
import { scriptHash } from '../../src/oracle/wire.js';
import { runOnModel } from '../../src/oracle/model.js';
import { compareScript } from '../../src/oracle/compare.js';

const scripts = loadScripts();
const divergencesDoc = readFileSync(new URL('../../docs/divergences.md', import.meta.url), 'utf8');

describe('the corpus', () => {
  it('has scripts, and at least 250 compared steps per kernel', () => {
    for (const kernel of ORACLE_KERNELS) {
      const n = scripts.filter((s) => scriptKernels(s).includes(kernel)).reduce((a, s) => a + s.steps.length, 0);
      expect(n, `steps recorded on ${kernel}`).toBeGreaterThanOrEqual(250);
    }
  });
});

for (const kernel of ORACLE_KERNELS) {
  const rec = readRecorded(kernel);
  describe(`kwq --release ${kernel} against Linux ${kernel}`, () => {
    for (const script of scripts.filter((s) => scriptKernels(s).includes(kernel))) {
      it(script.name, async () => {
        expect(rec, `no oracle/recorded/linux-${kernel}.json: run npm run oracle`).not.toBeNull();
        const r = rec!.scripts[script.name];
        expect(r, `${script.name} is not recorded for ${kernel}: run npm run oracle -- --script ${script.name}`).toBeDefined();
        expect(r!.hash, `${script.name} changed after it was recorded: run npm run oracle -- --script ${script.name}`).toBe(scriptHash(script));
        expect(unrunSteps({ [script.name]: r! }), 'steps the guest could not run').toEqual([]);
        const kwq = await runOnModel(script, kernel);
        const verdicts = compareScript(script.steps, kernel, r!.records, kwq);
        const wrong = verdicts.filter((v) => !v.agree && v.divergent === undefined).map((v) => `#${v.step} ${v.op}: ${v.diffs.join('; ')}`);
        const stale = verdicts.filter((v) => v.agree && v.divergent !== undefined).map((v) => `#${v.step} ${v.op} agrees now: remove its divergent mark`);
        const undocumented = verdicts.filter((v) => v.divergent !== undefined && !divergencesDoc.includes(`${script.name}#${v.step}`))
          .map((v) => `#${v.step}: marked divergent but docs/divergences.md does not list ${script.name}#${v.step}`);
        expect([...wrong, ...stale, ...undocumented]).toEqual([]);
      });
    }
  });
}
