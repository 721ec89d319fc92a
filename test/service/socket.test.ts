// The service's front door, in-process against real handlers: requests routed through the
// manager (answers validated), status and events, and the hardening — garbage, cut frames,
// oversize prefixes, bad messages and too many requests in flight cost the offending client its
// connection or its request, never the service or another client.
import { spawn } from 'node:child_process';
import { chmod, lstat, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defineDriver, UmdError, type ManagerEvent } from 'umdkit';
import { fixtureImage } from '../fixtures/harness.js';
import { connectService } from '../../src/service/client.js';
import { startService } from '../../src/service/service.js';
import { needs, root } from '../fixtures/requires.js';
import { rawClient, useServices } from './harness.js';

/** Connecting as another user (uid 65534) takes root to switch to it. */
const crossUser = needs('the cross-user connect check', [root()]);

const toolbox = async (options: Record<string, unknown> = {}) => defineDriver({ name: 'toolbox', image: await fixtureImage('toolbox'), concurrency: 8, ...options });
const echo = async (options: Record<string, unknown> = {}) => defineDriver({ name: 'echo', image: await fixtureImage('echo'), ...options });

describe('the service socket', () => {
  const env = useServices();

  it('routes requests to the manager (answers validated), and answers status and a live event stream', async () => {
    const refuseOdd = (answer: unknown) => {
      const n = (answer as { payload: number }).payload;
      if (n % 2 === 1) throw new Error(`odd answer ${n}`);
      return answer;
    };
    const service = await env.start({ children: [await echo({ validate: refuseOdd }), await toolbox()] });
    const client = await connectService(service.socketPath);
    const watcher = await connectService(service.socketPath);
    const seen: ManagerEvent[] = [];
    const initial = await watcher.subscribe((event) => seen.push(event));
    expect(initial.children?.map((c) => c.name)).toEqual(['echo', 'toolbox']);

    expect(await client.request('echo', 2, { method: 'm' })).toEqual({ method: 'm', payload: 2 });
    const bytes = await client.request('toolbox', Uint8Array.of(1, 2, 3), { method: 'echo' });
    expect(bytes).toBeInstanceOf(Uint8Array);
    expect([...(bytes as Uint8Array)]).toEqual([1, 2, 3]);
    // The driver's validate runs on socket requests too: a refused answer restarts the handler.
    const invalid = await client.request('echo', 3).catch((err: unknown) => err);
    expect(invalid).toBeInstanceOf(UmdError);
    expect((invalid as UmdError).code).toBe('INVALID_RESPONSE');
    const handlerError = await client.request('toolbox', 'x', { method: 'fail' }).catch((err: unknown) => err);
    expect((handlerError as UmdError).code).toBe('HANDLER_ERROR');
    expect((handlerError as UmdError).details.handlerCode).toBe('EREFUSED');
    const unknown = await client.request('nope', 1).catch((err: unknown) => err);
    expect(unknown).toBeInstanceOf(RangeError);
    expect(unknown).toMatchObject({ code: 'BAD_REQUEST', message: expect.stringContaining('"nope"') });

    const tree = await client.status();
    const toolboxNode = tree.children?.find((c) => c.name === 'toolbox');
    expect(toolboxNode?.children?.[0]?.pid).toEqual(expect.any(Number));
    expect(tree.children?.find((c) => c.name === 'echo')?.restarts).toBe(1);

    await expect.poll(() => seen.some((e) => e.type === 'fault' && e.driver === 'echo')).toBe(true);
    expect(seen.some((e) => e.type === 'request' && e.outcome === 'INVALID_RESPONSE')).toBe(true);
    await client.close();
    await watcher.close();
  });

  it('creates the socket with mode 0600 and refuses a client of another user (EACCES)', async () => {
    const service = await env.start({ children: [await echo()] });
    expect((await stat(service.socketPath)).mode & 0o777).toBe(0o600);
    expect((await stat(env.socketDir)).mode & 0o777).toBe(0o700);

    // Only the socket's own mode stands between another user and this one: its directory is open.
    const open = await mkdtemp(join(tmpdir(), 'umdkit-open-'));
    try {
      await chmod(open, 0o755);
      const exposed = await startService({ manager: { children: [await echo()], runtimeDir: env.root }, socket: join(open, 's.sock'), onEvent: (e) => e.type === 'spawn' && env.trackPid(e.pid) });
      try {
        expect((await stat(exposed.socketPath)).mode & 0o777).toBe(0o600);
        if (crossUser.run) {
          expect(await connectAs(65534, exposed.socketPath)).toBe('EACCES');
          expect(await connectAs(65534, service.socketPath)).toBe('EACCES');
        }
        // The owner still gets in.
        const client = await connectService(exposed.socketPath);
        expect(await client.request('echo', 1)).toEqual({ method: null, payload: 1 });
        await client.close();
      } finally {
        await exposed.stop({ force: true });
      }
    } finally {
      await rm(open, { recursive: true, force: true });
    }
  });

  it('disconnects a client that sends garbage with a PROTOCOL error; the service and other clients go on', async () => {
    const service = await env.start({ children: [await toolbox()] });
    const other = await connectService(service.socketPath);
    const inFlight = other.request('toolbox', { ms: 300 }, { method: 'sleep' });

    const garbage = await rawClient(service.socketPath);
    await garbage.frame((f) => f.t === 'hello', 'hello');
    garbage.socket.write('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n');
    const error = await garbage.frame((f) => f.t === 'error', 'error frame');
    expect(error.e).toMatchObject({ code: 'PROTOCOL', message: expect.stringContaining('FRAME_TOO_LARGE') });
    await garbage.closed;

    expect(await inFlight).toMatchObject({ order: 0 });
    expect(await other.request('toolbox', 'still here', { method: 'echo' })).toBe('still here');
    await other.close();
  });

  it('answers PROTOCOL to a client that ends inside a frame, and survives one that vanishes mid-frame', async () => {
    const service = await env.start({ children: [await toolbox()] });
    const other = await connectService(service.socketPath);
    const inFlight = other.request('toolbox', { ms: 300 }, { method: 'sleep' });

    // Half-close: the client can still read why it is disconnected.
    const cut = await rawClient(service.socketPath);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(100);
    cut.socket.end(Buffer.concat([header, Buffer.alloc(10, 0xa0)]));
    const error = await cut.frame((f) => f.t === 'error', 'error frame');
    expect(error.e).toMatchObject({ code: 'PROTOCOL', message: expect.stringContaining('TRUNCATED') });
    await cut.closed;

    // Gone entirely, mid-frame: nothing to tell, nothing may break.
    const vanished = await rawClient(service.socketPath);
    vanished.socket.write(Buffer.concat([header, Buffer.alloc(10, 0xa0)]));
    vanished.socket.destroy();
    await vanished.closed;

    expect(await inFlight).toMatchObject({ order: 0 });
    expect((await other.status()).state).toBe('running');
    await other.close();
  });

  it('refuses an oversize length prefix and a message that is not a client message', async () => {
    const service = await env.start({ children: [await echo()] }, { maxFrameBytes: 1024 });
    const big = await rawClient(service.socketPath);
    big.socket.write(Buffer.from([0x00, 0x00, 0x04, 0x01]));
    expect((await big.frame((f) => f.t === 'error', 'error frame')).e).toMatchObject({ code: 'PROTOCOL', message: expect.stringContaining('FRAME_TOO_LARGE') });
    await big.closed;

    for (const bad of [{ t: 'req', id: -1, d: 'echo', p: 1 }, { t: 'req', id: 1, p: 1 }, { t: 'hello', v: 1, pid: 1 }, { t: 'status', id: 1, extra: true }, [1, 2]]) {
      const client = await rawClient(service.socketPath);
      client.send(bad);
      expect((await client.frame((f) => f.t === 'error', 'error frame')).e).toMatchObject({ code: 'PROTOCOL', message: expect.stringContaining('BAD_MESSAGE') });
      await client.closed;
    }
    // A duplicate id while the first is in flight breaks correlation: also a protocol violation.
    const twice = await rawClient(service.socketPath);
    twice.send({ t: 'req', id: 7, d: 'echo', p: 1 });
    twice.send({ t: 'req', id: 7, d: 'echo', p: 2 });
    expect((await twice.frame((f) => f.t === 'error', 'error frame')).e).toMatchObject({ message: expect.stringContaining('already in flight') });
    await twice.closed;

    const client = await connectService(service.socketPath);
    expect(await client.request('echo', 'fine')).toEqual({ method: null, payload: 'fine' });
    await client.close();
  });

  it('bounds the requests one client has in flight (QUEUE_FULL past it), other clients unaffected', async () => {
    const service = await env.start({ children: [await toolbox()] }, { maxInFlightPerClient: 2 });
    const greedy = await connectService(service.socketPath);
    const results = await Promise.allSettled([0, 1, 2].map(() => greedy.request('toolbox', { ms: 200 }, { method: 'sleep' })));
    expect(results.map((r) => (r.status === 'fulfilled' ? 'OK' : (r.reason as UmdError).code))).toEqual(['OK', 'OK', 'QUEUE_FULL']);
    const polite = await connectService(service.socketPath);
    expect(await polite.request('toolbox', 1, { method: 'echo' })).toBe(1);
    await greedy.close();
    await polite.close();
  });

  it('honours cancel; answers a client that half-closes, then closes; lets a vanished client go', async () => {
    const events: ManagerEvent[] = [];
    const service = await env.start({ children: [await toolbox()] }, { onEvent: (e) => events.push(e) });
    const client = await rawClient(service.socketPath);
    client.send({ t: 'req', id: 1, d: 'toolbox', m: 'sleep', p: { ms: 10_000 } });
    client.send({ t: 'req', id: 2, d: 'toolbox', m: 'sleep', p: { ms: 200 } });
    await expect.poll(() => service.pending).toBe(2);
    client.send({ t: 'cancel', id: 1 });
    expect(await client.frame((f) => f.t === 'res' && f.id === 1, 'answer to 1')).toMatchObject({ ok: false, e: { code: 'ABORTED' } });
    // Done sending (shutdown of its write side): what is in flight is still answered, then the service closes.
    client.socket.end();
    expect(await client.frame((f) => f.t === 'res' && f.id === 2, 'answer to 2')).toMatchObject({ ok: true, p: { order: 1 } });
    await client.closed;

    // A client that is simply gone cannot be told from one that half-closed: its request runs to
    // its end, the answer is discarded, and nothing else notices.
    const gone = await rawClient(service.socketPath);
    gone.send({ t: 'req', id: 1, d: 'toolbox', m: 'sleep', p: { ms: 200 } });
    await expect.poll(() => service.pending).toBe(1);
    gone.socket.destroy();
    await expect.poll(() => service.pending).toBe(0);
    expect(events.filter((e) => e.type === 'request').map((e) => (e as { outcome: string }).outcome)).toEqual(['ABORTED', 'OK', 'OK']);
    const after = await connectService(service.socketPath);
    expect(await after.request('toolbox', 'ok', { method: 'echo' })).toBe('ok');
    await after.close();
  });

  it('drops events for a subscriber that stops reading (counted, never buffered without end)', async () => {
    let emitted = 0;
    let counting = false;
    const service = await env.start({ children: [await echo({ concurrency: 16, maxQueue: 30_000 })] }, {
      onEvent: () => {
        if (counting) emitted++;
      },
    });
    const slow = await rawClient(service.socketPath);
    const reader = await connectService(service.socketPath);

    slow.send({ t: 'subscribe', id: 1 });
    await slow.frame((f) => f.t === 'res' && f.id === 1, 'subscribe answer');
    counting = true;
    slow.socket.pause();
    // Each request is at least one event frame: far more than 1 MiB of them, unread.
    await Promise.all(Array.from({ length: 20_000 }, (_, i) => service.manager.request('echo', i)));
    expect(await reader.request('echo', 'after')).toEqual({ method: null, payload: 'after' });
    counting = false;
    slow.socket.resume();
    const dropped = await slow.frame((f) => f.t === 'dropped', 'dropped frame');
    const delivered = slow.frames.filter((f) => f.t === 'event').length;
    // Everything before the count was delivered: delivered plus dropped is every event, once.
    expect(dropped.n).toBeGreaterThan(0);
    expect(delivered).toBeGreaterThan(0);
    expect(delivered + (dropped.n as number)).toBe(emitted);
    slow.socket.destroy();
    await reader.close();
  });

  it('on stop: refuses new requests, rejects what outlives the drain with STOPPED, removes the socket', async () => {
    const service = await env.start({ children: [await toolbox()] }, { drainMs: 100 });
    const client = await connectService(service.socketPath);
    const slow = client.request('toolbox', { ms: 10_000 }, { method: 'sleep' });
    await expect.poll(() => service.pending).toBe(1);
    const stopping = service.stop();
    const late = await client.request('toolbox', 1, { method: 'echo' }).catch((err: unknown) => err);
    expect((late as UmdError).code).toBe('STOPPED');
    expect((await slow.catch((err: unknown) => err) as UmdError).code).toBe('STOPPED');
    expect(await stopping).toEqual({ reason: 'stopped' });
    await expect(stat(service.socketPath)).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(connectService(service.socketPath)).rejects.toMatchObject({ code: 'ENOENT' });
    await client.close();
  });

  it('replaces a stale socket file, and refuses a path where a service answers or a non-socket lies', async () => {
    const path = join(env.socketDir, 'umdkit.sock');
    // A socket nobody listens on any more, as a service killed with SIGKILL leaves it.
    const killed = spawn(process.execPath, ['-e', `require('node:net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
    env.trackPid(killed.pid!);
    await new Promise((resolve) => killed.stdout.once('data', resolve));
    killed.kill('SIGKILL');
    await new Promise((resolve) => killed.once('close', resolve));
    expect((await lstat(path)).isSocket()).toBe(true);

    const service = await env.start({ children: [await echo()] });
    expect(service.socketPath).toBe(path);
    const client = await connectService(path);
    expect(await client.request('echo', 1)).toEqual({ method: null, payload: 1 });
    await client.close();

    // Refused before anything starts: no handler is spawned for a start that cannot serve.
    const spawned: number[] = [];
    const onEvent = (e: ManagerEvent) => void (e.type === 'spawn' && spawned.push(e.pid));
    await expect(startService({ manager: { children: [await echo()], runtimeDir: env.root }, socket: path, onEvent })).rejects.toThrow(/another service is listening/);
    expect(spawned).toEqual([]);
    const file = join(env.socketDir, 'plain-file');
    await writeFile(file, 'not a socket');
    await expect(startService({ manager: { children: [await echo()], runtimeDir: env.root }, socket: file })).rejects.toThrow(/not a socket/);
    await rm(file);
  });
});

/** Connects to `path` as `uid` from a child node process; resolves with the error code, or 'connected'. */
function connectAs(uid: number, path: string): Promise<string> {
  const script = `require('node:net').connect(${JSON.stringify(path)})
    .on('connect', () => { process.stdout.write('connected'); process.exit(0); })
    .on('error', (e) => { process.stdout.write(String(e.code)); process.exit(0); });`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script], { uid, gid: uid, cwd: '/', stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk));
    child.once('error', reject);
    // The child must have run and reported: a child that could not start proves nothing.
    child.once('close', (code) => (out.length > 0 ? resolve(out) : reject(new Error(`the uid ${uid} child printed nothing (exit ${code}): ${err}`))));
  });
}
