import type { TreeSnapshot } from '../manager/snapshot.js';
import { ANY_STATE, type GraphState, type MachineGraph } from './machine-graph.js';
import { treeDrawingNodes } from './tree-labels.js';
import { stateTone, TONE_FILL } from './tones.js';

/** Graphviz DOT text for machine graphs and running trees (render with `dot -Tsvg`). */

/**
 * A DOT `digraph` of a machine graph: one node per state (final states doubled, compound states
 * as clusters), one edge per transition (targetless ones as self-loops), a point for the start.
 *
 * @example
 * ```ts
 * writeFileSync('instance.dot', machineToDot(builtinGraph('instance')));
 * // digraph "instance" { ... "extracting" -> "spawning" [label="extract done"]; ... }
 * ```
 */
export function machineToDot(graph: MachineGraph): string {
  const out = [`digraph ${dotId(graph.id)} {`, '  rankdir=LR;', '  compound=true;', '  node [shape=box, style="rounded", fontname="Helvetica"];', '  edge [fontname="Helvetica", fontsize=10];'];
  const children = new Map<string | null, GraphState[]>();
  for (const state of graph.states) children.set(state.parent, [...(children.get(state.parent) ?? []), state]);
  let starts = 0;
  const declare = (parent: string | null, indent: string) => {
    for (const state of children.get(parent) ?? []) {
      if (children.has(state.id)) {
        out.push(`${indent}subgraph ${dotId(`cluster_${state.id}`)} {`, `${indent}  label=${dotId(state.name)};`);
        declare(state.id, `${indent}  `);
        out.push(`${indent}}`);
        continue;
      }
      out.push(`${indent}${dotId(state.id)} [label=${dotId(state.name)}${state.type === 'final' ? ', peripheries=2' : ''}];`);
      if (state.initial) {
        const start = `__start${starts++}`;
        out.push(`${indent}${dotId(start)} [shape=point, label=""];`, `${indent}${dotId(start)} -> ${dotId(state.id)};`);
      }
    }
  };
  declare(null, '  ');
  if (graph.transitions.some((t) => t.source === ANY_STATE)) out.push(`  ${dotId(ANY_STATE)} [label="any state", shape=plaintext];`);
  // DOT draws edges between nodes only: an edge of a compound state is drawn from/to the leaf it
  // starts in, clipped at the cluster's border (ltail/lhead).
  const leaf = (id: string): string => {
    const first = (children.get(id) ?? []).find((s) => s.initial) ?? children.get(id)?.[0];
    return first === undefined ? id : leaf(first.id);
  };
  for (const t of graph.transitions) {
    const target = t.target ?? t.source;
    const clip = [
      children.has(t.source) ? `ltail=${dotId(`cluster_${t.source}`)}` : '',
      children.has(target) && target !== t.source ? `lhead=${dotId(`cluster_${target}`)}` : '',
    ].filter(Boolean);
    out.push(`  ${dotId(leaf(t.source))} -> ${dotId(leaf(target))} [label=${dotId(t.label)}${clip.map((c) => `, ${c}`).join('')}];`);
  }
  out.push('}');
  return `${out.join('\n')}\n`;
}

/**
 * A DOT `digraph` of a running tree, top to bottom, nodes filled by state.
 *
 * @example
 * ```ts
 * process.stdout.write(treeToDot(manager.snapshot())); // pipe into `dot -Tsvg > tree.svg`
 * ```
 */
export function treeToDot(snapshot: TreeSnapshot): string {
  const out = ['digraph "tree" {', '  rankdir=TB;', '  node [fontname="Helvetica", style="filled"];'];
  const nodes = treeDrawingNodes(snapshot);
  for (const { id, node, lines } of nodes) {
    const shape = node.kind === 'supervisor' ? 'box3d' : node.kind === 'driver' ? 'box' : 'box, style="rounded,filled"';
    out.push(`  ${id} [shape=${shape}, fillcolor=${dotId(TONE_FILL[stateTone(node.state)])}, label=${dotId(lines.join('\n'))}];`);
  }
  for (const { id, parent } of nodes) if (parent !== null) out.push(`  ${parent} -> ${id};`);
  out.push('}');
  return `${out.join('\n')}\n`;
}

/**
 * A quoted DOT id: backslashes and quotes escaped, line breaks as DOT's `\n`.
 *
 * @example
 * ```ts
 * dotId('say "hi"'); // '"say \\"hi\\""'
 * ```
 */
export function dotId(text: string): string {
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\r?\n/g, '\\n')}"`;
}
