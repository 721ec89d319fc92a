import { chmod, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { UmdError } from '../../src/errors.js';
import { loadImage } from '../../src/loader/extract.js';
import { sha256Hex } from '../../src/loader/image.js';
import type { LaunchPlan } from '../../src/loader/launch-plan.js';
import { spawnHandler } from '../../src/loader/spawn.js';
import { spawnOptions, useCleanSlate } from '../fixtures/harness.js';
import { inlineImage, STAY_ALIVE_JS } from '../fixtures/inline.js';

async function rejection(promise: Promise<unknown>): Promise<UmdError> {
  const error = await promise.then(() => undefined, (err: unknown) => err);
  expect(error).toBeInstanceOf(UmdError);
  return error as UmdError;
}

describe('integrity: the sha256 pin', () => {
  const slate = useCleanSlate();

  it('refuses an image whose bytes do not match the pin, before writing anything', async () => {
    const image = inlineImage(STAY_ALIVE_JS);
    const pinned = sha256Hex(new TextEncoder().encode('something else'));
    const error = await rejection(loadImage('pinned', { ...image, sha256: pinned }, { root: slate.root }));
    expect(error.code).toBe('INTEGRITY');
    expect(error.details).toMatchObject({ driver: 'pinned', expected: pinned, actual: image.sha256 });
    expect(error.message).toContain(`expected ${pinned}, got ${image.sha256}`);
    expect(await readdir(slate.root)).toEqual([]);
  });

  it('refuses to spawn an image changed on disk after extraction: INTEGRITY, nothing started', async () => {
    const image = inlineImage(`/* a handler */ ${STAY_ALIVE_JS}`);
    const loaded = await loadImage('tampered', image, { root: slate.root });
    await loaded.verify(); // intact so far

    // Flip one byte. The file is read-only (0500), as an attacker with our uid could undo.
    const bytes = await readFile(loaded.file);
    bytes[3]! ^= 0x01;
    await chmod(loaded.file, 0o700);
    await writeFile(loaded.file, bytes);
    await chmod(loaded.file, 0o500);
    const actual = sha256Hex(bytes);

    const verified = await rejection(loaded.verify());
    expect(verified.code).toBe('INTEGRITY');
    expect(verified.details).toMatchObject({ driver: 'tampered', expected: image.sha256, actual });

    let launched = 0;
    const refused = await rejection(spawnHandler(loaded, spawnOptions('tampered', { launch: (plan: LaunchPlan) => (launched++, plan) })));
    expect(refused.code).toBe('INTEGRITY');
    expect(refused.message).toContain(`expected sha256 ${image.sha256}, got ${actual}`);
    expect(launched).toBe(0);
    await loaded.unload();
  });

  it('refuses an image file that disappeared', async () => {
    const loaded = await loadImage('vanished', inlineImage(STAY_ALIVE_JS), { root: slate.root });
    await rm(loaded.file);
    const error = await rejection(loaded.verify());
    expect(error.code).toBe('INTEGRITY');
    expect(error.details.actual).toBe('unreadable (ENOENT)');
    await loaded.unload();
  });

  it('refuses to verify (and so to spawn) an unloaded image', async () => {
    const loaded = await loadImage('unloaded', inlineImage(STAY_ALIVE_JS), { root: slate.root });
    await loaded.unload();
    const error = await rejection(spawnHandler(loaded, spawnOptions('unloaded')));
    expect(error.code).toBe('SPAWN');
    expect(error.message).toMatch(/was unloaded/);
  });

  it('validates the name and the image at the boundary', async () => {
    const image = inlineImage(STAY_ALIVE_JS);
    await expect(loadImage('../escape', image, { root: slate.root })).rejects.toThrow('name must be a name of 1-64 letters');
    await expect(loadImage('ok', { ...image, kind: 'wasm' as 'node' }, { root: slate.root })).rejects.toThrow('image.kind must be one of "node", "exec", got "wasm"');
    await expect(loadImage('ok', { ...image, bytes: new Uint8Array(0) }, { root: slate.root })).rejects.toThrow('image.bytes must not be empty');
    await expect(loadImage('ok', { ...image, sha256: 'ABC' }, { root: slate.root })).rejects.toThrow('image.sha256 must be a lower-case hex sha256');
    expect(await readdir(slate.root)).toEqual([]);
  });
});
