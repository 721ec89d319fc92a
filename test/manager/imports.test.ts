import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = normalize(join(dirname(fileURLToPath(import.meta.url)), '..', '..'));

/** Relative imports (type imports too) of every module of src/manager, as repo paths. */
function importGraph(): Map<string, string[]> {
  const files = readdirSync(join(root, 'src/manager')).filter((f) => f.endsWith('.ts')).map((f) => `src/manager/${f}`);
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const source = readFileSync(join(root, file), 'utf8');
    const targets = [...source.matchAll(/from\s+['"](\.[^'"]+)['"]/g)]
      .map((m) => relative(root, join(root, dirname(file), m[1]!)).replace(/\.js$/, '.ts'))
      .filter((target) => files.includes(target));
    graph.set(file, targets);
  }
  return graph;
}

// Regression: InstanceRuntime, DriverNode, PendingRequest and RequestQueue imported each other in
// a cycle, and so did manager.ts and snapshot.ts.
describe('the request path modules', () => {
  it('import each other without a cycle', () => {
    const graph = importGraph();
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const stack: string[] = [];
    const visit = (file: string): void => {
      state.set(file, 'open');
      stack.push(file);
      for (const next of graph.get(file) ?? []) {
        if (state.get(next) === 'open') cycles.push([...stack.slice(stack.indexOf(next)), next].join(' -> '));
        else if (state.get(next) === undefined) visit(next);
      }
      stack.pop();
      state.set(file, 'done');
    };
    for (const file of graph.keys()) if (!state.has(file)) visit(file);
    expect(graph.size).toBeGreaterThan(10);
    expect(cycles).toEqual([]);
  });
});
