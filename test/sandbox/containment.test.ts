// Regression tests for handlers that try to outlive their kill (a grandchild in its own session
// holding the handler's stdout) and for settling on the handler's exit, not on pipe EOF. Real
// processes through the manager: a C handler (test/fixtures/c/escaper.c) forks the grandchild.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineDriver } from '../../src/manager/driver.js';
import { pack } from '../../src/loader/pack.js';
import type { Image } from '../../src/loader/image.js';
import { probeHost } from '../../src/sandbox/index.js';
import { FIXTURES, gone, isRunning } from '../fixtures/harness.js';
import { failure, useManagers } from '../manager/harness.js';
import { cCompiler, needs } from '../fixtures/requires.js';

const run = promisify(execFile);
const host = await probeHost({ network: true, pidns: true });
const cNeed = needs('the containment tests (a C handler)', [cCompiler()]);
const strictNeed = needs('the strict containment tests (a C handler)', [host.pidns.ok && host.network.ok && host.tools.setpriv !== undefined && host.tools.timeout !== undefined ? undefined : 'this host cannot give the strict layers (PID namespace, network namespace, setpriv, timeout)']);

describe.runIf(cNeed.run)('a handler whose grandchild escapes into its own session', () => {
  const env = useManagers();
  let build = '';
  let escaper: Image;
  beforeAll(async () => {
    build = await mkdtemp(join(tmpdir(), 'umdkit-escaper-'));
    const binary = join(build, 'escaper');
    await run('cc', ['-O2', '-o', binary, join(FIXTURES, 'c', 'escaper.c')]);
    escaper = (await pack({ kind: 'exec', binary, name: 'escaper' })).image;
  });
  afterAll(async () => {
    if (build !== '') await rm(build, { recursive: true, force: true });
  });

  const driver = (sandbox: unknown, extra: Record<string, unknown> = {}) =>
    defineDriver({ name: 'escaper', image: escaper, sandbox: sandbox as 'strict', requestTimeoutMs: 120_000, ...extra });

  it.runIf(strictNeed.run)('under strict: stop() settles, the grandchild dies with the handler, nothing is left', async () => {
    const manager = await env.start({ children: [driver('strict')] });
    const { self, pid } = (await manager.request('escaper', null, { method: 'escape' })) as { self: number; pid: number };
    env.trackPid(self);
    env.trackPid(pid);
    expect(isRunning(pid)).toBe(true);
    await manager.stop();
    expect(await gone(pid, 5000)).toBe(true);
    expect(await gone(self, 5000)).toBe(true);
    // useCleanSlate then fails the test if anything is left in the extraction root.
  });

  it.runIf(strictNeed.run)('under strict: a crash with an escaped grandchild rejects the in-flight request with HANDLER_CRASHED', async () => {
    const manager = await env.start({ children: [driver('strict', { restart: 'temporary' })] });
    const error = await failure(manager.request('escaper', null, { method: 'crash' }));
    expect(error.code).toBe('HANDLER_CRASHED');
    expect(error.details).toMatchObject({ exitCode: 3 });
    const pid = grandchildOf(error.details);
    env.trackPid(pid);
    expect(await gone(pid, 5000)).toBe(true);
    await manager.stop();
  });

  it('without the PID namespace the grandchild survives, yet stop() and the crashed request settle on the exit', async () => {
    const manager = await env.start({ children: [driver('none', { restart: 'temporary' })] });
    const escapees: number[] = [];
    try {
      const { pid } = (await manager.request('escaper', null, { method: 'escape' })) as { pid: number };
      escapees.push(pid);
      const crashed = await failure(manager.request('escaper', null, { method: 'crash' }));
      expect(crashed.code).toBe('HANDLER_CRASHED');
      escapees.push(grandchildOf(crashed.details));
      await manager.stop();
      // The layer is what kills them: proven by its absence here.
      expect(escapees.every(isRunning)).toBe(true);
    } finally {
      for (const pid of escapees) process.kill(pid, 'SIGKILL');
    }
  });
});

/** The pid the `crash` method wrote to stderr before exiting. */
function grandchildOf(details: unknown): number {
  const tail = (details as { stderrTail?: string[] }).stderrTail ?? [];
  const line = tail.find((l) => l.startsWith('grandchild '));
  expect(line, `stderr tail ${JSON.stringify(tail)}`).toBeDefined();
  return Number(line!.slice('grandchild '.length));
}
