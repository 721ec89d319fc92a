/**
 * The untrusted-archive example against real processes: good archives listed correctly; a zip bomb
 * (honest and lying), truncated, corrupt and garbage inputs each refused with a typed error by the
 * sandboxed handler while the parent's memory stays flat; the next archive is always served.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { strToU8, unzipSync, Zip, ZipDeflate, zipSync } from 'fflate';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Image, UmdError } from 'umdkit';
import { startArchiveInspector, type ArchiveInspector } from '../../examples/untrusted-archive/inspect.js';
import { pack } from '../../src/loader/pack.js';
import { useCleanSlate } from '../fixtures/harness.js';
import { concat } from '../protocol/helpers.js';

const EXAMPLE = fileURLToPath(new URL('../../examples/untrusted-archive/', import.meta.url));
const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));
const MiB = 1 << 20;

/** A deflated entry of `mib` MiB of zeros, streamed through fflate 1 MiB at a time: ~1 KiB per MiB. */
function zerosBomb(mib: number): Uint8Array {
  const parts: Uint8Array[] = [];
  const zip = new Zip((err, data) => {
    if (err) throw err;
    parts.push(data);
  });
  const entry = new ZipDeflate('zeros.bin', { level: 6 });
  zip.add(entry);
  const zeros = new Uint8Array(MiB);
  for (let i = 0; i < mib; i++) entry.push(zeros, i === mib - 1);
  zip.end();
  return concat(parts);
}

/** The same archive with its central directory's first entry claiming `size` inflated bytes. */
function lyingAbout(archive: Uint8Array, size: number): Uint8Array {
  const copy = archive.slice();
  const view = new DataView(copy.buffer);
  let eocd = copy.length - 22;
  while (view.getUint32(eocd, true) !== 0x06054b50) eocd--;
  const central = view.getUint32(eocd + 16, true);
  expect(view.getUint32(central, true)).toBe(0x02014b50);
  view.setUint32(central + 24, size, true); // uncompressed size
  return copy;
}

/** What fflate itself says the (trusted, test-made) archive holds: the expected listing. */
function listing(archive: Uint8Array) {
  const files: Array<{ name: string; size: number; originalSize: number; compression: number }> = [];
  unzipSync(archive, { filter: (f) => (files.push(f), false) });
  return files;
}

async function refusal(promise: Promise<unknown>): Promise<UmdError> {
  const outcome = await promise.then((value) => ({ value }), (error: unknown) => ({ error }));
  if ('value' in outcome) throw new Error(`expected a refusal, got ${JSON.stringify(outcome.value).slice(0, 200)}`);
  return outcome.error as UmdError;
}

