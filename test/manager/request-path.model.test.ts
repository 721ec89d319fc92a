import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { defineDriver } from '../../src/manager/driver.js';
import { DriverNode, type DriverHost, type LoadedDriver } from '../../src/manager/driver-node.js';
import { EventHub, type ManagerEvent } from '../../src/manager/events.js';
import { RequestOwner } from '../../src/manager/request-owner.js';
import type { HandlerExit, HandlerProcess } from '../../src/loader/spawn.js';
import type { ManagerMessage, PongMessage, ResponseMessage } from '../../src/protocol/index.js';
import type { ChildExit, SupervisorLink } from '../../supervisors/tree.js';
import { ManualClock } from './manual-clock.js';

/**
 * A model-based test of the request path: the real request owner, driver node and instance runtime
 * (with its real lifecycle machine), around fake handler processes on a simulated clock. fast-check
 * generates interleavings of requests, answers, late answers and cancel acknowledgements,
 * deadlines (time passing), aborts, crashes, heartbeat loss (a process that stops answering),
 * protocol faults and recycles. After every step: no request settled twice, slots never negative
 * nor above the concurrency, and the supervisor told of exactly the handler's faults — never of a
 * deadline, an abort or a recycle. At the end every request has settled once and no slot leaked.
 */

const CONCURRENCY = 2;

/** A handler process that does only what the test tells it to. */
class FakeProcess implements HandlerProcess {
  readonly driver = 'model';
  readonly stalled = false;
  readonly instance = 'i';
  readonly hello;
  onMessage: ((message: ResponseMessage | PongMessage) => void) | undefined;
  onFault: HandlerProcess['onFault'];
  readonly exited: Promise<HandlerExit>;
  alive = true;
  /** False once "hung": no pongs, no answers, no exit on bye (a SIGSTOPped process). */
  responsive = true;
  /** Set when the test made it misbehave (hang, stray answer): only then may a fault be found in it. */
  misbehaved = false;
  /** Requests it holds (sent, not answered by it yet), by wire id. */
  readonly open = new Map<number, unknown>();
  readonly cancelled = new Set<number>();
  private bye = false;
  private settleExit!: (exit: HandlerExit) => void;

  constructor(
    readonly pid: number,
    readonly generation: number,
    private readonly clock: ManualClock,
  ) {
    this.hello = { t: 'hello' as const, v: 1 as const, pid };
    this.exited = new Promise((resolve) => {
      this.settleExit = resolve;
    });
  }

  send(message: ManagerMessage): void {
    if (!this.alive) return;
    if (message.t === 'req') this.open.set(message.id, message.p);
    else if (message.t === 'cancel') this.cancelled.add(message.id);
    else if (message.t === 'ping' && this.responsive) queueMicrotask(() => this.deliver({ t: 'pong', id: message.id }));
    else if (message.t === 'bye') {
      this.bye = true;
      this.exitIfDone();
    }
  }

  /** Answers the request `id` it holds: its payload, or ABORTED (a cancel acknowledged) if it was cancelled. */
  answer(id: number): void {
    if (!this.alive || !this.responsive || !this.open.has(id)) return;
    const payload = this.open.get(id);
    this.open.delete(id);
    this.deliver(this.cancelled.has(id) ? { t: 'res', id, ok: false, e: { code: 'ABORTED', message: 'cancelled' } } : { t: 'res', id, ok: true, p: payload });
    this.exitIfDone();
  }

  /** An answer for an id it never got: a protocol violation. */
  strayAnswer(): void {
    if (!this.alive || !this.responsive) return;
    this.misbehaved = true;
    this.deliver({ t: 'res', id: 1_000_000, ok: true, p: null });
  }

  private deliver(message: ResponseMessage | PongMessage): void {
    if (this.alive) this.onMessage?.(message);
  }

  private exitIfDone(): void {
    if (this.bye && this.responsive && this.open.size === 0) this.exit(0, null);
  }

  exit(code: number | null, signal: NodeJS.Signals | null): void {
    if (!this.alive) return;
    this.alive = false;
    queueMicrotask(() => this.settleExit({ code, signal, stderrTail: [] }));
  }

