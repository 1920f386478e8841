/**
 * A flame graph of one thread's samples, as a Vega spec (render.ts renders it to SVG):
 * the call tree merged by frame, each box as wide as the time spent in it and below it,
 * callers under callees (root at the bottom), coloured by kind: Wasm (the queue design's
 * hot path, named by the profile build), our JS, node internals, V8's pseudo-frames.
 * Vega's stratify + partition transforms do the layout.
 *
 * Boxes narrower than `minShare` of the thread are folded into their parent (their time
 * stays in it, drawn as the parent's own), so the SVG stays small on long profiles.
 */
import type { Frame, FrameKind, ThreadSamples } from './cpuprofile.js';
import type { VegaSpec } from './render.js';

interface TreeNode {
  id: number;
  parent: number | null;
  frame: number;
  total: number;
  self: number;
  children: Map<number, TreeNode>;
}

export interface FlameRow {
  id: number;
  parent: number | null;
  name: string;
  kind: FrameKind | 'root';
  /** time in this frame itself (plus folded-in narrow callees), µs */
  self: number;
  /** time in it and below, µs */
  total: number;
  depth: number;
}

/** The merged call tree as rows (root first), narrow boxes folded into their parents. */
export function flameRows(samples: ThreadSamples, frames: Frame[], o: { minShare?: number; rootName?: string } = {}): FlameRow[] {
  let next = 0;
  const root: TreeNode = { id: next++, parent: null, frame: -1, total: 0, self: 0, children: new Map() };
  samples.stacks.forEach((stack, i) => {
    const w = samples.weights[i]!;
    let node = root;
    node.total += w;
    for (const f of stack) {
      let c = node.children.get(f);
      if (c === undefined) {
        c = { id: next++, parent: node.id, frame: f, total: 0, self: 0, children: new Map() };
        node.children.set(f, c);
      }
      c.total += w;
      node = c;
    }
    node.self += w;
  });
  const min = root.total * (o.minShare ?? 0.002);
  const rows: FlameRow[] = [];
  const walk = (n: TreeNode, depth: number): void => {
    let self = n.self;
    const keep: TreeNode[] = [];
    for (const c of n.children.values()) {
      if (c.total >= min) keep.push(c);
      else self += c.total;
    }
    const f = n.frame >= 0 ? frames[n.frame]! : undefined;
    rows.push({ id: n.id, parent: n.parent, name: f?.name ?? o.rootName ?? 'all', kind: f?.kind ?? 'root', self, total: n.total, depth });
    for (const c of keep.sort((a, b) => b.total - a.total)) walk(c, depth + 1);
  };
  walk(root, 0);
  return rows;
}

const KIND_COLORS: Record<FlameRow['kind'], string> = { wasm: '#e8743b', js: '#f2b447', node: '#c7c7c7', v8: '#9fb7d4', root: '#dddddd' };

/** A Vega spec drawing the rows (from flameRows) as a flame graph. */
export function flameGraphSpec(rows: FlameRow[], o: { title: string; width?: number }): VegaSpec {
  const width = o.width ?? 1200;
  const rowH = 17;
  const depth = Math.max(...rows.map((r) => r.depth)) + 1;
  const height = depth * rowH;
  const totalMs = (rows[0]?.total ?? 0) / 1000;
  return {
    $schema: 'https://vega.github.io/schema/vega/v6.json',
    width, height, padding: 5,
    title: { text: o.title, subtitle: `${totalMs.toFixed(0)} ms sampled; width = time in a frame and below; orange = Wasm, yellow = JS, grey = node, blue = V8`, anchor: 'start', fontSize: 14, subtitleColor: '#555' },
    data: [{
      name: 'tree',
      values: rows,
      transform: [
        { type: 'stratify', key: 'id', parentKey: 'parent' },
        { type: 'partition', field: 'self', sort: { field: 'total', order: 'descending' }, size: [width, height], as: ['x0', 'y0', 'x1', 'y1', 'depth', 'children'] },
      ],
    }],
    scales: [{ name: 'color', type: 'ordinal', domain: Object.keys(KIND_COLORS), range: Object.values(KIND_COLORS) }],
    marks: [
      {
        type: 'rect', from: { data: 'tree' },
        encode: {
          enter: {
            // partition puts the root at the top: flip so callers sit under their callees
            x: { field: 'x0' }, x2: { field: 'x1' },
            y: { signal: `${height} - datum.y1` }, y2: { signal: `${height} - datum.y0 - 1` },
            fill: { scale: 'color', field: 'kind' }, stroke: { value: 'white' }, strokeWidth: { value: 0.5 },
            tooltip: { signal: "datum.name + ': ' + format(datum.total / 1000, '.1f') + ' ms'" },
            description: { signal: "datum.name + '; total ms: ' + format(datum.total / 1000, '.3f') + '; self ms: ' + format(datum.self / 1000, '.3f')" },
          },
        },
      },
      {
        type: 'text', from: { data: 'tree' }, interactive: false,
        encode: {
          enter: {
            x: { signal: 'datum.x0 + 3' }, y: { signal: `${height} - datum.y1 + ${rowH / 2}` },
            baseline: { value: 'middle' }, fontSize: { value: 10.5 }, fill: { value: '#1d1d1f' },
            text: { signal: "datum.x1 - datum.x0 > 30 ? datum.name : ''" },
            limit: { signal: 'max(0, datum.x1 - datum.x0 - 6)' },
          },
        },
      },
    ],
  } as unknown as VegaSpec;
}
