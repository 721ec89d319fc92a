import type { SnapshotNode, TreeSnapshot } from '../manager/snapshot.js';

/**
 * A snapshot as an indented text tree, one node per line: what `umdkit status` prints and what
 * `umdkit run` prints at start.
 */

/**
 * Renders `snapshot` with two spaces of indent per level. Supervisors show strategy, state,
 * restarts, queued and in-flight counts; drivers their state, counts and sandbox layers in force
 * (once the image is loaded); instances their id, state, pid, generation, restarts and in-flight count.
 *
 * @example
 * ```ts
 * process.stdout.write(renderTree(manager.snapshot()));
 * // root (supervisor, one_for_one) running restarts=0 queued=0 inFlight=0
 * //   parser (driver) ready restarts=0 queued=0 inFlight=0
 * //     instance V1StGXR8_Z ready pid=4242 generation=1 restarts=0 inFlight=0
 * ```
 */
export function renderTree(snapshot: TreeSnapshot): string {
  const lines: string[] = [];
  const walk = (node: SnapshotNode, depth: number) => {
    lines.push(`${'  '.repeat(depth)}${describeNode(node)}`);
    for (const child of node.children ?? []) walk(child, depth + 1);
  };
  walk(snapshot, 0);
  if (snapshot.gaveUp !== undefined) lines.push(`gave up: ${snapshot.gaveUp}`);
  return `${lines.join('\n')}\n`;
}

function describeNode(node: SnapshotNode): string {
  const counts = `restarts=${node.restarts} queued=${node.queued} inFlight=${node.inFlight}`;
  switch (node.kind) {
    case 'supervisor':
      return `${node.name} (supervisor, ${node.strategy ?? '?'}) ${node.state} ${counts}`;
    case 'driver': {
      const layers = node.sandbox;
      return `${node.name} (driver) ${node.state} ${counts}${layers === undefined ? '' : ` sandbox=${layers.length === 0 ? 'none' : layers.join(',')}`}`;
    }
    default: {
      const spare = node.spare ? ' spare' : '';
      const lastExit = node.lastExit === undefined ? '' : ` lastExit=${node.lastExit.signal ?? node.lastExit.code}`;
      return `instance ${node.id ?? node.name}${spare} ${node.state} pid=${node.pid ?? '-'} generation=${node.generation} restarts=${node.restarts} inFlight=${node.inFlight}${lastExit}`;
    }
  }
}