  stderrTail(): string[] {
    return [];
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    this.exit(null, signal);
  }

  endInput(): void {
    this.exit(0, null);
  }

  async terminate(graceMs: number | 'brutal_kill'): Promise<HandlerExit> {
    if (!this.alive) return this.exited;
    if (graceMs === 'brutal_kill') {
      this.kill();
      return this.exited;
    }
    this.send({ t: 'bye' });
    const timer = this.clock.setTimeout(() => this.kill(), graceMs);
    try {
      return await this.exited;
    } finally {
      this.clock.clearTimeout(timer);
    }
  }
}

type Step =
  | { kind: 'submit'; timeoutMs: number; idempotent: boolean; abortable: boolean }
  | { kind: 'answer'; pick: number }
  | { kind: 'advance'; ms: number }
  | { kind: 'abort'; pick: number }
  | { kind: 'crash' }
  | { kind: 'hang' }
  | { kind: 'stray' }
  | { kind: 'recycle' };

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('submit' as const), timeoutMs: fc.integer({ min: 20, max: 600 }), idempotent: fc.boolean(), abortable: fc.boolean() }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('answer' as const), pick: fc.nat(7) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 300 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('abort' as const), pick: fc.nat(7) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'crash' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'hang' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'stray' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'recycle' as const }) },
);

/** Lets promise callbacks (actor steps, exits, settles) run. */
async function flush(): Promise<void> {
  for (let i = 0; i < 4; i++) await new Promise((resolve) => setImmediate(resolve));
}

async function world() {
  const clock = new ManualClock();
  const hub = new EventHub();
  const events: ManagerEvent[] = [];
  hub.subscribe((event) => events.push(event));
  const owner = new RequestOwner(clock, hub);
  const driver = defineDriver({
    name: 'model',
    image: { kind: 'exec', bytes: new Uint8Array([1]), sha256: '0'.repeat(64) },
    concurrency: CONCURRENCY,
    heartbeatMs: 100,
    cancelGraceMs: 150,
    shutdownMs: 50,
    retries: 1,
    poisonThreshold: 2,
  });
  const processes: FakeProcess[] = [];
  const host: DriverHost = {
    clock,
    hub,
    owner,
    load: async () => ({ image: { unload: async () => {} }, sandbox: { inForce: [] } }) as unknown as LoadedDriver,
    spawn: async (_driver, _loaded, _instance, generation) => {
      const proc = new FakeProcess(1000 + processes.length, generation, clock);
      processes.push(proc);
      return proc;
    },
  };
  const node = new DriverNode(driver, host);
  owner.addRoute(node);
  const instance = node.instances[0]!;
  // The supervisor: restarts at once and counts what it was told (intensity counts these).
  const told: ChildExit[] = [];
  const link: SupervisorLink = {
    childExited: (child, exit) => {
      told.push(exit);
      queueMicrotask(() => child.restart(0, 'crash'));
    },
    childEscalated: () => {},
    childStarted: () => {},
  };
  instance.link(link);
  const started = instance.start();
  await flush();
  await started;
  return { clock, events, owner, node, instance, processes, told };
}

