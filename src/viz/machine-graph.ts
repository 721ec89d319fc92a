import type { AnyStateMachine } from 'xstate';
import { instanceMachine } from '../../machines/instance.js';
import { supervisorMachine } from '../../supervisors/supervisor-machine.js';

/**
 * A state machine read back from its own definition (xstate v5's StateNode API: `machine.root`,
 * `node.states`, `node.transitions`), as plain data every drawing is made from. Nothing here is
 * written by hand, so a diagram cannot drift from the machine it shows.
 */

/**
 * Source of a transition defined on the machine's root: it applies in every state that does not handle the event itself.
 *
 * @example
 * ```ts
 * builtinGraph('instance').transitions.filter((t) => t.source === ANY_STATE); // [{ event: 'STOP', target: 'stopping', ... }]
 * ```
 */
export const ANY_STATE = '*';

/**
 * One state of a machine graph.
 *
 * @example
 * ```ts
 * const crashed = machineGraph(instanceMachine).states.find((s) => s.id === 'crashed'); // entry: ['reportCrash']
 * ```
 */
export interface GraphState {
  /** Path below the root, dot-separated ('ready', or 'parent.child' in a nested machine). */
  id: string;
  /** The state's own key. */
  name: string;
  type: 'atomic' | 'compound' | 'parallel' | 'final' | 'history';
  /** The enclosing state's id, or null at the top level. */
  parent: string | null;
  /** True for the initial state of its parent (of the machine, at the top level). */
  initial: boolean;
  /** Named entry actions. */
  entry: string[];
  /** Actors invoked while in the state (their `src`). */
  invoke: string[];
}

/**
 * One transition of a machine graph: one per target (a transition with two targets is two rows).
 *
 * @example
 * ```ts
 * const t: GraphTransition = { source: 'ready', target: 'busy', event: 'BUSY', guard: 'isCurrentGeneration', actions: [], reenter: false, eventLabel: 'BUSY', label: 'BUSY [isCurrentGeneration]' };
 * ```
 */
export interface GraphTransition {
  /** A state id, or {@link ANY_STATE} for a transition on the root. */
  source: string;
  /** A state id, or null for a targetless transition (it runs actions and stays). */
  target: string | null;
  /** The event type exactly as the machine names it ('xstate.done.actor.spawn', 'EXIT', ...). */
  event: string;
  /** The guard's name, or null when unguarded. */
  guard: string | null;
  /** Names of the actions it runs, built-ins included ('xstate.assign'). */
  actions: string[];
  /** Re-enters its target (exit and entry run again) even when it is the source. */
  reenter: boolean;
  /** The event in readable form ('spawn done', 'after backoff', 'EXIT'). */
  eventLabel: string;
  /** What a drawing shows: the readable event, the guard in brackets, the named actions after a slash. */
  label: string;
}

/**
 * A machine as data.
 *
 * @example
 * ```ts
 * const graph = machineGraph(instanceMachine);
 * graph.states.map((s) => s.id); // ['extracting', 'spawning', 'ready', ...]
 * ```
 */
export interface MachineGraph {
  /** The machine's id. */
  id: string;
  /** The top-level initial state's id. */
  initial: string;
  states: GraphState[];
  transitions: GraphTransition[];
}

/**
 * The machines umdkit can draw, by the name the CLI and the dashboard use.
 *
 * @example
 * ```ts
 * const graph = machineGraph(MACHINES.supervisor);
 * ```
 */
export const MACHINES = { instance: instanceMachine, supervisor: supervisorMachine } as const;

/**
 * A name of {@link MACHINES}.
 *
 * @example
 * ```ts
 * const name: MachineName = 'instance';
 * ```
 */
export type MachineName = keyof typeof MACHINES;

// Structural views of the StateNode fields read here: xstate's own types are generic over the
// whole machine and add nothing but noise to a reader of the definition.
interface NodeView {
  key: string;
  path: string[];
  type: GraphState['type'];
  parent?: NodeView;
  states: Record<string, NodeView>;
  initial?: { target: ReadonlyArray<{ path: string[] }> };
  entry: unknown[];
  invoke: Array<{ id: string; src: unknown }>;
  transitions: Map<string, TransitionView[]>;
  after: Array<{ eventType: string; delay: unknown }>;
  always?: TransitionView[];
}
interface TransitionView {
  target?: ReadonlyArray<{ path: string[] }>;
  guard?: unknown;
  actions: unknown[];
  reenter?: boolean;
  eventType: string;
}

