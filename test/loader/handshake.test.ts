import { describe, expect, it } from 'vitest';
import { UmdError } from '../../src/errors.js';
import { loadImage, type LoadedImage } from '../../src/loader/extract.js';
import type { LaunchPlan } from '../../src/loader/launch-plan.js';
import { spawnHandler, type SpawnOptions } from '../../src/loader/spawn.js';
import { encodeFrame, ProtocolError } from '../../src/protocol/index.js';
import { gone, spawnOptions, useCleanSlate } from '../fixtures/harness.js';
import { HELLO_JS, inlineImage, STAY_ALIVE_JS } from '../fixtures/inline.js';
import { ManualClock } from '../manager/manual-clock.js';

/** Starts `source` and returns the typed error the start rejected with, after checking its process is gone. */
async function failedStart(loaded: LoadedImage, options: Partial<SpawnOptions> = {}, signal?: AbortSignal): Promise<UmdError> {
  const error = await spawnHandler(loaded, { ...spawnOptions(loaded.name), ...options }, signal).then(
    () => {
      throw new Error('the start should have failed');
    },
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(UmdError);
  const pid = (error as UmdError).details.pid as number | undefined;
  // Rejected only after the reap: the process is already gone, no polling needed.
  if (pid !== undefined && pid > 0) expect(await gone(pid, 0)).toBe(true);
  return error as UmdError;
}

describe('the handshake', () => {
  const slate = useCleanSlate();
  const load = (name: string, source: string) => loadImage(name, inlineImage(source), { root: slate.root });

  // On the injected clock: the start fails when the clock says the timeout has passed, not before,
  // however slow or fast the machine is.
  it('kills a handler that never says hello and rejects with SPAWN (timeout), on the injected clock', async () => {
    const loaded = await load('mute', `process.stderr.write('mute: thinking\\n'); ${STAY_ALIVE_JS}`);
    const clock = new ManualClock();
    let settled = false;
    const failing = failedStart(loaded, { startTimeoutMs: 300, clock }).finally(() => {
      settled = true;
    });
    for (const end = Date.now() + 10_000; clock.pending === 0; ) {
      if (Date.now() > end) throw new Error('the handshake timer was never armed');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    clock.advance(299);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(settled).toBe(false);
    clock.advance(1);
    const error = await failing;
    expect(error.code).toBe('SPAWN');
    expect(error.details).toMatchObject({ reason: 'timeout', signal: 'SIGKILL', driver: 'mute', instance: 'test-mute', generation: 1 });
    expect(error.message).toMatch(/did not say hello within 300 ms/);
    await loaded.unload();
  });

  it('the timeout keeps the stderr of a handler that never says hello', async () => {
    const loaded = await load('mute', `process.stderr.write('mute: thinking\\n'); ${STAY_ALIVE_JS}`);
    const error = await failedStart(loaded, { startTimeoutMs: 3000 });
    expect(error.details).toMatchObject({ reason: 'timeout' });
    expect(error.details.stderrTail).toEqual(['mute: thinking']);
    await loaded.unload();
  });

  it('rejects a first frame that is not hello with PROTOCOL and the reason', async () => {
    const pong = encodeFrame({ t: 'pong', id: 1 }).toString('hex');
    const loaded = await load('rude', `process.stdout.write(Buffer.from('${pong}', 'hex')); ${STAY_ALIVE_JS}`);
    const error = await failedStart(loaded);
    expect(error).toBeInstanceOf(ProtocolError);
    expect(error.code).toBe('PROTOCOL');
    expect((error as ProtocolError).reason).toBe('BAD_MESSAGE');
    expect(error.message).toMatch(/bad first frame: the first frame must be "hello", got t = "pong"/);
    expect(error.details.signal).toBe('SIGKILL');
    await loaded.unload();
  });

  it('rejects a broken frame before hello with PROTOCOL (length prefix 0)', async () => {
    const loaded = await load('broken', `process.stdout.write(Buffer.alloc(4)); ${STAY_ALIVE_JS}`);
    const error = await failedStart(loaded);
    expect(error).toBeInstanceOf(ProtocolError);
    expect((error as ProtocolError).reason).toBe('EMPTY_FRAME');
    await loaded.unload();
  });

  it('rejects a hello of another protocol version with PROTOCOL', async () => {
    const hello2 = encodeFrame({ t: 'hello', v: 2, pid: 1 }).toString('hex');
    const loaded = await load('future', `process.stdout.write(Buffer.from('${hello2}', 'hex')); ${STAY_ALIVE_JS}`);
    const error = await failedStart(loaded);
    expect((error as ProtocolError).reason).toBe('BAD_MESSAGE');
    expect(error.message).toMatch(/"hello".v must be 1, got 2/);
    await loaded.unload();
  });

  it('reports an exit during the handshake as SPAWN with the exit code and the stderr tail', async () => {
    const loaded = await load('quitter', `process.stderr.write('quitter: config missing\\nquitter: giving up\\n'); process.exit(3);`);
    const error = await failedStart(loaded);
    expect(error.code).toBe('SPAWN');
    expect(error.message).toMatch(/exited with code 3 before saying hello; stderr: quitter: giving up/);
    expect(error.details).toMatchObject({ reason: 'exited', exitCode: 3, signal: null, stderrTail: ['quitter: config missing', 'quitter: giving up'] });
    await loaded.unload();
  });

  it('reports a handler killed by a signal during the handshake', async () => {
    const loaded = await load('suicidal', `process.kill(process.pid, 'SIGTERM'); ${STAY_ALIVE_JS}`);
    const error = await failedStart(loaded);
    expect(error.code).toBe('SPAWN');
    expect(error.message).toMatch(/was killed by SIGTERM before saying hello/);
    expect(error.details).toMatchObject({ exitCode: null, signal: 'SIGTERM' });
    await loaded.unload();
  });

  it('reports a command that does not exist as SPAWN naming ENOENT', async () => {
    const loaded = await load('missing', STAY_ALIVE_JS);
    const error = await failedStart(loaded, {
      launch: (plan: LaunchPlan) => ({ ...plan, command: 'umdkit-test-no-such-command' }),
    });
    expect(error.code).toBe('SPAWN');
    expect(error.details.reason).toBe('ENOENT');
    expect(error.message).toMatch(/cannot start handler "missing" \(umdkit-test-no-such-command\): ENOENT/);
    await loaded.unload();
  });

  it('reports a command that cannot be executed as SPAWN naming EACCES', async () => {
    const loaded = await load('denied', STAY_ALIVE_JS);
    // A directory is never executable.
    const error = await failedStart(loaded, { launch: (plan: LaunchPlan) => ({ ...plan, command: loaded.dir, args: [] }) });
    expect(error.code).toBe('SPAWN');
    expect(error.details.reason).toBe('EACCES');
    await loaded.unload();
  });

  it('aborts a start in progress: kills, reaps, rejects with ABORTED', async () => {
    const loaded = await load('slow', STAY_ALIVE_JS);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 150);
    const error = await failedStart(loaded, {}, controller.signal);
    expect(error.code).toBe('ABORTED');
    expect(error.details.pid).toBeGreaterThan(0);
    await loaded.unload();
  });

  it('does not start anything when the signal is already aborted', async () => {
    const loaded = await load('never', STAY_ALIVE_JS);
    let launched = 0;
    const error = await failedStart(loaded, { launch: (plan: LaunchPlan) => (launched++, plan) }, AbortSignal.abort());
    expect(error.code).toBe('ABORTED');
    expect(launched).toBe(0);
    await loaded.unload();
  });

  it('accepts a hello split over several writes', async () => {
    const loaded = await load('stutter', `${HELLO_JS}
      const frame = hello();
      for (let i = 0; i < frame.length; i++) { process.stdout.write(frame.subarray(i, i + 1)); await new Promise((r) => setTimeout(r, 2)); }
      process.stdin.on('end', () => process.exit(0)); process.stdin.resume();`);
    const handler = slate.track(await spawnHandler(loaded, spawnOptions('stutter')));
    expect(handler.hello.pid).toBe(handler.pid);
    handler.endInput();
    expect((await handler.exited).code).toBe(0);
    await loaded.unload();
  });
});
