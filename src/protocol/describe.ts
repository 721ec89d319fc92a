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
