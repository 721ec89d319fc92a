import { spawn } from 'node:child_process';
import { chmod, mkdir, readdir, realpath, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadImage } from '../../src/loader/extract.js';
import { ownerPidOf, privateDirName } from '../../src/loader/private-dir.js';
import { isNoexec, parseMountinfo, runtimeBases, runtimeRoot } from '../../src/loader/runtime-dir.js';
import { sweepStale } from '../../src/loader/sweep.js';
import { useCleanSlate } from '../fixtures/harness.js';
import { inlineImage, STAY_ALIVE_JS } from '../fixtures/inline.js';

const MOUNTINFO = [
  '22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw',
  '25 22 0:23 / /dev/shm rw,nosuid,nodev,noexec shared:2 - tmpfs tmpfs rw',
  '26 22 0:24 / /run/user/1000 rw,nosuid,nodev,relatime shared:3 - tmpfs tmpfs rw,mode=700',
  '27 22 0:25 / /mnt/with\\040space rw,noexec - tmpfs tmpfs rw',
  '28 26 0:26 / /run/user/1000/locked rw,noexec - tmpfs tmpfs rw',
].join('\n');

describe('choosing the extraction root', () => {
  const slate = useCleanSlate();

  it('prefers XDG_RUNTIME_DIR, then /dev/shm, then the temp dir; ignores a relative XDG_RUNTIME_DIR', () => {
    expect(runtimeBases({ XDG_RUNTIME_DIR: '/run/user/1000' })).toEqual(['/run/user/1000', '/dev/shm', tmpdir()]);
    expect(runtimeBases({ XDG_RUNTIME_DIR: 'relative' })).toEqual(['/dev/shm', tmpdir()]);
    expect(runtimeBases({})).toEqual(['/dev/shm', tmpdir()]);
  });

  it('parses mountinfo, unescaping mount points, and finds noexec by the deepest mount', () => {
    const mounts = parseMountinfo(MOUNTINFO);
    expect(mounts[3]).toEqual({ mountPoint: '/mnt/with space', options: ['rw', 'noexec'] });
    expect(isNoexec('/dev/shm/umdkit', mounts)).toBe(true);
    expect(isNoexec('/dev/shmem', mounts)).toBe(false); // a prefix of the name is not a parent
    expect(isNoexec('/run/user/1000/umdkit', mounts)).toBe(false);
    expect(isNoexec('/run/user/1000/locked/umdkit', mounts)).toBe(true);
    expect(isNoexec('/mnt/with space/x', mounts)).toBe(true);
    expect(isNoexec('/tmp/umdkit', mounts)).toBe(false);
  });

  it('skips a noexec base for exec images but not for node images', async () => {
    // Two bases inside the test's root; the fake mountinfo marks the first one noexec.
    const noexec = join(slate.root, 'noexec');
    const plain = join(slate.root, 'plain');
    await mkdir(noexec);
    await mkdir(plain);
    const mountinfo = `22 1 8:1 / / rw - ext4 /dev/sda1 rw\n30 22 0:40 / ${await realpath(noexec)} rw,noexec - tmpfs tmpfs rw`;
    const bases = [noexec, plain];
    expect(await runtimeRoot({ kind: 'node', bases, mountinfo })).toBe(join(noexec, 'umdkit'));
    expect(await runtimeRoot({ kind: 'exec', bases, mountinfo })).toBe(join(plain, 'umdkit'));
    await expect(runtimeRoot({ kind: 'exec', bases: [noexec], mountinfo })).rejects.toMatchObject({
      code: 'SPAWN',
      message: expect.stringContaining(`no directory fits to extract a exec image (${join(noexec, 'umdkit')}: on a noexec mount)`),
    });
    await expect(runtimeRoot({ kind: 'exec', root: join(noexec, 'explicit'), mountinfo })).rejects.toMatchObject({
      code: 'SPAWN',
      message: expect.stringContaining('on a noexec mount'),
    });
    await rm(noexec, { recursive: true });
    await rm(plain, { recursive: true });
  });

  it('skips a base that does not exist instead of creating it', async () => {
    const missing = join(slate.root, 'missing');
    const present = join(slate.root, 'present');
    await mkdir(present);
    expect(await runtimeRoot({ bases: [missing, present] })).toBe(join(present, 'umdkit'));
    expect(await readdir(slate.root)).toEqual(['present']);
    await rm(present, { recursive: true });
  });

  it('creates the root with mode 0700, tightens a looser one, and refuses a root that is not a directory', async () => {
    const root = await runtimeRoot({ root: join(slate.root, 'nested', 'root') });
    expect((await stat(root)).mode & 0o777).toBe(0o700);
    await chmod(root, 0o755);
    await runtimeRoot({ root });
    expect((await stat(root)).mode & 0o777).toBe(0o700);
    await writeFile(join(slate.root, 'file'), '');
    await expect(runtimeRoot({ root: join(slate.root, 'file') })).rejects.toMatchObject({ code: 'SPAWN', message: expect.stringContaining('not a directory') });
    await rm(join(slate.root, 'nested'), { recursive: true });
    await rm(join(slate.root, 'file'));
  });

  it('refuses a root that is a symlink (someone else could point it anywhere)', async () => {
    const target = join(slate.root, 'target');
    await mkdir(target);
    await symlink(target, join(slate.root, 'umdkit'));
    await expect(runtimeRoot({ bases: [slate.root] })).rejects.toMatchObject({ code: 'SPAWN', message: expect.stringContaining('not a directory') });
    await rm(join(slate.root, 'umdkit'));
    await rm(target, { recursive: true });
  });

  it('names private directories after the owning pid', () => {
    const name = privateDirName();
    expect(ownerPidOf(name)).toBe(process.pid);
    expect(ownerPidOf('umdkit-0-abc')).toBeUndefined();
    expect(ownerPidOf('umdkit-12-')).toBeUndefined();
    expect(ownerPidOf('other-12-abc')).toBeUndefined();
  });
});

describe('sweeping stale directories', () => {
  const slate = useCleanSlate();

  it('removes directories of dead parents only, and returns them', async () => {
    // A pid that certainly belonged to a process that is now dead and reaped.
    const child = spawn(process.execPath, ['-e', '']);
    const deadPid = child.pid!;
    slate.trackPid(deadPid);
    await new Promise((resolve) => child.once('close', resolve));

    const dead = join(slate.root, privateDirName(deadPid));
    await mkdir(dead);
    await writeFile(join(dead, 'leftover.mjs'), 'x');
    const mine = await loadImage('mine', inlineImage(STAY_ALIVE_JS), { root: slate.root });
    const parentOfVitest = join(slate.root, privateDirName(process.ppid)); // alive: runs this test
    await mkdir(parentOfVitest);
    const unrelated = join(slate.root, 'not-ours');
    await mkdir(unrelated);

    expect(await sweepStale(slate.root)).toEqual([dead]);
    expect((await readdir(slate.root)).sort()).toEqual([mine.dir.split('/').pop(), parentOfVitest.split('/').pop(), 'not-ours'].sort());
    expect(await sweepStale(slate.root)).toEqual([]);

    await mine.unload();
    await rm(parentOfVitest, { recursive: true });
    await rm(unrelated, { recursive: true });
  });

  it('treats a missing root as empty', async () => {
    expect(await sweepStale(join(slate.root, 'missing'))).toEqual([]);
  });
});
