import type { TreeSnapshot } from '../manager/snapshot.js';
import { ANY_STATE, type GraphState, type MachineGraph } from './machine-graph.js';
import { treeDrawingNodes } from './tree-labels.js';
import { stateTone, TONE_FILL } from './tones.js';

/** Mermaid text for machine graphs (`stateDiagram-v2`) and running trees (`flowchart`). */

/**
 * The Mermaid id of the pseudo-state that stands for "any state" (root transitions).
 *
 * @example
 * ```ts
 * machineToMermaid(builtinGraph('instance')).includes(`${MERMAID_ANY_STATE} --> stopping: STOP`); // true
 * ```
 */
export const MERMAID_ANY_STATE = 'any_state';

/**
 * A Mermaid `stateDiagram-v2` of a machine graph: one line per state, one line per transition
 * (targetless ones as self-loops), `[*]` for the initial and final states.
 *
 * @example
 * ```ts
 * process.stdout.write(machineToMermaid(builtinGraph('instance')));
 * // stateDiagram-v2
 * //   [*] --> extracting
 * //   extracting --> spawning: extract done
 * ```
 */
export function machineToMermaid(graph: MachineGraph): string {
  const out = ['stateDiagram-v2'];
  const children = new Map<string | null, GraphState[]>();
  for (const state of graph.states) children.set(state.parent, [...(children.get(state.parent) ?? []), state]);
  const declare = (parent: string | null, indent: string) => {
    for (const state of children.get(parent) ?? []) {
      const id = mermaidStateId(state.id);
      out.push(`${indent}state "${mermaidText(state.name)}" as ${id}`);
      if (children.has(state.id)) {
        out.push(`${indent}state ${id} {`);
        declare(state.id, `${indent}  `);
        out.push(`${indent}}`);
      }
      if (state.initial) out.push(`${indent}[*] --> ${id}`);
      if (state.type === 'final') out.push(`${indent}${id} --> [*]`);
    }
  };
  declare(null, '  ');
  if (graph.transitions.some((t) => t.source === ANY_STATE)) out.push(`  state "any state" as ${MERMAID_ANY_STATE}`);
  for (const t of graph.transitions) {
    const source = t.source === ANY_STATE ? MERMAID_ANY_STATE : mermaidStateId(t.source);
    const target = t.target === null ? source : mermaidStateId(t.target);
    out.push(`  ${source} --> ${target}: ${mermaidText(t.label)}`);
  }
  return `${out.join('\n')}\n`;
}

/**
 * A Mermaid `flowchart` of a running tree: supervisors, drivers and instances with their state,
 * pid, generation and restarts, coloured by state.
 *
 * @example
 * ```ts
 * process.stdout.write(treeToMermaid(manager.snapshot()));
 * // flowchart TD
 * //   n0["root (one_for_one)<br/>running · restarts 0"]
 * ```
 */
export function treeToMermaid(snapshot: TreeSnapshot): string {
  const out = ['flowchart TD'];
  const nodes = treeDrawingNodes(snapshot);
  for (const { id, node, lines } of nodes) {
    const text = lines.map(flowchartText).join('<br/>');
    out.push(node.kind === 'supervisor' ? `  ${id}[["${text}"]]` : node.kind === 'driver' ? `  ${id}("${text}")` : `  ${id}["${text}"]`);
  }
  for (const { id, parent } of nodes) if (parent !== null) out.push(`  ${parent} --> ${id}`);
  for (const [tone, fill] of Object.entries(TONE_FILL)) out.push(`  classDef ${tone} fill:${fill},stroke:#555`);
  const byTone = new Map<string, string[]>();
  for (const { id, node } of nodes) byTone.set(stateTone(node.state), [...(byTone.get(stateTone(node.state)) ?? []), id]);
  for (const [tone, ids] of byTone) out.push(`  class ${ids.join(',')} ${tone}`);
  return `${out.join('\n')}\n`;
}

/**
 * A state path as a Mermaid id (letters, digits and underscores only).
 *
 * @example
 * ```ts
 * mermaidStateId('open.swinging'); // 'open_swinging'
 * ```
 */
export function mermaidStateId(id: string): string {
  return id.replace(/[^A-Za-z0-9_]/g, '_');
}

/** Text safe inside a Mermaid label: no line breaks, and none of the characters that end or escape one. */
function mermaidText(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').replace(/"/g, "'").replace(/[;:#]/g, ' ');
}

/** Text inside a quoted flowchart label: Mermaid's entity codes keep '#', '"', ';', '<' and '>' as they are. */
function flowchartText(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').replace(/[#";<>]/g, (c) => FLOWCHART_ENTITIES[c]!);
}

const FLOWCHART_ENTITIES: Record<string, string> = { '#': '#35;', '"': '#quot;', ';': '#59;', '<': '#lt;', '>': '#gt;' };
