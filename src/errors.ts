/**
 * The one closed set of failure codes every umdkit promise rejects with.
 *
 * Why a closed set: callers branch on `err.code`, so a code that is not in this list would be a
 * silent contract break. Messages name the value at fault; `details` carries the machine-readable
 * facts (exit code, signal, stderr tail, expected/actual digests, ...).
 */
export const UMD_ERROR_CODES = [
  'QUEUE_FULL',
  'TIMEOUT',
  'HANDLER_CRASHED',
  'HANDLER_ERROR',
  'INVALID_RESPONSE',
  'PROTOCOL',
  'ABORTED',
  'STOPPED',
  'GAVE_UP',
  'INTEGRITY',
  'SPAWN',
  'SANDBOX',
  // The caller's own mistake (an unknown driver, a payload the protocol refuses): never the handler's fault.
  'BAD_REQUEST',
] as const;

/** One of {@link UMD_ERROR_CODES}. */
export type UmdErrorCode = (typeof UMD_ERROR_CODES)[number];

/**
 * Facts attached to a {@link UmdError}. Every field is optional; which ones are set depends on the code.
 *
 * @example
 * ```ts
 * if (err instanceof UmdError && err.code === 'HANDLER_CRASHED') {
 *   console.error(err.details.exitCode, err.details.signal, err.details.stderrTail);
 * }
 * ```
 */
export interface UmdErrorDetails {
  /** Driver the failure belongs to. */
  driver?: string;
  /** Instance id (nanoid) of the handler involved. */
  instance?: string;
  /** Process generation of the handler involved. */
  generation?: number;
  /** Request id (nanoid) of the request that failed. */
  request?: string;
  /** Exit code of a handler that exited. */
  exitCode?: number | null;
  /** Signal that ended a handler. */
  signal?: string | null;
  /** Last lines the handler wrote to stderr. */
  stderrTail?: string[];
  /** A finer reason inside the code (for example a protocol reason, or `poison-pill`). */
  reason?: string;
  /** Error code a handler reported in an `ok: false` answer (HANDLER_ERROR). */
  handlerCode?: string;
  /** Expected value (for example a digest). */
  expected?: string;
  /** Actual value (for example a digest). */
  actual?: string;
  /** Sandbox layer involved (SANDBOX). */
  layer?: string;
  /** Anything else worth keeping. */
  [key: string]: unknown;
}

/**
 * The error every umdkit operation rejects with.
 *
 * @example
 * ```ts
 * try {
 *   await manager.request('parser', input);
 * } catch (err) {
 *   if (err instanceof UmdError && err.code === 'QUEUE_FULL') retryLater();
 *   else throw err;
 * }
 * ```
 */
export class UmdError extends Error {
  override readonly name: string = 'UmdError';
  readonly code: UmdErrorCode;
  readonly details: UmdErrorDetails;

  constructor(code: UmdErrorCode, message: string, details: UmdErrorDetails = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.details = details;
  }
}

/**
 * True when `value` is a {@link UmdError}, optionally with the given code.
 *
 * @example
 * ```ts
 * if (isUmdError(err, 'TIMEOUT')) metrics.timeouts++;
 * ```
 */
export function isUmdError(value: unknown, code?: UmdErrorCode): value is UmdError {
  return value instanceof UmdError && (code === undefined || value.code === code);
}
