import { ANY_STATE, type MachineGraph } from './machine-graph.js';

/**
 * An SVG drawing of a machine graph, laid out here (no Mermaid, no Graphviz, nothing fetched): the
 * states in columns by their longest distance from the initial state, edges as curves. Each state
 * is a `<g data-state="...">`, so a page can highlight the current one by toggling a class.
 */

/** Options of {@link machineToSvg}. */
export interface SvgOptions {
  /** States drawn highlighted (class `current`). */
  current?: readonly string[];
  /** The `id` attribute of the `<svg>` element. */
  id?: string;
}

const BOX_W = 124;
const BOX_H = 34;
// Columns as close as edge labels allow: the dashboard shows the instance machine (7 columns) across
// a 1400 px window at nearly its natural size, so its labels stay readable.
const COL_W = 200;
const ROW_H = 84;
const MARGIN = 30;
/** Room above the first row for self-loops and their labels. */
const TOP = 56;

interface Placed {
  id: string;
  label: string;
  layer: number;
  row: number;
  x: number;
  y: number;
  final: boolean;
  pseudo: boolean;
}

/**
 * Draws `graph` as a standalone SVG document (its own styles included).
 *
 * @example
 * ```ts
 * writeFileSync('lifecycle.svg', machineToSvg(builtinGraph('instance'), { current: ['ready'] }));
 * ```
 */
