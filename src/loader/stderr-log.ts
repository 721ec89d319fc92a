import { StringDecoder } from 'node:string_decoder';

/**
 * Lines kept for crash reports.
 *
 * @example
 * ```ts
 * (await handler.exited).stderrTail.length <= STDERR_TAIL_LINES; // true
 * ```
 */
export const STDERR_TAIL_LINES = 20;
/**
 * Longest line kept or delivered; the rest of a longer line is dropped (a handler cannot flood memory).
 *
 * @example
 * ```ts
 * line.length <= STDERR_LINE_CHARS + 1; // true for every line: a cut line ends with '…'
 * ```
 */
export const STDERR_LINE_CHARS = 1024;

/**
 * Splits a handler's stderr into lines, hands each to `onLine`, and keeps the last
 * {@link STDERR_TAIL_LINES} for crash reports. Memory stays bounded whatever the handler writes:
 * an over-long line is cut at {@link STDERR_LINE_CHARS} characters and marked with `…`.
 *
 * @example
 * ```ts
 * const log = new StderrLines((line) => console.error(`[parser] ${line}`));
 * child.stderr.on('data', (chunk) => log.push(chunk));
 * child.stderr.on('end', () => log.end());
 * ```
 */
export class StderrLines {
  private readonly text = new StringDecoder('utf8');
  private partial = '';
  private cut = false;
  private readonly lines: string[] = [];

  constructor(private readonly onLine: (line: string) => void = () => {}) {}

  /** Feeds a chunk of stderr. */
  push(chunk: Uint8Array): void {
    this.add(this.text.write(chunk as Buffer));
  }

  /** Flushes a last line that had no newline. */
  end(): void {
    this.add(this.text.end());
    if (this.partial.length > 0 || this.cut) this.emit();
  }

  /** A copy of the last lines, oldest first. */
  tail(): string[] {
    return [...this.lines];
  }

  private add(text: string): void {
    let start = 0;
    for (;;) {
      const newline = text.indexOf('\n', start);
      const piece = text.slice(start, newline < 0 ? text.length : newline);
      if (this.partial.length + piece.length > STDERR_LINE_CHARS) {
        this.partial += piece.slice(0, STDERR_LINE_CHARS - this.partial.length);
        this.cut = true;
      } else {
        this.partial += piece;
      }
      if (newline < 0) return;
      this.emit();
      start = newline + 1;
    }
  }

  private emit(): void {
    let line = this.partial.endsWith('\r') ? this.partial.slice(0, -1) : this.partial;
    if (this.cut) line += '…';
    this.partial = '';
    this.cut = false;
    this.lines.push(line);
    if (this.lines.length > STDERR_TAIL_LINES) this.lines.shift();
    this.onLine(line);
  }
}
