import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { checkAnswer } from '../../src/manager/validate-answer.js';

const context = { driver: 'parser', method: 'parse', payload: null };

describe('checkAnswer', () => {
  it('a type guard that says true keeps the answer as it came (regression: the answer was replaced by `true`)', () => {
    const answer = { keys: 2 };
    const isSummary = (value: unknown): value is { keys: number } => typeof (value as { keys?: unknown }).keys === 'number';
    expect(checkAnswer(isSummary, answer, context)).toEqual({ ok: true, value: answer });
    expect((checkAnswer(isSummary, answer, context) as { value: unknown }).value).toBe(answer);
  });

  it('a predicate that says false refuses the answer, naming its kind but not its content', () => {
    const refused = checkAnswer(() => false, { secret: 'x'.repeat(50) }, context);
    expect(refused).toEqual({ ok: false, why: 'validate returned false for an object' });
    expect(checkAnswer(() => false, new Uint8Array(7), context)).toEqual({ ok: false, why: 'validate returned false for 7 bytes' });
    expect(checkAnswer(() => false, [1, 2], context)).toEqual({ ok: false, why: 'validate returned false for an array of 2' });
    expect(checkAnswer(() => false, null, context)).toEqual({ ok: false, why: 'validate returned false for null' });
  });

  it('a function that returns anything but a boolean gives the answer the caller sees; a throw refuses', () => {
    expect(checkAnswer((answer) => ({ wrapped: answer }), 3, context)).toEqual({ ok: true, value: { wrapped: 3 } });
    expect(checkAnswer(() => undefined, 3, context)).toEqual({ ok: true, value: undefined });
    expect(checkAnswer(() => {
      throw new Error('keys must be a number');
    }, 3, context)).toEqual({ ok: false, why: 'keys must be a number' });
  });

  it('a Standard Schema gives its output, or its issues as the reason', () => {
    const schema = z.object({ keys: z.number() }).transform((s) => s.keys * 2);
    expect(checkAnswer(schema, { keys: 2 }, context)).toEqual({ ok: true, value: 4 });
    expect(checkAnswer(schema, { keys: 'two' }, context)).toMatchObject({ ok: false, why: expect.stringMatching(/^keys: /) });
  });
});
