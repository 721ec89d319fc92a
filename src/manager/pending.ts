import { nanoid } from 'nanoid';
import { UmdError, type UmdErrorCode, type UmdErrorDetails } from '../errors.js';

/**
 * What a sent request knows of the instance carrying it: enough to withdraw it. Declared here so
 * that a request does not import the instance (which imports requests): no cycle.
 */
export interface Carrier {
  readonly id: string;
  /**
   * The caller stopped waiting for `request` (deadline, abort, stop): a `cancel` goes to the
   * handler; the slot stays taken until the handler answers (late) or the process ends.
   */
  withdraw(request: PendingRequest): void;
}

/**
 * Told once about every request that settles (the request owner: deadlines, counts, events). One
 * function serves every request, rather than a closure made per request.
 *
 * @example
 * ```ts
 * const onSettled: SettleHook = (request, code) => console.log(request.driver, code);
 * ```
 */
export type SettleHook = (request: PendingRequest, code: UmdErrorCode | 'OK', message?: string) => void;

/** The request whose promise is being made; read by {@link bindSettlers}. */
let binding: PendingRequest | undefined;

/** The one executor of every request's promise: no closure per request. */
function bindSettlers(resolve: (value: unknown) => void, reject: (error: UmdError) => void): void {
  binding!.bind(resolve, reject);
}

/**
 * One accepted request, from `manager.request()` until it settles: queued (`queued`), sent
 * (`wireId` and `carrier` set), then settled. It settles exactly once: only the request owner
 * (request-owner.ts) calls `resolve`/`fail`, and the second call of either is a no-op — that is
 * the guarantee, so it lives in one place.
 */
export class PendingRequest {
  private requestId: string | undefined;
  /** True while waiting in its driver's queue (maintained by the queue only). */
  queued = false;
  /** Wire id while in flight on some process (0 = not sent). */
  wireId = 0;
  /** The instance it is in flight on, if any. */
  carrier: Carrier | undefined;
  /** Times it was in flight on a handler that crashed (poison-pill detection). */
  crashes = 0;
  /** Times it was sent again after a crash (idempotent retries). */
  retries = 0;
  /** Index in the deadline heap, -1 when not in it. */
  heapIndex = -1;
  settled = false;
  private abortListener: (() => void) | undefined;

  constructor(
    readonly driver: string,
    readonly method: string | undefined,
    readonly payload: unknown,
    readonly deadline: number,
    readonly idempotent: boolean,
    readonly startedAt: number,
    private readonly onSettled: SettleHook,
  ) {
    binding = this;
    this.promise = new Promise(bindSettlers);
    binding = undefined;
  }

  /** What the caller of `manager.request()` holds: settled by {@link resolve} or {@link fail}. */
  readonly promise: Promise<unknown>;
  private onResolve!: (value: unknown) => void;
  private onReject!: (error: UmdError) => void;

  /**
   * Rejects the caller's promise with an unexpected internal error, leaving the bookkeeping as it
   * is (the deadline still settles the request once, as it would have any other way).
   */
  rejectUnexpected(error: unknown): void {
    this.onReject(error as UmdError);
  }

  /** @internal called once, by the promise's executor. */
  bind(resolve: (value: unknown) => void, reject: (error: UmdError) => void): void {
    this.onResolve = resolve;
    this.onReject = reject;
  }

  /**
   * The request's nanoid (events, logs, error details). Made when first asked for: most requests
   * settle without anyone reading it, and a nanoid per request was a measurable share of the
   * request path. Once made it never changes.
   */
  get id(): string {
    this.requestId ??= nanoid(12);
    return this.requestId;
  }

  /** Registers the abort listener (kept so it can be removed on settle: no leak per request). */
  watchAbort(signal: AbortSignal, onAbort: () => void): void {
    this.abortListener = onAbort;
    signal.addEventListener('abort', onAbort, { once: true });
    this.signal = signal;
  }
  private signal: AbortSignal | undefined;

  resolve(value: unknown): boolean {
    if (this.settled) return false;
    this.finish();
    this.onResolve(value);
    this.onSettled(this, 'OK');
    return true;
  }

  fail(code: UmdErrorCode, message: string, details: UmdErrorDetails = {}): boolean {
    if (this.settled) return false;
    this.finish();
    this.onReject(new UmdError(code, message, { driver: this.driver, request: this.id, ...details }));
    this.onSettled(this, code, message);
    return true;
  }

  private finish(): void {
    this.settled = true;
    if (this.signal && this.abortListener) this.signal.removeEventListener('abort', this.abortListener);
    this.abortListener = undefined;
    this.signal = undefined;
  }
}
