import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pack } from '../../src/loader/pack.js';
import { FIXTURES, HANDLERS, useCleanSlate } from '../fixtures/harness.js';

// Regression: once every timer ran on the clock, whose real timers are unref'd, a process whose
// only handler was waiting out its restart backoff had nothing keeping its event loop alive: Node
// ended it (exit 13, "unsettled top-level await") with the request that waited for the restart
// never settled. `npm start` (the demo) died this way at its first injected crash.
describe('a restart waiting out its backoff', () => {
  const slate = useCleanSlate();
  let work = '';
  let script = '';
  let driverModule = '';

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'umdkit-keep-alive-'));
    // The bundle leaves packages out; they resolve through a link to this package's node_modules.
    await symlink(fileURLToPath(new URL('../../node_modules', import.meta.url)), join(work, 'node_modules'), 'dir');
    script = join(work, 'restart-waiter.mjs');
    await build({ entryPoints: [join(FIXTURES, 'restart-waiter.ts')], outfile: script, bundle: true, platform: 'node', format: 'esm', packages: 'external', logLevel: 'silent' });
    driverModule = join(work, 'toolbox.driver.mjs');
    await pack({ entry: join(HANDLERS, 'toolbox.ts'), name: 'toolbox', out: driverModule });
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('keeps the process alive until the request that waits for it is answered', async () => {
    const child = spawn(process.execPath, [script, driverModule, slate.root, '400'], { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    expect({ code, err }).toEqual({ code: 0, err: '' });
    expect(JSON.parse(out)).toEqual({ answer: 'after the restart' });
    // stop() removed the extraction: nothing of the run is left in its root.
    expect(await readdir(slate.root)).toEqual([]);
  });
});
