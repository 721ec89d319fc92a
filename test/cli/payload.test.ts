import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { callCommand } from '../../src/cli/call.js';
import { parseJsonPayload, readPayload } from '../../src/cli/payload.js';

describe('command-line payloads', () => {
  it('reads JSON text, byte strings as {"$base64"}, @file, and --raw bytes', async () => {
    expect(await readPayload('{"a":[1,2.5,"x"]}', false)).toEqual({ a: [1, 2.5, 'x'] });
    expect(await readPayload('{"$base64":"AQID"}', false)).toEqual(Uint8Array.of(1, 2, 3));
    const dir = await mkdtemp(join(tmpdir(), 'umdkit-payload-'));
    try {
      await writeFile(join(dir, 'p.json'), '{"n": 9007199254740991}');
      expect(await readPayload(`@${join(dir, 'p.json')}`, false)).toEqual({ n: Number.MAX_SAFE_INTEGER });
      expect(await readPayload(`@${join(dir, 'p.json')}`, true)).toEqual(new Uint8Array(Buffer.from('{"n": 9007199254740991}')));
      await expect(readPayload(`@${join(dir, 'missing.json')}`, false)).rejects.toThrow(`cannot read the payload from ${join(dir, 'missing.json')}: ENOENT`);
    } finally {
      await rm(dir, { recursive: true });
    }
    await expect(readPayload('{not json', false)).rejects.toThrow(/^the payload must be JSON \(or pass --raw\): /);
  });

  // Regression: `umdkit call worker 12345678901234567890` sent 12345678901234567000, silently.
  it('refuses an integer a JSON number cannot keep exactly, saying what it would become and what to do', () => {
    expect(() => parseJsonPayload('12345678901234567890')).toThrow(
      'the payload holds the integer 12345678901234567890, past the largest a JSON number keeps exactly (9007199254740991); it would arrive as 12345678901234567000. Send it as a string ("12345678901234567890") and convert it in the handler');
    expect(() => parseJsonPayload('{"ids":[1,-9007199254740993]}')).toThrow('the integer -9007199254740993');
    // Inside a string, as a float, or at the limit it is what was meant.
    expect(parseJsonPayload('"12345678901234567890"')).toBe('12345678901234567890');
    expect(parseJsonPayload('{"k\\"12345678901234567890":1.5e300}')).toEqual({ 'k"12345678901234567890': 1.5e300 });
    expect(parseJsonPayload('[9007199254740991, -9007199254740991]')).toEqual([Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER]);
  });

  it('umdkit call refuses it as a usage error (exit 2, one line) before connecting to anything', async () => {
    let err = '';
    const code = await callCommand(['worker', '12345678901234567890', '--socket', join(tmpdir(), 'umdkit-no-such.sock')], { out: () => {}, err: (t) => (err += t) });
    expect(code).toBe(2);
    expect(err).toMatch(/^umdkit call: the payload holds the integer 12345678901234567890, .* \(see umdkit call --help\)\n$/);
  });
});
