/**
 * The diagrams are generated from the machine definitions. These tests enumerate the states and
 * transitions with another library's walker (@xstate/graph's toDirectedGraph), not with ours and
 * not from a copied list, and check that every one of them is in every format, once.
 */
import { toDirectedGraph } from '@xstate/graph';
import { describe, expect, it } from 'vitest';
import { createMachine, fromPromise, type AnyStateMachine } from 'xstate';
import { instanceMachine } from '../../machines/instance.js';
import { supervisorMachine } from '../../supervisors/supervisor-machine.js';
import { ANY_STATE, machineGraph, machineToDot, machineToMermaid, machineToSvg } from 'umdkit';
import { vizCommand } from '../../src/cli/viz.js';

interface Edge {
  source: string;
  target: string;
  event: string;
  guard: string | null;
}

type DirectedNode = ReturnType<typeof toDirectedGraph>;

/**
 * States and transitions as @xstate/graph sees them (a targetless transition is an edge to its own
 * node), plus the eventless (`always`) transitions, which its directed graph leaves out.
 */
function definition(machine: AnyStateMachine): { states: Array<{ id: string; name: string }>; edges: Edge[] } {
  const states: Array<{ id: string; name: string }> = [];
  const edges: Edge[] = [];
  const idOf = (node: { path: string[] }) => (node.path.length === 0 ? ANY_STATE : node.path.join('.'));
  const visit = (node: DirectedNode) => {
    if (node.stateNode.path.length > 0) states.push({ id: idOf(node.stateNode), name: node.stateNode.key });
    for (const edge of node.edges) {
      const guard = edge.transition.guard;
      edges.push({
        source: idOf(edge.source),
        target: idOf(edge.target),
        event: edge.label.text,
        guard: guard === undefined ? null : typeof guard === 'string' ? guard : String((guard as { type?: string }).type),
      });
    }
    for (const always of node.stateNode.always ?? []) {
      const guard = always.guard;
      edges.push({
        source: idOf(node.stateNode),
        target: always.target?.[0] ? idOf(always.target[0]) : idOf(node.stateNode),
        event: '',
        guard: guard === undefined ? null : typeof guard === 'string' ? guard : String((guard as { type?: string }).type),
      });
    }
    for (const child of node.children) visit(child);
  };
  visit(toDirectedGraph(machine));
  return { states, edges };
}

/** What a label must say for an event, whatever the wording: the event itself, or for xstate's own events their kind. */
function mustMention(edge: Edge): string[] {
  const words: string[] = [];
  const actor = /^xstate\.(done|error)\.actor\./.exec(edge.event);
  if (actor) words.push(actor[1]!);
  else if (edge.event.startsWith('xstate.after.')) words.push('after');
  else if (edge.event === '') words.push('always');
  else words.push(edge.event);
  if (edge.guard !== null) words.push(`[${edge.guard}]`);
  return words;
}

/**
 * Matches every definition edge to its own line of the drawing (each line used once) and checks
 * no line is left over: the drawing has every transition, and nothing else.
 */
function expectOneLinePerEdge(lines: Array<{ source: string; target: string; label: string }>, edges: Edge[], idOf: (id: string) => string) {
  const unused = [...lines];
  for (const edge of edges) {
    const words = mustMention(edge);
    const at = unused.findIndex((l) => l.source === idOf(edge.source) && l.target === idOf(edge.target) && words.every((w) => l.label.includes(w)));
    expect(at, `no line for ${edge.source} --${edge.event}${edge.guard ? ` [${edge.guard}]` : ''}--> ${edge.target}`).toBeGreaterThanOrEqual(0);
    unused.splice(at, 1);
  }
  expect(unused).toEqual([]);
}

const mermaidId = (id: string) => (id === ANY_STATE ? 'any_state' : id.replace(/[^A-Za-z0-9_]/g, '_'));

// A machine of the test's own, with what umdkit's machines lack (nesting, an invoke inside a
// compound state, a numeric delay, a guard given as an object), so the generator is seen to be
// general rather than fitted to two charts.
const nested = createMachine({
  id: 'door',
  initial: 'closed',
  on: { RESET: '.closed' },
  states: {
    closed: { on: { OPEN: { target: 'open', guard: { type: 'unlocked' } }, LOCK: 'locked' } },
    locked: { on: { UNLOCK: 'closed' } },
    open: {
      initial: 'swinging',
      states: {
        swinging: { invoke: { id: 'motor', src: fromPromise(async () => {}), onDone: 'still' } },
        still: { after: { 1500: '#door.closed' } },
      },
    },
  },
}, { guards: { unlocked: () => true } } as never);

