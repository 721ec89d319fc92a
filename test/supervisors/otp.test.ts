/**
 * Situations of OTP's own supervisor suite, re-created with real handler processes: one per place
 * where umdkit used to diverge from OTP (each test names the divergence it guards).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { defineDriver, supervisor, type Manager, type ManagerEvent } from 'umdkit';
import { HELLO_JS, inlineImage, STAY_ALIVE_JS } from '../fixtures/inline.js';
import { failure, fixtureDriver, pidsOf, until, useManagers } from '../manager/harness.js';

const fast = { backoff: { initialMs: 10, maxMs: 20, jitter: 0 } };
const roomy = { maxRestarts: 10, periodMs: 60_000 };

/** Drivers named `names` on the rogue fixture, one instance each. */
function rogues(names: string[], restart: Record<string, 'permanent' | 'transient' | 'temporary'> = {}) {
  return Promise.all(names.map((name) => fixtureDriver('rogue', { name, restart: restart[name] ?? 'permanent', ...fast })));
}

/**
 * The lifecycle of `drivers` as a list of `exit:a` (a process ended), `spawning:a` (a start began)
 * and `ready:a` (it said hello), in the order the manager reported them.
 */
function timeline(events: ManagerEvent[], drivers: string[]): string[] {
  const out: string[] = [];
  for (const event of events) {
    if (event.type === 'exit' && drivers.includes(event.driver)) out.push(`exit:${event.driver}`);
    if (event.type === 'state' && drivers.includes(event.driver) && (event.to === 'spawning' || (event.to === 'ready' && event.from === 'spawning'))) {
      out.push(`${event.to}:${event.driver}`);
    }
  }
  return out;
}

function stateOf(manager: Manager, driver: string): string | undefined {
  return manager.snapshot().children!.find((child) => child.name === driver)?.children![0]!.state;
}

describe('divergence 1: a group restart is sequenced (terminate in reverse start order, start in order, each up before the next)', () => {
  const env = useManagers();
  const cases = [
    // strategy, the child killed, what follows its exit
    ['one_for_all', 'b', ['exit:c', 'exit:a', 'spawning:a', 'ready:a', 'spawning:b', 'ready:b', 'spawning:c', 'ready:c']],
    ['rest_for_one', 'a', ['exit:c', 'exit:b', 'spawning:a', 'ready:a', 'spawning:b', 'ready:b', 'spawning:c', 'ready:c']],
    ['rest_for_one', 'b', ['exit:c', 'spawning:b', 'ready:b', 'spawning:c', 'ready:c']],
  ] as const;

  for (const [strategy, killed, expected] of cases) {
    it(`${strategy}, ${killed} killed: ${expected.join(' ')}`, async () => {
      const manager = await env.start({ children: await rogues(['a', 'b', 'c']), strategy, intensity: roomy });
      const untouched = ['a', 'b', 'c'].filter((name) => !expected.includes(`exit:${name}` as never) && name !== killed);
      const pidsBefore = untouched.map((name) => pidsOf(manager, name)[0]);
      const since = env.events.length;
      process.kill(pidsOf(manager, killed)[0]!, 'SIGKILL');
      const all = [`exit:${killed}`, ...expected];
      await until(() => timeline(env.events.slice(since), ['a', 'b', 'c']).length >= all.length, 'the group restart', 10_000);
      expect(timeline(env.events.slice(since), ['a', 'b', 'c'])).toEqual(all);
      expect(untouched.map((name) => pidsOf(manager, name)[0])).toEqual(pidsBefore);
      for (const name of ['a', 'b', 'c']) expect(await manager.request(name, name)).toBe(name);
      await manager.stop();
    });
  }

  it('rest_for_one: while the dependency waits out its backoff, its dependants are down and stay down', async () => {
    const slowA = await fixtureDriver('rogue', { name: 'a', backoff: { initialMs: 1000, maxMs: 1000, jitter: 0 } });
    const manager = await env.start({ children: [slowA, ...(await rogues(['b', 'c']))], strategy: 'rest_for_one', intensity: roomy });
    const since = env.events.length;
    process.kill(pidsOf(manager, 'a')[0]!, 'SIGKILL');
    await until(() => stateOf(manager, 'a') === 'backoff' && stateOf(manager, 'b') === 'backoff' && stateOf(manager, 'c') === 'backoff', 'all three down');
    // Requests to a dependant wait for it: it is not serving while its dependency is down.
    const during = manager.request('b', 'after a');
    expect(pidsOf(manager, 'b')).toEqual([null]);
    expect(await during).toBe('after a');
    // b did not even begin to start before a was ready again.
    const steps = timeline(env.events.slice(since), ['a', 'b']);
    expect(steps.indexOf('spawning:b')).toBeGreaterThan(steps.indexOf('ready:a'));
    expect(steps.indexOf('ready:a')).toBeGreaterThan(-1);
    await manager.stop();
  });
});

