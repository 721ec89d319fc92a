import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { decodeValue, ProtocolError, type ProtocolLimits } from '../../src/protocol/index.js';
import { hex, plainBytes } from './helpers.js';
import { referenceDecode, referenceEncode, Refused, type Width } from './reference-cbor.js';

/**
 * The decoder (scan.ts + build.ts) against an independent one (reference-cbor.ts) on generated,
 * re-spelled and mutated frames: for any bytes both give the same value or both refuse. This is
 * what caught cbor-x's native string extractor refusing valid frames (a non-ASCII string, then a
 * string whose length used the 8-byte head) and its lax UTF-8 (every invalid sequence one U+FFFD).
 */

const SEED = 8_949;
const LIMITS: Required<Pick<ProtocolLimits, 'maxDepth' | 'maxItems'>> & ProtocolLimits = { maxFrameBytes: 1 << 20, maxDepth: 6, maxItems: 60 };

type Outcome = { value: unknown } | { refused: string };

function ours(bytes: Uint8Array): Outcome {
  try {
    return { value: plainBytes(decodeValue(bytes, LIMITS)) };
  } catch (err) {
    if (!(err instanceof ProtocolError)) throw err; // anything else is a bug, not a refusal
    return { refused: err.reason };
  }
}

function reference(bytes: Uint8Array): Outcome {
  try {
    return { value: plainBytes(referenceDecode(bytes, LIMITS)) };
  } catch (err) {
    if (!(err instanceof Refused)) throw err;
    return { refused: err.reason };
  }
}

/** Same value, or both refused (the first fault found may differ: the scanner checks sizes at heads). */
function expectAgreement(bytes: Uint8Array): void {
  const a = ours(bytes);
  const b = reference(bytes);
  const hexOf = Buffer.from(bytes).toString('hex');
  if ('value' in b) expect(a, `bytes ${hexOf}`).toEqual(b);
  else expect('refused' in a, `bytes ${hexOf}: reference refused ${b.refused}, ours gave ${JSON.stringify(a, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v))}`).toBe(true);
}

/** Text that exercises every UTF-8 length, U+FEFF first, and the surrogate pairs of astral planes. */
const text = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.string({ unit: 'binary', minLength: 60, maxLength: 90 }),
  fc.constantFrom('é', '\ufeff', '\ufeffkey', 'ü'.repeat(40), '\u{10ffff}', '\u07ff\u0800\uffff\u{10000}'),
);
const leaf = fc.oneof(
  fc.integer(),
  fc.bigInt({ min: -(2n ** 64n), max: 2n ** 64n - 1n }),
  fc.double(),
  text,
  fc.uint8Array({ maxLength: 16 }),
  fc.constantFrom(true, false, null, undefined),
);
const { value } = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(text.filter((k) => k !== '__proto__'), tie('value'), { maxKeys: 5 }),
  ),
}));
const widths: Width[] = ['shortest', 1, 2, 4, 8];
/** A value and one of its many valid spellings (head widths and indefinite lengths chosen at random). */
const spelled = fc.tuple(value, fc.array(fc.nat(), { minLength: 1, maxLength: 30 })).map(([v, picks]) => {
  let i = 0;
  const next = () => picks[i++ % picks.length]!;
  return referenceEncode(v, { width: () => widths[next() % widths.length]!, indefinite: () => next() % 4 === 0 });
});
/** A spelling with a few bytes overwritten, inserted or removed. */
const mutated = fc
  .tuple(spelled, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('set', 'insert', 'delete')), { minLength: 1, maxLength: 4 }))
  .map(([bytes, edits]) => {
    const out = [...bytes];
    for (const [at, byte, how] of edits) {
      const i = at % (out.length + 1);
      if (how === 'set' && out.length > 0) out[i % out.length] = byte;
      else if (how === 'insert') out.splice(i, 0, byte);
      else if (out.length > 1) out.splice(i % out.length, 1);
    }
    return Uint8Array.from(out);
  });

describe('the decoder agrees with an independent CBOR decoder', () => {
  test('on valid frames spelled every way (any head width, definite or indefinite)', () => {
    fc.assert(fc.property(spelled, expectAgreement), { seed: SEED, numRuns: 3000 });
  });

  test('on mutated frames', () => {
    fc.assert(fc.property(mutated, expectAgreement), { seed: SEED, numRuns: 4000 });
  });

  test('on random bytes, and on text strings of random bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 1, maxLength: 40 }), expectAgreement), { seed: SEED, numRuns: 3000 });
    // A text head over random bytes: mostly invalid UTF-8, sometimes valid.
    const textOf = fc.uint8Array({ maxLength: 100 }).map((b) => Uint8Array.from([0x78, b.length, ...b]));
    fc.assert(fc.property(textOf, expectAgreement), { seed: SEED, numRuns: 3000 });
  });

  test('every half-precision bit pattern, and single and double ones at random (NaN, ±0, subnormals, ±Infinity)', () => {
    for (let bits = 0; bits < 0x10000; bits++) expectAgreement(Uint8Array.of(0xf9, bits >> 8, bits & 0xff));
    const word = fc.integer({ min: 0, max: 0xffff_ffff });
    fc.assert(fc.property(word, (w) => expectAgreement(Uint8Array.of(0xfa, w >>> 24, (w >> 16) & 0xff, (w >> 8) & 0xff, w & 0xff))), { seed: SEED, numRuns: 2000 });
    fc.assert(
      fc.property(word, word, (high, low) => {
        const bytes = new Uint8Array(9);
        bytes[0] = 0xfb;
        new DataView(bytes.buffer).setUint32(1, high);
        new DataView(bytes.buffer).setUint32(5, low);
        expectAgreement(bytes);
      }),
      { seed: SEED, numRuns: 2000 },
    );
  });

  test('the defect this found: a non-ASCII string, then one whose length uses the 8-byte head', () => {
    for (const body of ['82 62c3a9 7b0000000000000001 61', 'a2 6161 62c3a9 6162 7b0000000000000003 616263']) {
      expectAgreement(hex(body));
      expect(ours(hex(body))).toHaveProperty('value');
    }
  });
});
