import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pack } from '../../src/loader/pack.js';
import { chaosCommand } from '../../src/cli/chaos.js';
import { replyProblem } from '../../examples/sample-umd/offset.js';
import { faults, runChaos, type ChaosReport } from 'umdkit/testing';
import { cCompiler, needs } from '../fixtures/requires.js';

/**
 * Chaos runs against the two real sample handlers — the Node one and the static C one — packed
 * exactly as `umdkit pack` packs them, with every process-level fault in the mix. 2,000 requests
 * each here; the 20,000-request runs are the same command with a larger --requests.
 */

const run = promisify(execFile);
const examples = (path: string) => fileURLToPath(new URL(`../../examples/${path}`, import.meta.url));

/** Codes a chaos run may legitimately end requests with (docs/FAULTS.md). */
const ALLOWED = ['HANDLER_CRASHED', 'TIMEOUT', 'PROTOCOL', 'INVALID_RESPONSE'];
const PROCESS_FAULTS = 'process:0.002';

/** The sample driver's answer check: 128 KiB, all zeros but a 1 at the offset asked for. */
const validate = (answer: unknown, { payload }: { payload: unknown }) => {
  const why = replyProblem(answer, payload as number);
  if (why !== undefined) throw new Error(why);
  return answer;
};

const compiler = needs('the C handler chaos runs', [cCompiler()]).run;

/** The digest runChaos reports for a schedule: the same planned faults give the same digest. */
function digestOf(faultList: string, requests: number, seed: number): string {
  return createHash('sha256').update(JSON.stringify(faults.plan({ faults: faults.parse(faultList), requests }, seed).faults)).digest('hex');
}

function expectInvariants(report: ChaosReport, requests: number): void {
  expect(report.violations).toEqual([]);
  expect(report).toMatchObject({ submitted: requests, settled: requests, lost: 0, doubleSettled: 0, unexpectedErrors: 0, orphans: 0, leftoverFiles: 0, healed: true, gaveUp: null });
  expect(report.ok + Object.values(report.failedByCode).reduce((a, b) => a + b, 0)).toBe(requests);
  for (const code of Object.keys(report.failedByCode)) expect(ALLOWED).toContain(code);
  // The faults really happened: handlers died and were replaced.
  expect(report.restarts).toBeGreaterThan(0);
  expect(report.spawned).toBeGreaterThan(2);
}

describe('umdkit chaos', () => {
  let work = '';
  let sampleModule = '';
  let cModule = '';

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'umdkit-chaos-test-'));
    sampleModule = join(work, 'sample.driver.mjs');
    await pack({ entry: examples('sample-umd/handler.ts'), name: 'sample', out: sampleModule });
    if (compiler) {
      const binary = join(work, 'sample_handler');
      await run('cc', ['-O2', '-std=c11', '-static', '-o', binary, examples('c-handler/sample_handler.c'), examples('c-handler/cbor.c')]);
      cModule = join(work, 'c-sample.driver.mjs');
      await pack({ kind: 'exec', binary, name: 'c-sample', out: cModule });
    }
  }, 60_000);

  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('the sample driver (node): 2,000 requests under every process fault, every invariant holds', async () => {
    const requests = 2000;
    const report = await runChaos({ driver: sampleModule, requests, concurrency: 8, faults: PROCESS_FAULTS, seed: 11, validate });
    expectInvariants(report, requests);
    expect(report.shim).toBe(true);
    expect(report.scheduleDigest).toBe(digestOf(PROCESS_FAULTS, requests, 11));
    expect(Object.keys(report.injected).length).toBeGreaterThanOrEqual(5);
  }, 90_000);

  it.runIf(compiler)('the C handler (static exec image): 2,000 requests under every process fault, every invariant holds', async () => {
    const requests = 2000;
    const report = await runChaos({ driver: cModule, requests, concurrency: 8, faults: PROCESS_FAULTS, seed: 12, validate });
    expectInvariants(report, requests);
    expect(report.scheduleDigest).toBe(digestOf(PROCESS_FAULTS, requests, 12));
    expect(Object.keys(report.injected).length).toBeGreaterThanOrEqual(5);
  }, 90_000);

  // Pipe and disk faults too (a 1 s deadline, so answers that never come cost less waiting).
  const PIPE_AND_DISK = 'pipe:0.003,disk:0.003,kill:0.003';

  it('the sample driver under every pipe and disk fault: every invariant holds', async () => {
    const requests = 600;
    const report = await runChaos({ driver: sampleModule, requests, concurrency: 8, faults: PIPE_AND_DISK, seed: 13, validate, driverOptions: { requestTimeoutMs: 1000 } });
    expectInvariants(report, requests);
  }, 90_000);

  it.runIf(compiler)('the C handler under every pipe and disk fault (its image is replaced while it runs): every invariant holds', async () => {
    const requests = 600;
    const report = await runChaos({ driver: cModule, requests, concurrency: 8, faults: PIPE_AND_DISK, seed: 14, validate, driverOptions: { requestTimeoutMs: 1000 } });
    expectInvariants(report, requests);
  }, 90_000);

  it('the CLI prints one JSON report and exits 0 when every invariant held; 2 on bad usage', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await chaosCommand(['--driver', sampleModule, '--requests', '200', '--faults', 'kill:0.02,exit:0.01', '--seed', '4', '--json'], { out: (t) => out.push(t), err: (t) => err.push(t) });
    expect(err.join('')).toBe('');
    expect(code).toBe(0);
    const report = JSON.parse(out.join('')) as ChaosReport;
    expect(report).toMatchObject({ submitted: 200, settled: 200, lost: 0, doubleSettled: 0, orphans: 0, leftoverFiles: 0, seed: 4 });
    expect(report.scheduleDigest).toBe(digestOf('kill:0.02,exit:0.01', 200, 4));
    // The schedule planned kills and exits, they were injected, and each cost a restart.
    expect(report.planned).toBeGreaterThan(0);
    const injected = Object.values(report.injected).reduce((a, b) => a + b, 0);
    expect(injected).toBeGreaterThan(0);
    expect(report.restarts).toBeGreaterThan(0);

    const usage: string[] = [];
    expect(await chaosCommand(['--driver', sampleModule, '--faults', 'kil:0.1'], { out: () => {}, err: (t) => usage.push(t) })).toBe(2);
    expect(usage.join('')).toContain('"kil" is not a fault or group');
    expect(await chaosCommand(['--requests', '5'], { out: () => {}, err: (t) => usage.push(t) })).toBe(2);
    expect(usage.join('')).toContain('--driver <module> is required');
  }, 60_000);
});
