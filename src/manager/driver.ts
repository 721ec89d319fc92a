import { checkFormat, type Image, type ImageFormat } from '../loader/image.js';
import { sandboxSettings, type SandboxOption, type SandboxSettings } from '../sandbox/index.js';
import {
  describeValue,
  knownKeys,
  matching,
  nonNegativeInteger,
  numberInRange,
  oneOf,
  plainObject,
  positiveInteger,
} from '../util/options.js';
import { DEFAULT_DECODE_BUDGET_BYTES, DEFAULT_MAX_DEPTH, DEFAULT_MAX_FRAME_BYTES, DEFAULT_MAX_ITEMS, MAX_FRAME_BYTES_LIMIT } from '../protocol/limits.js';
import type { OptionsApi } from './typed.js';

export type { StandardSchemaV1 } from './standard-schema.js';
import type { StandardSchemaV1 } from './standard-schema.js';

/** What a validate function learns about the answer it checks. */
export interface ValidateContext {
  driver: string;
  method: string | undefined;
  payload: unknown;
}

/**
 * Checks an answer before the caller sees it: a Standard Schema, or a function that returns the
 * (possibly transformed) answer and throws to refuse it, or a predicate (a type guard) that returns
 * `true` to keep the answer as it came and `false` to refuse it. The caller's answer type follows:
 * the schema's output, the guard's type, or the function's return type.
 */
export type Validator = StandardSchemaV1 | ((answer: unknown, context: ValidateContext) => unknown);

/** How a child is restarted (OTP's meaning). */
export type RestartType = 'permanent' | 'transient' | 'temporary';


/** Backoff between restarts of one instance. */
export interface BackoffOptions {
  initialMs?: number;
  maxMs?: number;
  factor?: number;
  jitter?: number;
  resetAfterMs?: number;
}

/** Everything `defineDriver` accepts. Only `name` and `image` are required. */
export interface DriverOptions {
  /** Name of the driver: requests are addressed to it; also the file name and argv[0] of its handler. */
  name: string;
  /** The embedded image the handler runs from. */
  image: Image;
  /** OTP restart type (default `permanent`). */
  restart?: RestartType;
  /** Requests in flight per instance, pipelined on one pipe (default 1). */
  concurrency?: number;
  /** Requests waiting for an instance before `QUEUE_FULL` (default 1000). */
  maxQueue?: number;
  /**
   * Default deadline of a request, queue time included (default 30000). It is the caller's
   * patience: past it that caller alone rejects `TIMEOUT` and a `cancel` goes to the handler,
   * which is not blamed for it.
   */
  requestTimeoutMs?: number;
  /**
   * How long a request cancelled by its caller (deadline, abort) may stay unanswered before its
   * slot counts as stuck (default 5000). When every slot of an instance is stuck, it is recycled:
   * `bye`, a fresh process, no restart counted.
   */
  cancelGraceMs?: number;
  /** Time from spawn to `hello` before the start fails (default 10000). */
  startTimeoutMs?: number;
  /** Grace between `bye` and SIGKILL on shutdown, or `'brutal_kill'` (default 5000). */
  shutdownMs?: number | 'brutal_kill';
  /** Interval between pings to a busy handler; a missed pong is a hang, killed and restarted (default 5000; false = off). */
  heartbeatMs?: number | false;
  /** Checks every answer; a refused answer is `INVALID_RESPONSE` and the instance is restarted. */
  validate?: Validator;
  /** Sandbox level or per-layer settings (default `'none'`); see docs/SECURITY.md. */
  sandbox?: SandboxOption;
  /** Instances started for this driver (default 1; more makes a pool). */
  instances?: number;
  /** Pre-started instances that replace a crashed one without a cold start (default 0). */
  spares?: number;
  /** Largest frame in either direction (default 16 MiB). */
  maxFrameBytes?: number;
  /** Deepest nesting in a message (default 64). */
  maxDepth?: number;
  /** Most data items in one message, every array element, map key and value (default 262144); see docs/PROTOCOL.md §7. */
  maxItems?: number;
  /** Bytes of answers held half-read at once across this driver's instances (default 64 MiB); see docs/PROTOCOL.md §7. */
  decodeBudgetBytes?: number;
  /** Backoff between restarts (defaults: 100 ms doubling to 15 s, 20% jitter, reset after 30 s up). */
  backoff?: BackoffOptions;
  /** Times an idempotent request is retried after a crash (default 2). */
  retries?: number;
  /** Crashes a request may be present for before it is a poison pill, rejected for good (default 2). */
  poisonThreshold?: number;
  /** Extra environment variables for the handler (the rest of the parent's environment is scrubbed). */
  env?: Record<string, string>;
  /** Extra arguments after the image path. */
  args?: string[];
}

