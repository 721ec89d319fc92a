import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { decodeValue, encodeValue, ProtocolError } from '../../src/protocol/index.js';
import { expectReason, hex } from './helpers.js';

/** A text string of `bytes` (hex), short (checked in JavaScript) and padded past 64 bytes (checked natively). */
const spellings = (bytes: string): Array<[string, string]> => {
  const n = bytes.replace(/\s+/g, '').length / 2;
  const long = `${bytes}${'61'.repeat(70)}`;
  return [
    ['short', `${n < 24 ? (0x60 + n).toString(16) : `78${n.toString(16).padStart(2, '0')}`} ${bytes}`],
    ['long', `78${(n + 70).toString(16).padStart(2, '0')} ${long}`],
  ];
};

describe('text strings must be valid UTF-8 (RFC 8949 §5.3.1)', () => {
  // [what, bytes]: every way a sequence can be ill-formed (RFC 3629, Unicode Table 3-7).
  const invalid: Array<[string, string]> = [
    ['a lone continuation byte', '80'],
    ['0xff', 'ff'],
    ['0xfe', 'fe'],
    ['overlong "/" (c0 af)', 'c0af'],
    ['overlong (c1 bf)', 'c1bf'],
    ['overlong 3-byte (e0 80 af)', 'e080af'],
    ['overlong 4-byte (f0 80 80 af)', 'f08080af'],
    ['a surrogate, U+D800 (ed a0 80)', 'eda080'],
    ['a surrogate, U+DFFF (ed bf bf)', 'edbfbf'],
    ['past U+10FFFF (f4 90 80 80)', 'f4908080'],
    ['a lead byte f5', 'f5808080'],
    ['a 2-byte sequence cut short', 'c3'],
    ['a 3-byte sequence cut short', 'e282'],
    ['a 4-byte sequence cut short', 'f09f98'],
    ['a lead byte followed by ASCII', 'c361'],
    ['a bad third byte', 'e28261'],
    ['a bad fourth byte', 'f09f9861'],
  ];
  for (const [what, bytes] of invalid) {
    for (const [how, body] of spellings(bytes)) {
      test(`${what} (${how}) -> INVALID_UTF8, as a value and as a key`, () => {
        expectReason(() => decodeValue(hex(body)), 'INVALID_UTF8', /text string at byte 0 is not valid UTF-8/);
        expectReason(() => decodeValue(hex(`a1 ${body} 00`)), 'INVALID_UTF8', /map key at byte 1/);
      });
    }
  }

  test('every boundary of the valid ranges is accepted, exactly', () => {
    const samples = ['\u0000', '\u007f', '\u0080', '\u07ff', '\u0800', '\ud7ff', '\ue000', '\uffff', '\u{10000}', '\u{10ffff}', 'é', '日本語', '😀'];
    for (const sample of samples) {
      for (const s of [sample, sample + 'a'.repeat(80)]) {
        const body = Buffer.concat([Buffer.from(s.length < 24 && Buffer.byteLength(s) < 24 ? [0x60 + Buffer.byteLength(s)] : [0x78, Buffer.byteLength(s)]), Buffer.from(s)]);
        expect(decodeValue(body)).toBe(s);
      }
    }
  });

  test('a leading U+FEFF is text, not a byte order mark to drop: "\\ufeffa..." and "a..." stay two keys', () => {
    const bom = '\ufeff' + 'k'.repeat(70);
    const value = decodeValue(encodeValue({ [bom]: 1, ['k'.repeat(70)]: 2, '\ufeff': 3, '': 4 })) as Record<string, number>;
    expect(value).toEqual({ [bom]: 1, ['k'.repeat(70)]: 2, '\ufeff': 3, '': 4 });
  });

  test('distinct keys never collapse: any two byte strings as keys give two keys or a refusal', () => {
    const key = fc.uint8Array({ maxLength: 80 });
    fc.assert(
      fc.property(key, key, (a, b) => {
        fc.pre(Buffer.compare(a, b) !== 0);
        const head = (k: Uint8Array) => [0x78, k.length, ...k];
        const body = Uint8Array.from([0xa2, ...head(a), 0x01, ...head(b), 0x02]);
        let value: Record<string, unknown>;
        try {
          value = decodeValue(body) as Record<string, unknown>;
        } catch (err) {
          expect(err).toBeInstanceOf(ProtocolError);
          expect(['INVALID_UTF8', 'FORBIDDEN_KEY']).toContain((err as ProtocolError).reason);
          return;
        }
        expect(Object.keys(value)).toHaveLength(2);
        expect(Buffer.from(Object.keys(value).find((k) => value[k] === 1)!)).toEqual(Buffer.from(a));
      }),
      { seed: 3629, numRuns: 3000 },
    );
  });

  test('the encode side: a string holding a lone surrogate cannot be sent as UTF-8 (UNENCODABLE)', () => {
    expectReason(() => encodeValue({ key: '\ud800' }), 'UNENCODABLE', /INVALID_UTF8/);
  });
});
