/**
 * Chart rendering: a Vega-Lite (or Vega) spec to an SVG string, in Node, headless.
 *
 * Why Vega: it renders to SVG with its own string renderer (`view.toSVG()`, renderer
 * 'none'), so no browser, DOM or canvas is needed (node-canvas is only for PNG), and
 * every mark it draws carries an `aria-label` naming the datum ("jobs: 4; kIOPS: 620.4"),
 * which is what the browser test reads back to check the numbers. Vega-Lite 6.4.3 is
 * the last release whose engines field still allows Node 20 (6.5 wants >= 22); Vega 6
 * declares none and runs on 20.
 */
import * as vega from 'vega';
import * as vl from 'vega-lite';
import type { TopLevelSpec } from 'vega-lite';

/**
 * A Vega-Lite spec as the chart functions build it: plain JSON. Not typed as
 * vega-lite's TopLevelSpec, whose deep unions reject literals that the schema accepts;
 * the tests validate every chart against vega-lite's own JSON schema instead.
 */
export type VegaLiteSpec = Record<string, unknown>;
export type VegaSpec = vega.Spec;

/** The look every kwq chart shares (a config, merged under each spec's own). */
export const CHART_CONFIG = {
  font: 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
  axis: { labelFontSize: 11, titleFontSize: 12, gridColor: '#e8e8e8' },
  legend: { labelFontSize: 11, titleFontSize: 12 },
  title: { fontSize: 14, anchor: 'start' as const, subtitleColor: '#555' },
  view: { stroke: null },
};

/** Render a Vega spec to a self-contained SVG (no external references). */
export async function renderVega(spec: VegaSpec): Promise<string> {
  const view = new vega.View(vega.parse(spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Compile a Vega-Lite spec and render it to SVG. */
export async function renderVegaLite(spec: VegaLiteSpec): Promise<string> {
  const withConfig = { ...spec, config: { ...CHART_CONFIG, ...(spec['config'] as object | undefined) } };
  return renderVega(vl.compile(withConfig as unknown as TopLevelSpec).spec);
}
