import { generateKeyPairSync, verify } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import { packCommand } from '../../src/cli/pack.js';
import { sha256Hex } from '../../src/loader/image.js';
import { pack } from '../../src/loader/pack.js';
import { defineDriver } from '../../src/manager/driver.js';
import { HANDLERS, useCleanSlate } from '../fixtures/harness.js';

const ECHO = join(HANDLERS, 'echo.ts');
const REPO = resolve(HANDLERS, '..', '..', '..');

/** Matches any import or require: a driver module must carry everything itself. */
const ANY_IMPORT = /^\s*import\b|\bimport\s*\(|\brequire\s*\(/m;

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (t: string) => out.push(t), err: (t: string) => err.push(t) }, out, err };
}

describe('pack', () => {
  const slate = useCleanSlate();

  it('is deterministic: same digest twice, and from a fresh module instance', async () => {
    const first = await pack({ entry: ECHO, name: 'echo' });
    const second = await pack({ entry: ECHO, name: 'echo' });
    expect(second.sha256).toBe(first.sha256);
    expect(first.sha256).toBe(sha256Hex(first.bytes));
    vi.resetModules(); // drops the memoised runtime bundle: it is rebuilt from scratch
    const fresh = (await import('../../src/loader/pack.js')).pack;
    expect((await fresh({ entry: ECHO, name: 'echo' })).sha256).toBe(first.sha256);
  });

  it('gives the same digest for copies of the source in other directories, and embeds no paths', async () => {
    const original = await pack({ entry: ECHO, name: 'echo' });
    const shallow = slate.trackPath(await mkdtemp(join(tmpdir(), 'umdkit-copy-')));
    const deep = join(shallow, 'a', 'b', 'c');
    await mkdir(deep, { recursive: true });
    await copyFile(ECHO, join(shallow, 'echo.ts'));
    await copyFile(ECHO, join(deep, 'echo.ts'));
    expect((await pack({ entry: join(shallow, 'echo.ts'), name: 'echo' })).sha256).toBe(original.sha256);
    expect((await pack({ entry: join(deep, 'echo.ts'), name: 'echo' })).sha256).toBe(original.sha256);

    const text = new TextDecoder().decode(original.bytes);
    expect(text).not.toContain(REPO);
    expect(text).not.toContain(tmpdir());
    expect(text).not.toContain('cbor-extract'); // the plain JS build of cbor-x, no native addon
    expect(text).not.toContain('node_modules/cbor-x/node-index');
    expect(text).toContain('// umdkit:handler');
    await rm(shallow, { recursive: true });
  });

  it('writes a driver module that imports nothing and whose default export passes defineDriver', async () => {
    const work = slate.trackPath(await mkdtemp(join(tmpdir(), 'umdkit-pack-')));
    const out = join(work, 'echo.driver.mjs');
    const packed = await pack({ entry: ECHO, name: 'echo', out });
    expect(packed.out).toBe(out);
    const text = await readFile(out, 'utf8');
    expect(text).toBe(packed.module);
    expect(text).not.toMatch(ANY_IMPORT);

    const mod = (await import(pathToFileURL(out).href)) as { default: { name: string; image: { bytes: Uint8Array } }; image: unknown };
    expect(mod.image).toBe(mod.default.image);
    const driver = defineDriver({ ...(mod.default as Parameters<typeof defineDriver>[0]), concurrency: 4 });
    expect(driver.name).toBe('echo');
    expect(driver.concurrency).toBe(4);
    expect(driver.image.sha256).toBe(packed.sha256);
    expect(sha256Hex(driver.image.bytes)).toBe(packed.sha256);
    expect(driver.image.kind).toBe('node');
    await rm(work, { recursive: true });
  });

  it('wraps an executable as it is for --kind exec, and can sign the image', async () => {
    const work = slate.trackPath(await mkdtemp(join(tmpdir(), 'umdkit-pack-')));
    const binary = join(work, 'handler-binary');
    const bytes = Buffer.from('#!/bin/sh\nexit 0\n');
    await writeFile(binary, bytes, { mode: 0o755 });
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const packed = await pack({ kind: 'exec', binary, name: 'wrapped', sign: privateKey });
    expect(Buffer.from(packed.bytes).equals(bytes)).toBe(true);
    expect(packed.image.kind).toBe('exec');
    expect(verify(null, packed.bytes, publicKey, Buffer.from(packed.image.signature!, 'base64'))).toBe(true);
    expect(packed.module).toContain(`signature: ${JSON.stringify(packed.image.signature)}`);
    const { privateKey: rsa } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    await expect(pack({ kind: 'exec', binary, name: 'wrapped', sign: rsa })).rejects.toThrow('options.sign must be an ed25519 private key, got rsa private');
    await rm(work, { recursive: true });
  });

  it('writes <out>.d.mts beside the module: typed from the entry by `import type` only when the entry says its methods', async () => {
    const work = slate.trackPath(await mkdtemp(join(tmpdir(), 'umdkit-pack-')));
    await mkdir(join(work, 'src'));
    await mkdir(join(work, 'drivers'));
    const entry = async (file: string, text: string) => {
      await writeFile(join(work, 'src', file), `import { serve } from 'umdkit/handler';\n${text}\n`);
      return join(work, 'src', file);
    };
    const typesOf = async (file: string, out = 'h.driver.mjs') => (await pack({ entry: join(work, 'src', file), name: 'h', out: join(work, 'drivers', out) })).types!;

    await entry('default.ts', 'export default serve({ ping: () => "pong" });');
    const byDefault = await typesOf('default.ts');
    expect(byDefault.out).toBe(join(work, 'drivers', 'h.driver.d.mts'));
    expect(byDefault.from).toBe('default');
    expect(await readFile(byDefault.out, 'utf8')).toBe(byDefault.text);
    // Types only: `import type` is erased, and the module itself still imports nothing.
    expect(byDefault.text.match(/^import .*$/gm)).toEqual([
      "import type { DriverModule, HandlerModuleApi, Image } from 'umdkit';",
      'import type * as handler from "../src/default.js";',
    ]);
    expect(byDefault.text).toContain('declare const driver: DriverModule<"h", Api>;');
    expect(await readFile(join(work, 'drivers', 'h.driver.mjs'), 'utf8')).not.toMatch(ANY_IMPORT);

    await entry('methods.mts', 'export type Methods = { ping(payload: null): string };\nserve({ ping: () => "pong" });');
    expect((await typesOf('methods.mts')).text).toContain('import type { Methods } from "../src/methods.mjs";');
    await entry('renamed.ts', 'type Api = { ping(payload: null): string };\nexport type { Api as Methods };\nexport default serve({ ping: () => "pong" });');
    expect((await typesOf('renamed.ts')).from).toBe('Methods');

    // Said in a comment, or not said at all, or JavaScript (no types to read): untyped, nothing imported.
    await entry('commented.ts', '// export default serve(...) would type it\n/* export type Methods = {} */\nserve(() => null);');
    await entry('plain.js', 'export default serve(() => null);');
    for (const file of ['commented.ts', 'plain.js']) {
      const untyped = await typesOf(file);
      expect(untyped.from).toBeUndefined();
      expect(untyped.text).toContain('type Api = unknown;');
      expect(untyped.text.match(/^import .*$/gm)).toEqual(["import type { DriverModule, Image } from 'umdkit';"]);
    }
    // An exec image has no source to read; a `.js` module gets `.d.ts` (where TypeScript looks for it).
    await writeFile(join(work, 'binary'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    const exec = await pack({ kind: 'exec', binary: join(work, 'binary'), name: 'x', out: join(work, 'drivers', 'x.driver.js') });
    expect(exec.types).toMatchObject({ out: join(work, 'drivers', 'x.driver.d.ts'), from: undefined });
    await rm(work, { recursive: true });
  });

  it('validates its options and reports a broken entry with its path', async () => {
    await expect(pack({ name: 'x' })).rejects.toThrow('options.entry must be a file path, got nothing');
    await expect(pack({ entry: ECHO, name: '../x' })).rejects.toThrow(/options.name must be a name of 1-64/);
    await expect(pack({ entry: ECHO, name: 'x', kind: 'wasm' as 'node' })).rejects.toThrow('options.kind must be one of "node", "exec", got "wasm"');
    await expect(pack({ entry: ECHO, name: 'x', binary: ECHO })).rejects.toThrow('options.binary is for exec images');
    await expect(pack({ kind: 'exec', entry: ECHO, binary: ECHO, name: 'x' })).rejects.toThrow('options.entry is for node images');
    await expect(pack({ entry: ECHO, name: 'x', minify: true } as never)).rejects.toThrow('options.minify is not a known option');
    const work = slate.trackPath(await mkdtemp(join(tmpdir(), 'umdkit-pack-')));
    const broken = join(work, 'broken.ts');
    await writeFile(broken, "import { nothing } from './missing.js';\nnothing();\n");
    await expect(pack({ entry: broken, name: 'broken' })).rejects.toThrow(`cannot bundle the handler entry ${broken}`);
    await rm(work, { recursive: true });
  });
});

describe('umdkit pack (CLI)', () => {
  const slate = useCleanSlate();

  it('writes the module and prints name, size and digest', async () => {
    const work = slate.trackPath(await mkdtemp(join(tmpdir(), 'umdkit-cli-')));
    const out = join(work, 'echo.driver.mjs');
    const { io, out: printed, err } = capture();
    expect(await packCommand([ECHO, '--name', 'echo', '--out', out], io)).toBe(0);
    expect(err).toEqual([]);
    const text = await readFile(out, 'utf8');
    expect(text).not.toMatch(ANY_IMPORT);
    const sha = /sha256: "([0-9a-f]{64})"/.exec(text)![1]!;
    expect(printed.join('')).toMatch(new RegExp(`^wrote ${out}: driver "echo", node image \\(cjs\\), \\d+ bytes, sha256 ${sha}\\n` +
      `wrote ${out.replace(/\.mjs$/, '.d.mts')}: its types, untyped \\(the handler default-exports no serve\\(\\) handle and exports no Methods type\\)\\n$`));
    const mod = (await import(pathToFileURL(out).href)) as { default: Parameters<typeof defineDriver>[0] };
    expect(defineDriver(mod.default).image.sha256).toBe(sha);
    await rm(work, { recursive: true });
  });

  it('packs an executable with --kind exec --binary', async () => {
    const work = slate.trackPath(await mkdtemp(join(tmpdir(), 'umdkit-cli-')));
    const binary = join(work, 'bin');
    await writeFile(binary, 'binary bytes', { mode: 0o755 });
    const { io, out } = capture();
    expect(await packCommand(['--kind', 'exec', '--binary', binary, '--name', 'bin', '--out', join(work, 'bin.mjs')], io)).toBe(0);
    expect(out.join('')).toContain(`driver "bin", exec image, 12 bytes, sha256 ${sha256Hex(Buffer.from('binary bytes'))}`);
    await rm(work, { recursive: true });
  });

  it.each([
    [[ECHO, '--out', 'x.mjs'], '--name is required'],
    [[ECHO, '--name', 'x'], '--out is required'],
    [['--name', 'x', '--out', 'x.mjs'], 'expected one <entry>, got none'],
    [[ECHO, ECHO, '--name', 'x', '--out', 'x.mjs'], 'expected one <entry>, got'],
    [[ECHO, '--name', 'x', '--out', 'x.mjs', '--kind', 'wasm'], '--kind must be node or exec, got "wasm"'],
    [['--kind', 'exec', '--name', 'x', '--out', 'x.mjs'], '--kind exec needs --binary <file>'],
    [[ECHO, '--name', 'x', '--out', 'x.mjs', '--bogus'], "Unknown option '--bogus'"],
  ])('refuses %j with usage: %s', async (argv, message) => {
    const { io, err } = capture();
    expect(await packCommand(argv as string[], io)).toBe(2);
    expect(err.join('')).toContain(message);
    expect(err.join('')).toMatch(/ \(see umdkit pack --help\)\n$/);
  });

  it('fails with 1 and the reason when the entry does not bundle', async () => {
    const { io, err } = capture();
    expect(await packCommand([join(HANDLERS, 'no-such-entry.ts'), '--name', 'x', '--out', join(slate.root, 'x.mjs')], io)).toBe(1);
    expect(err.join('')).toContain('cannot bundle the handler entry');
  });

  it('is dispatched by main', async () => {
    const written: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => (written.push(String(chunk)), true));
    try {
      expect(await main(['pack', '--help'])).toBe(0);
    } finally {
      spy.mockRestore();
    }
    expect(written.join('')).toContain('usage: umdkit pack');
  });
});