describe('examples/untrusted-archive: inspecting user-supplied ZIP archives in a sandboxed handler', () => {
  const slate = useCleanSlate();
  let image: Image;
  let bomb: Uint8Array;

  beforeAll(async () => {
    image = (await pack({ entry: join(EXAMPLE, 'handler.ts'), name: 'archive' })).image;
    bomb = zerosBomb(256);
  });

  async function start(imageToRun: Image = image): Promise<ArchiveInspector> {
    return startArchiveInspector({
      image: imageToRun,
      runtimeDir: slate.root,
      onEvent: (event) => {
        if (event.type === 'spawn') slate.trackPid(event.pid);
      },
    });
  }

  const pidOf = (inspector: ArchiveInspector) => inspector.manager.snapshot().children?.[0]?.children?.[0]?.pid;

  it('lists a good archive: names, inflated and compressed sizes, ratios, methods, unsafe paths', async () => {
    const text = strToU8('the quick brown fox jumps over the lazy dog\n'.repeat(200));
    const noise = new Uint8Array(randomBytes(4096));
    const archive = zipSync({
      'docs/readme.txt': text,
      'docs/': new Uint8Array(0),
      'noise.bin': [noise, { level: 0 }],
      '../escape.sh': strToU8('#!/bin/sh\n'),
    });
    const expected = listing(archive);
    const inspector = await start();
    // The handler runs confined: Node's permission model, a heap cap, resource limits.
    expect(inspector.manager.snapshot().children?.[0]?.sandbox).toEqual(expect.arrayContaining(['permissions', 'heap', 'limits']));
    const report = await inspector.inspectArchive(archive);

    expect(report.entries.map((e) => e.name)).toEqual(expected.map((f) => f.name));
    const byName = new Map(report.entries.map((e) => [e.name, e]));
    expect(byName.get('docs/readme.txt')).toMatchObject({ size: text.length, method: 'deflate', directory: false, unsafePath: false });
    expect(byName.get('docs/')).toMatchObject({ size: 0, directory: true });
    expect(byName.get('noise.bin')).toMatchObject({ size: 4096, compressedSize: 4096, ratio: 1, method: 'stored' });
    expect(byName.get('../escape.sh')).toMatchObject({ size: 10, unsafePath: true });
    for (const entry of report.entries) {
      const file = expected.find((f) => f.name === entry.name)!;
      expect(entry.compressedSize).toBe(file.size);
      if (entry.compressedSize > 0) expect(entry.ratio).toBeCloseTo(entry.size / entry.compressedSize, 2);
    }
    // Text compresses well; the report says so, measured and not taken from the header.
    expect(byName.get('docs/readme.txt')!.ratio).toBeGreaterThan(10);
    expect(report.totalSize).toBe(text.length + 4096 + 10);
    await inspector.stop();
  });

  it('refuses a zip bomb, a lying bomb, truncated, corrupt and garbage input with typed errors; the parent stays flat and the next archive is served', async () => {
    const good = zipSync({ 'a.txt': strToU8('a'.repeat(1000)) });
    const corrupt = zipSync({ 'b.txt': strToU8('hello hello hello, '.repeat(500)) });
    // Damage the deflate stream of the only entry (it starts after the 30-byte local header and name).
    for (let i = 40; i < 60; i++) corrupt[i] = 0xff;
    // [what, bytes, the handler's code, what its message must say]
    const cases: Array<[string, Uint8Array, string, RegExp]> = [
      ['a 256 MiB zip bomb (ratio ~1000)', bomb, 'EBOMB', /declares 268435456 bytes from \d+ \(ratio \d+/],
      ['a bomb whose header claims 1 MiB', lyingAbout(bomb, MiB), 'EBOMB', /inflates past its declared 1048576 bytes/],
      ['a truncated archive', bomb.subarray(0, Math.floor(bomb.length / 2)), 'EBADZIP', /not a readable ZIP archive/],
      ['a corrupt deflate stream', corrupt, 'ECORRUPT', /entry "b.txt" does not inflate/],
      ['4 KiB of garbage', new Uint8Array(randomBytes(4096)), 'EBADZIP', /not a readable ZIP archive \(4096 bytes\)/],
      ['no bytes at all', new Uint8Array(0), 'EBADZIP', /not a readable ZIP archive \(0 bytes\)/],
    ];

    const inspector = await start();
    const pid = pidOf(inspector);
    await inspector.inspectArchive(good); // warm: the parent's steady state before measuring
    const before = process.memoryUsage();
    for (const [what, bytes, code, says] of cases) {
      const error = await refusal(inspector.inspectArchive(bytes));
      expect(error.code, what).toBe('HANDLER_ERROR');
      expect(error.details.handlerCode, `${what}: ${error.message}`).toBe(code);
      expect(error.message, what).toMatch(says);
      const next = await inspector.inspectArchive(good);
      expect(next.entries, `served after ${what}`).toEqual([expect.objectContaining({ name: 'a.txt', size: 1000 })]);
    }
    const after = process.memoryUsage();
    // The parent never inflated anything: the bombs' hundreds of MiB never reached it.
    expect(after.heapUsed - before.heapUsed).toBeLessThan(64 * MiB);
    expect(after.arrayBuffers - before.arrayBuffers).toBeLessThan(64 * MiB);
    // Refusals are answers, not crashes: the same handler process served all of it.
    expect(pidOf(inspector)).toBe(pid);
    expect(inspector.manager.snapshot().restarts).toBe(0);
    await inspector.stop();
  });

  it('refuses an answer that does not fit the schema (a lying handler): INVALID_RESPONSE, handler replaced', async () => {
    const liar = (await pack({ entry: join(FIXTURES, 'lying-archive.ts'), name: 'archive' })).image;
    const inspector = await start(liar);
    const pid = pidOf(inspector);
    const error = await refusal(inspector.inspectArchive(zipSync({ 'x.txt': strToU8('x') })));
    expect(error.code).toBe('INVALID_RESPONSE');
    expect(error.message).toContain('totalSize must be the sum of the entry sizes');
    await expect.poll(() => pidOf(inspector)).not.toBe(pid);
    await expect.poll(() => pidOf(inspector)).not.toBeNull();
    await inspector.stop();
  });

  it('refuses what is not bytes, or too big for a frame, before anything is sent', async () => {
    const inspector = await start();
    await expect(inspector.inspectArchive('PK' as unknown as Uint8Array)).rejects.toThrow(/bytes must be a Uint8Array, got string/);
    await expect(inspector.inspectArchive(new Uint8Array(17 * MiB))).rejects.toThrow(/bytes must be at most \d+ bytes, got 17825792/);
    await inspector.stop();
  });
});
