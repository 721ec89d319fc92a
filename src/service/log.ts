import type { ManagerEvent } from '../manager/events.js';
import { positiveInteger } from '../util/options.js';

/**
 * The service log: each manager event worth a line (lifecycle, handler stderr, failed requests)
 * becomes one record, written as a human-readable line or as one JSON object per line for log
 * pipelines. Records carry who they are about (driver, instance, generation, pid) whenever known.
 */

/**
 * Severity of a record. `debug` lines are written only when asked for (`--verbose`).
 *
 * @example
 * ```ts
 * const level: LogLevel = event.code === 0 ? 'info' : 'warn';
 * ```
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/**
 * How records are written: `text` for people, `json` for pipelines (one object per line).
 *
 * @example
 * ```ts
 * const format: LogFormat = process.stdout.isTTY ? 'text' : 'json';
 * ```
 */
export type LogFormat = 'text' | 'json';

/**
 * One log record. `time` is ISO 8601; `event` is the manager event type (or a service event such
 * as `started`); the rest is present when it applies.
 *
 * @example
 * ```ts
 * const record: LogRecord = { time: '2025-01-01T00:00:00.000Z', level: 'info', event: 'log', message: 'parsed 3 files', driver: 'parser', instance: 'V1StGXR8_Z', generation: 2, pid: 4242 };
 * ```
 */
export interface LogRecord {
  time: string;
  level: LogLevel;
  event: string;
  message: string;
  driver?: string;
  instance?: string;
  generation?: number;
  pid?: number | null;
  [field: string]: unknown;
}

/** Epoch ms of a manager timestamp (the manager's clock is `performance.now()`). */
function isoOf(at: number): string {
  return new Date(performance.timeOrigin + at).toISOString();
}

/**
 * The record for a manager event, or undefined for events that are not logged (a request that
 * succeeded: one line per answer would drown everything else).
 *
 * @example
 * ```ts
 * manager.subscribe((event) => {
 *   const record = recordOf(event);
 *   if (record) process.stdout.write(formatRecord(record, 'json'));
 * });
 * ```
 */
export function recordOf(event: ManagerEvent): LogRecord | undefined {
  const time = isoOf(event.at);
  switch (event.type) {
    case 'log':
      return { time, level: 'info', event: 'log', message: event.line, driver: event.driver, instance: event.instance, generation: event.generation, pid: event.pid };
    case 'state': {
      // ready <-> busy flips with every burst of requests: detail for --verbose only.
      const routine = (event.from === 'ready' && event.to === 'busy') || (event.from === 'busy' && event.to === 'ready');
      const level = routine ? 'debug' : event.to === 'failed' ? 'error' : event.to === 'crashed' ? 'warn' : 'info';
      return { time, level, event: 'state', message: `${event.from} -> ${event.to}`, driver: event.driver, instance: event.instance, generation: event.generation, pid: event.pid, from: event.from, to: event.to };
    }
    case 'spawn':
      return { time, level: 'info', event: 'spawn', message: `started (pid ${event.pid})`, driver: event.driver, instance: event.instance, generation: event.generation, pid: event.pid };
    case 'exit': {
      const how = event.signal !== null ? `killed by ${event.signal}` : `exited with code ${event.code}`;
      const level = event.code === 0 && event.signal === null ? 'info' : 'warn';
      return { time, level, event: 'exit', message: how, driver: event.driver, instance: event.instance, generation: event.generation, pid: event.pid, code: event.code, signal: event.signal };
    }
    case 'fault':
      return { time, level: 'warn', event: 'fault', message: `fault: ${event.reason}`, driver: event.driver, instance: event.instance, generation: event.generation, reason: event.reason };
    case 'restart':
      return { time, level: 'warn', event: 'restart', message: `restarting ${event.child} in ${Math.round(event.delayMs)} ms: ${event.reason}`, supervisor: event.supervisor, child: event.child, delayMs: event.delayMs, reason: event.reason };
    case 'escalate':
      return { time, level: 'error', event: 'escalate', message: `supervisor ${event.supervisor} gave up and escalates: ${event.reason}`, supervisor: event.supervisor, reason: event.reason };
    case 'gave-up':
      return { time, level: 'error', event: 'gave-up', message: `the root supervisor ${event.supervisor} gave up: ${event.reason}`, supervisor: event.supervisor, reason: event.reason };
    case 'request':
      if (event.outcome === 'OK') return undefined;
      return { time, level: 'warn', event: 'request', message: `request ${event.request} failed with ${event.outcome} after ${Math.round(event.latencyMs)} ms${event.message === undefined ? '' : `: ${event.message}`}`, driver: event.driver, request: event.request, outcome: event.outcome, latencyMs: event.latencyMs, ...(event.message === undefined ? {} : { reason: event.message }) };
    case 'sandbox':
      return { time, level: 'warn', event: 'sandbox', message: `sandbox layers dropped (best effort): ${event.dropped.join(', ')}: ${event.reason}`, driver: event.driver, dropped: event.dropped, reason: event.reason };
    case 'stopped':
      return { time, level: 'info', event: 'stopped', message: 'every handler stopped and every image unloaded' };
    default:
      return undefined;
  }
}