describe('group restarts under pressure', () => {
  const env = useManagers();
  const allReady = (manager: Manager) => ['a', 'b', 'c'].every((name) => stateOf(manager, name) === 'ready');

  it('a crash while the group is being started again is a new decision that takes the group over', async () => {
    const manager = await env.start({ children: await rogues(['a', 'b', 'c']), strategy: 'one_for_all', intensity: roomy });
    let killedAgain = false;
    manager.subscribe((event) => {
      // The moment b begins to start again, a (already back) crashes.
      if (!killedAgain && event.type === 'state' && event.driver === 'b' && event.to === 'spawning') {
        killedAgain = true;
        process.kill(pidsOf(manager, 'a')[0]!, 'SIGKILL');
      }
    });
    const since = env.events.length;
    process.kill(pidsOf(manager, 'c')[0]!, 'SIGKILL');
    await until(() => env.of('restart').length === 6 && allReady(manager), 'both group restarts', 15_000);
    const steps = timeline(env.events.slice(since), ['a', 'b', 'c']);
    const lastExit = steps.map((step) => step.startsWith('exit')).lastIndexOf(true);
    expect(steps.slice(lastExit + 1)).toEqual(['spawning:a', 'ready:a', 'spawning:b', 'ready:b', 'spawning:c', 'ready:c']);
    expect(killedAgain).toBe(true);
    for (const name of ['a', 'b', 'c']) expect(await manager.request(name, name)).toBe(name);
    await manager.stop();
  });

  it('requests sent before and during a group restart all settle, answered (idempotent ones retried)', async () => {
    const manager = await env.start({ children: await rogues(['a', 'b', 'c']), strategy: 'rest_for_one', intensity: roomy });
    const send = (round: number) =>
      ['a', 'b', 'c'].flatMap((name) => Array.from({ length: 10 }, (_, i) => manager.request(name, { ms: 20 + i, value: `${name}${round}.${i}` }, { method: 'slow', idempotent: true, timeoutMs: 20_000 })));
    const before = send(0);
    process.kill(pidsOf(manager, 'a')[0]!, 'SIGKILL');
    const during = send(1);
    const answers = await Promise.allSettled([...before, ...during]);
    expect(answers.filter((answer) => answer.status === 'rejected')).toEqual([]);
    await until(() => allReady(manager), 'the group back');
    expect(env.of('restart').map((r) => r.child)).toEqual(['a', 'b', 'c']);
    await manager.stop();
  });

  it('a child supervisor in a group is terminated and started again like any child, in order', async () => {
    const inner = supervisor({ name: 'inner', children: await rogues(['a']) });
    const manager = await env.start({ children: [inner, ...(await rogues(['b', 'c']))], strategy: 'one_for_all', intensity: roomy });
    const since = env.events.length;
    process.kill(pidsOf(manager, 'b')[0]!, 'SIGKILL');
    const expected = ['exit:b', 'exit:c', 'exit:a', 'spawning:a', 'ready:a', 'spawning:b', 'ready:b', 'spawning:c', 'ready:c'];
    await until(() => timeline(env.events.slice(since), ['a', 'b', 'c']).length >= expected.length, 'the group restart', 10_000);
    expect(timeline(env.events.slice(since), ['a', 'b', 'c'])).toEqual(expected);
    expect(await manager.request('a', 'inner serves')).toBe('inner serves');
    await manager.stop();
  });

  it('a stop during the group\'s backoff ends the group restart: nothing starts after it', async () => {
    const manager = await env.start({
      children: await rogues(['a', 'b']),
      strategy: 'one_for_all',
      intensity: roomy,
      backoff: { initialMs: 300, maxMs: 300, jitter: 0 },
    });
    process.kill(pidsOf(manager, 'a')[0]!, 'SIGKILL');
    await until(() => stateOf(manager, 'a') === 'backoff' && stateOf(manager, 'b') === 'backoff', 'the group down');
    await manager.stop();
    const spawns = env.of('spawn').length;
    await new Promise((resolve) => setTimeout(resolve, 600)); // past the 300 ms the group would have waited
    expect(env.of('spawn')).toHaveLength(spawns);
    expect(['a', 'b'].map((name) => stateOf(manager, name))).toEqual(['stopped', 'stopped']);
  });
});

