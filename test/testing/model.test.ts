import { readdir } from 'node:fs/promises';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createManager, defineDriver, type Manager, type ManagerEvent } from 'umdkit';
import { faults, identify, survivors, type ProcessIdentity } from 'umdkit/testing';
import { fixtureImage, useCleanSlate } from '../fixtures/harness.js';

/**
 * Model-based test of the request guarantees of DESIGN.md against real processes (the `rogue`
 * fixture): fast-check generates interleavings of requests, crashes (real signals, and requests
 * that kill their handler), reloads, settles and stops; after every step the real manager is
 * compared with a model that knows only the promises:
 *
 * - every request settles exactly once, and the manager reports it settled once;
 * - a request no crash, reload or stop could have touched answers with its own payload;
 * - any other ends OK or with a code from the set that its exposure allows;
 * - after stop: no process runs (shims, handlers, their groups) and no file is left.
 *
 * CI runs a fixed seed and a bounded number of runs; set UMDKIT_MODEL_RUNS (e.g. 500) and
 * optionally UMDKIT_MODEL_SEED for a long exploration.
 */

const RUNS = Number(process.env.UMDKIT_MODEL_RUNS ?? 50);
const SEED = Number(process.env.UMDKIT_MODEL_SEED ?? 20240607);

type Exposure = 'crash' | 'reload' | 'stop';

/** What the model allows each exposure to turn a request into, besides its own answer. */
const ALLOWED: Record<Exposure, readonly string[]> = {
  crash: ['HANDLER_CRASHED'],
  reload: ['HANDLER_CRASHED'],
  stop: ['STOPPED'],
};

interface Tracked {
  label: string;
  payload: unknown;
  /** A request whose own purpose is to kill its handler. */
  killer: boolean;
  exposed: Set<Exposure>;
  settles: number;
  outcome: { ok: true; value: unknown } | { ok: false; code: string } | undefined;
  done: Promise<void>;
}

interface Model {
  /** Requests sent and not yet checked. */
  open: number;
  stopped: boolean;
  /**
   * A crash happened that the manager may not have seen yet: until a settle has seen a fresh
   * handler up, a new request may still be sent to the dying process.
   */
  crashPending: boolean;
}

interface Real {
  manager: Manager;
  root: string;
  events: ManagerEvent[];
  processes: ProcessIdentity[];
  tracked: Tracked[];
  checked: Tracked[];
  /** Pids already signalled: a crash waits for a handler that is not dying already. */
  signalled: Set<number>;
}

function track(real: Real, label: string, payload: unknown, killer: boolean, promise: Promise<unknown>): void {
  const t: Tracked = { label, payload, killer, exposed: new Set(), settles: 0, outcome: undefined, done: Promise.resolve() };
  t.done = promise.then(
    (value) => {
      t.settles++;
      t.outcome = { ok: true, value };
    },
    (error: { code?: string }) => {
      t.settles++;
      t.outcome = { ok: false, code: error.code ?? String(error) };
    },
  );
  real.tracked.push(t);
}

/** Every open request may now be hit by `exposure`. */
function expose(real: Real, exposure: Exposure): void {
  for (const t of real.tracked) t.exposed.add(exposure);
}

/** Waits for every open request and checks it against the model. */
async function settleAndCheck(real: Real): Promise<void> {
  const open = real.tracked.splice(0);
  await Promise.all(open.map((t) => t.done));
  for (const t of open) {
    expect(t.settles, `${t.label} settled once`).toBe(1);
    const outcome = t.outcome!;
    if (t.killer) {
      // It kills the handler it reaches, so it can never answer (retried or not).
      expect(outcome.ok, `${t.label} never answers`).toBe(false);
      expect(['HANDLER_CRASHED', 'STOPPED'], `${t.label}: ${JSON.stringify(outcome)}`).toContain((outcome as { code: string }).code);
      continue;
    }
    if (outcome.ok) {
      expect(outcome.value, `${t.label} answered with its own payload`).toEqual(t.payload);
      continue;
    }
    const allowed = [...t.exposed].flatMap((e) => ALLOWED[e]);
    expect(allowed, `${t.label} rejected ${outcome.code} though exposed only to [${[...t.exposed].join(', ')}]`).toContain(outcome.code);
  }
  real.checked.push(...open);
}

class Request implements fc.AsyncCommand<Model, Real> {
  constructor(readonly kind: 'echo' | 'slow', readonly value: number, readonly idempotent: boolean) {}
  check = (m: Readonly<Model>) => !m.stopped && m.open < 12;
  async run(m: Model, real: Real): Promise<void> {
    const payload = this.kind === 'echo' ? this.value : { ms: 20 + (this.value % 80), value: this.value };
    const promise = real.manager.request('rogue', payload, { method: this.kind, idempotent: this.idempotent });
    track(real, this.toString(), this.kind === 'echo' ? payload : this.value, false, promise);
    if (m.crashPending) real.tracked.at(-1)!.exposed.add('crash');
    m.open++;
  }
  toString = () => `request(${this.kind}, ${this.value}${this.idempotent ? ', idempotent' : ''})`;
}

class Crash implements fc.AsyncCommand<Model, Real> {
  constructor(readonly fault: 'kill' | 'segv' | 'abort') {}
  check = (m: Readonly<Model>) => !m.stopped;
  async run(m: Model, real: Real): Promise<void> {
    expose(real, 'crash');
    m.crashPending = true;
    await freshHandler(real);
    const injection = await faults.inject(real.manager, this.fault, { waitMs: 0 });
    expect(injection.delivered, `${this.fault} delivered`).toBe(true);
    real.signalled.add(injection.pid!);
  }
  toString = () => `crash(${this.fault})`;
}

