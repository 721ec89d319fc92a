import { describe, expect, it } from 'vitest';
import { STDERR_LINE_CHARS, STDERR_TAIL_LINES, StderrLines } from '../../src/loader/stderr-log.js';

describe('StderrLines', () => {
  it('splits on newlines across chunks, drops \\r, and flushes a last partial line at the end', () => {
    const seen: string[] = [];
    const log = new StderrLines((line) => seen.push(line));
    log.push(Buffer.from('one\r\ntw'));
    log.push(Buffer.from('o\n\nthr'));
    expect(seen).toEqual(['one', 'two', '']);
    log.end();
    expect(seen).toEqual(['one', 'two', '', 'thr']);
    expect(log.tail()).toEqual(['one', 'two', '', 'thr']);
  });

  it('keeps UTF-8 characters split between chunks whole', () => {
    const seen: string[] = [];
    const log = new StderrLines((line) => seen.push(line));
    const bytes = Buffer.from('héllo ✓\n');
    for (const byte of bytes) log.push(Uint8Array.of(byte));
    expect(seen).toEqual(['héllo ✓']);
  });

  it('bounds memory: the tail keeps the last lines, a long line is cut and marked', () => {
    const log = new StderrLines();
    for (let i = 0; i < STDERR_TAIL_LINES + 5; i++) log.push(Buffer.from(`${i}\n`));
    expect(log.tail()).toHaveLength(STDERR_TAIL_LINES);
    expect(log.tail()[0]).toBe('5');
    // A line without a newline, fed in pieces, never grows past the cap.
    for (let i = 0; i < 100; i++) log.push(Buffer.from('y'.repeat(100)));
    log.push(Buffer.from('\n'));
    expect(log.tail().at(-1)).toBe(`${'y'.repeat(STDERR_LINE_CHARS)}…`);
  });
});
