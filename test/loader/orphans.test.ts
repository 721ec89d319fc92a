import { spawn } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { pack } from '../../src/loader/pack.js';
import { sweepStale } from '../../src/loader/sweep.js';
import { FIXTURES, gone, HANDLERS, isRunning, useCleanSlate } from '../fixtures/harness.js';

describe('a parent killed with SIGKILL', () => {
  const slate = useCleanSlate();

  it('leaves no handler alive (EOF of stdin), and its directory is swept at the next start', async () => {
    const work = slate.trackPath(await mkdtemp(join(tmpdir(), 'umdkit-orphan-')));
    // The parent is TypeScript importing the loader: bundle it so plain node can run it.
    await build({
      entryPoints: [join(FIXTURES, 'orphan-parent.ts')],
      outfile: join(work, 'parent.mjs'),
      bundle: true,
      platform: 'node',
      format: 'esm',
      logLevel: 'silent',
    });
    await pack({ entry: join(HANDLERS, 'echo.ts'), name: 'echo', out: join(work, 'echo.driver.mjs') });

    const parent = spawn(process.execPath, [join(work, 'parent.mjs'), join(work, 'echo.driver.mjs'), slate.root], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    slate.trackPid(parent.pid!);
    const parentClosed = new Promise((resolve) => parent.once('close', resolve));
    const firstLine = await new Promise<string>((resolve, reject) => {
      createInterface({ input: parent.stdout }).once('line', resolve);
      parent.once('exit', (code) => reject(new Error(`the parent exited early with code ${code}`)));
    });
    const { pid, dir } = JSON.parse(firstLine) as { pid: number; dir: string };
    slate.trackPid(pid);
    expect(isRunning(pid)).toBe(true);

    parent.kill('SIGKILL');
    await parentClosed;
    expect(await gone(pid, 2000)).toBe(true);

    // The parent could not unload: its directory is stale until someone sweeps.
    expect((await stat(dir)).isDirectory()).toBe(true);
    expect(await sweepStale(slate.root)).toEqual([dir]);
    await expect(stat(dir)).rejects.toMatchObject({ code: 'ENOENT' });
    await rm(work, { recursive: true });
  });
});
