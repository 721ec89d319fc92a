/**
 * The kernel sample manager's front door, exactly: a write to its file is parsed with
 * `kstrtou32(buf, 10, &offset)` after `if (count >= 8) return -EINVAL`, and an offset of 128 KiB or
 * more is refused. Reproduced here so the same inputs give the same outcomes, before any handler
 * is asked.
 */

/**
 * The reply size, and the first offset refused.
 *
 * @example
 * ```ts
 * new Uint8Array(SAMPLE_REPLY_BYTES); // what a handler answers
 * ```
 */
export const SAMPLE_REPLY_BYTES = 128 * 1024;

/** All zeros: compared with memcmp speed against each reply (128 KiB a request adds up). */
const ZEROS = new Uint8Array(SAMPLE_REPLY_BYTES);

/**
 * Why a text was refused, with the errno the kernel would have returned.
 *
 * @example
 * ```ts
 * try { parseOffset('-1'); } catch (err) { if (err instanceof OffsetError) console.log(err.errno); } // EINVAL
 * ```
 */
export class OffsetError extends Error {
  override readonly name = 'OffsetError';
  constructor(readonly errno: 'EINVAL' | 'ERANGE', message: string) {
    super(message);
  }
}

/**
 * Parses an offset as the kernel sample does: fewer than 8 bytes, base 10 (`kstrtou32`: an
 * optional leading `+`, digits only, one trailing newline allowed), value below 131072.
 *
 * @example
 * ```ts
 * parseOffset('1024');    // 1024
 * parseOffset('+7\n');    // 7
 * parseOffset('0x10');    // throws OffsetError EINVAL
 * ```
 */
export function parseOffset(text: string): number {
  // The kernel counts bytes (`datalen >= sizeof(offset_str)`), not UTF-16 code units.
  const length = Buffer.byteLength(text, 'utf8');
  if (length >= 8) throw new OffsetError('EINVAL', `offset text must be fewer than 8 bytes, got ${length} (${JSON.stringify(text)})`);
  // `offset_str[datalen] = '\0'` then kstrtou32 on a C string: it ends at the first NUL written.
  const nul = text.indexOf('\0');
  const string = nul === -1 ? text : text.slice(0, nul);
  // kstrtou32: a single trailing newline is allowed; a leading '+' is allowed, '-' is not.
  const body = string.endsWith('\n') ? string.slice(0, -1) : string;
  const digits = body.startsWith('+') ? body.slice(1) : body;
  if (!/^[0-9]+$/.test(digits)) throw new OffsetError('EINVAL', `offset must be a base-10 unsigned integer, got ${JSON.stringify(text)}`);
  const value = Number(digits);
  if (value > 0xffff_ffff) throw new OffsetError('ERANGE', `offset ${digits} does not fit in 32 bits`);
  if (value >= SAMPLE_REPLY_BYTES) throw new OffsetError('EINVAL', `offset must be below ${SAMPLE_REPLY_BYTES}, got ${value}`);
  return value;
}

/**
 * Checks a reply as the kernel sample does (the byte at the offset is 1) and, beyond it, that the
 * reply has the right size and every other byte is 0. Returns a reason, or undefined if it is good.
 *
 * @example
 * ```ts
 * const why = replyProblem(reply, 1024);
 * if (why) throw new Error(why);
 * ```
 */
export function replyProblem(reply: unknown, offset: number): string | undefined {
  if (!(reply instanceof Uint8Array)) return `reply must be a byte string, got ${reply === null ? 'null' : typeof reply}`;
  if (reply.length !== SAMPLE_REPLY_BYTES) return `reply must be ${SAMPLE_REPLY_BYTES} bytes, got ${reply.length}`;
  if (reply[offset] !== 1) return `reply byte at offset ${offset} must be 1, got ${reply[offset]}`;
  for (const [from, to] of [[0, offset], [offset + 1, reply.length]] as const) {
    const part = reply.subarray(from, to);
    if (Buffer.compare(part, ZEROS.subarray(0, part.length)) !== 0) {
      const at = from + part.findIndex((byte) => byte !== 0);
      return `reply byte at offset ${at} must be 0, got ${reply[at]}`;
    }
  }
  return undefined;
}
