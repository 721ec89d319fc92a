import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadImage } from '../../src/loader/extract.js';
import { imageFileName, type Image } from '../../src/loader/image.js';
import { pack } from '../../src/loader/pack.js';
import { spawnHandler } from '../../src/loader/spawn.js';
import { defineDriver } from '../../src/manager/driver.js';
import { converse, spawnOptions, useCleanSlate } from '../fixtures/harness.js';

/**
 * Node images are CommonJS when the handler allows it (a faster start on every restart) and ES
 * modules when it needs one; either way the extracted file's extension tells Node which it is.
 */

const HANDLERS = {
  plain: `import { serve } from 'umdkit/handler';
serve({ echo: (p) => p, kind: () => typeof require });`,
  topLevelAwait: `import { serve } from 'umdkit/handler';
const offset = await Promise.resolve(41);
serve({ echo: (p) => p + offset, kind: () => typeof require });`,
  importMeta: `import { serve } from 'umdkit/handler';
serve({ echo: (p) => p, where: () => import.meta.url, kind: () => typeof require });`,
};

describe('node image format', () => {
  const slate = useCleanSlate();

  async function packSource(name: keyof typeof HANDLERS) {
    const dir = slate.trackPath(await mkdtemp(join(tmpdir(), 'umdkit-format-')));
    const entry = join(dir, `${name}.mjs`);
    await writeFile(entry, HANDLERS[name]);
    const packed = await pack({ entry, name });
    await rm(dir, { recursive: true });
    return packed;
  }

  /** Extracts and starts `image`, asks `method`, and cleans up: returns the answer and the extracted file name. */
  async function ask(name: string, image: Image, method: string, payload: unknown) {
    const loaded = await loadImage(name, image, { root: slate.root });
    try {
      const handler = slate.track(await spawnHandler(loaded, spawnOptions(name)));
      const talk = converse(handler);
      talk.request(1, method, payload);
      const response = await talk.response(1);
      handler.endInput();
      await handler.exited;
      if (!('p' in response)) throw new Error(`the handler answered with an error: ${JSON.stringify(response)}`);
      return { answer: response, file: basename(loaded.file) };
    } finally {
      await loaded.unload();
    }
  }

  it('packs a plain handler as CommonJS, extracts it as <name>.cjs and runs it', async () => {
    const packed = await packSource('plain');
    expect(packed.image.format).toBe('cjs');
    expect(packed.module).toContain('format: "cjs"');
    const { answer, file } = await ask('plain', packed.image, 'kind', null);
    expect(file).toBe('plain.cjs');
    expect(answer.p).toBe('function'); // CommonJS: `require` is in scope
  });

  it('packs a handler with top-level await as an ES module (CommonJS cannot hold it)', async () => {
    const packed = await packSource('topLevelAwait');
    expect(packed.image.format).toBe('esm');
    const { answer, file } = await ask('topLevelAwait', packed.image, 'echo', 1);
    expect(file).toBe('topLevelAwait.mjs');
    expect(answer.p).toBe(42);
  });

  it('packs a handler reading import.meta as an ES module (CommonJS would leave it empty)', async () => {
    const packed = await packSource('importMeta');
    expect(packed.image.format).toBe('esm');
    const { answer } = await ask('importMeta', packed.image, 'where', null);
    // Run from its sealed copy on fd 3 (never from the extracted file), loaded as an ES module.
    expect(answer.p).toBe('file:///proc/self/fd/3');
  });

  it('names the extracted file after the format', () => {
    expect(imageFileName('p', { kind: 'node' })).toBe('p.mjs');
    expect(imageFileName('p', { kind: 'node', format: 'esm' })).toBe('p.mjs');
    expect(imageFileName('p', { kind: 'node', format: 'cjs' })).toBe('p.cjs');
    expect(imageFileName('p', { kind: 'exec' })).toBe('p');
  });

  it('refuses a format on an exec image, and an unknown format, naming the value', async () => {
    const bytes = new Uint8Array([1, 2, 3]);
    const sha256 = '039058c6f2c0cb492c533b0a4d14ef77cc0f78abccced5287d84a1a2011cfb81';
    expect(() => defineDriver({ name: 'x', image: { kind: 'exec', bytes, sha256, format: 'cjs' } })).toThrow(
      'options.image.format is for node images only, got "cjs" on an exec image',
    );
    expect(() => defineDriver({ name: 'x', image: { kind: 'node', bytes, sha256, format: 'umd' as 'cjs' } })).toThrow(/options\.image\.format must be one of .*"esm".*"cjs".*got "umd"/);
    await expect(loadImage('x', { kind: 'node', bytes, sha256, format: 'amd' as 'cjs' }, { root: slate.root })).rejects.toThrow(/image\.format must be one of .*got "amd"/);
    expect(defineDriver({ name: 'x', image: { kind: 'node', bytes, sha256, format: 'cjs' } }).image.format).toBe('cjs');
  });
});
