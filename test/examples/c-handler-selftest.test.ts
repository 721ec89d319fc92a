/**
 * The C CBOR parser (examples/c-handler) is the riskiest code in the repository: hand-written
 * bounds checks on bytes from the wire. Its selftest drives the release build and an ASan/UBSan
 * build through every scenario (malformed inputs, a 2 GiB length prefix, mutated frames); here it
 * runs as part of `npm test`, and the sanitized build must really have run.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { needs, sanitizers } from '../fixtures/requires.js';

const run = promisify(execFile);
const SELFTEST = fileURLToPath(new URL('../../examples/c-handler/selftest.mjs', import.meta.url));
const toolchain = needs('the C handler selftest under ASan/UBSan', [sanitizers()]);

describe('examples/c-handler/selftest.mjs', () => {
  it.runIf(toolchain.run)(`passes every scenario on the release and the ASan/UBSan build${toolchain.note}`, async () => {
    const { stdout } = await run(process.execPath, [SELFTEST], { encoding: 'utf8', timeout: 150_000, maxBuffer: 4 * 1024 * 1024 }).catch((err: { stdout?: string; message: string }) => {
      throw new Error(`the selftest failed: ${err.message}\n${err.stdout ?? ''}`);
    });
    const lines = stdout.split('\n');
    expect(lines.filter((line) => line.startsWith('FAIL'))).toEqual([]);
    expect(lines).toContain('all checks passed');
    expect(stdout).not.toContain('skip sanitizer build');
    // The sanitized build went through every scenario, the fuzzing one included.
    const sanitized = lines.filter((line) => line.startsWith('ok   asan+ubsan: '));
    expect(sanitized.length).toBeGreaterThanOrEqual(8);
    expect(sanitized.some((line) => /mutated frames .* no crash$/.test(line))).toBe(true);
  }, 180_000);
});