/**
 * The default export of a driver module written by `umdkit pack` (`<out>.mjs`), as its `<out>.d.mts`
 * declares it: the driver's name as a literal type and, type only, its handler's methods.
 *
 * @example
 * ```ts
 * import parser from './parser.driver.mjs'; // DriverModule<'parser', typeof handler's methods>
 * const driver = defineDriver({ ...parser, concurrency: 4 });
 * ```
 */
export interface DriverModule<Name extends string = string, Api = unknown> {
  readonly name: Name;
  readonly image: Image;
  /** Type only, never present at run time: the handler's methods (`unknown` when not known). */
  readonly '~api'?: Api;
}

/**
 * A validated driver, with every default filled in. Pass it to `createManager` or `supervisor`.
 * `Name` and `Api` are types only: the driver's name as a literal and its methods as `request`
 * sees them (see {@link DriverModule}); `Driver` alone is any driver.
 */
export interface Driver<Name extends string = string, Api = unknown> extends Readonly<Required<Omit<DriverOptions, 'name' | 'validate' | 'sandbox' | 'backoff'>>> {
  readonly kind: 'driver';
  readonly name: Name;
  /** Type only, never present at run time: the methods as `request` sees them. */
  readonly '~api'?: Api;
  readonly validate: Validator | undefined;
  readonly sandbox: SandboxSettings;
  readonly backoff: BackoffOptions;
}

const KNOWN = [
  'kind', 'name', 'image', 'restart', 'concurrency', 'maxQueue', 'requestTimeoutMs', 'cancelGraceMs', 'startTimeoutMs', 'shutdownMs',
  'heartbeatMs', 'validate', 'sandbox', 'instances', 'spares', 'maxFrameBytes', 'maxDepth', 'maxItems', 'decodeBudgetBytes', 'backoff',
  'retries', 'poisonThreshold', 'env', 'args',
] as const;

/** Driver names double as file names and argv[0]: keep them short and plain. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const SHA256 = /^[0-9a-f]{64}$/;

/**
 * Validates driver options at the boundary and fills in defaults. Bad options throw `TypeError` /
 * `RangeError` naming the option and the value (`options.maxQueue must be a positive integer, got -1`).
 *
 * @example
 * ```ts
 * import parser from './parser.driver.mjs'; // written by `umdkit pack`
 * const driver = defineDriver({ ...parser, concurrency: 8, maxQueue: 100, restart: 'permanent' });
 * // Driver<'parser', ...>: its name and its handler's methods; with `validate: schema`, answers are the schema's output
 * ```
 */
