import { describe, expect, it } from 'vitest';
import type { Driver } from '../../src/manager/driver.js';
import { EventHub, type ManagerEvent } from '../../src/manager/events.js';
import type { Carrier, PendingRequest } from '../../src/manager/pending.js';
import { RequestOwner, type ProcessEnd, type RequestRoute } from '../../src/manager/request-owner.js';
import { ManualClock } from './manual-clock.js';

/**
 * The request owner with fakes around it: a route that only records, a carrier that only records
 * withdrawals, a simulated clock. What is checked is who settles what, and with which code.
 */
function setup(driver: Partial<Driver> = {}) {
  const clock = new ManualClock();
  const hub = new EventHub();
  const events: Extract<ManagerEvent, { type: 'request' }>[] = [];
  hub.subscribe((e) => {
    if (e.type === 'request') events.push(e);
  });
  const owner = new RequestOwner(clock, hub);
  const queued: PendingRequest[] = [];
  const onWire: PendingRequest[] = [];
  const withdrawn: PendingRequest[] = [];
  const distrusted: string[] = [];
  const carrier: Carrier = {
    id: 'inst-1',
    withdraw: (request) => {
      withdrawn.push(request);
      request.wireId = 0;
      request.carrier = undefined;
    },
  };
  const route: RequestRoute & { sendNext: boolean } = {
    driver: { name: 'd', retries: 2, poisonThreshold: 2, validate: undefined, ...driver } as Driver,
    sendNext: false,
    enqueue(request) {
      if (route.sendNext) {
        onWire.push(request);
        request.wireId = onWire.length;
        request.carrier = carrier;
      } else {
        queued.push(request);
        request.queued = true;
      }
    },
    requeue: (requests) => queued.unshift(...requests),
    unqueue: (request) => {
      request.queued = false;
    },
  };
  owner.addRoute(route);
  const source = { id: 'inst-1', distrust: (reason: string) => distrusted.push(reason) };
  const sent = (payload: unknown = 'x', options: { timeoutMs?: number; idempotent?: boolean; signal?: AbortSignal } = {}) => {
    route.sendNext = true;
    const promise = owner.accept(route, undefined, payload, options.timeoutMs ?? 1000, options.idempotent ?? false, options.signal);
    route.sendNext = false;
    promise.catch(() => {});
    return { promise, request: onWire.at(-1)! };
  };
  const end = (cause: ProcessEnd['cause'], fault?: ProcessEnd['fault']): ProcessEnd => ({ instance: 'inst-1', generation: 1, pid: 42, code: null, signal: 'SIGKILL', stderrTail: [], cause, fault });
  return { clock, owner, route, queued, onWire, withdrawn, distrusted, events, source, sent, end, settledOf: (p: Promise<unknown>) => p.then((v) => ({ v }), (e: { code: string; message: string; details: Record<string, unknown> }) => e) };
}

