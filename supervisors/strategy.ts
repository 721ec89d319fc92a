/**
 * Which children a supervisor restarts, and whether it restarts them at all (OTP's meaning).
 * Pure functions over child indices, in start order.
 */

/**
 * How a crash of one child affects its siblings.
 *
 * @example
 * ```ts
 * const strategy: Strategy = 'rest_for_one'; // later children depend on earlier ones
 * ```
 */
export type Strategy = 'one_for_one' | 'one_for_all' | 'rest_for_one' | 'pool';

/**
 * When a child is restarted: `permanent` always, `transient` only after an abnormal exit,
 * `temporary` never.
 *
 * @example
 * ```ts
 * const restart: RestartType = 'transient'; // a job that may finish normally
 * ```
 */
export type RestartType = 'permanent' | 'transient' | 'temporary';

/**
 * Whether a child that ended is restarted. `normal` is OTP's `normal` or `shutdown`: a clean exit
 * (code 0 after bye or EOF), an exit by SIGTERM or with code 143 (see {@link isShutdownExit}), or
 * a child supervisor that gave up.
 *
 * @example
 * ```ts
 * shouldRestart('transient', { normal: true });  // false
 * shouldRestart('transient', { normal: false }); // true
 * ```
 */
export function shouldRestart(restartType: RestartType, exit: { normal: boolean }): boolean {
  switch (restartType) {
    case 'permanent':
      return true;
    case 'transient':
      return !exit.normal;
    case 'temporary':
      return false;
  }
}

/**
 * Whether a process exit is OTP's `shutdown`: the Unix "stop, please" — killed by SIGTERM, or
 * exited with 143 (128 + SIGTERM, what a shell or a runtime that caught SIGTERM reports). Someone
 * asked it to stop, so a `transient` child stays down; a `permanent` one is still restarted.
 *
 * @example
 * ```ts
 * isShutdownExit({ code: null, signal: 'SIGTERM' }); // true
 * isShutdownExit({ code: 143, signal: null });       // true
 * isShutdownExit({ code: null, signal: 'SIGKILL' }); // false
 * ```
 */
export function isShutdownExit(exit: { code: number | null; signal: string | null }): boolean {
  return exit.signal === 'SIGTERM' || (exit.signal === null && exit.code === 143);
}

/**
 * The children restarted when child `crashedIndex` of `count` crashed, in start order.
 * An index outside `0..count-1` affects nobody.
 *
 * @example
 * ```ts
 * affectedChildren('rest_for_one', 4, 1); // { restart: [1, 2, 3] }
 * affectedChildren('one_for_all', 3, 2);  // { restart: [0, 1, 2] }
 * affectedChildren('pool', 3, 2);         // { restart: [2] }
 * ```
 */
export function affectedChildren(strategy: Strategy, count: number, crashedIndex: number): { restart: number[] } {
  if (!Number.isInteger(crashedIndex) || crashedIndex < 0 || crashedIndex >= count) return { restart: [] };
  switch (strategy) {
    case 'one_for_one':
    case 'pool':
      // Pool instances are identical and independent: one crash says nothing about the others.
      return { restart: [crashedIndex] };
    case 'one_for_all':
      return { restart: range(0, count) };
    case 'rest_for_one':
      // Children started after the crashed one may depend on it; those before it cannot.
      return { restart: range(crashedIndex, count) };
  }
}

/**
 * What a supervisor does to its children when child `crashedIndex` is restarted, in start order:
 * the ones to `restart`, and the temporary siblings to `remove` (OTP terminates a temporary child
 * with the others but never starts it again). Children already removed are left out of both.
 *
 * @example
 * ```ts
 * const children = [{ restart: 'permanent' }, { restart: 'temporary' }, { restart: 'transient' }] as const;
 * restartPlan('one_for_all', children, 0); // { restart: [0, 2], remove: [1] }
 * ```
 */
export function restartPlan(
  strategy: Strategy,
  children: ReadonlyArray<{ restart: RestartType; removed?: boolean }>,
  crashedIndex: number,
): { restart: number[]; remove: number[] } {
  const restart: number[] = [];
  const remove: number[] = [];
  for (const index of affectedChildren(strategy, children.length, crashedIndex).restart) {
    const child = children[index]!;
    if (child.removed === true) continue;
    if (index !== crashedIndex && child.restart === 'temporary') remove.push(index);
    else restart.push(index);
  }
  return { restart, remove };
}

/**
 * The order to stop `count` children in: the reverse of their start order, so nothing is left
 * running without the children it depends on.
 *
 * @example
 * ```ts
 * stopOrder(3); // [2, 1, 0]
 * ```
 */
export function stopOrder(count: number): number[] {
  return range(0, count).reverse();
}

function range(from: number, to: number): number[] {
  const out: number[] = [];
  for (let i = from; i < to; i++) out.push(i);
  return out;
}
