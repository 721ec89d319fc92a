import type { UmdErrorCode } from '../errors.js';
import type { ResponseMessage } from '../protocol/messages.js';
import type { Clock } from './clock.js';
import { DeadlineHeap } from './deadlines.js';
import type { Driver } from './driver.js';
import type { EventHub } from './events.js';
import { PendingRequest, type SettleHook } from './pending.js';
import { checkAnswer, type Checked } from './validate-answer.js';

/**
 * Why the requests in flight on a process lost it: they decide retry and poison counting. Only a
 * `crash` is the handler's fault; a sibling's restart, a stop and a recycle are not.
 */
export type LossCause = 'crash' | 'sibling' | 'stop' | 'recycle';

/** The facts about a process that ended, as requests that were in flight on it see them. */
export interface ProcessEnd {
  instance: string;
  generation: number;
  pid: number;
  code: number | null;
  signal: string | null;
  stderrTail: string[];
  cause: LossCause;
  /** A fault the manager found before the process died (heartbeat, protocol, invalid answer). */
  fault: Fault | undefined;
}

/**
 * A fault the manager found in a live handler, and the code its in-flight requests reject with:
 * PROTOCOL for a broken protocol, HANDLER_CRASHED otherwise (a lost heartbeat, an invalid answer).
 */
export interface Fault {
  reason: string;
  code: 'PROTOCOL' | 'HANDLER_CRASHED';
}

/** What the owner needs of a driver: its settings and its queue. */
export interface RequestRoute {
  readonly driver: Driver;
  /** Queues the request, or sends it at once when an instance has room. */
  enqueue(request: PendingRequest): void;
  /** Puts requests back at the front of the queue, in their order, and sends what can be sent. */
  requeue(requests: PendingRequest[]): void;
  /** Withdraws a queued request that settled while waiting. */
  unqueue(request: PendingRequest): void;
}

/** The instance an answer came from, as the owner sees it. */
export interface AnswerSource {
  readonly id: string;
  /** The answer proved the handler untrustworthy (it failed validation): kill and restart it. */
  distrust(reason: string, generation: number): void;
}

/** Told when the last pending request has settled (a draining stop waits for it). */
export type DrainedHook = () => void;

/**
 * The one owner of every request's life. It alone moves a request from queued to sent to answered,
 * timed out, aborted, cancelled (stop, give-up) or lost (its process ended), and it alone settles
 * it; instances only report what the pipe said. A deadline or an abort is the caller's business:
 * that request is rejected and withdrawn (a `cancel` goes to the handler), nothing else is
 * touched — the handler is not blamed, killed or restarted.
 */
export class RequestOwner {
  private readonly deadlines: DeadlineHeap;
  private readonly routes = new Map<string, RequestRoute>();
  private pendingCount = 0;
  /** Set by a draining stop; called when the count reaches 0. */
  onDrained: DrainedHook | undefined;
  /** One function for every request (not a closure per request): told when a request settles. */
  private readonly settleHook: SettleHook = (request, code, message) => this.onSettled(request, code, message);

  constructor(
    private readonly clock: Clock,
    private readonly hub: EventHub,
  ) {
    this.deadlines = new DeadlineHeap(clock, (request) => this.expire(request));
  }

  /** Requests accepted and not yet settled. */
  get pending(): number {
    return this.pendingCount;
  }

  /** Registers the route of a driver (once per driver, before any request to it). */
  addRoute(route: RequestRoute): void {
    this.routes.set(route.driver.name, route);
  }

  /**
   * Accepts a request (the caller checked every refusal first) and hands it to its route. Returns
   * the promise the caller holds.
   */
  accept(route: RequestRoute, method: string | undefined, payload: unknown, timeoutMs: number, idempotent: boolean, signal: AbortSignal | undefined): Promise<unknown> {
    const now = this.clock.now();
    const request = new PendingRequest(route.driver.name, method, payload, now + timeoutMs, idempotent, now, this.settleHook);
    try {
      this.pendingCount++;
      this.deadlines.add(request);
      if (signal !== undefined) request.watchAbort(signal, () => this.abort(request, signal));
      route.enqueue(request);
    } catch (err) {
      request.rejectUnexpected(err); // as a throw inside a promise executor would have done
    }
    return request.promise;
  }

  /** The handler answered `request` (no longer in flight) on `route`: check the answer, then settle. */
  answered(route: RequestRoute, request: PendingRequest, message: ResponseMessage, source: AnswerSource, generation: number): void {
    const driver = route.driver;
    if (!message.ok) {
      request.fail('HANDLER_ERROR', `handler "${driver.name}" answered ${message.e.code}: ${message.e.message}`, {
        handlerCode: message.e.code,
        instance: source.id,
        generation,
      });
      return;
    }
    const validate = driver.validate;
    if (validate === undefined) {
      // No validator: nothing to check, nothing to allocate.
      request.resolve(message.p);
      return;
    }
    const checked = checkAnswer(validate, message.p, { driver: driver.name, method: request.method, payload: request.payload });
    if (checked instanceof Promise) void checked.then((result) => this.settleChecked(request, result, source, generation));
    else this.settleChecked(request, checked, source, generation);
  }

  private settleChecked(request: PendingRequest, checked: Checked, source: AnswerSource, generation: number): void {
    if (checked.ok) {
      request.resolve(checked.value);
      return;
    }
    request.fail('INVALID_RESPONSE', `handler "${request.driver}" gave an answer that failed validation: ${checked.why}`, { instance: source.id, generation });
    // An answer that fails validation means the handler cannot be trusted any more.
    source.distrust(`invalid response: ${checked.why}`, generation);
  }

