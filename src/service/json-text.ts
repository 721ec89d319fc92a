/**
 * Payloads (the JSON data model plus byte strings, and integers past 2^53) as JSON text, both
 * ways, for `umdkit call`. A byte string is written `{"$base64":"..."}` — unambiguous, and a
 * one-liner to decode (`jq -r '."$base64"' | base64 -d`) — and such an object read back becomes
 * a byte string again. Big integers are written as exact JSON numbers.
 */

const BYTES_KEY = '$base64';

/**
 * JSON text for a payload; `undefined` becomes `null`.
 *
 * @example
 * ```ts
 * toJsonText({ ok: true, data: Uint8Array.of(1, 2, 3), big: 2n ** 64n });
 * // '{"ok":true,"data":{"$base64":"AQID"},"big":18446744073709551616}'
 * ```
 */
export function toJsonText(value: unknown): string {
  if (value === undefined || value === null) return 'null';
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number') return Number.isFinite(value) ? JSON.stringify(value) : 'null';
  if (typeof value === 'string' || typeof value === 'boolean') return JSON.stringify(value);
  if (value instanceof Uint8Array) {
    return `{${JSON.stringify(BYTES_KEY)}:${JSON.stringify(Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64'))}}`;
  }
  if (Array.isArray(value)) return `[${value.map(toJsonText).join(',')}]`;
  if (typeof value === 'object') {
    const fields: string[] = [];
    for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
      if (item === undefined) continue; // as JSON.stringify does for object fields
      fields.push(`${JSON.stringify(key)}:${toJsonText(item)}`);
    }
    return `{${fields.join(',')}}`;
  }
  return 'null';
}

/**
 * Parses JSON text into a payload: every object that is exactly `{"$base64": "<text>"}` becomes a
 * byte string. Throws `SyntaxError` for bad JSON, `TypeError` for bad base64.
 *
 * @example
 * ```ts
 * fromJsonText('{"image":{"$base64":"AQID"}}'); // { image: Uint8Array [1, 2, 3] }
 * ```
 */
export function fromJsonText(text: string): unknown {
  return revive(JSON.parse(text));
}

function revive(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(revive);
  if (value === null || typeof value !== 'object') return value;
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record);
  if (keys.length === 1 && keys[0] === BYTES_KEY) {
    const text = record[BYTES_KEY];
    if (typeof text !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) {
      throw new TypeError(`${BYTES_KEY} must hold base64 text, got ${JSON.stringify(text)}`);
    }
    return new Uint8Array(Buffer.from(text, 'base64'));
  }
  const out: Record<string, unknown> = {};
  // defineProperty: a "__proto__" key from JSON.parse stays a plain key (the codec then refuses it).
  for (const key of keys) Object.defineProperty(out, key, { value: revive(record[key]), enumerable: true, writable: true, configurable: true });
  return out;
}
