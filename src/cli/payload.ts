import { readFile } from 'node:fs/promises';
import { fromJsonText } from '../service/json-text.js';

/**
 * A payload given on the command line (`umdkit call`, `umdkit chaos --payload`): JSON text, or
 * `@file` (`@-` for stdin) holding JSON, or with `--raw` the text or file bytes as one byte string.
 */

/**
 * Reads the payload `argument` names. Throws (TypeError) naming what is wrong: a file that cannot
 * be read, text that is not JSON, or an integer JSON cannot carry exactly.
 *
 * @example
 * ```ts
 * await readPayload('{"text":"1 + 2"}', false); // { text: '1 + 2' }
 * await readPayload('@input.bin', true);         // Uint8Array of the file's bytes
 * ```
 */
export async function readPayload(argument: string, raw: boolean): Promise<unknown> {
  let text: Buffer;
  if (argument.startsWith('@')) {
    const file = argument.slice(1);
    if (file.length === 0) throw new TypeError('@ must be followed by a file name (or - for stdin)');
    try {
      text = file === '-' ? await readStdin() : await readFile(file);
    } catch (cause) {
      throw new TypeError(`cannot read the payload from ${file}: ${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message}`, { cause });
    }
  } else {
    text = Buffer.from(argument, 'utf8');
  }
  if (raw) return new Uint8Array(text.buffer, text.byteOffset, text.byteLength);
  return parseJsonPayload(text.toString('utf8'));
}

/**
 * JSON text as a payload (`{"$base64":"..."}` is a byte string). An integer literal past 2^53 - 1
 * is refused rather than rounded: `12345678901234567890` would silently arrive as
 * `12345678901234567000`.
 *
 * @example
 * ```ts
 * parseJsonPayload('[1, 2]'); // [1, 2]
 * parseJsonPayload('12345678901234567890'); // throws TypeError: ... quote it ...
 * ```
 */
export function parseJsonPayload(text: string): unknown {
  let value: unknown;
  try {
    value = fromJsonText(text);
  } catch (err) {
    throw new TypeError(`the payload must be JSON (or pass --raw): ${(err as Error).message}`, { cause: err });
  }
  const inexact = inexactInteger(text);
  if (inexact !== undefined) {
    throw new TypeError(`the payload holds the integer ${inexact}, past the largest a JSON number keeps exactly (${Number.MAX_SAFE_INTEGER}); ` +
      `it would arrive as ${Number(inexact)}. Send it as a string ("${inexact}") and convert it in the handler`);
  }
  return value;
}

/** The first integer literal (outside strings) of JSON `text` that a double cannot hold exactly. */
function inexactInteger(text: string): string | undefined {
  const token = /"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g;
  for (const match of text.matchAll(token)) {
    const literal = match[0];
    if (literal.startsWith('"') || !/^-?\d+$/.test(literal)) continue;
    if (!Number.isSafeInteger(Number(literal))) return literal;
  }
  return undefined;
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
