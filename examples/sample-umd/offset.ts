/**
 * The kernel sample manager's front door, exactly: a write to its file is parsed with
 * `kstrtou32(buf, 10, &offset)` after `if (count >= 8) return -EINVAL`, and an offset of 128 KiB or
 * more is refused. Reproduced here so the same inputs give the same outcomes, before any handler
 * is asked.
 */

/** The reply size, and the first offset refused. */
export const SAMPLE_REPLY_BYTES = 128 * 1024;

/** All zeros: compared with memcmp speed against each reply (128 KiB a request adds up). */
const ZEROS = new Uint8Array(SAMPLE_REPLY_BYTES);

/** Why a text was refused, with the errno the kernel would have returned. */
export class OffsetError extends Error {
  override readonly name = 'OffsetError';
  constructor(readonly errno: 'EINVAL' | 'ERANGE', message: string) {
    super(message);
  }
}

/**
 * Parses an offset as the kernel sample does: fewer than 8 characters, base 10 (`kstrtou32`: an
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
  if (text.length >= 8) throw new OffsetError('EINVAL', `offset text must be fewer than 8 characters, got ${text.length} (${JSON.stringify(text)})`);
  // kstrtou32: a single trailing newline is allowed; a leading '+' is allowed, '-' is not.
  const body = text.endsWith('\n') ? text.slice(0, -1) : text;
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
