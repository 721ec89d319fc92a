/**
 * Drawings of a running tree (from `manager.snapshot()`), and `umdkit viz --live <config>`, which
 * starts a tree from a config module, draws it and stops it.
 */
import { describe, expect, it } from 'vitest';
import { supervisor, treeToDot, treeToMermaid, type SnapshotNode } from 'umdkit';
import { vizCommand } from '../../src/cli/viz.js';
import { fixtureDriver, gone, pidsOf, until, useManagers } from '../manager/harness.js';
import { useConfigFiles } from './config-files.js';

function walk(node: SnapshotNode, visit: (node: SnapshotNode) => void): void {
  visit(node);
  for (const child of node.children ?? []) walk(child, visit);
}

describe('drawings of a running tree', () => {
  const env = useManagers();

  it('show every supervisor, driver and instance with its state, pid, generation and last exit', async () => {
    const tree = supervisor({
      name: 'root',
      strategy: 'one_for_one',
      children: [await fixtureDriver('echo'), supervisor({ name: 'workers', strategy: 'pool', children: [await fixtureDriver('toolbox', { instances: 2 })] })],
    });
    const manager = await env.start({ tree });
    const killed = pidsOf(manager, 'toolbox')[1]!;
    process.kill(killed, 'SIGKILL');
    await until(() => env.of('state').some((e) => e.to === 'ready' && e.generation === 2), 'the restart');
    const snapshot = manager.snapshot();
    const mermaid = treeToMermaid(snapshot);
    const dot = treeToDot(snapshot);

    expect(mermaid.startsWith('flowchart TD\n')).toBe(true);
    expect(dot.startsWith('digraph "tree" {\n')).toBe(true);
    const nodes: SnapshotNode[] = [];
    walk(snapshot, (n) => nodes.push(n));
    // root; echo and its instance; workers; toolbox and its two instances
    expect(nodes).toHaveLength(7);
    for (const node of nodes) {
      const title = node.kind === 'supervisor' ? `${node.name} (${node.strategy})` : node.kind === 'driver' ? node.name : node.id!;
      expect(mermaid).toContain(title);
      expect(dot).toContain(title);
      if (node.kind === 'instance') {
        const facts = `${node.state} · pid ${node.pid} · gen ${node.generation} · restarts ${node.restarts}`;
        expect(mermaid).toContain(facts);
        expect(dot).toContain(facts);
      }
    }
    // One edge per parent-child pair.
    expect([...mermaid.matchAll(/^ {2}n\d+ --> n\d+$/gm)]).toHaveLength(nodes.length - 1);
    expect([...dot.matchAll(/^ {2}n\d+ -> n\d+;$/gm)]).toHaveLength(nodes.length - 1);
    // The '#' of an instance index is escaped for Mermaid, kept for DOT; the last exit is shown.
    expect(mermaid).toContain('#35;1 ');
    expect(mermaid).toContain('last: killed by SIGKILL');
    expect(dot).toContain('#1 ');
    expect(dot).toContain('last: killed by SIGKILL');
  });
});

describe('umdkit viz --live', () => {
  const env = useManagers();
  const configs = useConfigFiles();

  it('starts the tree of a config module, draws it running, and stops it', async () => {
    const config = await configs.write(env.root, [{ fixture: 'echo' }, { fixture: 'toolbox', options: { instances: 2 } }]);
    let out = '';
    let err = '';
    expect(await vizCommand(['--live', config], { out: (t) => (out += t), err: (t) => (err += t) })).toBe(0);
    expect(err).toBe('');
    expect(out.startsWith('flowchart TD\n')).toBe(true);
    const pids = [...out.matchAll(/ready · pid (\d+) · gen 1 · restarts 0/g)].map((m) => Number(m[1]));
    expect(pids).toHaveLength(3);
    for (const pid of pids) expect(await gone(pid, 2000)).toBe(true);

    let json = '';
    expect(await vizCommand(['--live', config, '--format', 'json'], { out: (t) => (json += t), err: (t) => (err += t) })).toBe(0);
    const snapshot = JSON.parse(json) as SnapshotNode;
    expect(snapshot).toMatchObject({ kind: 'supervisor', name: 'root', state: 'running' });
    expect(snapshot.children!.map((c) => [c.name, c.children!.length])).toEqual([['echo', 1], ['toolbox', 2]]);
  });

  it('exits 78 (bad config) with the loader\'s message when the config cannot be loaded', async () => {
    let err = '';
    expect(await vizCommand(['--live', `${env.root}/nope.config.mjs`], { out: () => {}, err: (t) => (err += t) })).toBe(78);
    expect(err).toMatch(/^umdkit viz: bad config: .*nope\.config\.mjs/);
    expect(await vizCommand(['--live', 'x.mjs', '--machine', 'instance'], { out: () => {}, err: (t) => (err += t) })).toBe(2);
  });
});
