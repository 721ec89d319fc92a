/**
 * Shared by the fault-injection suites: managers (with or without the fault shim) in a per-test
 * extraction root, requests whose settling is counted, and the three invariants every fault test
 * ends with — each request settled exactly once, no process left, no file left.
 */
import { readdir } from 'node:fs/promises';
import { afterEach, beforeEach, expect } from 'vitest';
import { createManager, defineDriver, type DriverOptions, type Manager, type ManagerEvent, type ManagerOptions, type RequestOptions } from 'umdkit';
import { faults, identify, survivors, type ProcessIdentity } from 'umdkit/testing';
import { fixtureImage, useCleanSlate } from '../fixtures/harness.js';

/** How a request ended: its value, or the code it was rejected with. */
export type Outcome = { ok: true; value: unknown } | { ok: false; code: string; message: string; details: Record<string, unknown> };

/**
 * Quick to restart; deadlines, heartbeat and start timeout generous enough that a loaded CI
 * machine never trips them by accident. A test about one of them sets it short itself.
 */
export const FAST: Partial<DriverOptions> = {
  concurrency: 2,
  requestTimeoutMs: 5000,
  heartbeatMs: 2000,
  startTimeoutMs: 10_000,
  shutdownMs: 500,
  backoff: { initialMs: 10, maxMs: 50, jitter: 0 },
};

/** A driver on a fixture handler with the fast settings. */
export async function fixtureDriver(fixture: string, options: Partial<DriverOptions> = {}) {
  return defineDriver({ name: fixture, image: await fixtureImage(fixture), ...FAST, ...options });
}

export function useFaultLab() {
  const slate = useCleanSlate();
  const managers: Manager[] = [];
  const events: ManagerEvent[] = [];
  const processes: ProcessIdentity[] = [];
  let requests: Array<{ settles: number; done: Promise<Outcome> }> = [];

  beforeEach(() => {
    events.length = 0;
    processes.length = 0;
    requests = [];
  });

  const onEvent = (event: ManagerEvent) => {
    events.push(event);
    if (event.type === 'spawn') {
      slate.trackPid(event.pid);
      processes.push(identify(event.pid) ?? { pid: event.pid, start: -1 });
    }
  };

  const api = {
    events,
    get root() {
      return slate.root;
    },
    /** A manager whose handlers run behind the fault shim. */
    async start(options: Omit<ManagerOptions, 'runtimeDir' | 'onEvent'>): Promise<Manager> {
      const manager = await faults.createManager({ ...options, runtimeDir: slate.root, onEvent });
      managers.push(manager);
      return manager;
    },
    /** A plain manager (signal and disk faults only). */
    async plain(options: Omit<ManagerOptions, 'runtimeDir' | 'onEvent'>): Promise<Manager> {
      const manager = await createManager({ ...options, runtimeDir: slate.root, onEvent });
      managers.push(manager);
      return manager;
    },
    /** Sends a request whose settling is counted; the promise never rejects. */
    send(manager: Manager, driver: string, payload: unknown, options?: RequestOptions): Promise<Outcome> {
      const record = { settles: 0, done: undefined as unknown as Promise<Outcome> };
      record.done = manager.request(driver, payload, options).then(
        (value): Outcome => {
          record.settles++;
          return { ok: true, value };
        },
        (error: { code?: string; message?: string; details?: Record<string, unknown> }): Outcome => {
          record.settles++;
          return { ok: false, code: error.code ?? String(error), message: error.message ?? '', details: error.details ?? {} };
        },
      );
      requests.push(record);
      return record.done;
    },
    /** The events of one type, typed. */
    of<T extends ManagerEvent['type']>(type: T): Extract<ManagerEvent, { type: T }>[] {
      return events.filter((e): e is Extract<ManagerEvent, { type: T }> => e.type === type);
    },
    /** Waits for the next event matching `match` (or one already seen after `since`). */
    async until(match: (e: ManagerEvent) => boolean, what: string, ms = 5000, since = 0): Promise<ManagerEvent> {
      const end = Date.now() + ms;
      for (;;) {
        const hit = events.slice(since).find(match);
        if (hit !== undefined) return hit;
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}; events: ${events.map((e) => e.type).join(' ')}`);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    },
    /**
     * Stops the manager (healing disk faults first) and checks the three invariants: every request
     * sent through `send` settled exactly once and the manager reported each accepted one once; no
     * process it started (shims and real handlers) runs; nothing is left in the extraction root.
     */
    async stopAndCheck(manager: Manager): Promise<void> {
      await faults.heal(manager);
      await manager.stop({ drainMs: 0 });
      const outcomes = await Promise.all(requests.map((r) => r.done));
      expect(requests.map((r) => r.settles)).toEqual(requests.map(() => 1));
      const accepted = outcomes.filter((o) => o.ok || typeof o.details.request === 'string').length;
      const ids = api.of('request').map((e) => e.request);
      expect(new Set(ids).size).toBe(ids.length);
      expect(ids.length).toBe(accepted);
      expect(await survivors([...processes, ...faults.processes(manager)], 3000)).toEqual([]);
      expect(await readdir(slate.root)).toEqual([]);
    },
  };

  // Registered after useCleanSlate's hooks, so it runs first: nothing is left running when the
  // slate checks for leaks, and the real handlers behind shims are checked as well.
  afterEach(async () => {
    for (const manager of managers.splice(0)) {
      await faults.heal(manager);
      await manager.stop({ drainMs: 0 });
      for (const child of faults.processes(manager)) slate.trackPid(child.pid);
    }
  });
  return api;
}
