import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { UmdError } from 'umdkit';
import { faults } from 'umdkit/testing';
import { isRunning } from '../fixtures/harness.js';
import { needs, tool } from '../fixtures/requires.js';
import { failure, fixtureDriver, pidsOf, useManagers } from './harness.js';

// Root writes through any mode: as root the directory is made immutable (chattr +i) as well as 0500.
const lock = needs('the unwritable-reload tests', [process.getuid?.() === 0 ? tool('chattr') : undefined]);

describe.runIf(lock.run)(`reload() when the old image cannot be removed${lock.note}`, () => {
  const env = useManagers();
  let heal: (() => Promise<void>) | undefined;
  // Registered after useManagers: runs before its stop and leak check, which need a writable root.
  afterEach(async () => {
    await heal?.();
    heal = undefined;
  });

  const imageDirs = async () => (await readdir(env.root)).filter((name) => name.startsWith('umdkit-'));

  it('rejects with a UmdError naming the directory and the OS error; service goes on; the directory is removed once possible', async () => {
    const manager = await env.start({ children: [await fixtureDriver('rogue')] });
    expect(await manager.request('rogue', 'before')).toBe('before');
    const [pid] = pidsOf(manager, 'rogue');
    const [dir] = await imageDirs();
    expect(dir).toBeDefined();

    heal = await faults.makeUnwritable(env.root);
    const error = await failure(manager.reload('rogue'));
    expect(error).toBeInstanceOf(UmdError);
    expect(error.code).toBe('SPAWN');
    expect(error.message).toContain(join(env.root, dir!));
    expect(error.message).toMatch(/EPERM|EACCES/);
    expect(error.cause).toMatchObject({ code: expect.stringMatching(/^(EPERM|EACCES)$/) });
    expect(error.details).toMatchObject({ driver: 'rogue', reason: expect.stringMatching(/^(EPERM|EACCES)$/) });

    // Nothing was restarted: the running handler still serves.
    expect(await manager.request('rogue', 'during')).toBe('during');
    expect(pidsOf(manager, 'rogue')).toEqual([pid]);

    await heal();
    heal = undefined;
    // The failed image was kept, so the final stop removes it (the clean slate checks the root is empty).
    await manager.stop();
    expect(await imageDirs()).toEqual([]);
  });

  it('a later reload, once the root is writable again, removes the old directory and serves from a fresh one', async () => {
    const manager = await env.start({ children: [await fixtureDriver('rogue')] });
    const [pid] = pidsOf(manager, 'rogue');
    const [oldDir] = await imageDirs();

    heal = await faults.makeUnwritable(env.root);
    expect(await failure(manager.reload('rogue'))).toMatchObject({ code: 'SPAWN' });
    await heal();
    heal = undefined;

    await manager.reload('rogue');
    const dirs = await imageDirs();
    expect(dirs).toHaveLength(1);
    expect(dirs).not.toContain(oldDir);
    expect(await manager.request('rogue', 'after')).toBe('after');
    expect(pidsOf(manager, 'rogue')[0]).not.toBe(pid);
    await manager.stop();
  });

  it('stop() under an unwritable root rejects naming the directory, and a later stop() removes it', async () => {
    const manager = await env.start({ children: [await fixtureDriver('rogue')] });
    const pids = pidsOf(manager, 'rogue');
    const [dir] = await imageDirs();
    const stopped: unknown[] = [];
    manager.subscribe((event) => {
      if (event.type === 'stopped') stopped.push(event);
    });

    heal = await faults.makeUnwritable(env.root);
    const error = await failure(manager.stop());
    expect(error).toMatchObject({ code: 'SPAWN', details: { driver: 'rogue', dir: join(env.root, dir!) } });
    expect(manager.stopped).toBe(true);
    expect(pids.length).toBeGreaterThan(0);
    for (const pid of pids) expect(isRunning(pid!)).toBe(false); // the processes are gone all the same
    expect(stopped).toEqual([]); // not stopped yet: an image is left on disk
    expect(await failure(manager.stop())).toMatchObject({ code: 'SPAWN' }); // still unwritable: still refused

    await heal();
    heal = undefined;
    await manager.stop();
    expect(await imageDirs()).toEqual([]);
    expect(stopped).toHaveLength(1);
    await manager.stop(); // done: nothing more happens
    expect(stopped).toHaveLength(1);
  });
});
