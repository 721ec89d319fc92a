import { describe, expect, it } from 'vitest';
import { failure, fixtureDriver, gone, outcomes, pidsOf, until, useManagers } from './harness.js';

describe('crash semantics', () => {
  const env = useManagers();
  const fast = { backoff: { initialMs: 10, maxMs: 50, jitter: 0 } };

  it('a handler SIGKILLed mid-flight: in-flight rejects HANDLER_CRASHED, queued ones are answered by the next generation', async () => {
    const manager = await env.start({ children: [await fixtureDriver('rogue', { concurrency: 4, ...fast })] });
    const [pid] = pidsOf(manager, 'rogue');
    const inFlight = Array.from({ length: 4 }, (_, i) => manager.request('rogue', { ms: 5000, value: i }, { method: 'slow' }));
    await until(() => manager.snapshot().inFlight === 4, '4 requests in flight');
    const queued = Array.from({ length: 16 }, (_, i) => manager.request('rogue', `q${i}`));
    process.kill(pid!, 'SIGKILL');
    const lost = await Promise.allSettled(inFlight);
    for (const result of lost) {
      expect(result.status).toBe('rejected');
      const error = (result as PromiseRejectedResult).reason;
      expect(error).toMatchObject({ code: 'HANDLER_CRASHED', details: { signal: 'SIGKILL', generation: 1 } });
      expect(error.message).toContain('SIGKILL');
    }
    expect(await Promise.all(queued)).toEqual(Array.from({ length: 16 }, (_, i) => `q${i}`));
    const [next] = pidsOf(manager, 'rogue');
    expect(next).not.toBe(pid);
    expect(manager.snapshot().children?.[0]?.children?.[0]).toMatchObject({ generation: 2, restarts: 1, state: expect.stringMatching(/ready|busy/) });
    // Exactly once: 20 submitted, 20 settled, no request id twice.
    const settled = env.of('request');
    expect(settled).toHaveLength(20);
    expect(new Set(settled.map((e) => e.request)).size).toBe(20);
    await manager.stop();
  });

  it('the crash error carries the exit code and the tail of stderr', async () => {
    const manager = await env.start({ children: [await fixtureDriver('rogue', fast)] });
    const error = await failure(manager.request('rogue', { code: 7 }, { method: 'exitWith' }));
    expect(error).toMatchObject({ code: 'HANDLER_CRASHED', details: { exitCode: 7, signal: null, reason: 'crash' } });
    expect(error.message).toContain('exited with code 7');
    expect(await manager.request('rogue', 'after')).toBe('after');
    await manager.stop();
  });

  // The hang is found by the heartbeat (liveness), never by a caller's deadline: no deadline in
  // this test, so a loaded machine only makes it slower, never wrong.
  it('a hanging handler (SIGSTOP): the heartbeat finds it; in flight rejects HANDLER_CRASHED; killed, restarted, counted', async () => {
    const manager = await env.start({ children: [await fixtureDriver('rogue', { heartbeatMs: 100, ...fast })] });
    const [pid] = pidsOf(manager, 'rogue');
    const error = await failure(manager.request('rogue', null, { method: 'stop' }));
    expect(error).toMatchObject({ code: 'HANDLER_CRASHED', details: { reason: 'fault', signal: 'SIGKILL', generation: 1 } });
    expect(error.message).toContain('heartbeat: no pong within 100 ms');
    expect(env.of('fault').map((f) => f.reason)).toEqual(['heartbeat: no pong within 100 ms']);
    expect(await gone(pid!, 10_000)).toBe(true);
    expect(await manager.request('rogue', 'alive again', { timeoutMs: 10_000 })).toBe('alive again');
    expect(pidsOf(manager, 'rogue')[0]).not.toBe(pid);
    expect(env.of('restart')).toHaveLength(1);
    await manager.stop();
  });

  it('a busy loop never answers pings: presumed hung through the heartbeat (HANDLER_CRASHED), restarted', async () => {
    const manager = await env.start({ children: [await fixtureDriver('rogue', { heartbeatMs: 100, ...fast })] });
    const error = await failure(manager.request('rogue', null, { method: 'spin' }));
    expect(error).toMatchObject({ code: 'HANDLER_CRASHED', details: { reason: 'fault' } });
    expect(env.of('fault')[0]?.reason).toContain('heartbeat');
    expect(await manager.request('rogue', 'ok')).toBe('ok');
    await manager.stop();
  });

  it.each([
    ['unknownId', 'PROTOCOL'],
    ['duplicate', 'PROTOCOL'],
    ['garbage', 'PROTOCOL'],
    ['oversize', 'PROTOCOL'],
  ])('a handler that answers with %s gets %s and a restart', async (method, code) => {
    const manager = await env.start({ children: [await fixtureDriver('rogue', { maxFrameBytes: 1 << 20, ...fast })] });
    const [pid] = pidsOf(manager, 'rogue');
    const result = await manager.request('rogue', 'x', { method }).then((v) => ({ ok: v }), (e) => e);
    if (method === 'duplicate') {
      // The first answer is a valid answer; the second one is the violation.
      expect(result).toEqual({ ok: 'once' });
    } else {
      expect(result).toMatchObject({ code });
    }
    await until(() => pidsOf(manager, 'rogue')[0] !== pid && pidsOf(manager, 'rogue')[0] !== null, 'a new process');
    expect(env.of('fault').map((f) => f.reason).join()).toContain('protocol');
    expect(await manager.request('rogue', 'fine')).toBe('fine');
    await manager.stop();
  });

  it('an answer that fails validation: INVALID_RESPONSE, and the handler is restarted', async () => {
    const validate = (answer: unknown) => {
      if (typeof answer !== 'string') throw new Error(`expected a string, got ${typeof answer}`);
      return answer.toUpperCase();
    };
    const manager = await env.start({ children: [await fixtureDriver('rogue', { validate, ...fast })] });
    const [pid] = pidsOf(manager, 'rogue');
    expect(await manager.request('rogue', 'abc')).toBe('ABC');
    const error = await failure(manager.request('rogue', 42));
    expect(error).toMatchObject({ code: 'INVALID_RESPONSE' });
    expect(error.message).toContain('expected a string, got number');
    await until(() => ![pid, null].includes(pidsOf(manager, 'rogue')[0]!), 'a new process');
    expect(await manager.request('rogue', 'def')).toBe('DEF');
    await manager.stop();
  });

  it('a Standard Schema validator is honoured', async () => {
    const schema = {
      '~standard': {
        version: 1 as const,
        vendor: 'test',
        validate: (value: unknown) => (typeof value === 'number' ? { value } : { issues: [{ message: 'not a number', path: ['answer'] }] }),
      },
    };
    const manager = await env.start({ children: [await fixtureDriver('rogue', { validate: schema, ...fast })] });
    expect(await manager.request('rogue', 5)).toBe(5);
    await expect(manager.request('rogue', 'five')).rejects.toMatchObject({ code: 'INVALID_RESPONSE', message: expect.stringContaining('answer: not a number') });
    await manager.stop();
  });

  it('idempotent requests are retried after a crash; a poison pill is rejected for good', async () => {
    const manager = await env.start({
      children: [await fixtureDriver('rogue', { concurrency: 2, retries: 5, poisonThreshold: 3, ...fast })],
      intensity: { maxRestarts: 20, periodMs: 10_000 },
    });
    // Retried: an idempotent request in flight when a *different* request kills the handler.
    const survivor = manager.request('rogue', { ms: 300, value: 'survived' }, { method: 'slow', idempotent: true });
    await until(() => manager.snapshot().inFlight === 1, 'the slow request in flight');
    const killer = manager.request('rogue', { signal: 'SIGKILL' }, { method: 'signal' });
    await expect(killer).rejects.toMatchObject({ code: 'HANDLER_CRASHED' });
    expect(await survivor).toBe('survived');

    // A poison pill: it kills every handler it reaches; idempotent or not, it stops after poisonThreshold crashes.
    const pill = await failure(manager.request('rogue', { signal: 'SIGKILL' }, { method: 'signal', idempotent: true }));
    expect(pill).toMatchObject({ code: 'HANDLER_CRASHED', details: { reason: 'poison-pill' } });
    expect(pill.message).toContain('poison pill');
    expect(env.of('exit').filter((e) => e.signal === 'SIGKILL')).toHaveLength(1 + 3);
    expect(await manager.request('rogue', 'still serving')).toBe('still serving');
    await manager.stop();
  });

  it('counts add up exactly under repeated crashes: every request settles once', async () => {
    const manager = await env.start({
      children: [await fixtureDriver('rogue', { concurrency: 4, maxQueue: 1000, ...fast })],
      intensity: { maxRestarts: 50, periodMs: 10_000 },
    });
    const requests: Promise<unknown>[] = [];
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 40; i++) requests.push(manager.request('rogue', { ms: 5, value: i }, { method: 'slow', idempotent: i % 2 === 0 }));
      requests.push(manager.request('rogue', { code: 9 }, { method: 'exitWith' }));
    }
    const counts = await outcomes(requests);
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    expect(total).toBe(205);
    expect(Object.keys(counts).every((code) => code === 'OK' || code === 'HANDLER_CRASHED')).toBe(true);
    const settled = env.of('request');
    expect(settled).toHaveLength(205);
    expect(new Set(settled.map((e) => e.request)).size).toBe(205);
    await manager.stop();
  });
});
