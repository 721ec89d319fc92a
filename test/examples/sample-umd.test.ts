/**
 * The sample UMD against real processes: the umd_mgmt.sh port (500 writes, reload every 50,
 * injected SIGKILLs) through the demo's own code for the TypeScript and the C handler; the
 * Manager's check catching corrupted handlers; the front door refusing bad text before sending.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Image, ManagerEvent, UmdError } from 'umdkit';
import { SampleManager } from '../../examples/sample-umd/manager.js';
import { OffsetError } from '../../examples/sample-umd/offset.js';
import { demoCommand, runDemo } from '../../src/cli/demo.js';
import { pack } from '../../src/loader/pack.js';
import { useCleanSlate } from '../fixtures/harness.js';
import { cCompiler, needs } from '../fixtures/requires.js';

const run = promisify(execFile);
const SAMPLE = fileURLToPath(new URL('../../examples/sample-umd/', import.meta.url));
const C_HANDLER = fileURLToPath(new URL('../../examples/c-handler/', import.meta.url));
const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));

const compiler = needs('the sample-umd C handler test', [cCompiler()]);

function capture() {
  const text: string[] = [];
  return { output: { write: (t: string) => void text.push(t), isTTY: false }, text: () => text.join('') };
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  const outcome = await promise.then((value) => ({ value }), (error: unknown) => ({ error }));
  if ('value' in outcome) throw new Error(`expected a rejection, got ${JSON.stringify(outcome.value)}`);
  return outcome.error as Error;
}

const packImage = async (entry: string): Promise<Image> => (await pack({ entry, name: 'sample' })).image;

describe('the umd_mgmt.sh port: 500 writes, reload every 50, 5 injected crashes, zero failures', () => {
  const slate = useCleanSlate();

  /** Runs the demo's code on `image` and checks the whole summary against what the run must do. */
  async function selftest(image: Image) {
    const { output, text } = capture();
    const summary = await runDemo({ image, iterations: 500, reloadEvery: 50, crashes: 5, runtimeDir: slate.root, output });
    expect(summary.checks.filter((c) => !c.ok)).toEqual([]);
    expect(summary).toMatchObject({
      ok: true,
      kind: image.kind,
      iterations: 500,
      verified: 500,
      failures: 0,
      reloads: 10, // after writes 0, 50, ..., 450, as the script's `i % 50 == 0`
      reloadsVerified: 10,
      crashesInjected: 5,
      crashesSeen: 5,
      restarts: 5, // the supervisor's, one per crash; reloads are not crashes
      processes: 16, // the first, one per reload, one per crash
      healthChecks: 16, // post_start after every start
      healthFailures: 0,
      requests: 516,
      directories: 11, // the first extraction and one per reload; a crash restarts from the same one
      leftoverPids: [],
      leftoverDirs: [],
    });
    expect(summary.latencyMs.p50).toBeGreaterThan(0);
    expect(summary.latencyMs.p99).toBeGreaterThanOrEqual(summary.latencyMs.p50);
    const printed = text();
    expect(printed).toContain('verified   500/500 replies');
    expect(printed).toContain('reloads    10 (10 from a fresh extraction');
    expect(printed).toMatch(/latency {4}p50 [\d.]+ ms, p99 [\d.]+ ms/);
    expect(printed.trimEnd().split('\n').at(-1)).toBe('PASS: every check passed');
  }

  it('the TypeScript handler (node image packed from examples/sample-umd/handler.ts)', async () => {
    await selftest(await packImage(join(SAMPLE, 'handler.ts')));
  });

  it.runIf(compiler.run)(`the C handler (exec image compiled from examples/c-handler)${compiler.note}`, async () => {
    const build = slate.trackPath(await mkdtemp(join(slate.root, '..', 'umdkit-cc-')));
    const binary = join(build, 'sample_handler');
    const sources = ['sample_handler.c', 'cbor.c'].map((f) => join(C_HANDLER, f));
    const flags = ['-O2', '-std=c11', '-Wall', '-Wextra', '-Werror', '-o', binary, ...sources];
    // Static when the host has a static libc (as the build does), dynamic otherwise.
    await run('cc', ['-static', ...flags]).catch(() => run('cc', flags));
    const image = (await pack({ kind: 'exec', binary, name: 'sample' })).image;
    await rm(build, { recursive: true });
    await selftest(image);
  });
});

