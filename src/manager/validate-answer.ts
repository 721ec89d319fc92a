import { isStandardSchema, type ValidateContext, type Validator } from './driver.js';

/** The outcome of checking one answer: the value the caller gets, or why it was refused. */
export type Checked = { ok: true; value: unknown } | { ok: false; why: string };

/**
 * Runs the driver's validator on an answer. A Standard Schema's issues, a thrown error or a `false`
 * from a predicate become a refusal with a readable reason; never a throw (the caller turns it into
 * INVALID_RESPONSE).
 * Sync validators answer synchronously so the hot path pays no extra promise.
 */
export function checkAnswer(validator: Validator | undefined, answer: unknown, context: ValidateContext): Checked | Promise<Checked> {
  if (validator === undefined) return { ok: true, value: answer };
  try {
    if (isStandardSchema(validator)) {
      const result = validator['~standard'].validate(answer);
      return result instanceof Promise ? result.then(fromSchema, refusal) : fromSchema(result);
    }
    const returned = validator(answer, context);
    // A boolean is a verdict (a type guard): true keeps the answer as it came, false refuses it.
    if (returned === true) return { ok: true, value: answer };
    if (returned === false) return { ok: false, why: `validate returned false for ${describe(answer)}` };
    return { ok: true, value: returned };
  } catch (err) {
    return refusal(err);
  }
}

function fromSchema(result: { value?: unknown; issues?: ReadonlyArray<{ message: string; path?: ReadonlyArray<unknown> }> }): Checked {
  if (result.issues) {
    const first = result.issues.slice(0, 3).map((issue) => {
      const path = issue.path?.map((p) => (typeof p === 'object' && p !== null && 'key' in p ? String((p as { key: unknown }).key) : String(p))).join('.');
      return path ? `${path}: ${issue.message}` : issue.message;
    });
    return { ok: false, why: first.join('; ') + (result.issues.length > 3 ? ` (+${result.issues.length - 3} more)` : '') };
  }
  return { ok: true, value: result.value };
}

function refusal(err: unknown): Checked {
  return { ok: false, why: err instanceof Error ? err.message : String(err) };
}

/** A short, safe name of the refused answer for the reason text (never the answer itself: it is untrusted). */
function describe(answer: unknown): string {
  if (answer === null) return 'null';
  if (Array.isArray(answer)) return `an array of ${answer.length}`;
  if (answer instanceof Uint8Array) return `${answer.length} bytes`;
  return typeof answer === 'object' ? 'an object' : `a ${typeof answer}`;
}
