/**
 * Shared by the service suites: a work directory holding the config fixtures with freshly packed
 * driver modules next to them; services started in-process in a clean slate (every pid tracked,
 * the socket file checked gone); raw socket clients that speak frames by hand.
 */
import { copyFile, mkdtemp, readdir, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, expect } from 'vitest';
import { pack } from '../../src/loader/pack.js';
import { encodeFrame, FrameDecoder } from '../../src/protocol/index.js';
import { startService, type Service, type ServiceOptions } from '../../src/service/service.js';
import type { ManagerOptions } from '../../src/manager/options.js';
import { HANDLERS, useCleanSlate } from '../fixtures/harness.js';

export { gone, isRunning } from '../fixtures/harness.js';

export const CONFIGS = fileURLToPath(new URL('../fixtures/configs/', import.meta.url));

/**
 * Per test file: a directory with every config fixture and the driver modules they import
 * (`<name>.driver.mjs`, packed from test/fixtures/handlers), removed after the file.
 */
export function useWorkDir(drivers: string[]) {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'umdkit-configs-'));
    for (const name of await readdir(CONFIGS)) {
      if (!name.endsWith('.d.mts')) await copyFile(join(CONFIGS, name), join(dir, name));
    }
    await Promise.all(drivers.map((name) => pack({ entry: join(HANDLERS, `${name}.ts`), name, out: join(dir, `${name}.driver.mjs`) })));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  return {
    get dir() {
      return dir;
    },
    path: (name: string) => join(dir, name),
  };
}

/**
 * Per test: `start()` runs a service in this process on a socket in a fresh directory, with
 * handlers extracted to the clean slate's root; each spawned pid is tracked. After the test every
 * service is stopped (forced), and the socket directory must be empty (the socket file removed).
 */
export function useServices() {
  const slate = useCleanSlate();
  const services: Service[] = [];
  let socketDir = '';
  beforeEach(async () => {
    socketDir = slate.trackPath(await mkdtemp(join(tmpdir(), 'umdkit-sock-')));
  });
  // Registered after useCleanSlate's afterEach, so vitest runs it first (hooks run in reverse).
  afterEach(async () => {
    await Promise.all(services.splice(0).map((service) => service.stop({ force: true })));
    const left = await readdir(socketDir).catch(() => []);
    await rm(socketDir, { recursive: true, force: true });
    expect(left, 'left in the socket directory').toEqual([]);
  });
  return {
    get socketDir() {
      return socketDir;
    },
    get root() {
      return slate.root;
    },
    trackPid: (pid: number) => slate.trackPid(pid),
    async start(manager: Omit<ManagerOptions, 'runtimeDir' | 'onEvent'>, options: Omit<ServiceOptions, 'manager'> = {}): Promise<Service> {
      const service = await startService({
        socket: join(socketDir, 'umdkit.sock'),
        ...options,
        manager: { ...manager, runtimeDir: slate.root },
        onEvent: (event) => {
          if (event.type === 'spawn') slate.trackPid(event.pid);
          options.onEvent?.(event);
        },
      });
      services.push(service);
      return service;
    },
  };
}

/** A client that writes raw bytes and records every frame the service sends, and when it closed. */
export async function rawClient(path: string) {
  const socket: Socket = connect(path);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const decoder = new FrameDecoder();
  const frames: Array<Record<string, unknown>> = [];
  const waiters: Array<() => void> = [];
  socket.on('data', (chunk: Buffer) => {
    for (const frame of decoder.push(chunk)) frames.push(frame as Record<string, unknown>);
    for (const waiter of waiters.splice(0)) waiter();
  });
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return {
    socket,
    frames,
    closed,
    send: (message: unknown) => socket.write(encodeFrame(message)),
    /** Waits for a frame matching `match` (already received ones count). */
    async frame(match: (frame: Record<string, unknown>) => boolean, what: string, ms = 5000): Promise<Record<string, unknown>> {
      const end = Date.now() + ms;
      for (;;) {
        const hit = frames.find(match);
        if (hit) return hit;
        if (Date.now() > end || socket.destroyed) {
          throw new Error(`no ${what} within ${ms} ms; got ${frames.length} frames, the last: ${JSON.stringify(frames.slice(-3)).slice(0, 600)}`);
        }
        await Promise.race([new Promise<void>((resolve) => waiters.push(resolve)), new Promise((resolve) => setTimeout(resolve, 50))]);
      }
    },
  };
}
