/**
 * One colour family per kind of state, so every view (diagrams, top, the dashboard) paints the
 * same state the same way.
 */

/**
 * How a state reads at a glance.
 *
 * @example
 * ```ts
 * const tone: StateTone = stateTone(snapshot.state);
 * ```
 */
export type StateTone = 'ok' | 'starting' | 'bad' | 'off';

/**
 * The tone of an instance, driver or supervisor state (a driver with mixed states, `ready+backoff`,
 * takes the worst of them).
 *
 * @example
 * ```ts
 * stateTone('busy');          // 'ok'
 * stateTone('ready+crashed'); // 'bad'
 * ```
 */
export function stateTone(state: string): StateTone {
  const parts = state.split('+');
  if (parts.some((s) => s === 'crashed' || s === 'failed')) return 'bad';
  if (parts.some((s) => s === 'extracting' || s === 'spawning' || s === 'backoff' || s === 'restarting' || s === 'recycling' || s === 'starting')) return 'starting';
  if (parts.some((s) => s === 'stopping' || s === 'stopped')) return 'off';
  return 'ok';
}

/**
 * Fill colours of the tones (light, readable under black text).
 *
 * @example
 * ```ts
 * const fill = TONE_FILL[stateTone('backoff')]; // '#fff1c2'
 * ```
 */
export const TONE_FILL: Readonly<Record<StateTone, string>> = Object.freeze({
  ok: '#d4f7d4',
  starting: '#fff1c2',
  bad: '#ffd2d2',
  off: '#e4e4e4',
});