/**
 * Reads `machine` into a {@link MachineGraph} by walking its state nodes.
 *
 * @example
 * ```ts
 * import { machineGraph, MACHINES } from 'umdkit';
 * const { states, transitions } = machineGraph(MACHINES.instance);
 * ```
 */
export function machineGraph(machine: AnyStateMachine): MachineGraph {
  const root = machine.root as unknown as NodeView;
  const states: GraphState[] = [];
  const transitions: GraphTransition[] = [];
  const visit = (node: NodeView, isRoot: boolean) => {
    const id = isRoot ? ANY_STATE : idOf(node);
    if (!isRoot) {
      const parent = node.parent;
      states.push({
        id,
        name: node.key,
        type: node.type,
        parent: parent === undefined || parent.path.length === 0 ? null : idOf(parent),
        initial: parent?.initial?.target.some((t) => idOf(t) === id) ?? false,
        entry: node.entry.map(nameOf),
        invoke: node.invoke.map(invokedName),
      });
    }
    const all = [...[...node.transitions.values()].flat(), ...(node.always ?? [])];
    for (const t of all) {
      const event = t.eventType;
      const guard = t.guard === undefined ? null : nameOf(t.guard);
      const actions = t.actions.map(nameOf);
      const eventLabel = readableEvent(node, event);
      const label = labelOf(eventLabel, guard, actions);
      const targets = t.target === undefined || t.target.length === 0 ? [null] : t.target.map(idOf);
      for (const target of targets) {
        transitions.push({ source: id, target, event, guard, actions, reenter: t.reenter === true, eventLabel, label });
      }
    }
    for (const child of Object.values(node.states)) visit(child, false);
  };
  visit(root, true);
  const initial = root.initial?.target[0];
  if (initial === undefined) throw new TypeError(`machine "${machine.id}" has no initial state to draw from`);
  return { id: machine.id, initial: idOf(initial), states, transitions };
}

/**
 * The graph of one of umdkit's own machines.
 *
 * @example
 * ```ts
 * builtinGraph('supervisor').states.map((s) => s.id); // ['starting', 'running', 'stopping', 'stopped', 'failed']
 * ```
 */
export function builtinGraph(name: MachineName): MachineGraph {
  return machineGraph(MACHINES[name]);
}

/** A named actor by its name; an inline one (xstate calls it 'xstate.invoke.0.<state>') by its id. */
function invokedName(inv: { id: string; src: unknown }): string {
  return typeof inv.src === 'string' && !inv.src.startsWith('xstate.invoke.') ? inv.src : inv.id;
}

function idOf(node: { path: string[] }): string {
  return node.path.join('.');
}

/** A readable name for an action, guard or actor reference, whatever form the definition used. */
function nameOf(item: unknown): string {
  if (typeof item === 'string') return item;
  if (typeof item === 'function') return (item as { type?: string }).type ?? (item.name || 'inline');
  if (item !== null && typeof item === 'object' && 'type' in item) return String((item as { type: unknown }).type);
  return 'inline';
}

/**
 * xstate names its own events after their mechanism ('xstate.done.actor.0.supervisor.stopping');
 * a drawing says what happened instead ('stopChildren done'). No colons or semicolons: they end a
 * label in Mermaid.
 */
function readableEvent(node: NodeView, event: string): string {
  if (event === '') return 'always';
  if (event === '*') return 'any event';
  const actor = /^xstate\.(done|error)\.actor\.(.+)$/.exec(event);
  if (actor) {
    const invoked = findInvoke(node, actor[2]!);
    return `${invoked ?? actor[2]} ${actor[1]}`;
  }
  const after = node.after.find((t) => t.eventType === event);
  if (after !== undefined) return `after ${typeof after.delay === 'number' ? `${after.delay} ms` : typeof after.delay === 'string' ? after.delay : 'delay'}`;
  if (event.startsWith('xstate.done.state.')) return 'done';
  return event;
}

function findInvoke(node: NodeView | undefined, id: string): string | undefined {
  for (let n = node; n !== undefined; n = n.parent) {
    const hit = n.invoke.find((inv) => inv.id === id);
    if (hit !== undefined) return invokedName(hit);
  }
  return undefined;
}

function labelOf(eventLabel: string, guard: string | null, actions: string[]): string {
  const named = actions.filter((a) => !a.startsWith('xstate.'));
  return `${eventLabel}${guard === null ? '' : ` [${guard}]`}${named.length === 0 ? '' : ` / ${named.join(', ')}`}`;
}
