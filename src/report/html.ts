/**
 * The report page: one self-contained HTML file (inline CSS, inline SVG charts, no
 * script that runs, no external URL), built from a TourReportData and embedding it as
 * JSON (<script type="application/json" id="kwq-report-data">) so that a reader, or
 * the browser test, can check every number shown against the data.
 *
 * What the test relies on (keep it when changing the page):
 *   figure.chart[data-chart=ID] > svg     one per chart; ID = scenario name or 'agreement'
 *   section[data-scenario=NAME] pre.tour  the tour's lines for NAME, verbatim
 *   table#agreement tr[data-kernel=K] td[data-field=F]   corpusAgreement()'s numbers
 *   #engine [data-field=F]                the engine run's figures
 */
import { agreementChart, SCENARIO_CHARTS, AGREEMENT_KINDS } from './charts.js';
import { renderVegaLite } from './render.js';
import type { TourReportData } from './tour-report.js';

export interface RenderedChart {
  id: string;
  svg: string;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** JSON safe inside <script>: no '</' can close the element, no U+2028/9 surprises */
function scriptJson(v: unknown): string {
  return JSON.stringify(v).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

/** Every chart of the report, rendered: one per scenario that has one, then the oracle's. */
export async function renderReportCharts(data: TourReportData): Promise<RenderedChart[]> {
  const out: RenderedChart[] = [];
  for (const s of data.scenarios) {
    const chart = SCENARIO_CHARTS[s.name];
    if (chart) out.push({ id: s.name, svg: await renderVegaLite(chart(s.data as never)) });
  }
  if (data.agreement.length > 0) out.push({ id: 'agreement', svg: await renderVegaLite(agreementChart(data.agreement)) });
  return out;
}

const CSS = `
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto; max-width: 1060px; padding: 1.5em 2em 4em; color: #1d1d1f; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 2.2em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
.meta { color: #555; font-size: 13px; }
nav ol { columns: 2; font-size: 14px; }
figure.chart { margin: 1em 0; } figure.chart svg { max-width: 100%; height: auto; }
pre.tour { background: #f6f6f4; padding: 0.8em 1em; overflow-x: auto; font-size: 12px; line-height: 1.35; border-radius: 4px; }
table { border-collapse: collapse; font-size: 14px; } th, td { border-bottom: 1px solid #ddd; padding: 0.3em 0.8em; text-align: right; }
th:first-child, td:first-child, td.text { text-align: left; }
.ok { color: #2e7d32; } .bad { color: #c0392b; font-weight: 600; }
`;

function engineSection(e: NonNullable<TourReportData['engine']>): string {
  const f = (field: string, text: string): string => `<span data-field="${field}">${esc(text)}</span>`;
  return `<section id="engine"><h2>the threaded engine</h2>
<p>2 producer threads queue works to 1 vhost worker thread (Wasm over one shared memory) for ${f('durationMs', String(e.durationMs))} ms:
${f('itemsPerSec', (e.itemsPerSec / 1e6).toFixed(1))} M items/s, ${f('added', String(e.added))} works,
${f('wakeupsPer1000', e.wakeupsPer1000.toFixed(3))} wake-ups per 1000 items;
exactly-once: <span data-field="exactlyOnce" class="${e.exactlyOnce ? 'ok' : 'bad'}">${e.exactlyOnce ? 'ok' : 'FAILED'}</span>
(run ${f('run', String(e.run))}, added ${e.added}).</p></section>`;
}

function agreementSection(data: TourReportData, chart: RenderedChart | undefined): string {
  const rows = data.agreement
    .map((r) => {
      const unrec = r.unrecorded.length ? r.unrecorded.join(', ') : '';
      return `<tr data-kernel="${esc(r.kernel)}"><td>Linux ${esc(r.kernel)}</td><td class="text" data-field="provenance">${esc(r.provenance)}</td>`
        + `<td data-field="scripts">${r.scripts}</td><td data-field="steps">${r.steps}</td><td data-field="agree">${r.agree}</td>`
        + `<td data-field="divergent">${r.divergent}</td><td data-field="differ" class="${r.differ ? 'bad' : ''}">${r.differ}</td>`
        + `<td class="text" data-field="unrecorded">${esc(unrec)}</td></tr>`;
    })
    .join('\n');
  return `<section id="oracle" data-scenario="agreement"><h2>the oracle: kwq beside real Linux</h2>
<p>Every step script of the corpus (oracle/scripts) run on kwq and compared with the answers recorded from real kernels booted under QEMU
(<code>npm run oracle</code>): steps that ${AGREEMENT_KINDS[0]}, steps that differ but are ${AGREEMENT_KINDS[1]} with the reason (docs/divergences.md), steps that ${AGREEMENT_KINDS[2]}.</p>
${chart ? `<figure class="chart" data-chart="agreement">${chart.svg}</figure>` : ''}
<table id="agreement"><thead><tr><th>kernel</th><th>recorded from</th><th>scripts</th><th>steps</th><th>agree</th><th>divergent (marked)</th><th>differ</th><th>not recorded (or changed since)</th></tr></thead>
<tbody>
${rows}
</tbody></table></section>`;
}

/** The whole page. */
export function reportHtml(data: TourReportData, charts: RenderedChart[]): string {
  const byId = new Map(charts.map((c) => [c.id, c]));
  const sections = data.scenarios.map((s) => {
    const c = byId.get(s.name);
    return `<section id="sc-${esc(s.name)}" data-scenario="${esc(s.name)}"><h2>${esc(s.name)}</h2>
<p>${esc(s.title)}</p>
${c ? `<figure class="chart" data-chart="${esc(s.name)}">${c.svg}</figure>` : ''}
<pre class="tour">${esc(s.lines.join('\n'))}</pre>
<p class="meta">the data: <code>kwq scenario ${esc(s.name)} --json</code></p></section>`;
  });
  const toc = [
    data.engine ? '<li><a href="#engine">the threaded engine</a></li>' : '',
    ...data.scenarios.map((s) => `<li><a href="#sc-${esc(s.name)}">${esc(s.name)}</a></li>`),
    '<li><a href="#oracle">the oracle</a></li>',
  ].join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>kwq ${esc(data.kwq)}: the tour</title>
<style>${CSS}</style>
</head><body>
<h1>kwq: the tour</h1>
<p class="meta">kwq ${esc(data.kwq)}, Node ${esc(data.node)}, ${data.host.cpus} CPUs (${esc(data.host.cpuModel)}), run ${esc(data.generated)}.
Written by <code>kwq report</code> (and at the end of <code>npm start</code>); the numbers below are from that one run.</p>
<nav><ol>${toc}</ol></nav>
${data.engine ? engineSection(data.engine) : ''}
${sections.join('\n')}
${agreementSection(data, byId.get('agreement'))}
<script type="application/json" id="kwq-report-data">${scriptJson(data)}</script>
</body></html>
`;
}
