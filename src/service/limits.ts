import { DEFAULT_MAX_FRAME_BYTES, MAX_FRAME_BYTES_LIMIT } from '../protocol/index.js';
import { knownKeys, nonNegativeInteger, numberInRange, plainObject, positiveInteger } from '../util/options.js';

/**
 * What the front door lets clients ask of the service, and how long it waits for them: the
 * bounds that keep one client (or a thousand idle sockets) from locking out the others. Set in
 * `startService` options or in the config module's `service` field (docs/SERVICE.md).
 */

/**
 * The front door's limits; every field is optional and has a default.
 *
 * @example
 * ```ts
 * const limits: ServiceLimits = { maxTimeoutMs: 60_000, minTimeoutMs: 50, idleTimeoutMs: 30_000 };
 * ```
 */
export interface ServiceLimits {
  /** How long a graceful stop waits for requests in flight before they are rejected `STOPPED` (default 5000). */
  drainMs?: number;
  /** Requests one client may have in flight (default 64); more are answered `QUEUE_FULL`. */
  maxInFlightPerClient?: number;
  /** Clients served at once, counted from their first complete message (default 64). */
  maxClients?: number;
  /** Connections that have not sent a complete message yet (default 256); past it the oldest is closed. */
  maxConnecting?: number;
  /**
   * Bytes of unfinished frames all connections still waiting for their first message may hold
   * together (default 64 MiB); past it the one holding most is closed.
   */
  maxConnectingBytes?: number;
  /** How long a new connection has to send its first complete message (default 10000 ms). */
  headerTimeoutMs?: number;
  /** How long a client with nothing in flight and no subscription may stay silent (default 60000 ms). */
  idleTimeoutMs?: number;
  /** Floor of a deadline a client asks for: shorter ones are raised to it (default 10 ms). */
  minTimeoutMs?: number;
  /** Ceiling of a deadline a client asks for: longer ones are lowered to it (default 600000 ms). */
  maxTimeoutMs?: number;
  /** Largest frame to or from a client (default 16 MiB). */
  maxFrameBytes?: number;
}

/**
 * The keys of {@link ServiceLimits}.
 *
 * @example
 * ```ts
 * knownKeys('service', value, SERVICE_LIMIT_KEYS);
 * ```
 */
export const SERVICE_LIMIT_KEYS = ['drainMs', 'maxInFlightPerClient', 'maxClients', 'maxConnecting', 'maxConnectingBytes', 'headerTimeoutMs', 'idleTimeoutMs', 'minTimeoutMs', 'maxTimeoutMs', 'maxFrameBytes'] as const;

/**
 * The defaults of {@link ServiceLimits}.
 *
 * @example
 * ```ts
 * const ceiling = limits.maxTimeoutMs ?? DEFAULT_SERVICE_LIMITS.maxTimeoutMs;
 * ```
 */
export const DEFAULT_SERVICE_LIMITS: Readonly<Required<ServiceLimits>> = Object.freeze({
  drainMs: 5000,
  maxInFlightPerClient: 64,
  maxClients: 64,
  maxConnecting: 256,
  maxConnectingBytes: 64 << 20,
  headerTimeoutMs: 10_000,
  idleTimeoutMs: 60_000,
  minTimeoutMs: 10,
  maxTimeoutMs: 600_000,
  maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
});

/** Node timers cap at 2^31-1 ms; a longer one would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Checks `value` as limits (`path` names it in messages: `options`, or `service` in a config)
 * and fills in the defaults. Throws `TypeError`/`RangeError` naming the field and its value.
 *
 * @example
 * ```ts
 * resolveServiceLimits({ minTimeoutMs: 5000, maxTimeoutMs: 100 }, 'service');
 * // RangeError: service.minTimeoutMs must not exceed service.maxTimeoutMs, got 5000 > 100
 * ```
 */
export function resolveServiceLimits(value: unknown, path: string, known: readonly string[] = SERVICE_LIMIT_KEYS): Required<ServiceLimits> {
  const o = plainObject(path, value);
  knownKeys(path, o, known);
  const timer = (key: string, check: (p: string, v: unknown) => number) => (v: unknown) => numberInRange(`${path}.${key}`, check(`${path}.${key}`, v), 0, MAX_TIMER_MS);
  const pick = <K extends keyof ServiceLimits>(key: K, check: (v: unknown) => number): number => (o[key] === undefined ? DEFAULT_SERVICE_LIMITS[key] : check(o[key]));
  const limits: Required<ServiceLimits> = {
    drainMs: pick('drainMs', timer('drainMs', nonNegativeInteger)),
    maxInFlightPerClient: pick('maxInFlightPerClient', (v) => positiveInteger(`${path}.maxInFlightPerClient`, v)),
    maxClients: pick('maxClients', (v) => positiveInteger(`${path}.maxClients`, v)),
    maxConnecting: pick('maxConnecting', (v) => positiveInteger(`${path}.maxConnecting`, v)),
    maxConnectingBytes: pick('maxConnectingBytes', (v) => positiveInteger(`${path}.maxConnectingBytes`, v)),
    headerTimeoutMs: pick('headerTimeoutMs', timer('headerTimeoutMs', positiveInteger)),
    idleTimeoutMs: pick('idleTimeoutMs', timer('idleTimeoutMs', positiveInteger)),
    minTimeoutMs: pick('minTimeoutMs', timer('minTimeoutMs', positiveInteger)),
    maxTimeoutMs: pick('maxTimeoutMs', timer('maxTimeoutMs', positiveInteger)),
    maxFrameBytes: pick('maxFrameBytes', (v) => numberInRange(`${path}.maxFrameBytes`, positiveInteger(`${path}.maxFrameBytes`, v), 1, MAX_FRAME_BYTES_LIMIT)),
  };
  if (limits.minTimeoutMs > limits.maxTimeoutMs) {
    throw new RangeError(`${path}.minTimeoutMs must not exceed ${path}.maxTimeoutMs, got ${limits.minTimeoutMs} > ${limits.maxTimeoutMs}`);
  }
  return limits;
}

/**
 * The deadline the service applies to a client's request: what it asked, raised to the floor or
 * lowered to the ceiling; when it asked for none, the driver's own `requestTimeoutMs` (the
 * operator's choice, not the client's, so not clamped).
 *
 * @example
 * ```ts
 * effectiveTimeout(5, { minTimeoutMs: 100, maxTimeoutMs: 60_000 }); // 100
 * ```
 */
export function effectiveTimeout(asked: number | undefined, limits: Pick<Required<ServiceLimits>, 'minTimeoutMs' | 'maxTimeoutMs'>): number | undefined {
  if (asked === undefined) return undefined;
  return Math.min(limits.maxTimeoutMs, Math.max(limits.minTimeoutMs, asked));
}