/**
 * One line (newline included) for `record`: a JSON object, or for people
 * `<time> <level> <who>: <message>` where who is `driver/instance#generation pid N`.
 *
 * @example
 * ```ts
 * formatRecord(record, 'text'); // '2025-01-01T00:00:00.000Z info  parser/V1StGXR8_Z#2 pid 4242: parsed 3 files\n'
 * ```
 */
export function formatRecord(record: LogRecord, format: LogFormat): string {
  if (format === 'json') return `${JSON.stringify(record)}\n`;
  return `${record.time} ${record.level.padEnd(5)} ${who(record)}: ${record.message}\n`;
}

function who(record: LogRecord): string {
  if (record.driver !== undefined) {
    const instance = record.instance === undefined ? '' : `/${record.instance}`;
    const generation = record.generation === undefined ? '' : `#${record.generation}`;
    const pid = record.pid === undefined || record.pid === null ? '' : ` pid ${record.pid}`;
    return `${record.driver}${instance}${generation}${pid}`;
  }
  if (typeof record.supervisor === 'string') return `supervisor ${record.supervisor}`;
  return 'service';
}

/**
 * Where a bounded log writes: a stream (typically `process.stdout`) that says how many bytes it
 * still holds and tells when it has flushed them. A `net.Socket`, a `fs.WriteStream` and a pipe
 * stdout all qualify.
 *
 * @example
 * ```ts
 * const output: LogStream = process.stdout;
 * ```
 */
export interface LogStream {
  write(text: string): boolean;
  readonly writableLength: number;
  on(event: 'drain', listener: () => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
}

/**
 * Bytes a {@link ServiceLog} lets its stream hold before it drops records (1 MiB): enough for
 * thousands of lines of burst, little enough that a reader that stopped costs nothing.
 *
 * @example
 * ```ts
 * new ServiceLog({ format: 'json', stream: process.stdout, maxBufferedBytes: 4 * DEFAULT_LOG_BUFFER_BYTES });
 * ```
 */
export const DEFAULT_LOG_BUFFER_BYTES = 1 << 20;

/**
 * Writes records in one format, leaving out `debug` ones unless `verbose`. Given a `stream`, the
 * log is bounded the way mature loggers are: while the stream holds more than `maxBufferedBytes`
 * unwritten, records are dropped and counted, and once it has flushed a `dropped` record (level
 * `warn`, field `dropped`) says how many were lost. A stream that fails (its reader is gone) ends
 * the log; it never fails the service.
 *
 * @example
 * ```ts
 * const log = new ServiceLog({ format: 'json', stream: process.stdout });
 * manager.subscribe(log.event);
 * log.info('started', 'serving on /run/umdkit.sock', { socket: '/run/umdkit.sock' });
 * ```
 */
export class ServiceLog {
  readonly format: LogFormat;
  private readonly write: (line: string) => void;
  private readonly verbose: boolean;
  private readonly stream: LogStream | undefined;
  private readonly maxBufferedBytes: number;
  /** Records left out since the last `dropped` record. */
  private droppedRecords = 0;
  /** Records left out in all. */
  private droppedTotal = 0;
  private broken = false;
  private finishing = false;