describe('the request path, model-based (fakes, simulated clock)', () => {
  it('every request settles exactly once, slots never go negative or leak, intensity counts handler faults only', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 60 }), async (steps) => {
        const w = await world();
        const settled = new Map<number, number>();
        const outcomes: string[] = [];
        const submitted: Array<{ controller: AbortController | undefined; done: boolean }> = [];
        let crashes = 0;
        const current = () => (w.instance.proc as FakeProcess | undefined);

        const check = () => {
          const load = w.instance.load;
          expect(load).toBeGreaterThanOrEqual(0);
          expect(load).toBeLessThanOrEqual(CONCURRENCY);
          expect(w.instance.stuck).toBeGreaterThanOrEqual(0);
          expect(w.instance.stuck).toBeLessThanOrEqual(load);
          for (const count of settled.values()) expect(count).toBe(1);
          const requestEvents = w.events.filter((e) => e.type === 'request');
          expect(new Set(requestEvents.map((e) => e.request)).size).toBe(requestEvents.length);
          expect(requestEvents.length).toBe(settled.size);
          // The supervisor hears of exactly the handler's faults: injected crashes and faults found
          // (heartbeat, protocol). Deadlines, aborts, late answers and recycles never reach it.
          const faults = w.events.filter((e): e is Extract<ManagerEvent, { type: 'fault' }> => e.type === 'fault');
          for (const fault of faults) expect(w.processes.find((p) => p.generation === fault.generation)?.misbehaved).toBe(true);
          expect(w.told.length).toBe(crashes + faults.length);
        };

        for (const s of steps) {
          switch (s.kind) {
            case 'submit': {
              const index = submitted.length;
              const controller = s.abortable ? new AbortController() : undefined;
              const entry = { controller, done: false };
              submitted.push(entry);
              const promise = w.owner.accept(w.node, undefined, index, s.timeoutMs, s.idempotent, controller?.signal);
              promise.then(
                () => outcomes.push('OK'),
                (err: { code: string }) => outcomes.push(err.code),
              ).finally(() => {
                entry.done = true;
                settled.set(index, (settled.get(index) ?? 0) + 1);
              });
              break;
            }
            case 'answer': {
              const proc = current();
              const ids = proc === undefined ? [] : [...proc.open.keys()];
              if (ids.length > 0) proc!.answer(ids[s.pick % ids.length]!);
              break;
            }
            case 'advance':
              // In steps, with the loop turning between them, as real time passes: a pong sent
              // in answer to a ping arrives before the next beat.
              for (let left = s.ms; left > 0; left -= 10) {
                w.clock.advance(Math.min(10, left));
                await flush();
              }
              break;
            case 'abort': {
              const live = submitted.filter((e) => !e.done && e.controller !== undefined);
              if (live.length > 0) live[s.pick % live.length]!.controller!.abort();
              break;
            }
            case 'crash': {
              const proc = current();
              if (proc?.alive) {
                // A process already being replaced (a recycle's bye) that dies is not news to
                // the supervisor: its end was decided already, as for a stop.
                if (w.instance.state !== 'recycling') crashes++;
                proc.kill('SIGKILL');
              }
              break;
            }
            case 'hang': {
              const proc = current();
              if (proc !== undefined) {
                proc.responsive = false;
                proc.misbehaved = true;
              }
              break;
            }
            case 'stray':
              current()?.strayAnswer();
              break;
            case 'recycle':
              w.instance.recycle('stuck', 'model: recycle');
              break;
          }
          await flush();
          check();
        }

        // Time runs out for everyone: every request has a deadline of at most 600 ms.
        for (let i = 0; i < 100; i++) {
          w.clock.advance(10);
          await flush();
        }
        check();
        expect(settled.size).toBe(submitted.length);
        expect(w.owner.pending).toBe(0);
        expect(outcomes.every((code) => ['OK', 'TIMEOUT', 'ABORTED', 'HANDLER_CRASHED', 'HANDLER_ERROR', 'PROTOCOL'].includes(code))).toBe(true);

        // No leak: once a live, responsive handler has answered all it holds, every slot is free
        // and the instance is ready.
        for (let i = 0; i < 100 && !(w.instance.state === 'ready' || w.instance.state === 'busy'); i++) {
          w.clock.advance(10);
          await flush();
        }
        const proc = current()!;
        expect(proc.alive).toBe(true);
        proc.responsive = true;
        for (const id of [...proc.open.keys()]) proc.answer(id);
        await flush();
        w.clock.advance(1);
        await flush();
        expect(w.instance.load).toBe(0);
        expect(w.instance.stuck).toBe(0);
        expect(w.instance.state).toBe('ready');
        check();
        await w.instance.stop();
      }),
      { numRuns: Number(process.env.UMDKIT_MODEL_RUNS ?? 150), seed: process.env.UMDKIT_MODEL_SEED === undefined ? 20261204 : Number(process.env.UMDKIT_MODEL_SEED) },
    );
  });
});
