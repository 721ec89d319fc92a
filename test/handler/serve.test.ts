import { describe, expect, it } from 'vitest';
import { loadImage } from '../../src/loader/extract.js';
import { spawnHandler, type HandlerProcess } from '../../src/loader/spawn.js';
import type { ResponseMessage } from '../../src/protocol/index.js';
import { converse, fixtureImage, spawnOptions, useCleanSlate } from '../fixtures/harness.js';

type Sleep = { id: number; order: number; peak: number; running: number };

describe('serve(): the runtime inside a node handler', () => {
  const slate = useCleanSlate();

  /** Starts the toolbox fixture; `concurrency` sets its serve() limit. */
  const toolbox = async (concurrency?: number) => {
    const loaded = await loadImage('toolbox', await fixtureImage('toolbox'), { root: slate.root });
    const env = concurrency === undefined ? {} : { TOOLBOX_CONCURRENCY: String(concurrency) };
    const handler = slate.track(await spawnHandler(loaded, spawnOptions('toolbox', { env })));
    return { loaded, handler, talk: converse(handler) };
  };
  const finish = async (handler: HandlerProcess, unload: () => Promise<void>) => {
    const exit = await handler.terminate(5000);
    await unload();
    return exit;
  };

  it('answers ok:false with the error code and message when a method throws, and lives on', async () => {
    const { loaded, handler, talk } = await toolbox();
    talk.request(1, 'pid', null);
    const pid = (await talk.response(1)) as ResponseMessage & { p: number };
    talk.request(2, 'fail', { x: 1 });
    talk.request(3, 'failPlain', null);
    talk.request(4, 'rejectLater', null);
    expect(await talk.response(2)).toEqual({ t: 'res', id: 2, ok: false, e: { code: 'EREFUSED', message: 'refused {"x":1}' } });
    expect(await talk.response(3)).toEqual({ t: 'res', id: 3, ok: false, e: { code: 'ERROR', message: 'no code given' } });
    expect(await talk.response(4)).toEqual({ t: 'res', id: 4, ok: false, e: { code: 'ELATER', message: 'later' } });
    talk.request(5, 'pid', null);
    expect(await talk.response(5)).toMatchObject({ ok: true, p: pid.p }); // the same process
    expect(pid.p).toBe(handler.pid);
    expect((await finish(handler, () => loaded.unload())).code).toBe(0);
  });

  it('answers an unknown method with ENOSYS naming it, undefined as null, an unencodable answer with UNENCODABLE', async () => {
    const { loaded, handler, talk } = await toolbox();
    talk.request(1, 'nope', null);
    talk.request(2, undefined, null);
    talk.request(3, 'nothing', null);
    talk.request(4, 'date', null);
    talk.request(5, 'echo', { still: 'alive' });
    expect(await talk.response(1)).toEqual({ t: 'res', id: 1, ok: false, e: { code: 'ENOSYS', message: 'no method "nope"' } });
    expect(await talk.response(2)).toEqual({ t: 'res', id: 2, ok: false, e: { code: 'ENOSYS', message: 'the request names no method' } });
    expect(await talk.response(3)).toEqual({ t: 'res', id: 3, ok: true, p: null });
    const date = await talk.response(4);
    expect(date).toMatchObject({ ok: false, e: { code: 'UNENCODABLE' } });
    expect(await talk.response(5)).toEqual({ t: 'res', id: 5, ok: true, p: { still: 'alive' } });
    expect((await finish(handler, () => loaded.unload())).code).toBe(0);
  });

  it('returns a frozen handle that lists the methods and carries nothing else at run time; a second serve() throws', async () => {
    const loaded = await loadImage('handle', await fixtureImage('handle'), { root: slate.root });
    const handler = slate.track(await spawnHandler(loaded, spawnOptions('handle')));
    const talk = converse(handler);
    talk.request(1, 'methods', null);
    talk.request(2, 'again', null);
    expect(await talk.response(1)).toEqual({ t: 'res', id: 1, ok: true, p: { methods: ['methods', 'again'], frozen: true, keys: ['methods'] } });
    expect(await talk.response(2)).toMatchObject({ ok: false, e: { code: 'ERROR', message: expect.stringContaining('serve() was already called') } });
    expect((await finish(handler, () => loaded.unload())).code).toBe(0);
  });

  it('answers ping at once while a request is busy', async () => {
    const { loaded, handler, talk } = await toolbox();
    talk.request(1, 'sleep', { ms: 400 });
    handler.send({ t: 'ping', id: 9 });
    await talk.pong(9, 300);
    expect(talk.received.map((m) => m.t)).toEqual(['pong']); // the sleep has not answered yet
    await talk.response(1);
    expect((await finish(handler, () => loaded.unload())).code).toBe(0);
  });

  it('cancel aborts the request signal; the rejection is answered with ABORTED', async () => {
    const { loaded, handler, talk } = await toolbox();
    const started = Date.now();
    talk.request(1, 'sleep', { ms: 10_000 });
    talk.request(2, 'sleep', { ms: 50 });
    handler.send({ t: 'cancel', id: 1 });
    handler.send({ t: 'cancel', id: 99 }); // unknown or already answered: ignored
    expect(await talk.response(1)).toEqual({ t: 'res', id: 1, ok: false, e: { code: 'ABORTED', message: 'cancelled' } });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(await talk.response(2)).toMatchObject({ ok: true });
    expect((await finish(handler, () => loaded.unload())).code).toBe(0);
  });

  it('bye drains every request in flight (running and waiting), answers late arrivals with STOPPING, then exits 0', async () => {
    const { loaded, handler, talk } = await toolbox(1);
    talk.request(1, 'sleep', { ms: 150 });
    talk.request(2, 'sleep', { ms: 150 }); // waits behind 1
    handler.send({ t: 'bye' });
    talk.request(3, 'echo', 'too late');
    const exit = await handler.exited;
    expect(exit.code).toBe(0);
    expect(talk.received.map((m) => [m.id, m.t === 'res' && m.ok])).toEqual([[3, false], [1, true], [2, true]]);
    expect(talk.received[0]).toMatchObject({ e: { code: 'STOPPING' } });
    await loaded.unload();
  });

  it('exits 0 promptly on EOF of stdin, even with work in flight', async () => {
    const { loaded, handler, talk } = await toolbox();
    talk.request(1, 'sleep', { ms: 10_000 });
    const started = Date.now();
    handler.endInput();
    expect((await handler.exited).code).toBe(0);
    expect(Date.now() - started).toBeLessThan(3000);
    await loaded.unload();
  });

  it('runs at most `concurrency` methods at once; the others start in arrival order', async () => {
    const { loaded, handler, talk } = await toolbox(2);
    for (let id = 1; id <= 6; id++) talk.request(id, 'sleep', { ms: 60 });
    const answers = await Promise.all([1, 2, 3, 4, 5, 6].map((id) => talk.response(id)));
    const results = answers.map((a) => (a as ResponseMessage & { p: Sleep }).p);
    expect(Math.max(...results.map((r) => r.peak))).toBe(2);
    expect(results.map((r) => r.order)).toEqual([0, 1, 2, 3, 4, 5]);
    expect((await finish(handler, () => loaded.unload())).code).toBe(0);
  });

  it('cancels a request still waiting for a slot without running it', async () => {
    const { loaded, handler, talk } = await toolbox(1);
    talk.request(1, 'sleep', { ms: 200 });
    talk.request(2, 'sleep', { ms: 200 });
    handler.send({ t: 'cancel', id: 2 });
    expect(await talk.response(2)).toEqual({ t: 'res', id: 2, ok: false, e: { code: 'ABORTED', message: 'cancelled before it started' } });
    talk.request(3, 'sleep', { ms: 1 });
    const third = (await talk.response(3)) as ResponseMessage & { p: Sleep };
    expect(third.p.order).toBe(1); // request 2 never started
    expect((await finish(handler, () => loaded.unload())).code).toBe(0);
  });

  it('answers pipelined requests by id, whatever order they finish in', async () => {
    const { loaded, handler, talk } = await toolbox();
    const ids = Array.from({ length: 20 }, (_, i) => i + 1);
    for (const id of ids) talk.request(id, id % 2 === 0 ? 'sleep' : 'echo', id % 2 === 0 ? { ms: (21 - id) * 5 } : { echo: id });
    const answers = await Promise.all(ids.map((id) => talk.response(id)));
    for (const [i, answer] of answers.entries()) {
      const id = ids[i]!;
      expect(answer).toMatchObject({ id, ok: true });
      if (id % 2 === 0) expect((answer as ResponseMessage & { p: Sleep }).p.id).toBe(id);
      else expect(answer).toMatchObject({ p: { echo: id } });
    }
    expect(talk.received).toHaveLength(20);
    expect(talk.received[0]!.id).toBe(1); // echoes answer before the slow sleeps
    expect((await finish(handler, () => loaded.unload())).code).toBe(0);
  });

  it('exits 2 with a line on stderr when the manager sends a bad message', async () => {
    const { loaded, handler } = await toolbox();
    handler.send({ t: 'nonsense' } as never);
    const exit = await handler.exited;
    expect(exit.code).toBe(2);
    expect(exit.stderrTail.join('\n')).toMatch(/umdkit handler: bad frame from the manager, exiting: BAD_MESSAGE: unknown message type t = "nonsense"/);
    await loaded.unload();
  });

  it('treats a second request with an id still in flight as a protocol error', async () => {
    const { loaded, handler, talk } = await toolbox();
    talk.request(1, 'sleep', { ms: 5000 });
    talk.request(1, 'echo', 'dup');
    const exit = await handler.exited;
    expect(exit.code).toBe(2);
    expect(exit.stderrTail.join('\n')).toMatch(/request id 1 is already in flight/);
    await loaded.unload();
  });
});
