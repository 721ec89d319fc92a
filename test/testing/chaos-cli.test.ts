/**
 * `umdkit chaos` on a driver with a method map: the README's own tour handler, taken from the
 * README as written, packed as its tour packs it. Without --method every request fails, and the
 * report must say why; with --method and --payload the run passes.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chaosCommand } from '../../src/cli/chaos.js';
import { pack } from '../../src/loader/pack.js';
import { CHAOS_PAYLOADS } from '../../src/testing/chaos-payloads.js';
import type { ChaosReport } from 'umdkit/testing';

const README = fileURLToPath(new URL('../../README.md', import.meta.url));

/** The tour's tour/parser.ts, cut out of the README's heredoc. */
async function tourHandler(): Promise<string> {
  const text = await readFile(README, 'utf8');
  const match = /cat > tour\/parser\.ts <<'EOF'\n([\s\S]*?)\nEOF\n/.exec(text);
  if (match === null) throw new Error('the README no longer writes tour/parser.ts with a heredoc');
  return match[1]!;
}

async function chaos(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await chaosCommand(argv, { out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}

describe('umdkit chaos on the README tour driver (a method map)', () => {
  let work = '';
  let driver = '';

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'umdkit-chaos-tour-'));
    await writeFile(join(work, 'parser.ts'), await tourHandler());
    driver = join(work, 'parser.driver.mjs');
    const packed = await pack({ entry: join(work, 'parser.ts'), name: 'parser', out: driver });
    expect(packed.warnings).toEqual([]);
  }, 60_000);

  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  // Regression: with no --method every request failed HANDLER_ERROR and the report only said "the
  // driver did not answer a whole round of probes after healing", never why.
  it('without --method: exit 1, and the report quotes the first message of each failure code', async () => {
    const { code, out } = await chaos(['--driver', driver, '--requests', '40', '--faults', 'kill:0', '--json']);
    expect(code).toBe(1);
    const report = JSON.parse(out) as ChaosReport;
    expect(report.failedByCode).toEqual({ HANDLER_ERROR: 40 });
    expect(report.firstMessages).toEqual({ HANDLER_ERROR: expect.stringContaining('the request names no method') });
    expect(report.healed).toBe(false);
    expect(report.violations).toContainEqual(expect.stringMatching(/^the driver did not answer a whole round of probes after healing; in the last round 20 of 20 probes failed, the first with HANDLER_ERROR: .*the request names no method/));

    const text = await chaos(['--driver', driver, '--requests', '10', '--faults', 'kill:0']);
    expect(text.code).toBe(1);
    expect(text.out).toMatch(/^ {2}first HANDLER_ERROR: .*the request names no method$/m);
  }, 60_000);

  it('with --method parse and --payload json-bytes under kill faults: every invariant holds, the parses succeed', async () => {
    const { code, out, err } = await chaos(['--driver', driver, '--method', 'parse', '--payload', 'json-bytes', '--requests', '300', '--faults', 'kill:0.01', '--seed', '5', '--json']);
    const report = JSON.parse(out) as ChaosReport;
    expect(report.violations).toEqual([]);
    expect(code).toBe(0);
    expect(err).toBe('');
    expect(report).toMatchObject({ driver: 'parser', submitted: 300, settled: 300, lost: 0, doubleSettled: 0, orphans: 0, leftoverFiles: 0, healed: true });
    expect(report.ok).toBeGreaterThan(200);
    expect(report.injected.kill).toBeGreaterThan(0);
    // Only crashes cost requests (a kill mid-request): the payloads themselves all parse.
    expect(Object.keys(report.failedByCode).filter((c) => c !== 'HANDLER_CRASHED')).toEqual([]);
    expect(Object.keys(report.firstMessages).sort()).toEqual(Object.keys(report.failedByCode).sort());
  }, 90_000);

  it('with one payload for every request: JSON with a byte string, or --raw text', async () => {
    const bytes = Buffer.from('{"a": 1, "b": [2]}').toString('base64');
    for (const payload of [[`{"$base64":"${bytes}"}`], ['{"a": 1, "b": [2]}', '--raw']]) {
      const { code, out } = await chaos(['--driver', driver, '--method', 'parse', '--payload', ...payload, '--requests', '30', '--faults', 'kill:0', '--json']);
      expect(JSON.parse(out)).toMatchObject({ ok: 30, failedByCode: {}, firstMessages: {}, healed: true, violations: [] });
      expect(code).toBe(0);
    }
    // A payload the parser refuses is a HANDLER_ERROR, and the report says what the handler said.
    const { out } = await chaos(['--driver', driver, '--method', 'parse', '--payload', 'random-bytes', '--requests', '30', '--faults', 'kill:0', '--json']);
    const report = JSON.parse(out) as ChaosReport;
    expect(report.failedByCode.HANDLER_ERROR).toBeGreaterThan(0);
    expect(report.firstMessages.HANDLER_ERROR).toMatch(/^handler "parser" answered ERROR: /);
  }, 90_000);

  it('refuses a bad --payload or --method as usage (exit 2), and a driver module that does not load as bad config (78)', async () => {
    const misspelt = await chaos(['--driver', driver, '--payload', 'json-byte']);
    expect(misspelt).toMatchObject({ code: 2, out: '' });
    expect(misspelt.err).toBe(`umdkit chaos: --payload must be JSON, @file or a generator (${Object.keys(CHAOS_PAYLOADS).join(', ')}), got "json-byte" (see umdkit chaos --help)\n`);
    const big = await chaos(['--driver', driver, '--payload', '12345678901234567890']);
    expect(big.code).toBe(2);
    expect(big.err).toMatch(/^umdkit chaos: --payload: the payload holds the integer 12345678901234567890, /);
    const missingFile = await chaos(['--driver', driver, '--payload', `@${join(work, 'none.json')}`]);
    expect(missingFile.code).toBe(2);
    expect(missingFile.err).toContain(`cannot read the payload from ${join(work, 'none.json')}: ENOENT`);
    expect((await chaos(['--driver', driver, '--method', ''])).code).toBe(2);
    expect((await chaos(['--driver', driver, '--raw'])).err).toContain('--raw goes with --payload');

    const noModule = await chaos(['--driver', join(work, 'missing.driver.mjs')]);
    expect(noModule.code).toBe(78);
    expect(noModule.err).toMatch(/^umdkit chaos: bad driver module: cannot import the driver module .*missing\.driver\.mjs/);
    await writeFile(join(work, 'not-a-driver.mjs'), 'export default { hello: 1 };\n');
    const notDriver = await chaos(['--driver', join(work, 'not-a-driver.mjs')]);
    expect(notDriver.code).toBe(78);
    expect(notDriver.err).toMatch(/^umdkit chaos: bad driver module: --driver must be a module written by `umdkit pack`/);
  });
});