  /** The request's payload cannot be written to a handler: the caller's mistake, never sent. */
  unsendable(request: PendingRequest, error: Error): void {
    request.fail('BAD_REQUEST', `request payload cannot be sent to "${request.driver}": ${error.message}`, { reason: 'UNENCODABLE' });
  }

  /**
   * Requests that were in flight on a process that ended. Idempotent ones go back to the front of
   * the queue (a capped number of times); a request present at too many crashes is a poison pill
   * and is rejected for good — one malicious input must not become a restart storm.
   */
  lost(lost: PendingRequest[], end: ProcessEnd): void {
    if (lost.length === 0) return;
    const route = this.routes.get(lost[0]!.driver)!;
    const { retries, poisonThreshold, name } = route.driver;
    const retry: PendingRequest[] = [];
    for (const request of lost) {
      request.wireId = 0;
      request.carrier = undefined;
      if (request.settled) continue;
      if (end.cause === 'stop') {
        request.fail('STOPPED', `manager stopped while request ${request.id} was in flight on "${name}"`, { instance: end.instance, generation: end.generation });
        continue;
      }
      const details = { instance: end.instance, generation: end.generation, exitCode: end.code, signal: end.signal, stderrTail: end.stderrTail };
      if (end.cause === 'crash') {
        request.crashes++;
        if (request.crashes >= poisonThreshold) {
          request.fail('HANDLER_CRASHED', `request ${request.id} was in flight on ${request.crashes} handlers of "${name}" that crashed; rejected for good as a poison pill (last: ${describeEnd(end)})`, {
            ...details,
            reason: 'poison-pill',
          });
          continue;
        }
      }
      if (request.idempotent && request.retries < retries) {
        request.retries++;
        retry.push(request);
        continue;
      }
      const code = end.cause === 'crash' && end.fault !== undefined ? end.fault.code : 'HANDLER_CRASHED';
      request.fail(code, `handler "${name}" (instance ${end.instance}, generation ${end.generation}, pid ${end.pid}) ${describeEnd(end)} while request ${request.id} was in flight${end.stderrTail.length ? `; stderr: ${end.stderrTail.slice(-3).join(' | ')}` : ''}`, {
        ...details,
        reason: end.cause === 'sibling' ? 'sibling-restart' : end.cause === 'recycle' ? 'recycled' : end.fault !== undefined ? 'fault' : 'crash',
      });
    }
    if (retry.length > 0) route.requeue(retry);
  }

  /** Rejects every request of `requests` (stop, give-up), withdrawing the ones in flight. */
  rejectAll(requests: Iterable<PendingRequest>, code: 'STOPPED' | 'GAVE_UP', message: string, reason: string | undefined): void {
    for (const request of [...requests]) {
      request.carrier?.withdraw(request);
      request.fail(code, `${message} (request ${request.id} to "${request.driver}")`, { reason });
    }
  }

  /** Cancels the deadline timer (the manager stopped). */
  clear(): void {
    this.deadlines.clear();
  }

  /** The caller's deadline passed: that request alone rejects TIMEOUT; the handler is not blamed. */
  private expire(request: PendingRequest): void {
    const timeoutMs = Math.round(request.deadline - request.startedAt);
    const carrier = request.carrier;
    if (carrier !== undefined) {
      carrier.withdraw(request);
      request.fail('TIMEOUT', `request ${request.id} to "${request.driver}" timed out after ${timeoutMs} ms in flight; a cancel was sent to the handler, which goes on serving`, {
        instance: carrier.id,
        reason: 'deadline',
      });
      return;
    }
    const where = request.queued ? 'waiting in the queue' : 'waiting for its answer to be checked';
    request.fail('TIMEOUT', `request ${request.id} to "${request.driver}" timed out after ${timeoutMs} ms ${where}`, { reason: 'deadline' });
  }

  /** The caller's signal aborted: that request alone rejects ABORTED (a cancel goes out if it was sent). */
  private abort(request: PendingRequest, signal: AbortSignal): void {
    const carrier = request.carrier;
    carrier?.withdraw(request);
    request.fail('ABORTED', `request ${request.id} to "${request.driver}" aborted ${carrier !== undefined ? 'after it was sent (cancel sent to the handler)' : 'before it was sent'}`, {
      reason: signal.reason instanceof Error ? signal.reason.message : String(signal.reason),
    });
  }

  private onSettled(request: PendingRequest, code: 'OK' | UmdErrorCode, message: string | undefined): void {
    this.deadlines.remove(request);
    if (request.queued) this.routes.get(request.driver)?.unqueue(request);
    this.pendingCount--;
    if (this.hub.active) {
      const at = this.clock.now();
      this.hub.emit({ type: 'request', driver: request.driver, request: request.id, outcome: code, latencyMs: at - request.startedAt, at, ...(message === undefined ? {} : { message }) });
    }
    if (this.pendingCount === 0) this.onDrained?.();
  }
}

function describeEnd(end: ProcessEnd): string {
  if (end.fault !== undefined) return `was killed after a fault (${end.fault.reason})`;
  if (end.cause === 'sibling') return 'was restarted because a sibling crashed';
  if (end.cause === 'recycle') return 'was recycled (every slot stuck)';
  return end.signal !== null ? `was killed by ${end.signal}` : `exited with code ${end.code}`;
}
