/**
 * The package as a user gets it: `npm pack` of this checkout's build, installed into a fresh
 * project beside nothing (from the npm cache when it can, `--prefer-offline`), then used there —
 * `import 'umdkit'`, a manager over a tiny packed driver, one request, stop. What must hold for a
 * consumer: what ships (a LICENSE, docs, no source maps pointing at unshipped sources, no 1 MB C
 * image), that a production install runs without esbuild (an optional peer) and says so clearly
 * where it is needed (`umdkit pack`), and that the codec never loads the native cbor-extract addon
 * (whatever version the consumer's npm chose; the repository's `overrides` do not reach it).
 *
 * Packs dist/ as it is (`--ignore-scripts`: no rebuild while other tests read dist/), so dist/
 * must have been built (`npm ci` does it).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pack } from '../../src/loader/pack.js';
import { HANDLERS } from '../fixtures/harness.js';
import { needs, tool } from '../fixtures/requires.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** npm's settings from an enclosing `npm test` (prefix, global...) must not leak into the consumer's npm. */
const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key)));

async function npm(args: string[], cwd: string): Promise<string> {
  const { stdout } = await run('npm', args, { cwd, env: cleanEnv, encoding: 'utf8', timeout: 90_000, maxBuffer: 16 * 1024 * 1024 }).catch((err: { message: string; stderr?: string }) => {
    throw new Error(`npm ${args.join(' ')} failed in ${cwd}: ${err.message}\n${err.stderr ?? ''}`);
  });
  return stdout;
}

/** What the consumer's script reports: the answer, and what was loaded. */
interface ConsumerReport {
  answer: unknown;
  stopped: boolean;
  nativeCbor: boolean;
  left: string[];
}

const npmTool = needs('the package install test', [tool('npm')]);

describe.runIf(npmTool.run)(`the packed tarball in a fresh consumer project${npmTool.note}`, () => {
  let work = '';
  let consumer = '';
  let tarball = '';
  let files: string[] = [];

  beforeAll(async () => {
    if (!existsSync(join(ROOT, 'dist', 'src', 'index.js'))) throw new Error('dist/ is not built; run `npm run build` (npm ci runs it)');
    work = await mkdtemp(join(tmpdir(), 'umdkit-consumer-'));
    const packed = JSON.parse(await npm(['pack', '--ignore-scripts', '--json', '--pack-destination', work], ROOT)) as Array<{ filename: string; files: Array<{ path: string }> }>;
    tarball = join(work, packed[0]!.filename);
    files = packed[0]!.files.map((f) => f.path);

    consumer = join(work, 'app');
    await mkdir(consumer);
    await writeFile(join(consumer, 'package.json'), `${JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }, null, 2)}\n`);
    await npm(['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', tarball], consumer);
    // A driver packed beforehand, as a service in production gets it.
    await pack({ entry: join(HANDLERS, 'echo.ts'), name: 'echo', out: join(consumer, 'echo.driver.mjs') });
  }, 120_000);

  afterAll(async () => {
    if (work !== '') await rm(work, { recursive: true, force: true });
    expect(work === '' || !existsSync(work)).toBe(true);
  });

  it('ships LICENSE, README, docs and the build; no source maps, no sources, no C example image', () => {
    expect(files).toEqual(expect.arrayContaining(['LICENSE', 'README.md', 'package.json', 'bin/umdkit.js', 'dist/src/index.js', 'dist/src/index.d.ts', 'docs/PROTOCOL.md']));
    expect(files.filter((f) => f.endsWith('.map'))).toEqual([]);
    expect(files.filter((f) => f.startsWith('src/') || f.startsWith('test/'))).toEqual([]);
    expect(files).not.toContain('dist/examples/c-handler/sample.driver.mjs');
  });

  it('installs without esbuild, and runs: import, a manager, one request, stop', async () => {
    expect(existsSync(join(consumer, 'node_modules', 'umdkit', 'package.json'))).toBe(true);
    expect(existsSync(join(consumer, 'node_modules', 'esbuild'))).toBe(false);
    const script = join(consumer, 'main.mjs');
    await writeFile(script, `
      import { readdirSync, readFileSync } from 'node:fs';
      import { createManager, defineDriver } from 'umdkit';
      import echo from './echo.driver.mjs';
      const runtimeDir = new URL('./run/', import.meta.url).pathname;
      const manager = await createManager({ children: [defineDriver({ ...echo, instances: 1 })], runtimeDir });
      const answer = await manager.request('echo', { n: 42 }, { method: 'ping' });
      // Whether any native cbor-extract addon was mapped into this process.
      const nativeCbor = readFileSync('/proc/self/maps', 'utf8').includes('cbor-extract');
      await manager.stop();
      console.log(JSON.stringify({ answer, stopped: manager.stopped, nativeCbor, left: readdirSync(runtimeDir) }));
    `);
    await mkdir(join(consumer, 'run'));
    const { stdout } = await run(process.execPath, [script], { cwd: consumer, encoding: 'utf8', timeout: 30_000 });
    const report = JSON.parse(stdout.trim().split('\n').at(-1)!) as ConsumerReport;
    expect(report).toEqual({ answer: { method: 'ping', payload: { n: 42 } }, stopped: true, nativeCbor: false, left: [] });
  }, 60_000);

  it('the `umdkit` command runs without esbuild; `umdkit pack` fails naming the package and how to add it', async () => {
    const bin = join(consumer, 'node_modules', '.bin', 'umdkit');
    const help = await run(bin, ['--help'], { cwd: consumer, encoding: 'utf8', timeout: 30_000 });
    expect(help.stdout + help.stderr).toMatch(/usage/i);

    await writeFile(join(consumer, 'handler.mjs'), "import { serve } from 'umdkit/handler';\nserve((p) => p);\n");
    const outcome = await run(bin, ['pack', 'handler.mjs', '--name', 'h', '--out', 'h.driver.mjs'], { cwd: consumer, encoding: 'utf8', timeout: 30_000 }).then(
      () => ({ code: 0, stderr: '' }),
      (err: { code?: number; stderr?: string }) => ({ code: err.code ?? -1, stderr: err.stderr ?? '' }),
    );
    expect(outcome.code).not.toBe(0);
    expect(outcome.stderr).toContain('needs the package "esbuild", which is not installed');
    expect(outcome.stderr).toContain('npm install --save-dev esbuild');
    expect(await readdir(consumer)).not.toContain('h.driver.mjs');
  }, 60_000);
});
