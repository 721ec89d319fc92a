// A deliberately hostile handler (test/fixtures/handlers/hostile.ts, and a C fork bomb for the
// exec path), real processes, started by spawnHandler with the sandbox's launch hook. Under
// `strict` every attack is stopped and the parent serves the next request; under `none` the same
// attacks succeed, so these tests prove the sandbox, not the environment.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { nanoid } from 'nanoid';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadImage, type LoadedImage } from '../../src/loader/extract.js';
import { pack } from '../../src/loader/pack.js';
import { spawnHandler, type HandlerProcess } from '../../src/loader/spawn.js';
import type { Image } from '../../src/loader/image.js';
import type { ProtocolError, ResponseMessage } from '../../src/protocol/index.js';
import { prepareSandbox, probeHost, type PreparedSandbox } from '../../src/sandbox/index.js';
import { converse, fixtureImage, spawnOptions, useCleanSlate } from '../fixtures/harness.js';
import { cCompiler, needs } from '../fixtures/requires.js';

const run = promisify(execFile);
const here = fileURLToPath(new URL('.', import.meta.url));

// What this host can do decides what runs (test/fixtures/requires.ts: under .ci/run a gap fails instead).
const host = await probeHost({ network: true });
const strictLayers = needs('the sandbox strict tests', [
  ...(['prlimit', 'unshare', 'setpriv'] as const).map((tool) => (host.tools[tool] === undefined ? `${tool} is not on PATH` : undefined)),
  host.network.ok ? undefined : host.network.why,
  host.node.permissionFlag === undefined ? `Node ${host.node.version} has no permission model` : undefined,
]);
const canStrict = strictLayers.run;
const compiler = needs('the sandbox exec fork-bomb tests', [cCompiler()]).run;

/** Ends a raw-frame attack: the decoder refuses the frame; this is how far it got. */
const faultOf = (handler: HandlerProcess) => new Promise<ProtocolError>((resolve) => {
  handler.onFault = resolve;
});

