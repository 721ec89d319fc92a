import type { SnapshotNode, TreeSnapshot } from '../manager/snapshot.js';

/**
 * What each node of a running tree says in a drawing, shared by the Mermaid and DOT renderers so
 * both show the same facts.
 */

/** A node of the tree with a stable drawing id and the lines of its label. */
export interface TreeDrawingNode {
  id: string;
  parent: string | null;
  node: SnapshotNode;
  lines: string[];
}

/**
 * Flattens a snapshot into drawing nodes, depth first, ids `n0`, `n1`, ... in visit order.
 *
 * @example
 * ```ts
 * for (const { id, parent, lines } of treeDrawingNodes(manager.snapshot())) console.log(id, parent, lines.join(' | '));
 * ```
 */
export function treeDrawingNodes(snapshot: TreeSnapshot): TreeDrawingNode[] {
  const out: TreeDrawingNode[] = [];
  const visit = (node: SnapshotNode, parent: string | null, index: number) => {
    const id = `n${out.length}`;
    out.push({ id, parent, node, lines: linesOf(node, index) });
    (node.children ?? []).forEach((child, i) => visit(child, id, i));
  };
  visit(snapshot, null, 0);
  if (snapshot.gaveUp !== undefined) out[0]!.lines.push(`gave up: ${snapshot.gaveUp}`);
  return out;
}

function linesOf(node: SnapshotNode, index: number): string[] {
  switch (node.kind) {
    case 'supervisor':
      return [`${node.name} (${node.strategy ?? 'supervisor'})`, `${node.state} · restarts ${node.restarts}`];
    case 'driver':
      return [node.name, `${node.state} · queued ${node.queued} · in flight ${node.inFlight}`];
    case 'instance': {
      const lines = [
        `#${index} ${node.id ?? ''}${node.spare ? ' (spare)' : ''}`.trim(),
        `${node.state} · pid ${node.pid ?? '-'} · gen ${node.generation} · restarts ${node.restarts}`,
      ];
      if (node.lastExit !== undefined) lines.push(`last: ${node.lastExit.reason}`);
      return lines;
    }
  }
}
