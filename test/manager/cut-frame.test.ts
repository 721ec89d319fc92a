import { describe, expect, it } from 'vitest';
import { failure, fixtureDriver, gone, pidsOf, until, useManagers } from './harness.js';

/**
 * stdout ending inside a frame has two causes that must not be confused: a handler that died
 * while writing (a crash: HANDLER_CRASHED with its exit) and a handler that closed stdout mid-frame
 * and lives on (a protocol violation: PROTOCOL, TRUNCATED).
 */
describe('a frame cut short on stdout', () => {
  const env = useManagers();
  const options = { concurrency: 2, heartbeatMs: false as const, backoff: { initialMs: 10, maxMs: 50, jitter: 0 } };

  it('by a handler killed while writing it: every request in flight rejects HANDLER_CRASHED with the signal, no protocol fault', async () => {
    const manager = await env.start({ children: [await fixtureDriver('rogue', options)] });
    const [pid] = pidsOf(manager, 'rogue');
    const bystander = failure(manager.request('rogue', { ms: 10_000 }, { method: 'slow' }));
    await until(() => manager.snapshot().inFlight === 1, 'the slow request in flight');
    const error = await failure(manager.request('rogue', { bytes: 4000 }, { method: 'cutThenKill' }));
    expect(error).toMatchObject({ code: 'HANDLER_CRASHED', details: { signal: 'SIGKILL', reason: 'crash' } });
    expect(error.message).toContain('was killed by SIGKILL');
    expect(await bystander).toMatchObject({ code: 'HANDLER_CRASHED', details: { signal: 'SIGKILL', reason: 'crash' } });
    expect(env.of('fault')).toEqual([]);
    expect(env.of('exit')[0]).toMatchObject({ pid, signal: 'SIGKILL' });
    // Restarted: the next generation answers.
    expect(await manager.request('rogue', 'after')).toBe('after');
    expect(pidsOf(manager, 'rogue')[0]).not.toBe(pid);
    await manager.stop();
  });

  it('by a handler that closes stdout mid-frame and keeps running: PROTOCOL (TRUNCATED), and it is killed', async () => {
    const manager = await env.start({ children: [await fixtureDriver('rogue', options)] });
    const [pid] = pidsOf(manager, 'rogue');
    const bystander = failure(manager.request('rogue', { ms: 10_000 }, { method: 'slow' }));
    await until(() => manager.snapshot().inFlight === 1, 'the slow request in flight');
    const error = await failure(manager.request('rogue', { bytes: 4000 }, { method: 'cutThenCloseStdout' }));
    expect(error).toMatchObject({ code: 'PROTOCOL', details: { reason: 'fault' } });
    expect(error.message).toMatch(/TRUNCATED: stream ended with \d+ byte\(s\) of a frame of \d+ bytes/);
    expect(await bystander).toMatchObject({ code: 'PROTOCOL' });
    expect(env.of('fault').map((e) => e.reason)).toEqual([expect.stringMatching(/^protocol: TRUNCATED/)]);
    // The manager killed it: it would never have exited on its own.
    expect(env.of('exit')[0]).toMatchObject({ pid, signal: 'SIGKILL' });
    expect(await gone(pid!, 2000)).toBe(true);
    expect(await manager.request('rogue', 'after')).toBe('after');
    await manager.stop();
  });
});
