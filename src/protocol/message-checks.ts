import { ProtocolError } from './errors.js';

/**
 * The checks every message validator is built from (wire protocol v1 and the service socket):
 * each failure is a `ProtocolError` (`BAD_MESSAGE`) that names the field and the value at fault.
 */

/** Largest correlation id: ids are unsigned and stay exact in a double. */
export const MAX_MESSAGE_ID = Number.MAX_SAFE_INTEGER;

/**
 * A decoded CBOR value as an error message shows it: its kind, or a short text, never the whole
 * of what a peer sent (a message names the value at fault without echoing megabytes of it).
 *
 * @example
 * ```ts
 * describeWireValue(new Uint8Array(3)); // 'a byte string'
 * describeWireValue('x'.repeat(100));  // '"xxxxxxxx...' (40 characters, then ...)
 * ```
 */
export function describeWireValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (ArrayBuffer.isView(value)) return 'a byte string';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
  if (typeof value === 'object') return 'a map';
  return String(value);
}

/**
 * Throws the `BAD_MESSAGE` error saying `what`.
 *
 * @example
 * ```ts
 * if (m.t !== 'hello') badMessage(`the first frame must be "hello", got t = ${describeWireValue(m.t)}`);
 * ```
 */
export function badMessage(what: string): never {
  throw new ProtocolError('BAD_MESSAGE', what);
}

/**
 * The message as a map, or `BAD_MESSAGE` for anything else (an array or a byte string included).
 *
 * @example
 * ```ts
 * const m = messageRecord(decoded); // Record<string, unknown>
 * ```
 */
export function messageRecord(value: unknown): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value) || ArrayBuffer.isView(value)) {
    badMessage(`a message must be a map, got ${describeWireValue(value)}`);
  }
  return value as Record<string, unknown>;
}

/**
 * `BAD_MESSAGE` for a field of `message` that is not in `allowed`.
 *
 * @example
 * ```ts
 * onlyKeys(m, 'req', ['t', 'id', 'm', 'p']);
 * ```
 */
export function onlyKeys(message: Record<string, unknown>, type: string, allowed: readonly string[]): void {
  // for-in rather than Object.keys: the same check without an array per message (this runs for
  // every frame in both directions). A decoded map is a plain object with only own keys.
  for (const key in message) {
    if (!allowed.includes(key)) badMessage(`"${type}" has an unknown field "${key}"`);
  }
}

/**
 * The field `key` of `message` as an unsigned integer up to `max` (default: the largest id).
 *
 * @example
 * ```ts
 * const id = unsignedField(m, 'req', 'id');
 * ```
 */
export function unsignedField(message: Record<string, unknown>, type: string, key: string, max = MAX_MESSAGE_ID): number {
  const value = message[key];
  // Number.isInteger(1e300) is true: bound it too, so every accepted id is exact in a double.
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) {
    badMessage(`"${type}".${key} must be an unsigned integer up to ${max}, got ${describeWireValue(value)}`);
  }
  return value;
}
