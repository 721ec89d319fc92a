// The front door under a hostile local process: idle and dribbling sockets, bursts of connections,
// clients that ask for absurd deadlines or too much at once. Regressions: 64 connections that sent
// nothing locked out every other client, and 1,000 made a legitimate `umdkit call` fail with
// EPIPE. Real sockets on the service's Unix socket; the legitimate client is the real CLI.
import { connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { defineDriver, UmdError } from 'umdkit';
import { fixtureImage } from '../fixtures/harness.js';
import { connectService } from '../../src/service/client.js';
import { startService } from '../../src/service/service.js';
import { useCli } from './cli-child.js';
import { rawClient, useServices, useWorkDir } from './harness.js';
import { startRun, useRuntimeDir } from './run-harness.js';

const work = useWorkDir(['echo']);
const cli = useCli();
const toolbox = async (options: Record<string, unknown> = {}) => defineDriver({ name: 'toolbox', image: await fixtureImage('toolbox'), concurrency: 8, ...options });
const echo = async () => defineDriver({ name: 'echo', image: await fixtureImage('echo') });

/** A socket that connects and then does what it is told (nothing, by default); records what it read and whether it closed. */
function attacker(path: string) {
  const socket: Socket = connect(path);
  const state = { socket, connected: false, failed: false, closed: false, read: Buffer.alloc(0) };
  socket.on('connect', () => (state.connected = true));
  socket.on('data', (chunk: Buffer) => (state.read = Buffer.concat([state.read, chunk])));
  // EAGAIN on a full backlog, EPIPE/ECONNRESET when closed: all part of the attack.
  socket.on('error', () => (state.failed = true));
  socket.on('close', () => (state.closed = true));
  return state;
}

const settled = (sockets: Array<ReturnType<typeof attacker>>) => sockets.every((s) => s.connected || s.failed || s.closed);

describe('the front door', () => {
  const env = useServices();

  it('serves a legitimate `umdkit call` while 64 silent sockets and 16 dribblers are held', { timeout: 60_000 }, async () => {
    // A header timeout far beyond the test: the slow sockets are held throughout, by the pool alone.
    const service = await env.start({ children: [await echo()] }, { headerTimeoutMs: 600_000 });
    const silent = Array.from({ length: 64 }, () => attacker(service.socketPath));
    // Slowloris: a frame started, then one byte now and then, never finished.
    const dribblers = Array.from({ length: 16 }, () => attacker(service.socketPath));
    await expect.poll(() => settled([...silent, ...dribblers])).toBe(true);
    const frame = Buffer.from([0x00, 0x00, 0x00, 0x40, ...Buffer.alloc(0x40, 0xa0)]);
    let sent = 0;
    const dribble = setInterval(() => {
      for (const d of dribblers) if (!d.closed && sent < frame.length - 1) d.socket.write(frame.subarray(sent, sent + 1));
      sent++;
    }, 100);
    try {
      const call = await cli.run(['call', 'echo', '{"who":"legitimate"}', '--socket', service.socketPath]);
      expect(call).toEqual({ code: 0, stdout: '{"method":null,"payload":{"who":"legitimate"}}\n', stderr: '' });
      // Served while every slow socket was still held: fairness, not a lucky timeout.
      expect([...silent, ...dribblers].filter((s) => s.closed || s.failed)).toEqual([]);
      expect(sent).toBeGreaterThan(0);
    } finally {
      clearInterval(dribble);
      for (const s of [...silent, ...dribblers]) s.socket.destroy();
    }
  });

  it('survives a burst of 600 connections: the oldest silent ones make room, and a `umdkit call` after it is served', { timeout: 60_000 }, async () => {
    const maxConnecting = 256;
    const service = await env.start({ children: [await echo()] });
    expect(service.limits.maxConnecting).toBe(maxConnecting);
    const burst = Array.from({ length: 600 }, () => attacker(service.socketPath));
    await expect.poll(() => settled(burst), { timeout: 20_000 }).toBe(true);
    const call = await cli.run(['call', 'echo', '1', '--socket', service.socketPath]);
    expect(call).toEqual({ code: 0, stdout: '{"method":null,"payload":1}\n', stderr: '' });

    // The service holds no more of them than its bound (evicted ones were closed, never crashed it).
    await expect.poll(() => burst.filter((s) => s.connected && !s.closed).length, { timeout: 20_000 }).toBeLessThanOrEqual(maxConnecting);
    const evicted = burst.filter((s) => s.connected && s.closed);
    expect(evicted.length).toBeGreaterThan(0);
    // Those that read the goodbye learned why.
    expect(evicted.filter((s) => s.read.includes('maxConnecting')).length).toBeGreaterThan(0);
    expect((await connectService(service.socketPath).then(async (c) => [await c.status(), await c.close()]))[0]).toMatchObject({ state: 'running' });
    for (const s of burst) s.socket.destroy();
  });

  it('bounds the bytes that connections still waiting for a first message hold together: the largest holder goes', { timeout: 60_000 }, async () => {
    const budget = 4 << 20;
    const service = await env.start({ children: [await echo()] }, { maxConnectingBytes: budget });
    // Six frames of 2 MiB announced, 1.5 MiB of each sent, none finished: 9 MiB if all were held.
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32BE(2 << 20);
    const part = Buffer.concat([prefix, Buffer.alloc(1.5 * (1 << 20), 0xa0)]);
    const hoarders = Array.from({ length: 6 }, () => attacker(service.socketPath));
    await expect.poll(() => settled(hoarders)).toBe(true);
    for (const h of hoarders) h.socket.write(part);
    await expect.poll(() => hoarders.filter((h) => !h.closed).length, { timeout: 20_000 }).toBeLessThanOrEqual(Math.floor(budget / part.length));
    expect(hoarders.filter((h) => h.read.includes('maxConnectingBytes')).length).toBeGreaterThan(0);
    const client = await connectService(service.socketPath);
    expect(await client.request('echo', 'served')).toEqual({ method: null, payload: 'served' });
    await client.close();
    for (const h of hoarders) h.socket.destroy();
  });

  it('closes a silent or a dribbling newcomer after headerTimeoutMs, with a PROTOCOL error naming it', { timeout: 60_000 }, async () => {
    const service = await env.start({ children: [await echo()] }, { headerTimeoutMs: 300 });
    const silent = await rawClient(service.socketPath);
    const dribbler = await rawClient(service.socketPath);
    // One byte of a 64-byte frame every 50 ms: alive, never done.
    const frame = Buffer.from([0x00, 0x00, 0x00, 0x40, ...Buffer.alloc(0x40, 0xa0)]);
    let sent = 0;
    const dribble = setInterval(() => dribbler.socket.writable && sent < frame.length - 1 && dribbler.socket.write(frame.subarray(sent, ++sent)), 50);
    try {
      for (const client of [silent, dribbler]) {
        const error = await client.frame((f) => f.t === 'error', 'error frame');
        expect(error.e).toEqual({ code: 'PROTOCOL', message: 'no complete message within 300 ms of connecting (headerTimeoutMs)' });
        await client.closed;
      }
      expect(sent).toBeGreaterThan(1);
    } finally {
      clearInterval(dribble);
    }
  });

  it('closes a client quiet for idleTimeoutMs without a word; keeps a subscriber and a client waiting for an answer', { timeout: 60_000 }, async () => {
    const service = await env.start({ children: [await toolbox()] }, { idleTimeoutMs: 400 });
    const quiet = await rawClient(service.socketPath);
    quiet.send({ t: 'status', id: 1 });
    await quiet.frame((f) => f.t === 'res' && f.id === 1, 'status answer');
    const watcher = await connectService(service.socketPath);
    await watcher.subscribe(() => {});
    const busy = await rawClient(service.socketPath);
    busy.send({ t: 'req', id: 1, d: 'toolbox', m: 'sleep', p: { ms: 1500 } });
    try {
      // Let go without an error frame: it did nothing wrong.
      await quiet.closed;
      expect(quiet.frames.map((f) => f.t)).toEqual(['hello', 'res']);
      // The request outlives the idle timeout several times over: its client is kept and answered.
      expect(await busy.frame((f) => f.t === 'res' && f.id === 1, 'sleep answer')).toMatchObject({ ok: true });
      expect(busy.socket.destroyed).toBe(false);
      // The subscriber, silent all along, still gets answers.
      expect((await watcher.status()).state).toBe('running');
    } finally {
      busy.socket.destroy();
      await watcher.close();
    }
  });

  it('past maxClients busy clients, answers a newcomer QUEUE_FULL; an idle client gives up its slot instead', { timeout: 60_000 }, async () => {
    const service = await env.start({ children: [await toolbox()] }, { maxClients: 2 });
    const a = await connectService(service.socketPath);
    const b = await connectService(service.socketPath);
    const stopA = new AbortController();
    const slowA = a.request('toolbox', { ms: 30_000 }, { method: 'sleep', signal: stopA.signal });
    const slowB = b.request('toolbox', { ms: 30_000 }, { method: 'sleep' });
    await expect.poll(() => service.pending).toBe(2);
    const refused = await connectService(service.socketPath);
    const error = await refused.request('toolbox', 1, { method: 'echo' }).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(UmdError);
    expect(error).toMatchObject({ code: 'QUEUE_FULL', message: expect.stringContaining('maxClients') });

    // a gives up its request: a is idle, and the next newcomer takes its slot.
    stopA.abort();
    expect(await slowA.catch((err: unknown) => (err as UmdError).code)).toBe('ABORTED');
    await expect.poll(() => service.pending).toBe(1);
    const newcomer = await connectService(service.socketPath);
    expect(await newcomer.request('toolbox', 'in', { method: 'echo' })).toBe('in');
    expect(await a.request('toolbox', 1, { method: 'echo' }).catch((err: unknown) => (err as UmdError).code)).toBe('STOPPED');
    // b, busy all along, kept its slot.
    expect(await b.request('toolbox', 'still', { method: 'echo' })).toBe('still');
    void slowB.catch(() => {});
    for (const client of [a, b, refused, newcomer]) await client.close();
  });

  it('clamps client deadlines to the floor and ceiling and reports the deadline applied in the answer', { timeout: 60_000 }, async () => {
    const service = await env.start({ children: [await toolbox({ requestTimeoutMs: 20_000 })] }, { minTimeoutMs: 2000, maxTimeoutMs: 3000 });
    const client = await rawClient(service.socketPath);
    // 1 ms would time out at once; the floor gives it 2000 ms, and a 300 ms job finishes.
    client.send({ t: 'req', id: 1, d: 'toolbox', m: 'sleep', p: { ms: 300 }, timeoutMs: 1 });
    expect(await client.frame((f) => f.t === 'res' && f.id === 1, 'floored answer')).toMatchObject({ ok: true, timeoutMs: 2000 });
    // A minute is more than the ceiling allows.
    client.send({ t: 'req', id: 2, d: 'toolbox', m: 'sleep', p: { ms: 30_000 }, timeoutMs: 60_000 });
    expect(await client.frame((f) => f.t === 'res' && f.id === 2, 'capped answer', 20_000)).toMatchObject({ ok: false, e: { code: 'TIMEOUT' }, timeoutMs: 3000 });
    // None asked: the driver's own deadline, which is the operator's and not clamped.
    client.send({ t: 'req', id: 3, d: 'toolbox', m: 'echo', p: 1 });
    expect(await client.frame((f) => f.t === 'res' && f.id === 3, 'answer')).toEqual({ t: 'res', id: 3, ok: true, p: 1, timeoutMs: 20_000 });
    // status and subscribe answers carry no deadline.
    client.send({ t: 'status', id: 4 });
    expect(Object.keys(await client.frame((f) => f.t === 'res' && f.id === 4, 'status'))).toEqual(['t', 'id', 'ok', 'p']);
    client.socket.destroy();

    const applied: number[] = [];
    const program = await connectService(service.socketPath);
    expect(await program.request('toolbox', 2, { method: 'echo', timeoutMs: 5, onDeadline: (ms) => applied.push(ms) })).toBe(2);
    expect(applied).toEqual([2000]);
    await program.close();

    const call = await cli.run(['call', 'toolbox', '3', '--method', 'echo', '--timeout', '99999', '--socket', service.socketPath]);
    expect(call).toEqual({ code: 0, stdout: '3\n', stderr: 'umdkit call: the service applied a deadline of 3000 ms (asked 99999 ms; outside its floor or ceiling)\n' });
  });

  it('answers QUEUE_FULL past a client\'s in-flight cap, for 100 pipelined requests, and goes on serving it', { timeout: 60_000 }, async () => {
    const service = await env.start({ children: [await toolbox()] }, { maxInFlightPerClient: 3 });
    const client = await rawClient(service.socketPath);
    for (let id = 1; id <= 100; id++) client.send({ t: 'req', id, d: 'toolbox', m: 'sleep', p: { ms: 1000 } });
    await expect.poll(() => client.frames.filter((f) => f.t === 'res').length, { timeout: 20_000 }).toBe(100);
    const answers = client.frames.filter((f) => f.t === 'res');
    expect(answers.filter((f) => f.ok === true).map((f) => f.id)).toEqual([1, 2, 3]);
    const full = answers.filter((f) => f.ok === false);
    expect(full).toHaveLength(97);
    expect(full.every((f) => (f.e as { code: string }).code === 'QUEUE_FULL')).toBe(true);
    expect((full[0]!.e as { message: string }).message).toContain('3 requests in flight');
    client.send({ t: 'status', id: 101 });
    expect(await client.frame((f) => f.id === 101, 'status')).toMatchObject({ ok: true });
    expect(service.pending).toBe(0);
    client.socket.destroy();
  });

  it('refuses bad limits, naming the option and its value', async () => {
    const manager = { children: [await echo()], runtimeDir: env.root };
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ maxConnecting: 0 }, /^options\.maxConnecting must be a positive integer, got 0$/],
      [{ maxConnectingBytes: 1.5 }, /^options\.maxConnectingBytes must be a positive integer, got 1.5$/],
      [{ headerTimeoutMs: -1 }, /^options\.headerTimeoutMs must be a positive integer, got -1$/],
      [{ idleTimeoutMs: '60s' }, /^options\.idleTimeoutMs must be a positive integer, got "60s"$/],
      [{ maxTimeoutMs: 2 ** 31 }, /^options\.maxTimeoutMs must be a number between 0 and 2147483647, got 2147483648$/],
      [{ minTimeoutMs: 5000, maxTimeoutMs: 100 }, /^options\.minTimeoutMs must not exceed options\.maxTimeoutMs, got 5000 > 100$/],
      [{ maxClinets: 3 }, /^options\.maxClinets is not a known option/],
    ];
    for (const [limits, message] of cases) {
      await expect(startService({ manager, socket: `${env.socketDir}/never.sock`, ...limits })).rejects.toThrow(message);
    }
  });
});

describe('the front door of `umdkit run`', () => {
  const runtime = useRuntimeDir();

  it('takes its limits from the config\'s service field: `call` learns the deadline applied', { timeout: 60_000 }, async () => {
    const { run } = await startRun(cli, runtime, work.path('limits.mjs'));
    const floored = await cli.run(['call', 'echo', '1', '--timeout', '1'], runtime.env);
    expect(floored).toEqual({ code: 0, stdout: '{"method":null,"payload":1}\n', stderr: 'umdkit call: the service applied a deadline of 2000 ms (asked 1 ms; outside its floor or ceiling)\n' });
    expect(await cli.run(['call', 'echo', '2', '--timeout', '2500'], runtime.env)).toEqual({ code: 0, stdout: '{"method":null,"payload":2}\n', stderr: '' });
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
  });
});