describe('divergence 2: temporary siblings are terminated with the group and removed, not restarted', () => {
  const env = useManagers();

  for (const strategy of ['one_for_all', 'rest_for_one'] as const) {
    it(`${strategy}: a killed → temporary b terminated and gone for good; a and c restarted`, async () => {
      const manager = await env.start({ children: await rogues(['a', 'b', 'c'], { b: 'temporary' }), strategy, intensity: roomy });
      const [b] = pidsOf(manager, 'b');
      const since = env.events.length;
      process.kill(pidsOf(manager, 'a')[0]!, 'SIGKILL');
      await until(() => timeline(env.events.slice(since), ['a', 'c']).filter((s) => s.startsWith('ready')).length === 2, 'a and c back', 10_000);
      const steps = timeline(env.events.slice(since), ['a', 'b', 'c']);
      expect(steps).toEqual(['exit:a', 'exit:c', 'exit:b', 'spawning:a', 'ready:a', 'spawning:c', 'ready:c']);
      expect(stateOf(manager, 'b')).toBe('stopped');
      expect(env.of('restart').map((r) => r.child).sort()).toEqual(['a', 'c']);
      expect(env.of('exit').find((e) => e.driver === 'b')!.pid).toBe(b);
      expect((await failure(manager.request('b', 'anyone?'))).code).toBe('STOPPED');
      // Removed: a later group restart leaves it alone.
      process.kill(pidsOf(manager, 'a')[0]!, 'SIGKILL');
      await until(() => env.of('restart').length === 4 && stateOf(manager, 'a') === 'ready' && stateOf(manager, 'c') === 'ready', 'the second restart', 10_000);
      expect(env.events.filter((e) => e.type === 'spawn' && e.driver === 'b')).toHaveLength(1);
      await manager.stop();
    });
  }
});

describe('a transient child that ended normally, as OTP keeps it', () => {
  const env = useManagers();

  it('stays down, until a group restart of its supervisor starts it again with the others', async () => {
    const manager = await env.start({ children: await rogues(['a', 'b'], { b: 'transient' }), strategy: 'one_for_all', intensity: roomy });
    await failure(manager.request('b', { code: 0 }, { method: 'exitWith' }));
    await until(() => stateOf(manager, 'b') === 'stopped', 'b to stay down');
    const since = env.events.length;
    process.kill(pidsOf(manager, 'a')[0]!, 'SIGKILL');
    await until(() => stateOf(manager, 'a') === 'ready' && stateOf(manager, 'b') === 'ready', 'both started again', 10_000);
    expect(timeline(env.events.slice(since), ['a', 'b'])).toEqual(['exit:a', 'spawning:a', 'ready:a', 'spawning:b', 'ready:b']);
    expect(await manager.request('b', 'b is back')).toBe('b is back');
    await manager.stop();
  });
});

describe("divergence 3: exit by SIGTERM or with code 143 is OTP's shutdown", () => {
  const env = useManagers();
  const cases = [
    ['transient', 'SIGTERM from outside', false],
    ['transient', 'exit code 143', false],
    ['transient', 'SIGKILL from outside', true],
    ['transient', 'exit code 1', true],
    ['permanent', 'SIGTERM from outside', true],
    ['permanent', 'exit code 143', true],
  ] as const;

  for (const [restart, how, restarted] of cases) {
    it(`${restart}, ${how} → ${restarted ? 'restarted' : 'stays down'}`, async () => {
      const manager = await env.start({ children: await rogues(['a'], { a: restart }), intensity: roomy });
      const [pid] = pidsOf(manager, 'a');
      if (how.startsWith('SIG')) process.kill(pid!, how.split(' ')[0] as NodeJS.Signals);
      else await failure(manager.request('a', { code: Number(how.split(' ').at(-1)) }, { method: 'exitWith' }));
      if (restarted) {
        await until(() => stateOf(manager, 'a') === 'ready' && pidsOf(manager, 'a')[0] !== pid, 'the restart');
        expect(await manager.request('a', 'back')).toBe('back');
      } else {
        await until(() => stateOf(manager, 'a') === 'stopped', 'the child to stay down');
        expect(env.of('restart')).toEqual([]);
        expect((await failure(manager.request('a', 'anyone?'))).code).toBe('STOPPED');
      }
      await manager.stop();
    });
  }
});

