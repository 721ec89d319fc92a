/**
 * Shared by the manager and supervisor suites: start a real manager on packed fixture images in a
 * per-test extraction root, record every process it spawns, and (through the loader harness's
 * clean slate) fail the test if any of them outlives it or anything is left on disk.
 */
import { afterEach, beforeEach } from 'vitest';
import { createManager, defineDriver, type UmdError, type DriverOptions, type Manager, type ManagerEvent, type ManagerOptions } from 'umdkit';
import { fixtureImage, useCleanSlate } from '../fixtures/harness.js';

export { fixtureImage, gone, isRunning } from '../fixtures/harness.js';

/** A driver on the `rogue` fixture (misbehaves on request) or any other fixture. */
export async function fixtureDriver(fixture: string, options: Partial<DriverOptions> & { name?: string } = {}) {
  return defineDriver({ name: options.name ?? fixture, image: await fixtureImage(fixture), ...options });
}

/**
 * Per test: `start()` builds a manager whose every spawned pid is tracked; `events` holds what it
 * reported. The manager is stopped after the test if the test did not stop it.
 */
export function useManagers() {
  const slate = useCleanSlate();
  const managers: Manager[] = [];
  const events: ManagerEvent[] = [];
  const api = {
    events,
    get root() {
      return slate.root;
    },
    async start(options: Omit<ManagerOptions, 'runtimeDir' | 'onEvent'>): Promise<Manager> {
      const manager = await createManager({
        ...options,
        runtimeDir: slate.root,
        onEvent: (event) => {
          events.push(event);
          if (event.type === 'spawn') slate.trackPid(event.pid);
        },
      });
      managers.push(manager);
      return manager;
    },
    /** The events of one type, typed. */
    of<T extends ManagerEvent['type']>(type: T): Extract<ManagerEvent, { type: T }>[] {
      return events.filter((e): e is Extract<ManagerEvent, { type: T }> => e.type === type);
    },
    trackPid: (pid: number) => slate.trackPid(pid),
  };
  // Registered after useCleanSlate's afterEach, so vitest runs it first (hooks run in reverse).
  afterEachStop(managers);
  beforeEach(() => {
    events.length = 0;
  });
  return api;
}

function afterEachStop(managers: Manager[]) {
  afterEach(async () => {
    await Promise.all(managers.splice(0).map((m) => m.stop({ drainMs: 0 })));
  });
}

/** Settles every promise and counts outcomes by code ('OK' for a resolved one). */
export async function outcomes(promises: Promise<unknown>[]): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const result of await Promise.allSettled(promises)) {
    const key = result.status === 'fulfilled' ? 'OK' : ((result.reason as { code?: string }).code ?? String(result.reason));
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

/** Waits until `check()` is true, polling; fails with `what` after `ms`. */
export async function until(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The pids of a driver's instances, in order. */
export function pidsOf(manager: Manager, driver: string): Array<number | null> {
  const find = (node: ReturnType<Manager['snapshot']>): ReturnType<Manager['snapshot']> | undefined => {
    if (node.kind === 'driver' && node.name === driver) return node;
    for (const child of node.children ?? []) {
      const hit = find(child);
      if (hit) return hit;
    }
    return undefined;
  };
  return (find(manager.snapshot())?.children ?? []).map((i) => i.pid);
}

/** The error `promise` rejects with; fails the test if it resolves instead. */
export async function failure(promise: Promise<unknown>): Promise<UmdError> {
  const result = await promise.then(
    (value) => ({ resolved: value }),
    (error: unknown) => ({ error }),
  );
  if ('resolved' in result) throw new Error(`expected a rejection, got ${JSON.stringify(result.resolved)}`);
  return result.error as UmdError;
}