  constructor(options: { format: LogFormat; write?: (line: string) => void; stream?: LogStream; maxBufferedBytes?: number; verbose?: boolean }) {
    this.format = options.format;
    this.verbose = options.verbose ?? false;
    const { write, stream } = options;
    if ((write === undefined) === (stream === undefined)) throw new TypeError('options must have exactly one of write and stream');
    this.maxBufferedBytes = options.maxBufferedBytes === undefined ? DEFAULT_LOG_BUFFER_BYTES : positiveInteger('options.maxBufferedBytes', options.maxBufferedBytes);
    this.stream = stream;
    if (stream === undefined) {
      this.write = write!;
    } else {
      this.write = (line) => void stream.write(line);
      stream.on('drain', () => this.reportDropped());
      // EPIPE: the reader is gone for good. Nothing to tell, and nothing may crash the service.
      stream.on('error', () => {
        this.broken = true;
      });
    }
  }

  /** Records dropped because the stream's reader was too slow (0 without a stream). */
  get dropped(): number {
    return this.droppedTotal;
  }

  /** Logs a manager event (bound: pass it to `manager.subscribe` as is). */
  readonly event = (event: ManagerEvent): void => {
    const record = recordOf(event);
    if (record !== undefined) this.record(record);
  };

  /** Logs a service-level record (`event` names what happened, e.g. `started`, `stopping`). */
  info(event: string, message: string, fields: Record<string, unknown> = {}): void {
    this.service('info', event, message, fields);
  }

  /** Same as {@link info}, at level `warn`. */
  warn(event: string, message: string, fields: Record<string, unknown> = {}): void {
    this.service('warn', event, message, fields);
  }

  /** Same as {@link info}, at level `error`. */
  error(event: string, message: string, fields: Record<string, unknown> = {}): void {
    this.service('error', event, message, fields);
  }

  /**
   * The service is ending: writes the `dropped` record still owed, and from now on every record
   * whatever the backlog — the few last records (why the service exits) are never the ones lost.
   */
  finish(): void {
    this.finishing = true;
    if (this.droppedRecords > 0 && !this.broken) this.writeDropped();
  }

  private service(level: LogLevel, event: string, message: string, fields: Record<string, unknown>): void {
    const head = { time: new Date().toISOString(), level, event, message };
    // The head's keys come first in a JSON line, and fields cannot overwrite them.
    this.record(Object.assign({ ...head }, fields, head));
  }

  private record(record: LogRecord): void {
    if (record.level === 'debug' && !this.verbose) return;
    // Decided before the line is formatted: a flood of dropped records costs no JSON.
    if (this.full()) {
      this.drop();
      return;
    }
    // The count comes before the next record that gets through: the order of the log stays true.
    if (this.droppedRecords > 0) this.writeDropped();
    this.write(formatRecord(record, this.format));
  }

  /** True when the stream holds too much (or is gone): the next record is dropped. */
  private full(): boolean {
    if (this.stream === undefined) return false;
    return this.broken || (!this.finishing && this.stream.writableLength > this.maxBufferedBytes);
  }

  private drop(): void {
    this.droppedRecords++;
    this.droppedTotal++;
  }

  /** The stream flushed: say at once how many records were lost, not at the next record. */
  private reportDropped(): void {
    if (this.droppedRecords > 0 && !this.full()) this.writeDropped();
  }

  private writeDropped(): void {
    const n = this.droppedRecords;
    this.droppedRecords = 0;
    const head = { time: new Date().toISOString(), level: 'warn' as const, event: 'dropped', message: `dropped ${n} log records: the log reader was too slow` };
    this.write(formatRecord({ ...head, dropped: n }, this.format));
  }
}