describe.each([
  ['instance', instanceMachine],
  ['supervisor', supervisorMachine],
  ['door (nested, test-made)', nested],
] as Array<[string, AnyStateMachine]>)('the %s machine', (_name, machine) => {
  const { states, edges } = definition(machine);

  it('is read back with every state and every transition (compared with @xstate/graph)', () => {
    const graph = machineGraph(machine);
    expect(states.length).toBeGreaterThan(2);
    expect(graph.states.map((s) => s.id).sort()).toEqual(states.map((s) => s.id).sort());
    const key = (e: { source: string; target: string | null; event: string; guard: string | null }) => `${e.source} ${e.event} [${e.guard}] -> ${e.target ?? e.source}`;
    expect(graph.transitions.map(key).sort()).toEqual(edges.map(key).sort());
    expect(graph.initial).toBe(machine.root.initial!.target[0]!.path.join('.'));
  });

  it('is drawn in Mermaid with every state and one line per transition', () => {
    const text = machineToMermaid(machineGraph(machine));
    expect(text.startsWith('stateDiagram-v2\n')).toBe(true);
    for (const state of states) expect(text).toContain(`state "${state.name}" as ${mermaidId(state.id)}`);
    const lines = [...text.matchAll(/^\s*(\S+) --> (\S+): (.*)$/gm)].map((m) => ({ source: m[1]!, target: m[2]!, label: m[3]! }));
    expectOneLinePerEdge(lines, edges, mermaidId);
    // Initial and final states are marked.
    expect(text).toContain(`[*] --> ${mermaidId(machineGraph(machine).initial)}`);
    for (const final of machineGraph(machine).states.filter((s) => s.type === 'final')) expect(text).toContain(`${mermaidId(final.id)} --> [*]`);
  });

  it('is drawn in DOT with every state and one edge per transition', () => {
    const text = machineToDot(machineGraph(machine));
    expect(text).toMatch(/^digraph "[^"]+" \{\n/);
    const compound = new Set(machineGraph(machine).states.filter((s) => s.type === 'compound').map((s) => s.id));
    for (const state of states) {
      if (compound.has(state.id)) expect(text).toContain(`subgraph "cluster_${state.id}"`);
      else expect(text).toContain(`"${state.id}" [label="${state.name}"`);
    }
    // An edge of a compound state runs between leaves, clipped at the cluster (ltail/lhead): it counts as the cluster's.
    const lines = [...text.matchAll(/^\s*"([^"]+)" -> "([^"]+)" \[label="((?:[^"\\]|\\.)*)"((?:, l(?:tail|head)="cluster_[^"]+")*)\];$/gm)].map((m) => ({
      source: /ltail="cluster_([^"]+)"/.exec(m[4]!)?.[1] ?? m[1]!,
      target: /lhead="cluster_([^"]+)"/.exec(m[4]!)?.[1] ?? m[2]!,
      label: m[3]!,
    }));
    expectOneLinePerEdge(lines, edges, (id) => id);
  });

  it('is drawn as SVG with a box per state and a curve per pair of connected states', () => {
    const svg = machineToSvg(machineGraph(machine), { current: [states[1]!.id] });
    for (const state of states.filter((s) => !machineGraph(machine).states.some((g) => g.id === s.id && (g.type === 'compound' || g.type === 'parallel')))) {
      expect(svg).toContain(`data-state="${state.id}"`);
    }
    const pairs = new Set(edges.map((e) => `data-from="${e.source}" data-to="${e.target}"`));
    const drawn = new Set([...svg.matchAll(/data-from="[^"]*" data-to="[^"]*"/g)].map((m) => m[0]));
    const compound = new Set(machineGraph(machine).states.filter((s) => s.type === 'compound').map((s) => s.id));
    // Edges touching a compound state are drawn on it only when it is a box; the two umdkit machines are flat.
    const expected = [...pairs].filter((p) => ![...compound].some((c) => p.includes(`"${c}"`)));
    expect([...drawn].sort()).toEqual(expected.sort());
    expect(svg).toMatch(new RegExp(`class="state[^"]*current[^"]*" data-state="${states[1]!.id}"`));
    expect([...svg.matchAll(/class="state[^"]*current/g)]).toHaveLength(1);
  });
});

describe('umdkit viz', () => {
  const run = async (argv: string[]) => {
    let out = '';
    let err = '';
    const code = await vizCommand(argv, { out: (t) => (out += t), err: (t) => (err += t) });
    return { code, out, err };
  };

  // Regression: both machines came as two stateDiagram-v2 in one text, which no Mermaid block accepts.
  it('prints both machines by default as Markdown, one fenced mermaid block per machine, generated from the definitions', async () => {
    const { code, out } = await run([]);
    expect(code).toBe(0);
    const instance = machineToMermaid(machineGraph(instanceMachine));
    const supervisor = machineToMermaid(machineGraph(supervisorMachine));
    expect(out).toBe(`### the instance machine\n\n\`\`\`mermaid\n${instance}\`\`\`\n\n### the supervisor machine\n\n\`\`\`mermaid\n${supervisor}\`\`\`\n`);
    const blocks = [...out.matchAll(/^```mermaid\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
    expect(blocks).toEqual([instance, supervisor]);
    for (const block of blocks) expect(block.match(/stateDiagram-v2/g)).toHaveLength(1);
  });

  it('prints one machine as the bare diagram, ready to paste into a Mermaid editor', async () => {
    const { code, out } = await run(['--machine', 'instance']);
    expect(code).toBe(0);
    expect(out).toBe(machineToMermaid(machineGraph(instanceMachine)));
    expect(out.startsWith('stateDiagram-v2\n')).toBe(true);
  });

  it('prints DOT, JSON and SVG on request', async () => {
    const dot = await run(['--format', 'dot', '--machine', 'supervisor']);
    expect(dot.out).toBe(machineToDot(machineGraph(supervisorMachine)));
    const json = await run(['--format', 'json']);
    expect(JSON.parse(json.out)).toEqual({ instance: machineGraph(instanceMachine), supervisor: machineGraph(supervisorMachine) });
    const svg = await run(['--format', 'svg', '--machine', 'instance']);
    expect(svg.out).toBe(`${machineToSvg(machineGraph(instanceMachine))}\n`);
  });

  it('refuses bad usage with exit code 2, naming the value at fault', async () => {
    expect(await run(['--format', 'png'])).toMatchObject({ code: 2, err: expect.stringContaining('--format must be one of mermaid, dot, json, svg, got "png"') });
    expect(await run(['--machine', 'pool'])).toMatchObject({ code: 2, err: expect.stringContaining('got "pool"') });
    expect(await run(['--format', 'svg'])).toMatchObject({ code: 2, err: expect.stringContaining('add --machine') });
    expect((await run(['--format', 'png'])).err).toMatch(/^umdkit viz: [^\n]* \(see umdkit viz --help\)\n$/);
  });
});
