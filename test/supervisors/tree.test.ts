import { describe, expect, it } from 'vitest';
import type { Manager } from 'umdkit';
import { failure, fixtureDriver, pidsOf, until, useManagers } from '../manager/harness.js';

/** Drivers a, b, c on the rogue fixture, one instance each, restarting fast. */
async function threeChildren(restart: 'permanent' | 'transient' | 'temporary' = 'permanent') {
  const options = { restart, backoff: { initialMs: 10, maxMs: 20, jitter: 0 } };
  return Promise.all(['a', 'b', 'c'].map((name) => fixtureDriver('rogue', { name, ...options })));
}

function allPids(manager: Manager): Array<number | null> {
  return ['a', 'b', 'c'].map((name) => pidsOf(manager, name)[0] ?? null);
}

function allReady(manager: Manager): boolean {
  const states = manager.snapshot().children!.flatMap((d) => d.children!.map((i) => i.state));
  return states.every((s) => s === 'ready' || s === 'busy');
}

describe('restart strategies, for every child position', () => {
  const env = useManagers();
  const expected = {
    one_for_one: [[0], [1], [2]],
    one_for_all: [[0, 1, 2], [0, 1, 2], [0, 1, 2]],
    rest_for_one: [[0, 1, 2], [1, 2], [2]],
  } as const;

  for (const strategy of ['one_for_one', 'one_for_all', 'rest_for_one'] as const) {
    for (const crashed of [0, 1, 2]) {
      it(`${strategy}: child ${crashed} crashes → children ${expected[strategy][crashed]!.join(', ')} get new pids, the others keep theirs`, async () => {
        const manager = await env.start({ children: await threeChildren(), strategy, intensity: { maxRestarts: 10, periodMs: 10_000 } });
        const before = allPids(manager);
        process.kill(before[crashed]!, 'SIGKILL');
        const changed = expected[strategy][crashed] as readonly number[];
        await until(() => allReady(manager) && changed.every((i) => ![before[i], null].includes(allPids(manager)[i]!)), 'the restarts');
        const after = allPids(manager);
        for (const i of [0, 1, 2]) {
          if (changed.includes(i)) expect(after[i], `child ${i}`).not.toBe(before[i]);
          else expect(after[i], `child ${i}`).toBe(before[i]);
        }
        // Siblings restarted by the strategy are reported with the crashed child as the reason.
        const restarts = env.of('restart');
        expect(restarts.map((r) => r.child).sort()).toEqual(changed.map((i) => 'abc'[i]).sort());
        expect(restarts.filter((r) => r.reason.startsWith('sibling'))).toHaveLength(changed.length - 1);
        for (const name of ['a', 'b', 'c']) expect(await manager.request(name, name)).toBe(name);
        await manager.stop();
      });
    }
  }
});

describe('restart types after normal and abnormal exits (OTP meaning)', () => {
  const env = useManagers();
  const cases = [
    ['permanent', 0, true],
    ['permanent', 3, true],
    ['transient', 0, false],
    ['transient', 3, true],
    ['temporary', 0, false],
    ['temporary', 3, false],
  ] as const;

  for (const [restart, code, restarted] of cases) {
    it(`${restart}, exit ${code === 0 ? 'normal (0)' : `abnormal (${code})`} → ${restarted ? 'restarted' : 'not restarted'}`, async () => {
      const [driver] = await threeChildren(restart);
      const manager = await env.start({ children: [driver!], intensity: { maxRestarts: 10, periodMs: 10_000 } });
      const [pid] = pidsOf(manager, 'a');
      await failure(manager.request('a', { code }, { method: 'exitWith' }));
      if (restarted) {
        await until(() => allReadyOne(manager) && pidsOf(manager, 'a')[0] !== pid, 'the restart');
        expect(await manager.request('a', 'back')).toBe('back');
      } else {
        await until(() => manager.snapshot().children![0]!.children![0]!.state === 'stopped', 'the child to be retired');
        expect(env.of('restart')).toEqual([]);
        const refused = await failure(manager.request('a', 'anyone?'));
        expect(refused.code).toBe('STOPPED');
        expect(refused.message).toContain('not restarted');
      }
      await manager.stop();
    });
  }

  function allReadyOne(manager: Manager): boolean {
    const state = manager.snapshot().children![0]!.children![0]!.state;
    return state === 'ready' || state === 'busy';
  }
});
