import { describe, expect, it } from 'vitest';
import { affectedChildren, isShutdownExit, restartPlan, shouldRestart, stopOrder, type RestartType, type Strategy } from '../../supervisors/strategy.js';

/** expected[count][crashedIndex] = the indices restarted, written out by hand. */
const expected: Record<Strategy, number[][][]> = {
  one_for_one: [
    [[0]],
    [[0], [1]],
    [[0], [1], [2]],
    [[0], [1], [2], [3]],
  ],
  pool: [
    [[0]],
    [[0], [1]],
    [[0], [1], [2]],
    [[0], [1], [2], [3]],
  ],
  one_for_all: [
    [[0]],
    [[0, 1], [0, 1]],
    [[0, 1, 2], [0, 1, 2], [0, 1, 2]],
    [[0, 1, 2, 3], [0, 1, 2, 3], [0, 1, 2, 3], [0, 1, 2, 3]],
  ],
  rest_for_one: [
    [[0]],
    [[0, 1], [1]],
    [[0, 1, 2], [1, 2], [2]],
    [[0, 1, 2, 3], [1, 2, 3], [2, 3], [3]],
  ],
};

describe('affectedChildren', () => {
  for (const strategy of Object.keys(expected) as Strategy[]) {
    for (let count = 1; count <= 4; count++) {
      for (let crashed = 0; crashed < count; crashed++) {
        it(`${strategy}: child ${crashed} of ${count} crashed → ${JSON.stringify(expected[strategy][count - 1]![crashed])}`, () => {
          expect(affectedChildren(strategy, count, crashed)).toEqual({ restart: expected[strategy][count - 1]![crashed] });
        });
      }
    }
  }

  it('affects nobody for an index that is not a child', () => {
    for (const strategy of Object.keys(expected) as Strategy[]) {
      expect(affectedChildren(strategy, 3, 3)).toEqual({ restart: [] });
      expect(affectedChildren(strategy, 3, -1)).toEqual({ restart: [] });
      expect(affectedChildren(strategy, 3, 1.5)).toEqual({ restart: [] });
      expect(affectedChildren(strategy, 0, 0)).toEqual({ restart: [] });
    }
  });
});

describe('shouldRestart', () => {
  const table: Array<[RestartType, boolean, boolean]> = [
    ['permanent', true, true],
    ['permanent', false, true],
    ['transient', true, false],
    ['transient', false, true],
    ['temporary', true, false],
    ['temporary', false, false],
  ];
  for (const [type, normal, restart] of table) {
    it(`${type} after a${normal ? ' normal' : 'n abnormal'} exit → ${restart ? 'restarted' : 'not restarted'}`, () => {
      expect(shouldRestart(type, { normal })).toBe(restart);
    });
  }
});

describe('stopOrder', () => {
  it('is the reverse of the start order', () => {
    expect(stopOrder(0)).toEqual([]);
    expect(stopOrder(1)).toEqual([0]);
    expect(stopOrder(4)).toEqual([3, 2, 1, 0]);
  });
});

describe('isShutdownExit (OTP shutdown)', () => {
  const table: Array<[number | null, string | null, boolean]> = [
    [null, 'SIGTERM', true],
    [143, null, true],
    [0, null, false],
    [1, null, false],
    [null, 'SIGKILL', false],
    [null, 'SIGINT', false],
    [null, 'SIGSEGV', false],
  ];
  for (const [code, signal, shutdown] of table) {
    it(`code ${code}, signal ${signal} → ${shutdown ? 'shutdown' : 'not shutdown'}`, () => {
      expect(isShutdownExit({ code, signal })).toBe(shutdown);
    });
  }
});

describe('restartPlan', () => {
  const kids = (...types: RestartType[]) => types.map((restart) => ({ restart }));

  it('terminates temporary siblings and does not restart them (one_for_all, rest_for_one)', () => {
    expect(restartPlan('one_for_all', kids('temporary', 'permanent', 'transient', 'temporary'), 1)).toEqual({ restart: [1, 2], remove: [0, 3] });
    expect(restartPlan('rest_for_one', kids('temporary', 'permanent', 'transient', 'temporary'), 1)).toEqual({ restart: [1, 2], remove: [3] });
  });

  it('leaves removed children out of both lists', () => {
    const children = [{ restart: 'permanent' as const }, { restart: 'transient' as const, removed: true }, { restart: 'permanent' as const }];
    expect(restartPlan('one_for_all', children, 2)).toEqual({ restart: [0, 2], remove: [] });
  });

  it('one_for_one and pool touch the crashed child alone', () => {
    expect(restartPlan('one_for_one', kids('temporary', 'permanent'), 1)).toEqual({ restart: [1], remove: [] });
    expect(restartPlan('pool', kids('permanent', 'permanent'), 0)).toEqual({ restart: [0], remove: [] });
  });
});
