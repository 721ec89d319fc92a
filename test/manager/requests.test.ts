import { describe, expect, it } from 'vitest';
import { UmdError } from 'umdkit';
import { failure, fixtureDriver, outcomes, pidsOf, until, useManagers } from './harness.js';

describe('the request path', () => {
  const env = useManagers();

  it('answers 10,000 pipelined requests (concurrency 16) correctly and in correlation', async () => {
    const manager = await env.start({ children: [await fixtureDriver('rogue', { concurrency: 16, maxQueue: 10_000 })] });
    const submitted = 10_000;
    const answers = await Promise.all(
      Array.from({ length: submitted }, (_, i) => manager.request('rogue', { n: i, s: `v${i}` }, { method: 'echo' })),
    );
    expect(answers).toHaveLength(submitted);
    answers.forEach((answer, i) => expect(answer).toEqual({ n: i, s: `v${i}` }));
    const settled = env.of('request');
    expect(settled).toHaveLength(submitted);
    expect(new Set(settled.map((e) => e.request)).size).toBe(submitted); // none twice
    expect(settled.every((e) => e.outcome === 'OK')).toBe(true);
    await manager.stop();
  });

  it('reports a handler error answer as HANDLER_ERROR with its code and message, and keeps the handler', async () => {
    const manager = await env.start({ children: [await fixtureDriver('toolbox')] });
    const before = pidsOf(manager, 'toolbox');
    const error = await failure(manager.request('toolbox', 'x', { method: 'fail' }));
    expect(error).toBeInstanceOf(UmdError);
    expect(error).toMatchObject({ code: 'HANDLER_ERROR', details: { handlerCode: 'EREFUSED' } });
    expect((error as Error).message).toContain('refused "x"');
    expect(await manager.request('toolbox', 7, { method: 'echo' })).toBe(7);
    expect(pidsOf(manager, 'toolbox')).toEqual(before);
    await manager.stop();
  });

  it('rejects with QUEUE_FULL at once when maxQueue requests already wait', async () => {
    const manager = await env.start({ children: [await fixtureDriver('rogue', { maxQueue: 2, concurrency: 1 })] });
    const inFlight = manager.request('rogue', { ms: 300, value: 'a' }, { method: 'slow' });
    await until(() => manager.snapshot().inFlight === 1, 'the first request in flight');
    const queued = [manager.request('rogue', 'b'), manager.request('rogue', 'c')];
    const overflow = await failure(manager.request('rogue', 'd'));
    expect(overflow).toMatchObject({ code: 'QUEUE_FULL' });
    expect((overflow as Error).message).toContain('maxQueue 2');
    expect(await inFlight).toBe('a');
    expect(await Promise.all(queued)).toEqual(['b', 'c']);
    await manager.stop();
  });

  it('aborts a queued request before it is sent, and an in-flight one after (cancel sent, late answer ignored)', async () => {
    const manager = await env.start({ children: [await fixtureDriver('rogue', { concurrency: 1 })] });
    const pid = pidsOf(manager, 'rogue');
    const first = new AbortController();
    const second = new AbortController();
    const sent = manager.request('rogue', { ms: 200, value: 1 }, { method: 'slow', signal: first.signal });
    const waiting = manager.request('rogue', 2, { signal: second.signal });
    await until(() => manager.snapshot().inFlight === 1, 'the first request in flight');
    second.abort();
    first.abort();
    await expect(waiting).rejects.toMatchObject({ code: 'ABORTED', message: expect.stringContaining('before it was sent') });
    await expect(sent).rejects.toMatchObject({ code: 'ABORTED', message: expect.stringContaining('after it was sent') });
    // The handler answers the cancelled request later anyway: that is expected, not a fault.
    await until(() => manager.snapshot().children![0]!.children![0]!.lateAnswers === 1, 'the late answer');
    expect(await manager.request('rogue', 3)).toBe(3);
    expect(pidsOf(manager, 'rogue')).toEqual(pid);
    expect(env.of('fault')).toEqual([]);
    // An already-aborted signal is refused before anything is queued.
    await expect(manager.request('rogue', 4, { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'ABORTED' });
    await manager.stop();
  });

  it('stop() with requests pending rejects them with STOPPED and leaves no process and no file', async () => {
    const manager = await env.start({ children: [await fixtureDriver('rogue', { concurrency: 1, shutdownMs: 200 })] });
    const pending = [
      manager.request('rogue', null, { method: 'silent' }),
      manager.request('rogue', 'queued'),
      manager.request('rogue', 'queued too'),
    ];
    await until(() => manager.snapshot().inFlight === 1, 'one request in flight');
    const settled = outcomes(pending);
    await manager.stop({ drainMs: 0 });
    expect(await settled).toEqual({ STOPPED: 3 });
    await expect(manager.request('rogue', 'late')).rejects.toMatchObject({ code: 'STOPPED' });
    expect(manager.snapshot().children?.[0]?.children?.every((i) => i.pid === null)).toBe(true);
    // The clean slate checks after the test that every spawned pid is gone and the root is empty.
  });

  it('stop() drains: requests already accepted finish before the handlers are told bye', async () => {
    const manager = await env.start({ children: [await fixtureDriver('rogue', { concurrency: 2 })] });
    const pending = [manager.request('rogue', { ms: 150, value: 'x' }, { method: 'slow' }), manager.request('rogue', 'y')];
    await manager.stop({ drainMs: 2000 });
    expect(await Promise.all(pending)).toEqual(['x', 'y']);
  });

  it('refuses bad options naming the option and the value', async () => {
    const manager = await env.start({ children: [await fixtureDriver('rogue')] });
    await expect(manager.request('rogue', 1, { timeoutMs: -1 })).rejects.toThrow(new RangeError('options.timeoutMs must be a positive integer, got -1'));
    await expect(manager.request('rogue', 1, { method: 5 as unknown as string })).rejects.toThrow(TypeError);
    await expect(manager.request('rogue', 1, { idempotent: 'yes' as unknown as boolean })).rejects.toThrow('options.idempotent must be a boolean, got "yes"');
    await expect(manager.request('nope', 1)).rejects.toMatchObject({ code: 'BAD_REQUEST', message: 'driver must be one of "rogue", got "nope"' });
    await expect(manager.stop({ drainMs: -5 })).rejects.toThrow('options.drainMs must be a non-negative integer, got -5');
    await manager.stop();
  });

  it('refuses bad driver and manager options naming the option and the value', async () => {
    const image = (await fixtureDriver('rogue')).image;
    const { defineDriver, createManager } = await import('umdkit');
    expect(() => defineDriver({ name: 'x', image, maxQueue: -1 })).toThrow(new RangeError('options.maxQueue must be a positive integer, got -1'));
    expect(() => defineDriver({ name: 'x', image, concurrency: 1.5 })).toThrow('options.concurrency must be a positive integer, got 1.5');
    expect(() => defineDriver({ name: 'x', image, restart: 'sometimes' as never })).toThrow('options.restart must be one of');
    expect(() => defineDriver({ name: '../x', image })).toThrow('options.name must be');
    expect(() => defineDriver({ name: 'x', image: { ...image, sha256: 'abc' } })).toThrow('options.image.sha256 must be');
    expect(() => defineDriver({ name: 'x', image, maxQeue: 3 } as never)).toThrow('options.maxQeue is not a known option');
    await expect(createManager({ children: [] })).rejects.toThrow('options.children must not be empty, got 0 children');
    await expect(createManager({ children: [{ name: 'x', image, maxQueue: 0 }] })).rejects.toThrow('options.children[0].maxQueue must be a positive integer, got 0');
    await expect(createManager({ children: [{ name: 'x', image }], intensity: { maxRestarts: 1, periodMs: 0 } })).rejects.toThrow('options.intensity.periodMs must be a positive integer, got 0');
  });
});