class Killer implements fc.AsyncCommand<Model, Real> {
  constructor(readonly code: number) {}
  check = (m: Readonly<Model>) => !m.stopped && m.open < 12;
  async run(m: Model, real: Real): Promise<void> {
    expose(real, 'crash');
    m.crashPending = true;
    track(real, this.toString(), null, true, real.manager.request('rogue', { code: this.code }, { method: 'exitWith' }));
    m.open++;
  }
  toString = () => `killer(exit ${this.code})`;
}

class Reload implements fc.AsyncCommand<Model, Real> {
  check = (m: Readonly<Model>) => !m.stopped;
  async run(_m: Model, real: Real): Promise<void> {
    expose(real, 'reload');
    // No error is expected: a crash during the reload (a killer request in flight) only delays the
    // next ready, which reload() waits for; it rejects only when the slot fails or stops (the
    // intensity here is never reached, and stop never runs alongside) or the old image cannot be
    // removed (the root stays writable). Any rejection fails the run.
    await real.manager.reload('rogue');
  }
  toString = () => 'reload()';
}

class Settle implements fc.AsyncCommand<Model, Real> {
  check = (m: Readonly<Model>) => !m.stopped;
  async run(m: Model, real: Real): Promise<void> {
    await settleAndCheck(real);
    m.open = 0;
    if (m.crashPending) {
      await freshHandler(real);
      m.crashPending = false;
    }
  }
  toString = () => 'settle()';
}

class Stop implements fc.AsyncCommand<Model, Real> {
  constructor(readonly drainMs: number) {}
  check = (m: Readonly<Model>) => !m.stopped;
  async run(m: Model, real: Real): Promise<void> {
    expose(real, 'stop');
    await real.manager.stop({ drainMs: this.drainMs });
    await settleAndCheck(real);
    m.open = 0;
    m.stopped = true;
    await checkNothingLeft(real);
  }
  toString = () => `stop(drainMs ${this.drainMs})`;
}

/** Waits until the handler is up and was not signalled by this run (a crash was noticed and replaced). */
async function freshHandler(real: Real): Promise<void> {
  const end = Date.now() + 3000;
  for (;;) {
    const instance = real.manager.snapshot().children?.[0]?.children?.[0];
    if (instance?.pid != null && ['ready', 'busy'].includes(instance.state) && !real.signalled.has(instance.pid)) return;
    if (Date.now() > end) throw new Error(`no fresh handler within 3 s: ${JSON.stringify(instance)}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** After stop: no process, no file; and the manager reported each accepted request once. */
async function checkNothingLeft(real: Real): Promise<void> {
  expect(await survivors(real.processes, 3000)).toEqual([]);
  expect(await readdir(real.root)).toEqual([]);
  const ids = real.events.filter((e) => e.type === 'request').map((e) => (e as { request: string }).request);
  expect(new Set(ids).size).toBe(ids.length);
  // Every request was accepted (none refused at the door here), so each was reported exactly once.
  expect(ids.length).toBe(real.checked.length);
}

const request = fc.tuple(fc.constantFrom('echo' as const, 'slow' as const), fc.nat(1000), fc.boolean()).map(([kind, value, idem]) => new Request(kind, value, idem));
// Requests are listed three times: they are what the other commands act on.
const commands = fc.commands(
  [
    request,
    request,
    request,
    fc.constantFrom('kill' as const, 'segv' as const, 'abort' as const).map((f) => new Crash(f)),
    fc.integer({ min: 1, max: 120 }).map((code) => new Killer(code)),
    fc.constant(new Reload()),
    fc.constant(new Settle()),
    fc.constantFrom(0, 300).map((ms) => new Stop(ms)),
  ],
  { maxCommands: 16 },
);

describe('the request guarantees, model-based, against real processes', () => {
  const slate = useCleanSlate();

  it(`hold for every generated interleaving of requests, crashes, reloads and stops (${RUNS} runs, seed ${SEED})`, async () => {
    const image = await fixtureImage('rogue');
    await fc.assert(
      fc.asyncProperty(commands, async (cmds) => {
        const events: ManagerEvent[] = [];
        const processes: ProcessIdentity[] = [];
        const manager = await createManager({
          children: [defineDriver({ name: 'rogue', image, concurrency: 2, heartbeatMs: false, requestTimeoutMs: 10_000, backoff: { initialMs: 5, maxMs: 20, jitter: 0 } })],
          intensity: { maxRestarts: 1000, periodMs: 1000 },
          startIntensity: { maxRestarts: 1000, periodMs: 1000 },
          runtimeDir: slate.root,
          onEvent: (event) => {
            events.push(event);
            if (event.type === 'spawn') {
              processes.push(identify(event.pid) ?? { pid: event.pid, start: -1 });
              slate.trackPid(event.pid);
            }
          },
        });
        const real: Real = { manager, root: slate.root, events, processes, tracked: [], checked: [], signalled: new Set() };
        const model: Model = { open: 0, stopped: false, crashPending: false };
        try {
          await fc.asyncModelRun(() => ({ model, real }), cmds);
          // Every run ends with a stop, generated or not, so "after stop" is always checked.
          if (!model.stopped) await new Stop(0).run(model, real);
        } finally {
          await manager.stop({ drainMs: 0 });
        }
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: true },
    );
  }, RUNS * 5_000 + 30_000);
});