describe("divergence 4: a child supervisor that gives up ends with `shutdown`", () => {
  const env = useManagers();
  const cases = [
    ['permanent', true],
    ['transient', false],
    ['temporary', false],
  ] as const;

  for (const [restart, restarted] of cases) {
    it(`a ${restart} child supervisor that gave up is ${restarted ? 'restarted' : 'left down, its drivers refusing requests'}`, async () => {
      const leaf = supervisor({ name: 'leaf', restart, intensity: { maxRestarts: 0, periodMs: 10_000 }, children: await rogues(['a']) });
      const manager = await env.start({ name: 'root', children: [leaf, ...(await rogues(['b']))], intensity: roomy });
      const [a] = pidsOf(manager, 'a');
      const [b] = pidsOf(manager, 'b');
      process.kill(a!, 'SIGKILL');
      await until(() => env.of('escalate').length === 1, 'the leaf to give up');
      if (restarted) {
        await until(() => manager.snapshot().children![0]!.state === 'running' && ![a, null].includes(pidsOf(manager, 'a')[0]!), 'the leaf restarted');
        expect(await manager.request('a', 'back')).toBe('back');
        expect(manager.snapshot().restarts).toBe(1);
      } else {
        await until(() => pidsOf(manager, 'a')[0] === null && manager.snapshot().children![0]!.state === 'failed', 'the leaf to stay down');
        expect((await failure(manager.request('a', 'anyone?'))).code).toBe('STOPPED');
        expect(manager.snapshot().restarts).toBe(0);
      }
      expect(env.of('gave-up')).toEqual([]);
      expect(pidsOf(manager, 'b')).toEqual([b]);
      expect(await manager.request('b', 'b serves')).toBe('b serves');
      await manager.stop();
    });
  }
});

describe('a child supervisor restarted after its backoff', () => {
  const env = useManagers();

  it('is not started again once the tree was stopped during the wait', async () => {
    const leaf = supervisor({ name: 'leaf', intensity: { maxRestarts: 0, periodMs: 10_000 }, backoff: { initialMs: 300, maxMs: 300, jitter: 0 }, children: await rogues(['a']) });
    const manager = await env.start({ children: [leaf], intensity: roomy });
    process.kill(pidsOf(manager, 'a')[0]!, 'SIGKILL');
    await until(() => env.of('restart').length === 1, 'the root to order the restart of the leaf');
    expect(env.of('restart')[0]).toMatchObject({ child: 'leaf', delayMs: 300 });
    await manager.stop();
    const after = env.events.length;
    await new Promise((resolve) => setTimeout(resolve, 600)); // past the 300 ms the restart would have waited
    // Not even an attempt: no instance moved (a start would have tried to extract, and failed).
    expect(env.events.slice(after).filter((e) => e.type === 'state' || e.type === 'spawn')).toEqual([]);
    expect(manager.snapshot().children![0]).toMatchObject({ name: 'leaf', state: 'stopped' });
  });
});