describe('RequestOwner', () => {
  it('a deadline in flight: TIMEOUT for that request, the carrier withdraws it (cancel), the handler is not blamed', async () => {
    const t = setup();
    const late = t.sent('late', { timeoutMs: 200 });
    t.sent('fine', { timeoutMs: 10_000 });
    t.clock.advance(200);
    expect(await t.settledOf(late.promise)).toMatchObject({ code: 'TIMEOUT', details: { instance: 'inst-1', reason: 'deadline' } });
    expect(t.withdrawn.map((r) => r.payload)).toEqual(['late']);
    expect(t.distrusted).toEqual([]);
    expect(t.owner.pending).toBe(1);
  });

  it('a deadline while queued: TIMEOUT, taken off the queue, no cancel', async () => {
    const t = setup();
    const p = t.owner.accept(t.route, undefined, 'q', 100, false, undefined);
    t.clock.advance(100);
    expect(await t.settledOf(p)).toMatchObject({ code: 'TIMEOUT', message: expect.stringContaining('waiting in the queue') });
    expect(t.queued[0]!.queued).toBe(false);
    expect(t.withdrawn).toEqual([]);
  });

  it('an answer settles once: the deadline after it does nothing, one event, drained hook called', async () => {
    const t = setup();
    let drained = 0;
    t.owner.onDrained = () => drained++;
    const { promise, request } = t.sent('v', { timeoutMs: 100 });
    t.owner.answered(t.route, request, { t: 'res', id: 1, ok: true, p: 'answer' }, t.source, 1);
    t.clock.advance(1000);
    expect(await promise).toBe('answer');
    expect(t.events.map((e) => e.outcome)).toEqual(['OK']);
    expect(drained).toBe(1);
    expect(t.withdrawn).toEqual([]);
  });

  it('an abort after sending: ABORTED and a withdraw; an abort after settling does nothing', async () => {
    const t = setup();
    const controller = new AbortController();
    const { promise } = t.sent('a', { signal: controller.signal });
    controller.abort(new Error('user left'));
    expect(await t.settledOf(promise)).toMatchObject({ code: 'ABORTED', details: { reason: 'user left' } });
    expect(t.withdrawn).toHaveLength(1);
    controller.abort();
    expect(t.events).toHaveLength(1);
  });

  it('an answer that fails validation: INVALID_RESPONSE, and the source is distrusted', async () => {
    const t = setup({ validate: () => { throw new Error('not a string'); } });
    const { promise, request } = t.sent();
    t.owner.answered(t.route, request, { t: 'res', id: 1, ok: true, p: 5 }, t.source, 1);
    expect(await t.settledOf(promise)).toMatchObject({ code: 'INVALID_RESPONSE' });
    expect(t.distrusted).toEqual(['invalid response: not a string']);
  });

  it('a payload that cannot be sent is the caller\'s mistake: BAD_REQUEST', async () => {
    const t = setup();
    const p = t.owner.accept(t.route, undefined, 'x', 100, false, undefined);
    t.owner.unsendable(t.queued[0]!, new Error('tag 1 is refused'));
    expect(await t.settledOf(p)).toMatchObject({ code: 'BAD_REQUEST', details: { reason: 'UNENCODABLE' } });
  });

  it('lost with its process: crash -> HANDLER_CRASHED (fault code when faulted), idempotent requeued, poison pill at the threshold, recycle and sibling never counted', async () => {
    const t = setup();
    const plain = t.sent('plain');
    const faulted = t.sent('faulted');
    const idem = t.sent('idem', { idempotent: true });
    const idemReq = idem.request;
    t.owner.lost([plain.request], t.end('crash'));
    t.owner.lost([faulted.request], t.end('crash', { reason: 'protocol: bad frame', code: 'PROTOCOL' }));
    expect(await t.settledOf(plain.promise)).toMatchObject({ code: 'HANDLER_CRASHED', details: { reason: 'crash' } });
    expect(await t.settledOf(faulted.promise)).toMatchObject({ code: 'PROTOCOL', details: { reason: 'fault' } });
    // Idempotent: requeued after a recycle and a sibling restart (neither counts as a crash) ...
    t.owner.lost([idemReq], t.end('recycle'));
    t.owner.lost([idemReq], t.end('sibling'));
    expect(idemReq.crashes).toBe(0);
    expect(t.queued).toEqual([idemReq, idemReq]);
    // ... then a crash (1 of 2, but retries are used up), rejected as crashed, not as a pill.
    t.owner.lost([idemReq], t.end('crash'));
    expect(await t.settledOf(idem.promise)).toMatchObject({ code: 'HANDLER_CRASHED', details: { reason: 'crash' } });
    // A pill: two crashes.
    const pill = t.sent('pill', { idempotent: true });
    t.owner.lost([pill.request], t.end('crash'));
    t.owner.lost([pill.request], t.end('crash'));
    expect(await t.settledOf(pill.promise)).toMatchObject({ code: 'HANDLER_CRASHED', details: { reason: 'poison-pill' } });
    expect(t.owner.pending).toBe(0);
    expect(new Set(t.events.map((e) => e.request)).size).toBe(t.events.length);
  });
});

