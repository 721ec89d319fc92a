import { describe, expect, it } from 'vitest';
import { affectedChildren, shouldRestart, stopOrder, type RestartType, type Strategy } from '../../supervisors/strategy.js';

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
