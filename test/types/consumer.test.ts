/**
 * The types as a user gets them: the built package (dist/) compiled into a fresh strict `nodenext`
 * project by this repository's own tsc, run as a process. A misuse that compiles fails the run
 * (each is a `@ts-expect-error` line, and an unused directive is an error).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { pack } from '../../src/loader/pack.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CONSUMER = join(REPO, 'test', 'fixtures', 'consumer');
const requireHere = createRequire(import.meta.url);
const TSC = join(dirname(requireHere.resolve('typescript/package.json')), 'bin', 'tsc');

/** Runs this repository's tsc on `project` (a tsconfig path); resolves with its exit status and output. */
function tsc(project: string): Promise<{ status: number | null; output: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [TSC, '-p', project, '--pretty', 'false'], { cwd: dirname(project), stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolvePromise({ status, output }));
  });
}

/** A temporary project outside the repository that finds umdkit (this checkout), zod and @types/node in its node_modules. */
async function project(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'umdkit-consumer-'));
  temporary.push(dir);
  await mkdir(join(dir, 'node_modules', '@types'), { recursive: true });
  await symlink(REPO, join(dir, 'node_modules', 'umdkit'), 'dir');
  await symlink(dirname(requireHere.resolve('zod/package.json')), join(dir, 'node_modules', 'zod'), 'dir');
  await symlink(join(REPO, 'node_modules', '@types', 'node'), join(dir, 'node_modules', '@types', 'node'), 'dir');
  await writeFile(join(dir, 'package.json'), '{ "type": "module", "private": true }\n');
  return dir;
}

