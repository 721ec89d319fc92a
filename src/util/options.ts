/**
 * Validation of options at the public boundary. Messages follow one shape,
 * `<path> must be <what>, got <value>`, so a user sees the exact field and value at fault.
 */

/** Renders a value the way it appears in an option error message. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'function') return 'a function';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return String(value);
}

function fail(kind: 'type' | 'range', path: string, what: string, value: unknown): never {
  const message = `${path} must be ${what}, got ${describeValue(value)}`;
  throw kind === 'type' ? new TypeError(message) : new RangeError(message);
}

/** Throws unless `value` is an integer >= 1. */
export function positiveInteger(path: string, value: unknown): number {
  if (typeof value !== 'number') fail('type', path, 'a positive integer', value);
  if (!Number.isInteger(value) || value < 1) fail('range', path, 'a positive integer', value);
  return value;
}

/** Throws unless `value` is an integer >= 0. */
export function nonNegativeInteger(path: string, value: unknown): number {
  if (typeof value !== 'number') fail('type', path, 'a non-negative integer', value);
  if (!Number.isInteger(value) || value < 0) fail('range', path, 'a non-negative integer', value);
  return value;
}

/** Throws unless `value` is a finite number within [min, max]. */
export function numberInRange(path: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number') fail('type', path, `a number between ${min} and ${max}`, value);
  if (!Number.isFinite(value) || value < min || value > max) fail('range', path, `a number between ${min} and ${max}`, value);
  return value;
}

/** Throws unless `value` is one of `choices`. */
export function oneOf<T extends string>(path: string, value: unknown, choices: readonly T[]): T {
  if (typeof value !== 'string') fail('type', path, `one of ${choices.map((c) => `"${c}"`).join(', ')}`, value);
  if (!(choices as readonly string[]).includes(value)) {
    fail('range', path, `one of ${choices.map((c) => `"${c}"`).join(', ')}`, value);
  }
  return value as T;
}

/** Throws unless `value` is a non-empty string matching `pattern` (described by `what`). */
export function matching(path: string, value: unknown, pattern: RegExp, what: string): string {
  if (typeof value !== 'string') fail('type', path, what, value);
  if (!pattern.test(value)) fail('range', path, what, value);
  return value;
}

/** Throws unless `value` is a boolean. */
export function boolean(path: string, value: unknown): boolean {
  if (typeof value !== 'boolean') fail('type', path, 'a boolean', value);
  return value;
}

/** Throws unless `value` is a plain object (not null, not an array). */
export function plainObject(path: string, value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('type', path, 'an object', value);
  return value as Record<string, unknown>;
}

/** Throws if `value` has keys outside `known`, naming the first unknown one (catches typos). */
export function knownKeys(path: string, value: Record<string, unknown>, known: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      throw new TypeError(`${path}.${key} is not a known option (known: ${known.join(', ')})`);
    }
  }
}
