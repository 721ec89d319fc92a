/**
 * Config modules on disk for the commands that start a tree from a file (`viz --live`, `top`,
 * `dashboard`): packed fixture drivers next to an `umdkit.config.mjs` that extracts into the
 * test's clean-slate root. The directory is removed after each test.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { pack } from '../../src/loader/pack.js';
import { HANDLERS } from '../fixtures/harness.js';

const modules = new Map<string, Promise<string>>();

/** Per test: `write(root, drivers)` returns the path of a config module for those drivers. */
export function useConfigFiles() {
  const dirs: string[] = [];
  afterEach(async () => {
    await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
  });
  return {
    async write(runtimeDir: string, drivers: Array<{ fixture: string; options?: Record<string, unknown> }>): Promise<string> {
      const dir = await mkdtemp(join(tmpdir(), 'umdkit-viz-config-'));
      dirs.push(dir);
      const imports: string[] = [];
      const children: string[] = [];
      for (const [i, { fixture, options }] of drivers.entries()) {
        let module = modules.get(fixture);
        if (module === undefined) {
          module = pack({ entry: join(HANDLERS, `${fixture}.ts`), name: fixture }).then((p) => p.module);
          modules.set(fixture, module);
        }
        await writeFile(join(dir, `${fixture}.driver.mjs`), await module);
        imports.push(`import d${i} from './${fixture}.driver.mjs';`);
        children.push(`{ ...d${i}, ...${JSON.stringify(options ?? {})} }`);
      }
      const config = join(dir, 'umdkit.config.mjs');
      await writeFile(config, `${imports.join('\n')}\nexport default { runtimeDir: ${JSON.stringify(runtimeDir)}, children: [${children.join(', ')}] };\n`);
      return config;
    },
  };
}