export function defineDriver<Name extends string, Options extends DriverOptions>(options: Options & { name: Name }): Driver<NoInfer<Name>, OptionsApi<Options>>;
export function defineDriver(options: DriverOptions): Driver {
  const o = plainObject('options', options);
  knownKeys('options', o, KNOWN);
  if (o.kind !== undefined && o.kind !== 'driver') throw new TypeError(`options.kind must be "driver" or absent, got ${describeValue(o.kind)}`);
  const name = matching('options.name', o.name, NAME, 'a name of 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit');
  const image = validateImage(o.image);
  const optional = <T>(key: string, check: (path: string, value: unknown) => T, fallback: T): T =>
    o[key] === undefined ? fallback : check(`options.${key}`, o[key]);

  const validate = o.validate;
  if (validate !== undefined && typeof validate !== 'function' && !isStandardSchema(validate)) {
    throw new TypeError(`options.validate must be a function or a Standard Schema, got ${typeof validate}`);
  }
  const shutdownMs = o.shutdownMs === 'brutal_kill' ? 'brutal_kill' : optional('shutdownMs', nonNegativeInteger, 5000);
  const heartbeatMs = o.heartbeatMs === false ? false : optional('heartbeatMs', positiveInteger, 5000);
  const env = optional('env', (path, value) => {
    const record = plainObject(path, value);
    for (const [key, v] of Object.entries(record)) {
      if (typeof v !== 'string') throw new TypeError(`${path}.${key} must be a string, got ${typeof v}`);
    }
    return { ...(record as Record<string, string>) };
  }, {} as Record<string, string>);
  const args = optional('args', (path, value) => {
    if (!Array.isArray(value) || value.some((a) => typeof a !== 'string')) {
      throw new TypeError(`${path} must be an array of strings`);
    }
    return [...(value as string[])];
  }, [] as string[]);
  const backoff = optional('backoff', validateBackoff, {} as BackoffOptions);
  const sandbox = sandboxSettings(o.sandbox ?? 'none', 'options.sandbox');

  return Object.freeze({
    kind: 'driver' as const,
    name,
    image,
    restart: optional('restart', (p, v) => oneOf(p, v, ['permanent', 'transient', 'temporary'] as const), 'permanent'),
    concurrency: optional('concurrency', positiveInteger, 1),
    maxQueue: optional('maxQueue', positiveInteger, 1000),
    requestTimeoutMs: optional('requestTimeoutMs', positiveInteger, 30_000),
    cancelGraceMs: optional('cancelGraceMs', positiveInteger, 5000),
    startTimeoutMs: optional('startTimeoutMs', positiveInteger, 10_000),
    shutdownMs,
    heartbeatMs,
    validate: validate as Validator | undefined,
    sandbox,
    instances: optional('instances', positiveInteger, 1),
    spares: optional('spares', nonNegativeInteger, 0),
    maxFrameBytes: optional('maxFrameBytes', (p, v) => numberInRange(p, positiveInteger(p, v), 1, MAX_FRAME_BYTES_LIMIT), DEFAULT_MAX_FRAME_BYTES),
    maxDepth: optional('maxDepth', positiveInteger, DEFAULT_MAX_DEPTH),
    maxItems: optional('maxItems', positiveInteger, DEFAULT_MAX_ITEMS),
    decodeBudgetBytes: optional('decodeBudgetBytes', positiveInteger, DEFAULT_DECODE_BUDGET_BYTES),
    backoff,
    retries: optional('retries', nonNegativeInteger, 2),
    poisonThreshold: optional('poisonThreshold', positiveInteger, 2),
    env,
    args,
  });
}

/** True for a value that implements Standard Schema v1. */
export function isStandardSchema(value: unknown): value is StandardSchemaV1 {
  const std = (value as { '~standard'?: { version?: unknown; validate?: unknown } } | null)?.['~standard'];
  return typeof std === 'object' && std !== null && std.version === 1 && typeof std.validate === 'function';
}

/** Validates backoff options at `path` (shared by drivers and supervisors). */
export function validateBackoff(path: string, value: unknown): BackoffOptions {
  const b = plainObject(path, value);
  knownKeys(path, b, ['initialMs', 'maxMs', 'factor', 'jitter', 'resetAfterMs']);
  if (b.initialMs !== undefined) nonNegativeInteger(`${path}.initialMs`, b.initialMs);
  if (b.maxMs !== undefined) nonNegativeInteger(`${path}.maxMs`, b.maxMs);
  if (b.factor !== undefined) numberInRange(`${path}.factor`, b.factor, 1, 100);
  if (b.jitter !== undefined) numberInRange(`${path}.jitter`, b.jitter, 0, 1);
  if (b.resetAfterMs !== undefined) nonNegativeInteger(`${path}.resetAfterMs`, b.resetAfterMs);
  return { ...(b as BackoffOptions) };
}

function validateImage(value: unknown): Image {
  const image = plainObject('options.image', value);
  const kind = oneOf('options.image.kind', image.kind, ['node', 'exec'] as const);
  if (!(image.bytes instanceof Uint8Array)) {
    throw new TypeError(`options.image.bytes must be a Uint8Array, got ${typeof image.bytes}`);
  }
  if (image.bytes.length === 0) throw new RangeError('options.image.bytes must not be empty, got 0 bytes');
  const sha256 = matching('options.image.sha256', image.sha256, SHA256, 'a lower-case hex sha256 (64 characters)');
  if (image.signature !== undefined && typeof image.signature !== 'string') {
    throw new TypeError(`options.image.signature must be a base64 string, got ${typeof image.signature}`);
  }
  checkFormat('options.image', image);
  return Object.freeze({
    kind,
    bytes: image.bytes,
    sha256,
    ...(image.signature === undefined ? {} : { signature: image.signature as string }),
    ...(image.format === undefined ? {} : { format: image.format as ImageFormat }),
  });
}
