import type { RuntimeSupervisor } from './runtime-tree.js';
import type { DriverNode } from './driver-node.js';

/** One node of `manager.snapshot()`: a supervisor, a driver, or one instance of a driver. */
export interface SnapshotNode {
  name: string;
  kind: 'supervisor' | 'driver' | 'instance';
  state: string;
  /** Instances: the current process id, or null between processes. */
  pid: number | null;
  /** Instances: the current process generation (0 before the first start). */
  generation: number;
  /** Restarts so far (supervisors: ordered; drivers: sum of instances; instances: own). */
  restarts: number;
  /** Requests waiting for an instance. */
  queued: number;
  /** Slots taken: requests sent and not yet answered, cancelled ones included until their late answer. */
  inFlight: number;
  /** Instances: slots whose cancelled request is still unanswered past `cancelGraceMs`. */
  stuck?: number;
  /** Instances: answers that came after their caller had stopped waiting (dropped). */
  lateAnswers?: number;
  /** Instances: graceful replacements (every slot stuck); not restarts. */
  recycles?: number;
  /** Instances: the instance id (nanoid). */
  id?: string;
  /** Supervisors: the strategy. */
  strategy?: string;
  /** Instances: a warm spare that takes no requests until promoted. */
  spare?: boolean;
  /** Drivers: the OTP restart type of its instances. */
  restart?: 'permanent' | 'transient' | 'temporary';
  /** Drivers: the sandbox layers in force for the loaded image. */
  sandbox?: string[];
  /** Instances: how the last process ended. */
  lastExit?: { code: number | null; signal: string | null; reason: string } | undefined;
  children?: SnapshotNode[];
}

/** The root of a snapshot, plus why the tree gave up if it did. */
export interface TreeSnapshot extends SnapshotNode {
  gaveUp?: string;
}

/** Builds the snapshot of a running tree (plain data, safe to serialise). */
export function snapshotTree(root: RuntimeSupervisor, gaveUp: string | undefined): TreeSnapshot {
  const top = supervisorNode(root);
  return gaveUp === undefined ? top : { ...top, gaveUp };
}

function supervisorNode(sup: RuntimeSupervisor): SnapshotNode {
  const children = sup.children.map((child) => ('driver' in child ? driverNode(child.driver) : supervisorNode(child.supervisor)));
  return {
    name: sup.spec.name,
    kind: 'supervisor',
    state: sup.node.state,
    pid: null,
    generation: 0,
    restarts: sup.node.restarts,
    queued: children.reduce((n, c) => n + c.queued, 0),
    inFlight: children.reduce((n, c) => n + c.inFlight, 0),
    strategy: sup.spec.strategy,
    children,
  };
}

function driverNode(node: DriverNode): SnapshotNode {
  const instances: SnapshotNode[] = node.instances.map((instance) => {
    const context = instance.actor.getSnapshot().context;
    const load = instance.load;
    return {
      name: node.driver.name,
      kind: 'instance',
      id: instance.id,
      // The machine's idle edge is debounced (one loop turn, so back-to-back requests never flip
      // it); an instance with nothing in flight is idle now, and shown so.
      state: instance.state === 'busy' && load === 0 ? 'ready' : instance.state,
      pid: instance.proc?.pid ?? null,
      generation: context.generation,
      restarts: context.restarts,
      queued: 0,
      inFlight: load,
      stuck: instance.stuck,
      lateAnswers: instance.lateAnswers,
      recycles: context.recycles,
      spare: instance.spare,
      lastExit: instance.lastExit && { code: instance.lastExit.code, signal: instance.lastExit.signal, reason: instance.lastExit.reason },
    };
  });
  const states = new Set(instances.map((i) => i.state));
  return {
    name: node.driver.name,
    kind: 'driver',
    restart: node.driver.restart,
    state: states.size === 1 ? [...states][0]! : [...states].sort().join('+'),
    pid: null,
    generation: 0,
    restarts: instances.reduce((n, i) => n + i.restarts, 0),
    queued: node.queue.length,
    inFlight: instances.reduce((n, i) => n + i.inFlight, 0),
    ...(node.sandboxLayers === undefined ? {} : { sandbox: [...node.sandboxLayers] }),
    children: instances,
  };
}
