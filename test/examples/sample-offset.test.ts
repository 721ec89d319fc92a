/**
 * Pure logic of the sample UMD: the kernel front door's parsing (`count >= 8` → EINVAL, then
 * `kstrtou32(buf, 10)`, then `offset >= 128 KiB` → EINVAL), the Manager's reply check, and the
 * demo's option parsing and crash schedule.
 */
import { describe, expect, it } from 'vitest';
import { OffsetError, parseOffset, replyProblem, SAMPLE_REPLY_BYTES } from '../../examples/sample-umd/offset.js';
import { crashIterations, percentile } from '../../examples/sample-umd/selftest.js';
import { formatSummary, parseDemoArgs } from '../../src/cli/demo.js';

/** The outcome the kernel's write(2) would give: the offset, or the errno. */
function outcome(text: string): number | string {
  try {
    return parseOffset(text);
  } catch (err) {
    expect(err).toBeInstanceOf(OffsetError);
    return (err as OffsetError).errno;
  }
}

describe('parseOffset: the kernel sample manager front door, exactly', () => {
  it.each<[string, number | string, string]>([
    ['', 'EINVAL', 'empty: kstrtou32 parses no digit'],
    ['\n', 'EINVAL', 'a newline alone: still no digit'],
    ['0', 0, 'zero'],
    ['1024', 1024, 'a multiple of 1024'],
    ['1024\n', 1024, 'one trailing newline (what echo writes) is allowed'],
    ['1024\n\n', 'EINVAL', 'a second newline is not'],
    ['\n1024', 'EINVAL', 'nor a leading one'],
    ['131071', 131071, 'the last byte of the reply'],
    ['131071\n', 131071, 'the same, with the newline: 7 bytes, still fewer than 8'],
    ['131072', 'EINVAL', 'one past the reply'],
    ['9999999', 'EINVAL', 'in range for u32, past the reply'],
    ['1234567', 'EINVAL', '7 digits parse, then fail the range check'],
    ['12345678', 'EINVAL', '8 characters: refused before parsing'],
    ['0000000', 0, '7 zeros: fewer than 8 bytes, base 10'],
    ['00000000', 'EINVAL', '8 zeros: too long'],
    ['+7', 7, 'a leading + is accepted by kstrtou32'],
    ['+', 'EINVAL', 'a + alone'],
    ['+-1', 'EINVAL', 'a sign after the +'],
    ['-0', 'EINVAL', 'a leading - is not (unsigned)'],
    ['-1', 'EINVAL', 'negative'],
    ['0x10', 'EINVAL', 'hex: base 10 only, "x" is not a digit'],
    ['010', 10, 'a leading zero is decimal, not octal, in base 10'],
    ['1e3', 'EINVAL', 'no exponents'],
    ['1.5', 'EINVAL', 'no fractions'],
    [' 1', 'EINVAL', 'no leading space'],
    ['1 ', 'EINVAL', 'no trailing space'],
    ['12a', 'EINVAL', 'trailing non-digit'],
    ['abc', 'EINVAL', 'no digit at all'],
    ['40\0xyz', 40, 'the C string ends at the first NUL: kstrtou32 sees "40"'],
    ['4096\0xyz', 'EINVAL', 'but the length counts every byte written: 8'],
    ['\u0661\u0662', 'EINVAL', 'Arabic-Indic digits are not ASCII digits'],
    ['ééé1', 'EINVAL', '4 characters but 7 bytes: non-digits'],
    ['éééé', 'EINVAL', '4 characters but 8 bytes: refused on length'],
  ])('%j → %j (%s)', (text, expected, _why) => {
    expect(outcome(text)).toBe(expected);
  });

  it('names the value at fault in its message', () => {
    expect(() => parseOffset('0x10')).toThrow('offset must be a base-10 unsigned integer, got "0x10"');
    expect(() => parseOffset('131072')).toThrow('offset must be below 131072, got 131072');
    expect(() => parseOffset('12345678')).toThrow('fewer than 8 bytes, got 8');
  });
});