describe('the sample Manager', () => {
  const slate = useCleanSlate();
  let corrupt: Image;
  let broken: Image;
  let good: Image;

  beforeAll(async () => {
    [corrupt, broken, good] = await Promise.all([
      packImage(join(FIXTURES, 'corrupt-sample.ts')),
      packImage(join(FIXTURES, 'broken-sample.ts')),
      packImage(join(SAMPLE, 'handler.ts')),
    ]);
  });

  async function start(image: Image, events: ManagerEvent[] = []): Promise<SampleManager> {
    return SampleManager.start({
      image,
      runtimeDir: slate.root,
      onEvent: (event) => {
        events.push(event);
        if (event.type === 'spawn') slate.trackPid(event.pid);
      },
    });
  }
  const pidOf = (sample: SampleManager) => sample.manager.snapshot().children?.[0]?.children?.[0]?.pid ?? null;

  it('catches a handler that sets the wrong byte, an extra byte, or one byte too many (INVALID_RESPONSE) and replaces it', async () => {
    const sample = await start(corrupt);
    expect(sample.healthChecks).toBe(1); // offset 0 is answered correctly: the corruption passes post_start
    const cases: Array<[string, string]> = [
      ['1024\n', 'reply byte at offset 1024 must be 1, got 0'],
      ['2048\n', 'reply byte at offset 2049 must be 0, got 1'],
      ['3072\n', 'reply must be 131072 bytes, got 131073'],
    ];
    for (const [text, why] of cases) {
      const pid = pidOf(sample);
      const error = (await rejection(sample.write(text))) as UmdError;
      expect(error.code, text).toBe('INVALID_RESPONSE');
      expect(error.message).toContain(why);
      // The handler is no longer trusted: the next write is served by a new process.
      expect(await sample.write('4096\n')).toBe(5);
      expect(pidOf(sample)).not.toBe(pid);
    }
    await sample.settled();
    expect(sample.healthChecks).toBe(4); // one per start
    expect(sample.healthFailures).toEqual([]);
    await sample.stop();
  });

  it('refuses to start a handler that fails its post-start health check, leaving nothing behind', async () => {
    const error = (await rejection(start(broken))) as UmdError;
    expect(error.code).toBe('INVALID_RESPONSE');
    expect(error.message).toContain('reply byte at offset 0 must be 1, got 0');
  });

  it('returns the bytes written, like write(2), and refuses bad text before anything is sent', async () => {
    const events: ManagerEvent[] = [];
    const sample = await start(good, events);
    expect(await sample.write('131071')).toBe(6);
    expect(await sample.write('+7\n')).toBe(3);
    const sent = events.filter((e) => e.type === 'request').length;
    for (const text of ['', '131072', '0x10', '-1', '12345678']) {
      const error = await rejection(sample.write(text));
      expect(error, JSON.stringify(text)).toBeInstanceOf(OffsetError);
      expect((error as OffsetError).errno).toBe('EINVAL');
    }
    expect(events.filter((e) => e.type === 'request').length).toBe(sent);
    await sample.stop();
  });

  it('a run on a corrupted handler fails its checks, and the command would exit non-zero', async () => {
    const { output, text } = capture();
    const summary = await runDemo({ image: corrupt, iterations: 200, reloadEvery: 50, crashes: 0, runtimeDir: slate.root, output });
    expect(summary.ok).toBe(false);
    expect(summary.failures).toBeGreaterThan(0);
    expect(summary.verified).toBe(200 - summary.failures);
    expect(summary.failureReasons[0]).toMatch(/must be/);
    expect(summary.checks.find((c) => c.name === 'no failure')).toMatchObject({ ok: false });
    // Still nothing left behind.
    expect(summary.leftoverPids).toEqual([]);
    expect(summary.leftoverDirs).toEqual([]);
    expect(text().trimEnd().split('\n').at(-1)).toBe('FAIL: replies verified, no failure');
  });

  it('umdkit demo --handler c says clearly when the C image was not built (run from the sources, there is none)', async () => {
    const out = capture();
    const err = capture();
    expect(await demoCommand(['--handler', 'c'], out.output, err.output)).toBe(1);
    expect(err.text()).toMatch(/^umdkit demo: the C handler image was not built: .*sample\.driver\.mjs is missing; run `npm run build`/);
  });
});
