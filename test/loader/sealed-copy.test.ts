// The copy a handler runs from: nameless, read-only, hashed through its own descriptor.
import { fstatSync, readFileSync } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/loader/image.js';
import { sealedCopy } from '../../src/loader/sealed-copy.js';
import { useCleanSlate } from '../fixtures/harness.js';

describe('a sealed copy', () => {
  const slate = useCleanSlate();
  const bytes = new TextEncoder().encode('#!/bin/sh\necho genuine\n');

  it('holds exactly the bytes, under no name, executable (0555) for exec images', async () => {
    const dir = join(slate.root, 'umdkit-1-sealed');
    await mkdir(dir, { mode: 0o700 });
    const sealed = await sealedCopy(dir, bytes, sha256Hex(bytes), 'exec', 'sealed');
    try {
      expect(await readdir(dir)).toEqual([]); // nothing in the directory leads to it
      expect(readFileSync(`/proc/self/fd/${sealed.fd}`)).toEqual(Buffer.from(bytes));
      expect(fstatSync(sealed.fd).mode & 0o777).toBe(0o555);
      expect(fstatSync(sealed.fd).nlink).toBe(0); // and none can be given to it (O_EXCL)
    } finally {
      await sealed.close();
      await rm(dir, { recursive: true });
    }
  });

  it('refuses bytes that do not match the pin: INTEGRITY, nothing left behind', async () => {
    const dir = join(slate.root, 'umdkit-1-refused');
    await mkdir(dir, { mode: 0o700 });
    const wrong = sha256Hex(new TextEncoder().encode('other bytes'));
    await expect(sealedCopy(dir, bytes, wrong, 'node', 'refused')).rejects.toMatchObject({
      code: 'INTEGRITY',
      details: { driver: 'refused', expected: wrong, actual: sha256Hex(bytes) },
    });
    expect(await readdir(dir)).toEqual([]);
    await rm(dir, { recursive: true });
  });
});
