/**
 * `manager.events()`: the manager's events as an async iterable with a bounded buffer, over a
 * real tree whose handler is killed with a real signal.
 */
import { describe, expect, it } from 'vitest';
import type { ManagerEvent } from 'umdkit';
import { fixtureDriver, pidsOf, until, useManagers } from '../manager/harness.js';

describe('manager.events()', () => {
  const env = useManagers();

  it('yields what subscribers see, in the same order, and ends after the stopped event', async () => {
    const manager = await env.start({ children: [await fixtureDriver('toolbox')] });
    const from = env.events.length;
    const stream = manager.events();
    const seen: ManagerEvent[] = [];
    const reading = (async () => {
      for await (const event of stream) seen.push(event);
    })();
    await manager.request('toolbox', 'hello', { method: 'echo' });
    const [pid] = pidsOf(manager, 'toolbox');
    process.kill(pid!, 'SIGKILL');
    await until(() => seen.some((e) => e.type === 'state' && e.to === 'ready' && e.generation === 2), 'the restarted instance to be ready');
    await manager.stop();
    await reading; // ends on its own: nothing left to wait for

    expect(seen).toEqual(env.events.slice(from));
    expect(seen.at(-1)?.type).toBe('stopped');
    expect(stream.dropped).toBe(0);
    const exit = seen.find((e): e is Extract<ManagerEvent, { type: 'exit' }> => e.type === 'exit');
    expect(exit).toMatchObject({ pid, signal: 'SIGKILL', code: null, generation: 1 });
    expect(seen.find((e) => e.type === 'restart')).toMatchObject({ supervisor: 'root', child: 'toolbox', reason: 'killed by SIGKILL' });
    expect(seen.find((e) => e.type === 'request')).toMatchObject({ driver: 'toolbox', outcome: 'OK' });
    const states = seen.filter((e): e is Extract<ManagerEvent, { type: 'state' }> => e.type === 'state').map((e) => `${e.from}>${e.to}`);
    expect(states).toEqual(expect.arrayContaining(['ready>busy', 'busy>ready', 'ready>crashed', 'crashed>backoff', 'backoff>extracting', 'spawning>ready']));
  });

  it('keeps at most bufferSize events for a reader that does not read, dropping the oldest and counting them', async () => {
    const manager = await env.start({ children: [await fixtureDriver('toolbox')] });
    const from = env.events.length;
    const stream = manager.events({ bufferSize: 4 });
    for (let i = 0; i < 12; i++) await manager.request('toolbox', i, { method: 'echo' });
    const emitted = env.events.length - from;
    expect(emitted).toBeGreaterThan(12); // a request event each, plus busy/ready edges
    expect(stream.buffered).toBe(4);
    expect(stream.dropped).toBe(emitted - 4);

    await manager.stop();
    const total = env.events.length - from;
    expect(stream.dropped).toBe(total - 4);
    const rest: ManagerEvent[] = [];
    for await (const event of stream) rest.push(event);
    // The newest four survived, the stopped event last.
    expect(rest).toEqual(env.events.slice(-4));
    expect(rest.at(-1)?.type).toBe('stopped');
  });

  it('stops listening when the reader breaks out of the loop', async () => {
    const manager = await env.start({ children: [await fixtureDriver('toolbox')] });
    const stream = manager.events({ bufferSize: 8 });
    const reading = (async () => {
      for await (const event of stream) if (event.type === 'request') break;
    })();
    await manager.request('toolbox', 1, { method: 'echo' });
    await reading;
    await manager.request('toolbox', 2, { method: 'echo' });
    expect(stream.buffered).toBe(0);
    expect(stream.dropped).toBe(0);
    expect(await stream.next()).toEqual({ done: true, value: undefined });
  });

  it('is empty when created after the manager stopped, and validates its options', async () => {
    const manager = await env.start({ children: [await fixtureDriver('toolbox')] });
    expect(() => manager.events({ bufferSize: 0 })).toThrow(new RangeError('options.bufferSize must be a positive integer, got 0'));
    expect(() => manager.events({ size: 3 } as never)).toThrow(TypeError);
    await manager.stop();
    const late: ManagerEvent[] = [];
    for await (const event of manager.events()) late.push(event);
    expect(late).toEqual([]);
  });
});