describe('divergence 5: failed starts count toward the restart intensity; a failed first start fails at once', () => {
  const env = useManagers();
  const marks: string[] = [];
  afterEach(async () => {
    for (const dir of marks.splice(0)) await rm(dir, { recursive: true, force: true });
  });

  /** A handler that starts once, then refuses every later start (it leaves a mark the first time). */
  async function startsOnce(name: string) {
    const dir = await mkdtemp(join(tmpdir(), 'umdkit-mark-'));
    marks.push(dir);
    const source = `import { existsSync, writeFileSync } from 'node:fs';
${HELLO_JS}
const mark = process.env.MARK;
if (existsSync(mark)) { console.error('refusing to start twice'); process.exit(1); }
writeFileSync(mark, '');
process.stdout.write(hello());
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
${STAY_ALIVE_JS}`;
    return defineDriver({ name, image: inlineImage(source), env: { MARK: join(dir, 'started') }, shutdownMs: 200, ...fast });
  }

  const starts = (driver: string) => env.events.filter((e) => e.type === 'state' && e.driver === driver && e.to === 'spawning').length;

  it('maxRestarts 1: a child whose restart fails is started twice, then the supervisor gives up (was 5 times)', async () => {
    const manager = await env.start({ children: [await startsOnce('once')], intensity: { maxRestarts: 1, periodMs: 60_000 } });
    process.kill(pidsOf(manager, 'once')[0]!, 'SIGKILL');
    await until(() => env.of('gave-up').length === 1, 'the root to give up', 10_000);
    expect(starts('once')).toBe(2);
    expect(env.of('restart')).toHaveLength(1);
    expect(env.of('gave-up')[0]!.reason).toMatch(/^root: more than 1 restarts in 60000 ms \(last: .*refusing to start twice/);
  });

  it('with start retries asked for (startIntensity), failed starts are retried and counted apart', async () => {
    const manager = await env.start({
      children: [await startsOnce('once')],
      intensity: { maxRestarts: 1, periodMs: 60_000 },
      startIntensity: { maxRestarts: 3, periodMs: 60_000 },
    });
    process.kill(pidsOf(manager, 'once')[0]!, 'SIGKILL');
    await until(() => env.of('gave-up').length === 1, 'the root to give up', 10_000);
    expect(starts('once')).toBe(5); // the first start, the restart after the crash, then 3 retries
    expect(env.of('gave-up')[0]!.reason).toMatch(/^root: more than 3 failed starts in 60000 ms/);
  });

  it('startIntensity, the opt-in, is validated at the boundary and absent unless given', async () => {
    const [driver] = await rogues(['a']);
    expect(supervisor({ children: [driver!] }).startIntensity).toBeUndefined();
    expect(supervisor({ children: [driver!], startIntensity: { maxRestarts: 2, periodMs: 1000 } }).startIntensity).toEqual({ maxRestarts: 2, periodMs: 1000 });
    expect(() => supervisor({ children: [driver!], startIntensity: { maxRestarts: -1, periodMs: 1000 } })).toThrow('options.startIntensity.maxRestarts must be a non-negative integer, got -1');
    expect(() => supervisor({ children: [driver!], startIntensity: { maxRestarts: 1, periodMs: 0 } })).toThrow('options.startIntensity.periodMs must be a positive integer, got 0');
    expect(() => supervisor({ children: [driver!], startIntensity: { maxRestarts: 1, periodMs: 10, tries: 3 } as never })).toThrow(/options\.startIntensity.*tries/);
  });

  const broken = () => defineDriver({ name: 'broken', image: inlineImage("console.error('cannot open /etc/broken.conf: ENOENT'); process.exit(1);"), ...fast });

  it('a child failing its first start fails createManager at once, with the reason, and stops the children started before it', async () => {
    const [ok] = await rogues(['ok']);
    const error = await failure(env.start({ children: [ok!, broken()], intensity: roomy }));
    expect(error.code).toBe('GAVE_UP');
    expect(error.message).toMatch(/root: child broken#1 failed to start \(.*cannot open \/etc\/broken\.conf/);
    expect(starts('broken')).toBe(1);
    expect(env.of('restart')).toEqual([]);
    expect(env.events.filter((e) => e.type === 'exit' && e.driver === 'ok')).toHaveLength(1);
    // (the harness checks that no process and no file is left)
  });

  it('a nested supervisor whose child fails its first start fails createManager too', async () => {
    const inner = supervisor({ name: 'inner', children: [broken()] });
    const error = await failure(env.start({ children: [...(await rogues(['ok'])), inner], intensity: roomy }));
    expect(error.code).toBe('GAVE_UP');
    expect(error.message).toMatch(/root: child inner#1 failed to start \(inner: child broken#0 failed to start/);
    expect(starts('broken')).toBe(1);
  });
});

describe('divergence 7: pool instances are stopped at once, other children one by one', () => {
  const env = useManagers();

  it('a pool of 3: all three are stopping before the first exits; three instances of one_for_one: one after the other', async () => {
    const sequences: Record<string, string[]> = {};
    for (const strategy of ['pool', 'one_for_one'] as const) {
      const tree = supervisor({ name: strategy, strategy, children: [await fixtureDriver('rogue', { instances: 3 })] });
      const manager = await env.start({ tree });
      const since = env.events.length;
      await manager.stop();
      sequences[strategy] = env.events.slice(since).flatMap((e) => (e.type === 'exit' ? ['exit'] : e.type === 'state' && e.to === 'stopping' ? ['stopping'] : []));
    }
    expect(sequences.pool).toEqual(['stopping', 'stopping', 'stopping', 'exit', 'exit', 'exit']);
    expect(sequences.one_for_one).toEqual(['stopping', 'exit', 'stopping', 'exit', 'stopping', 'exit']);
  });
});