describe('replyProblem: the Manager check of a reply', () => {
  const reply = (set: number[], length = SAMPLE_REPLY_BYTES) => {
    const data = new Uint8Array(length);
    for (const at of set) data[at] = 1;
    return data;
  };

  it('accepts exactly one 1, at the offset, in 128 KiB', () => {
    expect(replyProblem(reply([0]), 0)).toBeUndefined();
    expect(replyProblem(reply([131071]), 131071)).toBeUndefined();
    expect(replyProblem(Buffer.from(reply([4096])), 4096)).toBeUndefined();
  });

  it('refuses the wrong byte, an extra byte, a wrong size or a non-byte answer, naming what is wrong', () => {
    expect(replyProblem(reply([1025]), 1024)).toBe('reply byte at offset 1024 must be 1, got 0');
    expect(replyProblem(reply([1024, 1025]), 1024)).toBe('reply byte at offset 1025 must be 0, got 1');
    expect(replyProblem(reply([7, 1024]), 1024)).toBe('reply byte at offset 7 must be 0, got 1');
    const two = reply([1024]);
    two[1024] = 2;
    expect(replyProblem(two, 1024)).toBe('reply byte at offset 1024 must be 1, got 2');
    expect(replyProblem(reply([0], SAMPLE_REPLY_BYTES + 1), 0)).toBe('reply must be 131072 bytes, got 131073');
    expect(replyProblem(reply([0], 64 * 1024), 0)).toBe('reply must be 131072 bytes, got 65536');
    expect(replyProblem([1], 0)).toBe('reply must be a byte string, got object');
    expect(replyProblem(null, 0)).toBe('reply must be a byte string, got null');
  });
});

describe('the demo: options, crash schedule, percentiles, summary', () => {
  it('parses its options with the defaults of umd_mgmt.sh', () => {
    expect(parseDemoArgs([])).toEqual({ handler: 'node', iterations: 500, reloadEvery: 50, crashes: 5 });
    expect(parseDemoArgs(['--handler', 'c', '--iterations', '100', '--reload-every', '0', '--crashes', '0'])).toEqual({ handler: 'c', iterations: 100, reloadEvery: 0, crashes: 0 });
    expect(parseDemoArgs(['--help'])).toBe('help');
  });

  it.each([
    [['--handler', 'rust'], '--handler must be node or c, got "rust"'],
    [['--iterations', '0'], '--iterations must be an integer of at least 1, got "0"'],
    [['--iterations', '1.5'], '--iterations must be an integer of at least 1, got "1.5"'],
    [['--crashes=-1'], '--crashes must be an integer of at least 0, got "-1"'],
    [['--crashes', '11', '--iterations', '10'], '--crashes must be at most --iterations (10), got 11'],
    [['extra'], 'unexpected argument "extra"'],
  ])('refuses %j', (argv, message) => {
    expect(() => parseDemoArgs(argv)).toThrow(message);
  });

  it('spreads crashes evenly and never on a reload iteration', () => {
    expect([...crashIterations(500, 5, 50)]).toEqual([51, 151, 251, 351, 451]);
    // More crashes than iterations without a reload: every such iteration, and no other.
    const many = crashIterations(100, 100, 10);
    expect([...many].sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i).filter((i) => i % 10 !== 0));
    expect([...crashIterations(100, 100, 0)].length).toBe(100);
    expect(crashIterations(10, 0, 5).size).toBe(0);
  });

  it('computes nearest-rank percentiles', () => {
    const values = Array.from({ length: 100 }, (_, i) => 100 - i); // 100..1, unsorted
    expect(percentile(values, 0.5)).toBe(50);
    expect(percentile(values, 0.99)).toBe(99);
    expect(percentile(values, 1)).toBe(100);
    expect(percentile([], 0.5)).toBe(0);
  });

  it('ends the summary with PASS only when every check passed', () => {
    const base = {
      ok: true, kind: 'node' as const, iterations: 1, verified: 1, failures: 0, failureReasons: [], requests: 2, healthChecks: 1,
      healthFailures: 0, crashesInjected: 0, crashesSeen: 0, restarts: 0, reloads: 0, reloadsVerified: 0, processes: 1,
      leftoverPids: [], directories: 1, leftoverDirs: [], latencyMs: { p50: 1, p99: 2, max: 3 }, durationMs: 10,
      checks: [{ name: 'no failure', ok: true, detail: '0 of 1 writes failed' }],
    };
    expect(formatSummary(base).at(-1)).toBe('PASS: every check passed');
    const failed = formatSummary({ ...base, ok: false, checks: [{ name: 'no failure', ok: false, detail: '1 of 1 writes failed' }] });
    expect(failed).toContain('  FAIL no failure: 1 of 1 writes failed');
    expect(failed.at(-1)).toBe('FAIL: no failure');
  });
});