export function machineToSvg(graph: MachineGraph, options: SvgOptions = {}): string {
  const placed = layout(graph);
  const byId = new Map(placed.map((p) => [p.id, p]));
  const width = Math.max(...placed.map((p) => p.x)) + BOX_W + MARGIN;
  const lowest = Math.max(...placed.map((p) => p.y)) + BOX_H;
  // Edges between the same two states share one curve, their labels stacked.
  // The drawing names the events; guards and actions are in each edge's tooltip.
  const edges = new Map<string, { from: Placed; to: Placed; labels: string[]; full: string[] }>();
  for (const t of graph.transitions) {
    const from = byId.get(t.source);
    const to = byId.get(t.target ?? t.source);
    if (from === undefined || to === undefined) continue;
    const key = `${from.id}\u0000${to.id}`;
    const edge = edges.get(key) ?? { from, to, labels: [], full: [] };
    if (!edge.labels.includes(t.eventLabel)) edge.labels.push(t.eventLabel);
    edge.full.push(t.label);
    edges.set(key, edge);
  }
  let back = 0;
  let over = 0;
  const taken: Array<{ x: number; y: number; w: number }> = [];
  const paths: string[] = [];
  // Labels go in their own layer above the boxes, with a halo, so no box or line hides one.
  const labelsLayer: string[] = [];
  let bottom = lowest;
  for (const { from, to, labels, full } of edges.values()) {
    const jumpsOver = to.layer > from.layer + 1 && to.row === from.row;
    const { d, lx, ly, low } = curve(from, to, lowest, from.id === to.id ? 0 : to.layer <= from.layer ? back++ : jumpsOver ? over++ : 0);
    bottom = Math.max(bottom, low);
    const title = `<title>${xml(full.join('\n'))}</title>`;
    paths.push(`<g class="edge" data-from="${xml(from.id)}" data-to="${xml(to.id)}">${title}<path d="${d}" marker-end="url(#arrow)"/></g>`);
    const text = labels.join(', ');
    const y = freeSpot(taken, lx, ly - 4, text.length * 6.7);
    labelsLayer.push(`<text class="edge-label" x="${lx.toFixed(1)}" y="${y.toFixed(1)}">${title}${xml(text)}</text>`);
  }
  const current = new Set(options.current ?? []);
  const boxes = placed.map((p) => {
    const classes = ['state', p.pseudo ? 'pseudo' : '', p.final ? 'final' : '', current.has(p.id) ? 'current' : ''].filter(Boolean).join(' ');
    const inner = p.final ? `<rect class="inner" x="${p.x + 3}" y="${p.y + 3}" width="${BOX_W - 6}" height="${BOX_H - 6}" rx="8"/>` : '';
    return `<g class="${classes}" data-state="${xml(p.id)}"><rect x="${p.x}" y="${p.y}" width="${BOX_W}" height="${BOX_H}" rx="10"/>${inner}` +
      `<text x="${p.x + BOX_W / 2}" y="${p.y + BOX_H / 2 + 4}" text-anchor="middle">${xml(p.label)}</text></g>`;
  });
  const height = bottom + MARGIN;
  const initial = byId.get(graph.initial);
  const start = initial === undefined ? '' : `<circle class="start" cx="${initial.x - 14}" cy="${initial.y + BOX_H / 2}" r="5"/>`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg"${options.id ? ` id="${xml(options.id)}"` : ''} class="machine" data-machine="${xml(graph.id)}" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" font-family="Helvetica, Arial, sans-serif">`,
    `<title>${xml(graph.id)} state machine</title>`,
    '<style>',
    '.state rect { fill: #f6f8fa; stroke: #57606a; stroke-width: 1.2; }',
    '.state.pseudo rect { fill: none; stroke-dasharray: 4 3; }',
    '.state.final rect.inner { fill: none; }',
    '.state.current rect { fill: #cfe3ff; stroke: #0550ae; stroke-width: 3; }',
    '.state text { font-size: 14px; fill: #1f2328; }',
    '.edge path { fill: none; stroke: #8c959f; stroke-width: 1.1; }',
    '.edge-label { font-size: 12px; fill: #424a53; text-anchor: middle; paint-order: stroke; stroke: #ffffff; stroke-width: 3px; }',
    '.start { fill: #1f2328; }',
    '</style>',
    '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#8c959f"/></marker></defs>',
    ...paths,
    ...boxes,
    ...labelsLayer,
    start,
    '</svg>',
  ].join('\n');
}

/**
 * Columns by longest path from the initial state over the edges that are not back edges (found
 * by a depth-first walk in definition order); rows ordered once by the mean row of predecessors.
 */
function layout(graph: MachineGraph): Placed[] {
  const ids = graph.states.filter((s) => s.type !== 'compound' && s.type !== 'parallel').map((s) => s.id);
  const hasAny = graph.transitions.some((t) => t.source === ANY_STATE);
  if (hasAny) ids.unshift(ANY_STATE);
  const known = new Set(ids);
  const out = new Map<string, string[]>();
  for (const id of ids) out.set(id, []);
  for (const t of graph.transitions) {
    if (t.target === null || t.target === t.source || !known.has(t.source) || !known.has(t.target)) continue;
    if (!out.get(t.source)!.includes(t.target)) out.get(t.source)!.push(t.target);
  }
  // Depth-first from the initial state (then from anything unreached): an edge to a state still
  // on the stack closes a cycle and is left out of the layering.
  const forward = new Map<string, string[]>(ids.map((id) => [id, []]));
  const mark = new Map<string, 'open' | 'done'>();
  const dfs = (id: string) => {
    mark.set(id, 'open');
    for (const next of out.get(id)!) {
      if (mark.get(next) === 'open') continue;
      forward.get(id)!.push(next);
      if (!mark.has(next)) dfs(next);
    }
    mark.set(id, 'done');
  };
  for (const id of [graph.initial, ...ids]) if (known.has(id) && !mark.has(id)) dfs(id);
  const layer = new Map<string, number>();
  const depth = (id: string): number => {
    const cached = layer.get(id);
    if (cached !== undefined) return cached;
    layer.set(id, 0); // the forward edges are acyclic; this only guards against surprises
    let best = 0;
    for (const [from, tos] of forward) if (tos.includes(id)) best = Math.max(best, depth(from) + 1);
    layer.set(id, best);
    return best;
  };
  for (const id of ids) depth(id);
  if (hasAny) {
    // "any state" sits in the column before the states it leads to, not in front of everything.
    const targets = out.get(ANY_STATE)!.map((t) => layer.get(t)!);
    layer.set(ANY_STATE, Math.max(0, Math.min(...targets) - 1));
  }
  const columns = new Map<number, string[]>();
  for (const id of ids) columns.set(layer.get(id)!, [...(columns.get(layer.get(id)!) ?? []), id]);
  const row = new Map<string, number>();
  for (const l of [...columns.keys()].sort((a, b) => a - b)) {
    const column = columns.get(l)!;
    const weight = (id: string) => {
      const preds = ids.filter((p) => out.get(p)!.includes(id) && row.has(p)).map((p) => row.get(p)!);
      return preds.length === 0 ? column.indexOf(id) : preds.reduce((a, b) => a + b, 0) / preds.length;
    };
    const weights = new Map(column.map((id) => [id, weight(id)]));
    column.sort((a, b) => weights.get(a)! - weights.get(b)! || ids.indexOf(a) - ids.indexOf(b));
    column.forEach((id, i) => row.set(id, i));
  }
  const finals = new Set(graph.states.filter((s) => s.type === 'final').map((s) => s.id));
  const names = new Map(graph.states.map((s) => [s.id, s.name]));
  return ids.map((id) => ({
    id,
    label: id === ANY_STATE ? 'any state' : names.get(id)!,
    layer: layer.get(id)!,
    row: row.get(id)!,
    x: MARGIN + 20 + layer.get(id)! * COL_W,
    y: TOP + row.get(id)! * ROW_H,
    final: finals.has(id),
    pseudo: id === ANY_STATE,
  }));
}

/**
 * A forward edge runs from the right side to the left side; a back edge loops under the drawing;
 * a self edge loops over its box. `index` staggers edges of one kind so they do not overlap.
 */
function curve(from: Placed, to: Placed, lowest: number, index: number): { d: string; lx: number; ly: number; low: number } {
  if (from.id === to.id) {
    const x = from.x + BOX_W / 2;
    const y = from.y;
    const d = `M${x - 18},${y} C${x - 34},${y - 34} ${x + 34},${y - 34} ${x + 18},${y}`;
    return { d, lx: x, ly: y - 27, low: y };
  }
  if (to.layer > from.layer + 1 && to.row === from.row) {
    // Jumping over the boxes between them on the same row: arc above the row.
    const x1 = from.x + BOX_W / 2 + 10;
    const x2 = to.x + BOX_W / 2 - 10;
    const y = from.y;
    const peak = y - 34 - index * 8;
    const d = `M${x1},${y} C${x1},${peak} ${x2},${peak} ${x2},${y}`;
    return { d, lx: (x1 + x2) / 2, ly: 0.25 * y + 0.75 * peak, low: y };
  }
  if (to.layer > from.layer) {
    const x1 = from.x + BOX_W;
    const y1 = from.y + BOX_H / 2;
    const x2 = to.x;
    const y2 = to.y + BOX_H / 2;
    const dx = (x2 - x1) / 2;
    const d = `M${x1},${y1} C${x1 + dx},${y1} ${x2 - dx},${y2} ${x2},${y2}`;
    return { d, lx: (x1 + x2) / 2, ly: (y1 + y2) / 2, low: Math.max(y1, y2) };
  }
  const x1 = from.x + BOX_W / 2 - 10;
  const y1 = from.y + BOX_H;
  const x2 = to.x + BOX_W / 2 + 10;
  const y2 = to.y + BOX_H;
  const dip = lowest + 26 + index * 16;
  const d = `M${x1},${y1} C${x1},${dip} ${x2},${dip} ${x2},${y2}`;
  // The curve's midpoint (t = 1/2 of the cubic).
  const ly = 0.125 * y1 + 0.375 * dip + 0.375 * dip + 0.125 * y2;
  return { d, lx: (x1 + x2) / 2, ly, low: ly + 4 };
}

/** The nearest height at or below `y` where a label of width `w` centred on `x` overlaps no other label. */
function freeSpot(taken: Array<{ x: number; y: number; w: number }>, x: number, y: number, w: number): number {
  let spot = y;
  for (let tries = 0; tries < 8; tries++) {
    const clash = taken.some((t) => Math.abs(t.y - spot) < 13 && Math.abs(t.x - x) < (t.w + w) / 2 + 4);
    if (!clash) break;
    spot += 13;
  }
  taken.push({ x, y: spot, w });
  return spot;
}

function xml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
