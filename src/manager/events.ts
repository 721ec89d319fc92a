import type { UmdErrorCode } from '../errors.js';
import { knownKeys, plainObject, positiveInteger } from '../util/options.js';

/**
 * Everything a manager reports. Each event names the driver/instance/generation it concerns, so a
 * log line or a dashboard row can always be traced back to one process.
 */
export type ManagerEvent =
  | { type: 'state'; driver: string; instance: string; generation: number; pid: number | null; from: string; to: string; at: number }
  | { type: 'spawn'; driver: string; instance: string; generation: number; pid: number; at: number }
  | { type: 'exit'; driver: string; instance: string; generation: number; pid: number; code: number | null; signal: string | null; at: number }
  | { type: 'fault'; driver: string; instance: string; generation: number; reason: string; at: number }
  /**
   * A live handler replaced without blame: `bye`, then a fresh process. Not a restart. `cause` is
   * the closed reason (`stuck`: every slot held by a cancelled request unanswered past
   * `cancelGraceMs`), `reason` the sentence.
   */
  | { type: 'recycle'; driver: string; instance: string; generation: number; cause: 'stuck'; reason: string; at: number }
  | { type: 'restart'; supervisor: string; child: string; reason: string; delayMs: number; at: number }
  | { type: 'escalate'; supervisor: string; reason: string; at: number }
  | { type: 'gave-up'; supervisor: string; reason: string; at: number }
  | { type: 'request'; driver: string; request: string; outcome: 'OK' | UmdErrorCode; latencyMs: number; at: number; /** Why it failed (the rejection's message); absent for OK. */ message?: string }
  | { type: 'log'; driver: string; instance: string; generation: number; pid: number; line: string; at: number }
  | { type: 'sandbox'; driver: string; dropped: string[]; reason: string; at: number }
  | { type: 'stopped'; at: number };

/** The `type` of a {@link ManagerEvent}. */
export type ManagerEventType = ManagerEvent['type'];

/** A listener; returns nothing. A throwing listener is reported on stderr and does not break the manager. */
export type ManagerListener = (event: ManagerEvent) => void;

/**
 * A tiny synchronous fan-out. Listeners see events in order; one that throws cannot stop the
 * others or the manager (a dashboard bug must not take down request handling).
 */
export class EventHub {
  private listeners = new Set<ManagerListener>();

  get active(): boolean {
    return this.listeners.size > 0;
  }

  subscribe(listener: ManagerListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  emit(event: ManagerEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        process.stderr.write(`umdkit: an event listener threw on "${event.type}": ${(err as Error)?.stack ?? String(err)}\n`);
      }
    }
  }
}

/** Options of `manager.events()`. */
export interface EventStreamOptions {
  /**
   * Events held for a slow reader (default 1024). When full, the oldest is dropped and counted in
   * `stream.dropped`: a reader that stalls costs bounded memory, never an ever-growing queue.
   */
  bufferSize?: number;
}

/**
 * The default of {@link EventStreamOptions.bufferSize}.
 *
 * @example
 * ```ts
 * manager.events({ bufferSize: DEFAULT_EVENT_BUFFER * 4 });
 * ```
 */
export const DEFAULT_EVENT_BUFFER = 1024;

/**
 * Validates `manager.events()` options at the public boundary.
 *
 * @example
 * ```ts
 * validateEventStreamOptions({ bufferSize: 0 }); // RangeError: options.bufferSize must be a positive integer, got 0
 * ```
 */
export function validateEventStreamOptions(options: unknown): { bufferSize: number } {
  if (options === undefined) return { bufferSize: DEFAULT_EVENT_BUFFER };
  const o = plainObject('options', options);
  knownKeys('options', o, ['bufferSize']);
  return { bufferSize: o.bufferSize === undefined ? DEFAULT_EVENT_BUFFER : positiveInteger('options.bufferSize', o.bufferSize) };
}

/**
 * The events of one manager as an async iterable, from the moment it was created until the
 * manager has stopped (the `stopped` event is the last one it yields). Events wait in a ring
 * buffer of fixed size; when a reader falls behind, the oldest are dropped and counted, so an
 * abandoned or slow consumer cannot make the manager's memory grow.
 *
 * @example
 * ```ts
 * const stream = manager.events({ bufferSize: 256 });
 * for await (const event of stream) {
 *   if (event.type === 'restart') console.log(event.child, event.reason);
 * }
 * console.log(`done; ${stream.dropped} events dropped`);
 * ```
 */
export class ManagerEventStream implements AsyncIterableIterator<ManagerEvent> {
  /** Events dropped (oldest first) because the buffer was full. */
  dropped = 0;
  private readonly ring: Array<ManagerEvent | undefined>;
  private head = 0;
  private count = 0;
  private ended: boolean;
  private waiter: ((result: IteratorResult<ManagerEvent>) => void) | undefined;
  private readonly unsubscribe: () => void;

  /** @internal use `manager.events()`. */
  constructor(subscribe: (listener: ManagerListener) => () => void, bufferSize: number, alreadyStopped: boolean) {
    this.ring = new Array<ManagerEvent | undefined>(bufferSize);
    this.ended = alreadyStopped;
    this.unsubscribe = alreadyStopped ? () => {} : subscribe((event) => this.push(event));
  }

  /** Events waiting to be read. */
  get buffered(): number {
    return this.count;
  }

  next(): Promise<IteratorResult<ManagerEvent>> {
    if (this.count > 0) return Promise.resolve({ done: false, value: this.shift() });
    if (this.ended) return Promise.resolve({ done: true, value: undefined });
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }

  /** Stops listening and ends the iteration (also what `break` in a `for await` calls). */
  return(): Promise<IteratorResult<ManagerEvent>> {
    this.end();
    this.ring.fill(undefined);
    this.count = 0;
    return Promise.resolve({ done: true, value: undefined });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  private push(event: ManagerEvent): void {
    if (this.ended) return;
    const waiter = this.waiter;
    if (waiter !== undefined) {
      this.waiter = undefined;
      waiter({ done: false, value: event });
    } else {
      if (this.count === this.ring.length) {
        this.shift();
        this.dropped++;
      }
      this.ring[(this.head + this.count) % this.ring.length] = event;
      this.count++;
    }
    // The manager says nothing after `stopped`: end here so readers are not left waiting.
    if (event.type === 'stopped') this.end();
  }

  private shift(): ManagerEvent {
    const event = this.ring[this.head]!;
    this.ring[this.head] = undefined;
    this.head = (this.head + 1) % this.ring.length;
    this.count--;
    return event;
  }

  private end(): void {
    if (this.ended && this.waiter === undefined) return;
    this.ended = true;
    this.unsubscribe();
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.({ done: true, value: undefined });
  }
}
