/**
 * runChaos's invariant checks, each shown the defect it exists to catch. Every other chaos test
 * expects them to find nothing; here a deliberately broken manager (a real one, wrapped) loses a
 * request, reports one settled twice, leaks a real handler process, or leaves a real extraction
 * directory in the run's root — and the report must count it and say it in `violations`, while
 * the checks that were not attacked stay at zero.
 */
import { describe, expect, it } from 'vitest';
import type { DriverOptions, Manager, ManagerEvent } from 'umdkit';
import { runChaosWith, type StartManager } from '../../src/testing/chaos.js';
import { createManager } from '../../src/manager/manager.js';
import { loadImage, type LoadedImage } from '../../src/loader/extract.js';
import { spawnHandler, type HandlerProcess } from '../../src/loader/spawn.js';
import { fixtureImage, spawnOptions, useCleanSlate } from '../fixtures/harness.js';

/** A small, fault-free run on the echo fixture: only what the broken manager does goes wrong. */
async function options() {
  const driver: DriverOptions = { name: 'echo', image: await fixtureImage('echo') };
  return { driver, requests: 12, concurrency: 3, faults: '', seed: 1, probes: 3, graceMs: 300, driverOptions: { requestTimeoutMs: 1000 } };
}

/**
 * `manager` with its `request` replaced by `broken`, which gets the real one to call. An own
 * property, as the fault schedule wraps `request` too (it wraps this one, and restores it).
 */
function withRequest(manager: Manager, broken: (real: Manager['request'], ...args: Parameters<Manager['request']>) => Promise<unknown>): Manager {
  const real = (Object.getPrototypeOf(manager) as Manager).request.bind(manager) as Manager['request'];
  const request = (...args: Parameters<Manager['request']>) => broken(real, ...args);
  Object.defineProperty(manager, 'request', { value: request, configurable: true, writable: true });
  return manager;
}

const zeroes = { lost: 0, doubleSettled: 0, unexpectedErrors: 0, orphans: 0, leftoverFiles: 0 };

describe('runChaos catches a broken manager', () => {
  const slate = useCleanSlate();

  it('that never settles a request: lost 1, and "never settled" in violations', async () => {
    let calls = 0;
    const start: StartManager = async (o) => {
      const manager = await createManager(o);
      return withRequest(manager, (real, ...args) => {
        const answer = real(...args);
        if (++calls !== 5) return answer;
        // The fifth request is sent and answered, but its caller is never told.
        answer.catch(() => {});
        return new Promise<never>(() => {});
      });
    };
    const report = await runChaosWith(await options(), start);
    expect(report).toMatchObject({ ...zeroes, lost: 1, submitted: 12, settled: 11, healed: true });
    expect(report.violations).toEqual(['1 request(s) never settled within deadline + 300 ms', '12 submitted but 11 settled']);
  });

  it('that reports one request settled twice: doubleSettled 1, and "more than once" in violations', async () => {
    const start: StartManager = async (o) => {
      let doubled = false;
      return createManager({
        ...o,
        onEvent: (event: ManagerEvent) => {
          o.onEvent(event);
          if (event.type === 'request' && !doubled) {
            doubled = true;
            o.onEvent(event);
          }
        },
      });
    };
    const report = await runChaosWith(await options(), start);
    expect(report).toMatchObject({ ...zeroes, doubleSettled: 1, submitted: 12, settled: 12 });
    expect(report.violations).toEqual(['1 request(s) settled more than once']);
  });

  it('that leaks a real handler process: orphans 1 with its pid, and "alive after stop" in violations', async () => {
    let leaked: { handler: HandlerProcess; loaded: LoadedImage } | undefined;
    const start: StartManager = async (o) => {
      const manager = await createManager(o);
      // A handler it starts and reports like its own, then forgets: its stop never ends it. (Its
      // image lies outside the run's root, so only the process is left behind.)
      const loaded = await loadImage('echo', await fixtureImage('echo'), { root: slate.root });
      const handler = slate.track(await spawnHandler(loaded, spawnOptions('echo')));
      leaked = { handler, loaded };
      o.onEvent({ type: 'spawn', driver: 'echo', instance: 'echo/forgotten', generation: 1, pid: handler.pid, at: Date.now() });
      return manager;
    };
    try {
      const report = await runChaosWith(await options(), start);
      expect(report).toMatchObject({ ...zeroes, orphans: 1, orphanPids: [leaked!.handler.pid], submitted: 12, settled: 12 });
      expect(report.violations).toEqual([`1 process(es) alive after stop: ${leaked!.handler.pid}`]);
    } finally {
      await leaked?.handler.terminate('brutal_kill');
      await leaked?.loaded.unload();
    }
  });

  it('that leaves an extraction directory in its root: leftoverFiles counted, and "left in the extraction root" in violations', async () => {
    let left: LoadedImage | undefined;
    const start: StartManager = async (o) => {
      const manager = await createManager(o);
      // An image extracted into the run's root and never unloaded: a directory and its file.
      left = await loadImage('echo', await fixtureImage('echo'), { root: o.runtimeDir });
      return manager;
    };
    try {
      const report = await runChaosWith(await options(), start);
      expect(report).toMatchObject({ ...zeroes, leftoverFiles: 2, submitted: 12, settled: 12 });
      expect(report.violations).toEqual(['2 entr(y/ies) left in the extraction root after stop']);
    } finally {
      await left?.unload();
    }
  });

  it('and a manager that is not broken gets a clean report (the control)', async () => {
    const report = await runChaosWith(await options(), (o) => createManager(o));
    expect(report).toMatchObject({ ...zeroes, submitted: 12, settled: 12, ok: 12, healed: true });
    expect(report.violations).toEqual([]);
  });
});
