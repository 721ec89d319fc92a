import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pack } from '../../src/loader/pack.js';
import { sweepStale } from '../../src/loader/sweep.js';
import { probeHost } from '../../src/sandbox/index.js';
import { gone, HANDLERS, isRunning, useCleanSlate } from '../fixtures/harness.js';
import { bundleParent, packEscaper, startParent } from '../fixtures/parent-process.js';
import { cCompiler, needs } from '../fixtures/requires.js';

const cNeed = needs('the EOF-ignoring handler tests (a C handler)', [cCompiler()]);
const host = await probeHost({ network: true, pidns: true });
const strictNeed = needs('the strict EOF-ignoring handler tests (a C handler)', [host.network.ok && host.pidns.ok && host.tools.setpriv !== undefined && host.tools.timeout !== undefined ? undefined : 'this host cannot give the strict layers (PID namespace, network namespace, setpriv, timeout)']);

describe('a parent killed with SIGKILL', () => {
  const slate = useCleanSlate();
  let work = '';
  let parentScript = '';
  const modules: Record<string, string> = {};

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'umdkit-orphan-'));
    // The parent is TypeScript importing the loader: bundle it so plain node can run it.
    parentScript = await bundleParent(work);
    modules.echo = join(work, 'echo.driver.mjs');
    await pack({ entry: join(HANDLERS, 'echo.ts'), name: 'echo', out: modules.echo });
    if (cNeed.run) modules.escaper = await packEscaper(work);
  });
  afterAll(async () => {
    if (work !== '') await rm(work, { recursive: true, force: true });
  });

  it('leaves no handler alive (EOF of stdin), and its directory is swept at the next start', async () => {
    const { parent, report, closed } = await startParent(parentScript, { driverModule: modules.echo!, root: slate.root });
    slate.trackPid(parent.pid!);
    const { pid, dir } = report;
    slate.trackPid(pid);
    expect(isRunning(pid)).toBe(true);

    parent.kill('SIGKILL');
    await closed;
    expect(await gone(pid, 2000)).toBe(true);

    // The parent could not unload: its directory is stale until someone sweeps.
    expect((await stat(dir)).isDirectory()).toBe(true);
    expect(await sweepStale(slate.root)).toEqual([dir]);
    await expect(stat(dir)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  // Regression: a handler that ignores EOF ran on forever after its manager was SIGKILLed.
  it.runIf(cNeed.run)('under standard, a handler that ignores EOF dies with it (parent-death signal)', async () => {
    const { parent, report, closed } = await startParent(parentScript, { driverModule: modules.escaper!, root: slate.root, sandbox: 'standard', methods: ['linger'] });
    slate.trackPid(parent.pid!);
    slate.trackPid(report.pid);
    expect(report.answers[0]).toMatchObject({ ok: true, p: { self: report.pid } });
    expect(isRunning(report.pid)).toBe(true);

    parent.kill('SIGKILL');
    await closed;
    expect(await gone(report.pid, 5000)).toBe(true);
    expect(await sweepStale(slate.root)).toEqual([report.dir]);
  });

  it.runIf(cNeed.run && strictNeed.run)('under strict, the EOF-ignoring handler and the grandchild it hid in its own session die with it', async () => {
    const { parent, report, closed } = await startParent(parentScript, {
      driverModule: modules.escaper!, root: slate.root, sandbox: 'strict', methods: ['escape', 'linger'],
    });
    slate.trackPid(parent.pid!);
    const { self, pid: grandchild } = (report.answers[0] as unknown as { p: { self: number; pid: number } }).p;
    for (const pid of [report.pid, self, grandchild]) slate.trackPid(pid);
    expect([report.pid, self, grandchild].every(isRunning)).toBe(true);

    parent.kill('SIGKILL');
    await closed;
    for (const pid of [report.pid, self, grandchild]) expect(await gone(pid, 5000)).toBe(true);
    expect(await sweepStale(slate.root)).toEqual([report.dir]);
  });
});

describe('the start-time sweep', () => {
  const slate = useCleanSlate();

  // Regression: a start while the dead parent was still a zombie skipped its directory.
  it('treats a zombie parent as dead and removes its directory', async () => {
    // sh prints the pid of a child that exits at once, then becomes `sleep`, which never reaps it.
    const holder = spawn('/bin/sh', ['-c', 'sh -c "exit 0" & echo $!; exec sleep 60'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const holderClosed = new Promise((resolve) => holder.once('close', resolve));
    try {
      const zombie = Number(await new Promise<string>((resolve) => createInterface({ input: holder.stdout! }).once('line', resolve)));
      await waitForZombie(zombie);
      const dir = join(slate.root, `umdkit-${zombie}-zombieParentDir`);
      await mkdir(dir);
      expect(await sweepStale(slate.root)).toEqual([dir]);
    } finally {
      holder.kill('SIGKILL');
      await holderClosed;
    }
  });
});

async function waitForZombie(pid: number): Promise<void> {
  for (let i = 0; i < 500 && isRunning(pid); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  expect(isRunning(pid)).toBe(false); // the harness counts a zombie as not running
  const info = await stat(`/proc/${pid}`); // and it is still there: a zombie, not gone
  expect(info.isDirectory()).toBe(true);
}
