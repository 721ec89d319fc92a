import { describe, expect, it } from 'vitest';
import { createManager, defineDriver, UmdError } from 'umdkit';
import { failure, fixtureDriver, pidsOf, useManagers } from './harness.js';

/**
 * Errors say whose fault it was: the caller's mistakes reject BAD_REQUEST (never PROTOCOL, which
 * alerts on a misbehaving handler), a deterministic integrity failure fails at once.
 */
describe('errors that say whose fault it was', () => {
  const env = useManagers();

  // Regression: a payload the protocol refuses rejected PROTOCOL, the code of a broken handler.
  it.each([
    ['a Date (CBOR tag 1)', { when: new Date(0) }],
    ['a "__proto__" key', JSON.parse('{"a": {"__proto__": 1}}') as unknown],
  ])('a payload holding %s rejects BAD_REQUEST; the handler is not blamed', async (_what, payload) => {
    const manager = await env.start({ children: [await fixtureDriver('rogue')] });
    const pids = pidsOf(manager, 'rogue');
    const error = await failure(manager.request('rogue', payload));
    expect(error).toBeInstanceOf(UmdError);
    expect(error).toMatchObject({ code: 'BAD_REQUEST', details: { reason: 'UNENCODABLE', driver: 'rogue' } });
    expect(error.message).toContain('request payload cannot be sent to "rogue"');
    expect(await manager.request('rogue', 'fine')).toBe('fine');
    expect(pidsOf(manager, 'rogue')).toEqual(pids);
    expect(env.of('fault')).toEqual([]);
    expect(env.of('request').map((e) => e.outcome)).toEqual(['BAD_REQUEST', 'OK']);
    await manager.stop();
  });

  // Regression: an unknown driver name rejected a plain RangeError with no code.
  it('an unknown driver name rejects BAD_REQUEST naming the known ones (request and reload)', async () => {
    const manager = await env.start({ children: [await fixtureDriver('rogue')] });
    await expect(manager.request('nope', 1)).rejects.toMatchObject({ code: 'BAD_REQUEST', message: 'driver must be one of "rogue", got "nope"' });
    await expect(manager.reload('nope')).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await manager.stop();
  });

  // Regression: a wrong pinned sha256 ended in GAVE_UP after three start attempts.
  it('a wrong pinned sha256 fails createManager at once with INTEGRITY naming both digests: nothing spawned, nothing retried', async () => {
    const good = await fixtureDriver('rogue');
    const wrong = 'f'.repeat(64);
    const driver = defineDriver({ name: 'rogue', image: { ...good.image, sha256: wrong } });
    const events: string[] = [];
    const error = await failure(createManager({ children: [driver], runtimeDir: env.root, onEvent: (e) => events.push(e.type) }));
    expect(error).toMatchObject({ code: 'INTEGRITY', details: { driver: 'rogue', expected: wrong, actual: good.image.sha256 } });
    expect(error.message).toContain(`expected ${wrong}, got ${good.image.sha256}`);
    expect(events.filter((type) => type === 'spawn' || type === 'restart')).toEqual([]);
    expect(events.at(-1)).toBe('stopped');
  });

  // Regression: right after the last answer settled, snapshots showed the instance `busy` with
  // nothing in flight until the next tick.
  it('an instance whose last answer has settled shows as ready, at once', async () => {
    const manager = await env.start({ children: [await fixtureDriver('rogue', { concurrency: 2 })] });
    for (let i = 0; i < 3; i++) {
      expect(await manager.request('rogue', i)).toBe(i);
      expect(manager.snapshot().children![0]!.children![0]).toMatchObject({ state: 'ready', inFlight: 0 });
    }
    await manager.stop();
  });
});
