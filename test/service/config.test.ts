// Config modules: what `umdkit run` (and the live views) load. Real files: the fixtures in
// test/fixtures/configs next to freshly packed driver modules.
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, loadServiceConfig, validateConfig } from '../../src/service/config.js';
import type { Driver } from '../../src/manager/driver.js';
import type { SupervisorSpec } from '../../src/manager/tree-spec.js';
import { useWorkDir } from './harness.js';

const work = useWorkDir(['echo', 'toolbox']);

describe('loadConfig', () => {
  it('loads a tree of two drivers under a supervisor, nested supervisors written as plain objects', async () => {
    const config = await loadConfig(work.path('two-drivers.mjs'));
    expect(Object.keys(config)).toEqual(['tree']);
    const { tree } = config;
    expect(tree).toMatchObject({ kind: 'supervisor', name: 'root', strategy: 'one_for_one' });
    const workers = tree.children[0] as SupervisorSpec;
    expect(workers).toMatchObject({ kind: 'supervisor', name: 'workers', strategy: 'one_for_all', intensity: { maxRestarts: 3, periodMs: 5000 } });
    expect(workers.children.map((c) => [c.kind, c.name, (c as Driver).concurrency])).toEqual([
      ['driver', 'echo', 1],
      ['driver', 'toolbox', 4],
    ]);
  });

  it('names the bad field from the config root, with its value', async () => {
    const error = (await loadConfig(work.path('bad-intensity.mjs')).catch((err: unknown) => err)) as Error;
    expect(error).toBeInstanceOf(RangeError);
    expect(error.message).toBe(`${work.path('bad-intensity.mjs')}: children[1].intensity.periodMs must be a positive integer, got 0`);
  });

  it.each([
    [{ children: [] }, 'children must not be empty, got 0 children'],
    [{ chidlren: [] }, 'chidlren is not a known config field'],
    [{ children: [{ name: 'x', image: { kind: 'node', bytes: new Uint8Array(1), sha256: 'f'.repeat(64) }, maxQueue: -1 }] }, 'children[0].maxQueue must be a positive integer, got -1'],
    [{ tree: { strategy: 'pool', children: [{ children: [] }] } }, 'tree.children[0].children must not be empty, got 0 children'],
    [{ children: [{ name: 'a', strategy: 'sideways', children: [] }] }, 'children[0].strategy must be one of'],
    [{ children: 'all of them' }, 'children must be an array, got string'],
    [{ runtimeDir: 7, children: [] }, 'runtimeDir must be a directory path, got 7'],
    [['not', 'an', 'object'], "the config's default export must be an object (createManager options), got an array"],
    [{ children: [], service: { idleTimeoutMs: 0 } }, 'service.idleTimeoutMs must be a positive integer, got 0'],
    [{ children: [], service: { maxClinets: 3 } }, 'service.maxClinets is not a known option'],
    [{ children: [], service: 5 }, 'service must be an object, got 5'],
    [{ children: [], service: { minTimeoutMs: 5000, maxTimeoutMs: 100 } }, 'service.minTimeoutMs must not exceed service.maxTimeoutMs, got 5000 > 100'],
  ])('refuses %j: %s', (value, message) => {
    const run = () => validateConfig(value, '/srv/umdkit.config.mjs');
    expect(run).toThrow(`/srv/umdkit.config.mjs: ${message}`);
    try {
      run();
    } catch (err) {
      expect((err as Error).message).not.toContain('options.');
    }
  });

  it('resolves a relative runtimeDir against the config, and takes an async function as the export', async () => {
    const file = join(work.dir, 'factory.mjs');
    await writeFile(file, `import echo from './echo.driver.mjs';
export default async () => ({ runtimeDir: 'images', children: [{ ...echo, instances: 2 }] });
`);
    const config = await loadConfig(file);
    expect(config.runtimeDir).toBe(join(work.dir, 'images'));
    expect((config.tree.children[0] as Driver).instances).toBe(2);
  });

  it('gives the front door limits of a `service` field apart from the tree, so the tree alone goes to createManager', async () => {
    const file = join(work.dir, 'limits.mjs');
    await writeFile(file, `import echo from './echo.driver.mjs';
export default { children: [echo], service: { maxTimeoutMs: 60000, idleTimeoutMs: 5000 } };
`);
    const { manager, service } = await loadServiceConfig(file);
    expect(service).toEqual({ maxTimeoutMs: 60000, idleTimeoutMs: 5000 });
    expect(Object.keys(manager)).toEqual(['tree']);
    expect(Object.keys(await loadConfig(file))).toEqual(['tree']);
    expect((await loadServiceConfig(work.path('two-drivers.mjs'))).service).toEqual({});
  });

  it('bundles a TypeScript config next to itself, imports it, and removes the bundle', async () => {
    const before = await readdir(work.dir);
    const config = await loadConfig(work.path('typed.ts'));
    expect(config.tree.name).toBe('typed');
    expect(config.tree.children.map((c) => [c.name, (c as Driver).concurrency])).toEqual([['echo', 2]]);
    expect(await readdir(work.dir)).toEqual(before);
  });

  it('says what is wrong with a file it cannot use', async () => {
    await expect(loadConfig(join(work.dir, 'missing.mjs'))).rejects.toThrow(`${join(work.dir, 'missing.mjs')}: cannot read the config (ENOENT)`);
    await expect(loadConfig(join(work.dir, 'config.json'))).rejects.toThrow('a config must be a .mjs, .js, .cjs, .ts, .mts, .cts file, got ".json"');
    const noDefault = join(work.dir, 'no-default.mjs');
    await writeFile(noDefault, 'export const tree = 1;\n');
    await expect(loadConfig(noDefault)).rejects.toThrow('the config must export default the tree');
    const broken = join(work.dir, 'broken.mjs');
    await writeFile(broken, 'import nothing from "./nowhere.mjs";\nexport default nothing;\n');
    await expect(loadConfig(broken)).rejects.toThrow(`${broken}: cannot evaluate the config:`);
    const brokenTs = join(work.dir, 'broken.ts');
    await writeFile(brokenTs, 'export default { children: [ ;\n');
    const before = await readdir(work.dir);
    await expect(loadConfig(brokenTs)).rejects.toThrow(`${brokenTs}: cannot evaluate the config:`);
    expect(await readdir(work.dir)).toEqual(before);
  });
});