const temporary: string[] = [];
afterEach(async () => {
  await Promise.all(temporary.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

describe('a consumer project compiled against the built package', () => {
  it('needs dist/ built from these sources', () => {
    expect(existsSync(join(REPO, 'dist', 'src', 'manager', 'typed.d.ts')), 'dist/ is missing or older than typed drivers: run `npm run build`').toBe(true);
  });

  it('compiles with `types: []`: correct use compiles and every misuse is an error (test/fixtures/consumer)', async () => {
    const { status, output } = await tsc(join(CONSUMER, 'tsconfig.json'));
    expect(output).toBe('');
    expect(status).toBe(0);
  }, 120_000);

  it('compiles with `types: ["node"]` too', async () => {
    const { status, output } = await tsc(join(CONSUMER, 'tsconfig.node.json'));
    expect(output).toBe('');
    expect(status).toBe(0);
  }, 120_000);

  it('each @ts-expect-error guards a real error: without the directives, every such line fails to compile', async () => {
    const dir = await project();
    await cp(CONSUMER, dir, { recursive: true });
    const source = await readFile(join(dir, 'service.ts'), 'utf8');
    const lines = source.split('\n');
    const guarded: number[] = [];
    const stripped = lines.map((line, i) => {
      if (!line.includes('// @ts-expect-error')) return line;
      guarded.push(i + 1); // 1-based line of the directive = the guarded line once the directive is blanked
      return '';
    });
    expect(guarded.length).toBeGreaterThanOrEqual(10);
    await writeFile(join(dir, 'service.ts'), stripped.join('\n'));
    const { status, output } = await tsc(join(dir, 'tsconfig.json'));
    expect(status).not.toBe(0);
    const failing = new Set([...output.matchAll(/service\.ts\((\d+),\d+\): error TS\d+/g)].map((m) => Number(m[1]) + 0));
    // A blanked directive leaves its line empty: the error is reported on the line after it.
    expect(guarded.map((line) => line + 1).filter((line) => !failing.has(line))).toEqual([]);
    expect(failing.size).toBe(guarded.length);
  }, 120_000);
});

describe('umdkit pack writes declarations a consumer compiles against', () => {
  it('writes what test/fixtures/consumer/drivers holds, for each of its handlers', async () => {
    const dir = await project();
    await cp(join(CONSUMER, 'handlers'), join(dir, 'handlers'), { recursive: true });
    await mkdir(join(dir, 'drivers'));
    const committed = (await readdir(join(CONSUMER, 'drivers'))).filter((f) => f.endsWith('.d.mts')).sort();
    expect(committed).toEqual(['calc.driver.d.mts', 'offset.driver.d.mts', 'parser.driver.d.mts', 'plain.driver.d.mts']);
    for (const file of committed) {
      const name = file.slice(0, -'.driver.d.mts'.length);
      const packed = await pack({ entry: join(dir, 'handlers', `${name}.ts`), name, out: join(dir, 'drivers', `${name}.driver.mjs`) });
      expect(packed.types?.out).toBe(join(dir, 'drivers', file));
      expect(await readFile(join(dir, 'drivers', file), 'utf8')).toBe(await readFile(join(CONSUMER, 'drivers', file), 'utf8'));
    }
  }, 120_000);

  it('types a freshly packed handler: its methods, payloads and answers; nothing of it is imported at run time', async () => {
    const dir = await project();
    await mkdir(join(dir, 'src'));
    await writeFile(join(dir, 'src', 'json.handler.ts'), [
      "import { serve } from 'umdkit/handler';",
      'export default serve({',
      '  parse: (text: string) => JSON.parse(text) as unknown,',
      '  size: async (bytes: Uint8Array) => ({ bytes: bytes.length }),',
      '});',
      '',
    ].join('\n'));
    const packed = await pack({ entry: join(dir, 'src', 'json.handler.ts'), name: 'json', out: join(dir, 'json.driver.mjs') });
    expect(packed.types).toMatchObject({ out: join(dir, 'json.driver.d.mts'), from: 'default' });
    expect(packed.types!.text).toContain('import type * as handler from "./src/json.handler.js";');
    expect(packed.module).not.toContain('json.handler');
    await writeFile(join(dir, 'main.ts'), [
      "import { createManager, defineDriver } from 'umdkit';",
      "import json from './json.driver.mjs';",
      'export async function main(): Promise<number> {',
      '  const manager = await createManager({ children: [defineDriver({ ...json, concurrency: 2 })] });',
      "  const size = await manager.request('json', new Uint8Array(4), { method: 'size' });",
      "  const parsed: unknown = await manager.request('json', '[1]', { method: 'parse' });",
      '  // @ts-expect-error the answer of size is { bytes: number }',
      "  const wrong: string = await manager.request('json', new Uint8Array(4), { method: 'size' });",
      '  // @ts-expect-error parse takes a string',
      "  await manager.request('json', new Uint8Array(4), { method: 'parse' });",
      '  await manager.stop();',
      '  return size.bytes + (parsed === null ? 0 : 1) + wrong.length;',
      '}',
      '',
    ].join('\n'));
    await expectMainCompiles(dir);

    // Planted: the same misuse without its directive must fail, naming the types.
    const main = await readFile(join(dir, 'main.ts'), 'utf8');
    await writeFile(join(dir, 'main.ts'), main.replace('  // @ts-expect-error the answer of size is { bytes: number }\n', ''));
    const planted = await tsc(join(dir, 'tsconfig.json'));
    expect(planted.status).not.toBe(0);
    expect(planted.output).toMatch(/main\.ts\(7,\d+\): error TS2322: Type '\{ bytes: number; \}' is not assignable to type 'string'/);
  }, 120_000);

  it('declares an untyped driver when the handler exports neither its serve() handle nor a Methods type', async () => {
    const dir = await project();
    await writeFile(join(dir, 'echo.ts'), "import { serve } from 'umdkit/handler';\n// export default serve(...) would type it\nserve((payload) => payload);\n");
    const packed = await pack({ entry: join(dir, 'echo.ts'), name: 'echo', out: join(dir, 'echo.driver.mjs') });
    expect(packed.types?.from).toBeUndefined();
    expect(packed.types!.text).not.toMatch(/echo\.js/);
    await writeFile(join(dir, 'main.ts'), [
      "import { createManager, defineDriver } from 'umdkit';",
      "import echo from './echo.driver.mjs';",
      'export async function main(): Promise<void> {',
      '  const manager = await createManager({ children: [defineDriver(echo)] });',
      "  const answer = await manager.request('echo', { any: 'payload' }, { method: 'any method' });",
      '  // @ts-expect-error an untyped answer is unknown',
      '  answer.toString();',
      "  const cast = await manager.request<string>('echo', 1);",
      '  await manager.stop();',
      '  console.log(cast.length);',
      '}',
      '',
    ].join('\n'));
    await expectMainCompiles(dir);
  }, 120_000);
});

/** Compiles `dir/main.ts` as a strict nodenext consumer with `types: []`; it must compile clean. */
async function expectMainCompiles(dir: string): Promise<void> {
  await writeFile(join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { module: 'nodenext', strict: true, types: [], noEmit: true, skipLibCheck: false },
    include: ['main.ts'],
  }));
  const { status, output } = await tsc(join(dir, 'tsconfig.json'));
  expect(output).toBe('');
  expect(status).toBe(0);
}