describe('a hostile handler', () => {
  const slate = useCleanSlate();
  let loadedImages: LoadedImage[] = [];
  let handlers: HandlerProcess[] = [];

  // Registered after useCleanSlate, so it runs before its leak check: stop, reap, unload.
  afterEach(async () => {
    await Promise.all(handlers.map((handler) => handler.terminate(1000)));
    await Promise.all(loadedImages.map((loaded) => loaded.unload()));
    handlers = [];
    loadedImages = [];
  });

  async function start(sandbox: unknown, image: Image | Promise<Image> = fixtureImage('hostile'), name = 'hostile') {
    const loaded = await loadImage(name, await image, { root: slate.root });
    loadedImages.push(loaded);
    const prepared: PreparedSandbox = await prepareSandbox(sandbox, { kind: loaded.image.kind, dir: loaded.dir, file: loaded.file });
    const handler = slate.track(await spawnHandler(loaded, { ...spawnOptions(name), launch: prepared.launch }));
    handlers.push(handler);
    const talk = converse(handler);
    let id = 0;
    const call = (method: string, payload: unknown = null, ms = 10_000): Promise<ResponseMessage> => {
      id += 1;
      talk.request(id, method, payload);
      return talk.response(id, ms);
    };
    return { loaded, handler, prepared, call };
  }

  /** The parent is fine: a new handler under the same sandbox answers. */
  async function freshHandlerServes(sandbox: unknown): Promise<void> {
    const { call, handler } = await start(sandbox);
    expect(await call('echo', { still: 'served' })).toMatchObject({ ok: true, p: { still: 'served' } });
    handler.endInput();
    expect((await handler.exited).code).toBe(0);
  }

  /** The payload of an ok answer. */
  const payload = (answer: ResponseMessage): unknown => {
    expect(answer.ok).toBe(true);
    return (answer as { p: unknown }).p;
  };

  const denied = (answer: ResponseMessage) => {
    expect(answer.ok).toBe(false);
    return (answer as { e: { code: string; message: string } }).e;
  };

  async function listener(): Promise<{ server: Server; port: number; accepted: () => number; close: () => Promise<void> }> {
    let count = 0;
    const server = createServer((socket) => {
      count++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    return { server, port, accepted: () => count, close: () => new Promise((resolve) => server.close(() => resolve())) };
  }

  describe.runIf(canStrict)('under strict', () => {
    it('runs with every layer in force: permission model, heap cap, limits, no_new_privs, unprivileged uid (root), private network', async () => {
      const { call, prepared, loaded } = await start('strict');
      expect(prepared.dropped).toEqual([]);
      if (host.isRoot) {
        // Shared with the handler's group only: it may enter its directory and read its image; others get nothing.
        const [dir, file] = [await stat(loaded.dir), await stat(loaded.file)];
        expect({ mode: dir.mode & 0o777, uid: dir.uid, gid: dir.gid }).toEqual({ mode: 0o710, uid: 0, gid: 65534 });
        expect({ mode: file.mode & 0o777, uid: file.uid, gid: file.gid }).toEqual({ mode: 0o540, uid: 0, gid: 65534 });
      }
      expect(prepared.inForce).toEqual(['env', 'cwd', 'permissions', 'heap', 'limits', 'noNewPrivs', ...(host.isRoot ? ['user'] : []), 'netns', 'pidns', 'parentDeath']);
      const who = payload(await call('whoami')) as { uid: number; gid: number; main: string };
      if (host.isRoot) {
        // Run from the sealed copy on fd 3, never from the extracted file.
        expect(who).toMatchObject({ uid: 65534, main: '/proc/self/fd/3' });
      } else {
        expect(who.uid).toBe(host.uid);
      }
    });

    it('cannot read /etc/shadow or any file outside its directory, only its own image', async () => {
      const { call } = await start('strict');
      expect(denied(await call('read', { path: '/etc/shadow' })).code).toBe('ERR_ACCESS_DENIED');
      expect(denied(await call('read', { path: '/etc/passwd' })).code).toBe('ERR_ACCESS_DENIED');
      expect(denied(await call('read', { path: join(slate.root, '..') })).code).toBe('ERR_ACCESS_DENIED');
      const main = (payload(await call('whoami')) as { main: string }).main;
      expect(await call('read', { path: main })).toMatchObject({ ok: true, p: { bytes: (await fixtureImage('hostile')).bytes.length } });
      expect(await call('echo', 'next')).toMatchObject({ ok: true, p: 'next' }); // the same handler serves on
    });

    it('cannot write a file, in its directory or in /tmp', async () => {
      const { call, loaded } = await start('strict');
      const inDir = join(loaded.dir, 'planted.txt');
      const inTmp = slate.trackPath(join(tmpdir(), `umdkit-hostile-${nanoid()}`));
      expect(denied(await call('write', { path: inDir })).code).toBe('ERR_ACCESS_DENIED');
      expect(denied(await call('write', { path: inTmp })).code).toBe('ERR_ACCESS_DENIED');
      expect(existsSync(inDir)).toBe(false);
      expect(existsSync(inTmp)).toBe(false);
      expect(await call('echo', 'next')).toMatchObject({ ok: true });
    });

    it('cannot start a process, so a fork bomb starts nothing', async () => {
      const { call } = await start('strict');
      expect(denied(await call('spawn')).code).toBe('ERR_ACCESS_DENIED');
      expect(await call('forkBomb', { count: 200 })).toMatchObject({ ok: true, p: { spawned: 0, error: 'ERR_ACCESS_DENIED' } });
      expect(await call('echo', 'next')).toMatchObject({ ok: true });
    });

    it('cannot start a worker, load an addon or open the inspector', async () => {
      const { call } = await start('strict');
      expect(denied(await call('worker')).code).toBe('ERR_ACCESS_DENIED');
      expect(denied(await call('addon')).code).toBe('ERR_DLOPEN_DISABLED');
      expect(denied(await call('inspector')).code).toBe('ERR_ACCESS_DENIED');
      expect(await call('echo', 'next')).toMatchObject({ ok: true });
    });

    it('cannot reach a listener on 127.0.0.1: its network namespace has no usable loopback', async () => {
      const tcp = await listener();
      try {
        const { call } = await start('strict');
        const error = denied(await call('connect', { port: tcp.port }));
        expect(['ENETUNREACH', 'ECONNREFUSED']).toContain(error.code);
        expect(tcp.accepted()).toBe(0);
        expect(await call('echo', 'next')).toMatchObject({ ok: true });
      } finally {
        await tcp.close();
      }
    });

    it('runs out of descriptors at the nofile limit, and serves on once it closes them', async () => {
      const { call } = await start('strict');
      const answer = await call('files', { max: 5000 });
      expect(answer).toMatchObject({ ok: true, p: { error: 'EMFILE' } });
      expect((payload(answer) as { opened: number }).opened).toBeLessThan(64);
      expect(await call('echo', 'next')).toMatchObject({ ok: true });
    });

    it('dies at its heap cap; the parent sees the exit and a fresh handler serves', async () => {
      const { call, handler } = await start('strict');
      void call('heap').catch(() => {});
      const exit = await handler.exited;
      expect(exit.code === 0).toBe(false);
      expect(exit.signal ?? exit.code).not.toBeNull();
      expect(exit.stderrTail.join('\n')).toMatch(/heap/i);
      await freshHandlerServes('strict');
    });

    it('is stopped by RLIMIT_CPU when it spins past cpuSeconds', async () => {
      const sandbox = { level: 'strict', limits: { cpuSeconds: 1 } };
      const { call, handler } = await start(sandbox);
      const began = Date.now();
      void call('spin', null, 15_000).catch(() => {});
      const exit = await handler.exited;
      expect(['SIGXCPU', 'SIGKILL']).toContain(exit.signal);
      expect(Date.now() - began).toBeLessThan(8000);
      await freshHandlerServes(sandbox);
    });

    it('an answer carrying a tag-27 value or a __proto__ key is refused with PROTOCOL; the parent is untouched', async () => {
      for (const [method, reason] of [['tag27', 'TAG'], ['proto', 'FORBIDDEN_KEY']] as const) {
        const { handler, call } = await start('strict');
        const fault = faultOf(handler);
        void call(method, null, 2000).catch(() => {}); // never answered in a form the parent accepts
        const error = await fault;
        expect(error).toMatchObject({ code: 'PROTOCOL', reason });
        handler.kill(); // what the manager does with a compromised handler
        await handler.exited;
      }
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect(Object.getPrototypeOf({})).toBe(Object.prototype);
      await freshHandlerServes('strict');
    });
  });

  describe.runIf(canStrict)('under standard', () => {
    it('has the permission model, heap cap, limits and parent-death signal, drops root, keeps the network', async () => {
      const tcp = await listener();
      try {
        const { call, prepared } = await start('standard');
        expect(prepared.inForce).toEqual(['env', 'cwd', 'permissions', 'heap', 'limits', ...(host.isRoot ? ['user'] : []), 'parentDeath']);
        // As root the handler runs as nobody: a root handler could kill or ptrace the manager.
        expect((payload(await call('whoami')) as { uid: number }).uid).toBe(host.isRoot ? 65534 : host.uid);
        expect(denied(await call('read', { path: '/etc/passwd' })).code).toBe('ERR_ACCESS_DENIED');
        expect(denied(await call('spawn')).code).toBe('ERR_ACCESS_DENIED');
        expect(await call('connect', { port: tcp.port })).toMatchObject({ ok: true, p: { connected: true } });
        expect(await call('files', { max: 5000 })).toMatchObject({ ok: true, p: { error: 'EMFILE' } });
      } finally {
        await tcp.close();
      }
    });
  });

  describe('under none (what the attacks do without a sandbox)', () => {
    it('reads, writes, starts a process, connects, starts a worker, tries an addon, opens the inspector', async () => {
      const tcp = await listener();
      try {
        const { call, loaded, prepared } = await start('none');
        expect(prepared.inForce).toEqual(['env', 'cwd']);
        expect(await call('read', { path: '/etc/passwd' })).toMatchObject({ ok: true });
        if (host.isRoot) expect(await call('read', { path: '/etc/shadow' })).toMatchObject({ ok: true });
        const inDir = join(loaded.dir, 'planted.txt');
        const inTmp = slate.trackPath(join(tmpdir(), `umdkit-hostile-${nanoid()}`));
        expect(await call('write', { path: inDir })).toMatchObject({ ok: true });
        expect(await call('write', { path: inTmp })).toMatchObject({ ok: true });
        expect(existsSync(inDir) && existsSync(inTmp)).toBe(true);
        await rm(inTmp);
        expect(await call('spawn')).toMatchObject({ ok: true, p: { stdout: 'pwned', status: 0 } });
        expect(await call('connect', { port: tcp.port })).toMatchObject({ ok: true, p: { connected: true } });
        await expect.poll(() => tcp.accepted()).toBe(1);
        expect(await call('worker')).toMatchObject({ ok: true, p: { started: true, code: 0 } });
        expect(denied(await call('addon')).code).toBe('ERR_DLOPEN_FAILED'); // tried to load it: addons allowed
        expect(await call('inspector')).toMatchObject({ ok: true, p: { url: expect.stringMatching(/^ws:\/\/127\.0\.0\.1:/) } });
        const files = await call('files', { max: 500 });
        expect(files).toMatchObject({ ok: true, p: { opened: 500, error: null } });
      } finally {
        await tcp.close();
      }
    });
  });

  describe.runIf(compiler)('an exec image (C fork bomb)', () => {
    let build = '';
    let forker: Image;
    beforeAll(async () => {
      build = await mkdtemp(join(tmpdir(), 'umdkit-forker-'));
      const binary = join(build, 'forker');
      await run('cc', ['-O2', '-o', binary, join(here, 'forker.c')]);
      forker = (await pack({ kind: 'exec', binary, name: 'forker' })).image;
    });
    afterAll(async () => {
      if (build !== '') await rm(build, { recursive: true, force: true });
    });

    it.runIf(canStrict)('under strict gets the OS layers: nproc stops the bomb, and it runs unprivileged', async () => {
      // RLIMIT_NPROC counts every process of the uid: a uid of its own keeps other handlers out of the count.
      const uid = 2_000_000_000 + (process.pid % 1_000_000);
      const sandbox = { level: 'strict', limits: { nproc: 32 }, ...(host.isRoot ? { user: { uid, gid: uid } } : {}) };
      const { call, prepared } = await start(sandbox, forker, 'forker');
      expect(prepared.inForce).not.toContain('permissions');
      expect(prepared.inForce).toContain('limits');
      const answer = await call('bomb');
      const p = payload(answer) as { forked: number; errno: number; uid: number };
      expect(p.forked).toBeGreaterThan(0);
      expect(p.forked).toBeLessThan(32);
      expect(p.errno).toBe(11); // EAGAIN: RLIMIT_NPROC
      if (host.isRoot) expect(p.uid).toBe(uid);
      expect(await call('bomb')).toMatchObject({ ok: true }); // and it serves on
    });

    it('under none forks all 200', async () => {
      const { call } = await start('none', forker, 'forker');
      expect(await call('bomb')).toMatchObject({ ok: true, p: { forked: 200, errno: 0 } });
    });
  });
});
