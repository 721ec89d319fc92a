/**
 * Regression: a child written by hand as `{ kind: 'driver', name, image }` (the `Driver` type has
 * `kind`, so TypeScript users write it) skipped validation; it started with state "" and no
 * instance, and every request failed `STOPPED ... its undefined handler exited`.
 */
import { describe, expect, it } from 'vitest';
import { createManager, supervisor, type Driver } from 'umdkit';
import { fixtureImage, useManagers } from './harness.js';

describe('a driver child whatever its kind', () => {
  const env = useManagers();

  it('{ kind: "driver" } written by hand gets the defaults and runs like any driver', async () => {
    const image = await fixtureImage('echo');
    const byHand = { kind: 'driver', name: 'echo', image } as unknown as Driver;
    const manager = await env.start({ children: [byHand] });
    const driver = manager.snapshot().children![0]!;
    expect(driver).toMatchObject({ kind: 'driver', name: 'echo', state: 'ready' });
    expect(driver.children).toHaveLength(1);
    expect(driver.children![0]!.state).toBe('ready');
    expect(await manager.request('echo', { n: 1 })).toEqual({ method: null, payload: { n: 1 } });
  });

  it('{ kind: "driver" } with a bad option is refused naming the child and the option', async () => {
    const image = await fixtureImage('echo');
    const bad = { kind: 'driver', name: 'echo', image, maxQueue: -1 } as unknown as Driver;
    await expect(createManager({ children: [bad] })).rejects.toThrow('options.children[0].maxQueue must be a positive integer, got -1');
    expect(() => supervisor({ children: [{ kind: 'driver', name: 'x' } as unknown as Driver] })).toThrow(/^options\.children\[0\]\.image must be /);
  });

  it('a kind that is neither "driver" nor "supervisor" is refused', async () => {
    const image = await fixtureImage('echo');
    expect(() => supervisor({ children: [{ kind: 'drivr', name: 'echo', image } as unknown as Driver] })).toThrow(
      'options.children[0].kind must be "supervisor", "driver" or absent, got "drivr"');
  });
});
