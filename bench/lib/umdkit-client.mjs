import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * umdkit as a user gets it: the BUILT package (dist/), a handler packed with it into a temp dir at
 * bench start, a manager with one driver.
 */

const dist = new URL('../../dist/src/', import.meta.url);

/** Throws a clear message when dist/ is missing: the bench measures what users install. */
export function requireBuilt() {
  for (const file of ['index.js', 'loader/pack.js', 'handler/index.js']) {
    if (!existsSync(new URL(file, dist))) {
      throw new Error(`the bench measures the built package, and dist/src/${file} is missing: run \`npm run build\` first`);
    }
  }
}

/**
 * Packs children/umdkit-echo.mjs with the built `pack` into a fresh temp dir; `dispose()` removes it.
 *
 * @example
 * const packed = await packEchoHandler();
 * try { ... defineDriver({ ...packed.driver, name: 'echo' }) ... } finally { await packed.dispose(); }
 */
export async function packEchoHandler() {
  requireBuilt();
  const { pack } = await import(new URL('loader/pack.js', dist).href);
  const dir = await mkdtemp(join(tmpdir(), 'umdkit-bench-'));
  try {
    const out = join(dir, 'echo.driver.mjs');
    await pack({ entry: new URL('../children/umdkit-echo.mjs', import.meta.url).pathname, name: 'echo', out });
    const driver = (await import(out)).default;
    return { driver, dir, dispose: () => rm(dir, { recursive: true, force: true }) };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/** The public entry point of the built package. */
export function umdkit() {
  requireBuilt();
  return import(new URL('index.js', dist).href);
}

/**
 * A manager with one echo driver; `call` sends method `echo`.
 *
 * @example
 * const echo = await startUmdkit(packed.driver, { concurrency: 64 });
 * await echo.call({ n: 1 });
 */
export async function startUmdkit(image, driverOptions = {}, label = 'umdkit') {
  const { createManager, defineDriver } = await umdkit();
  const manager = await createManager({
    children: [defineDriver({ ...image, name: 'echo', ...driverOptions })],
    intensity: { maxRestarts: 1000, periodMs: 1000 },
  });
  const options = { method: 'echo' };
  return {
    name: label,
    manager,
    pids: () => handlerPids(manager),
    call: (payload) => manager.request('echo', payload, options),
    stop: () => manager.stop(),
  };
}

/** Pids of every running handler of a manager (from its snapshot). */
export function handlerPids(manager) {
  const pids = [];
  const visit = (node) => {
    if (node.kind === 'instance' && node.pid !== null) pids.push(node.pid);
    for (const child of node.children ?? []) visit(child);
  };
  visit(manager.snapshot());
  return pids;
}
