import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { loadImage } from '../../src/loader/extract.js';
import { pack } from '../../src/loader/pack.js';
import { spawnHandler } from '../../src/loader/spawn.js';
import { converse, FIXTURES, spawnOptions, useCleanSlate } from '../fixtures/harness.js';
import { cCompiler, needs } from '../fixtures/requires.js';

const run = promisify(execFile);

const compiler = needs('the exec-image test', [cCompiler()]);

describe('an exec image: a C handler speaking protocol v1', () => {
  const slate = useCleanSlate();

  it.runIf(compiler.run)(`is packed, loaded, spawned, answers a request, and exits 0 on EOF${compiler.note}`, async () => {
    const build = slate.trackPath(await mkdtemp(join(slate.root, '..', 'umdkit-cc-')));
    const binary = join(build, 'tiny-handler');
    await run('cc', ['-O2', '-o', binary, join(FIXTURES, 'c', 'tiny-handler.c')]);

    const packed = await pack({ kind: 'exec', binary, name: 'tiny' });
    expect(packed.image.kind).toBe('exec');
    const loaded = await loadImage('tiny', packed.image, { root: slate.root });
    expect(loaded.file.endsWith('/tiny')).toBe(true);

    const handler = slate.track(await spawnHandler(loaded, spawnOptions('tiny')));
    expect(handler.hello).toEqual({ t: 'hello', v: 1, pid: handler.pid });
    const talk = converse(handler);
    talk.request(1, 'anything', { ignored: true });
    talk.request(300, undefined, 'also ignored'); // an id needing two bytes
    expect(await talk.response(1)).toEqual({ t: 'res', id: 1, ok: true, p: { lang: 'c', answer: 42 } });
    expect(await talk.response(300)).toEqual({ t: 'res', id: 300, ok: true, p: { lang: 'c', answer: 42 } });

    handler.endInput();
    expect(await handler.exited).toEqual({ code: 0, signal: null, stderrTail: [] });
    await loaded.unload();
    await rm(build, { recursive: true });
  });
});
