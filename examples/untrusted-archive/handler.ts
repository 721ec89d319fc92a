// The Handler: inspects one user-supplied ZIP archive and answers with its entries, their sizes and
// compression ratios. The ZIP parsing and inflating is fflate's (bundled into the image by
// `umdkit pack`); this file adds the limits that make a hostile archive harmless:
//
//   1. list the central directory without inflating anything (fflate's `unzipSync` with a filter
//      that refuses every entry), capped at MAX_ENTRIES;
//   2. refuse by the declared sizes: compression ratio past MAX_RATIO (a zip bomb), total past
//      MAX_TOTAL_BYTES, a method other than stored/deflate;
//   3. inflate every entry in a stream, 8 KiB of input at a time, counting the output and throwing
//      it away; an entry that inflates past its declared size (a bomb that lies in its header) is
//      refused at that point, and one that ends short or disagrees with the central directory is
//      corrupt.
//
// Refusals are answers (`ok: false` with a code below), so the handler lives on. What the limits
// miss, the sandbox catches: a heap cap and CPU limit kill the process, never the parent.
import { Unzip, UnzipInflate, unzipSync, type UnzipFile, type UnzipFileInfo } from 'fflate';
import { serve } from 'umdkit/handler';

/** Entries listed before the archive is refused. */
const MAX_ENTRIES = 10_000;
/** Largest inflated/compressed ratio accepted for an entry past RATIO_FLOOR (text is ~3-10). */
const MAX_RATIO = 100;
/** Entries smaller than this are not held to MAX_RATIO: a few KiB of zeros compress 1000:1 honestly. */
const RATIO_FLOOR = 1 << 20;
/** Largest total inflated size of an archive. */
const MAX_TOTAL_BYTES = 256 << 20;
/** Input fed to the inflater at once: deflate expands at most ~1032:1, so output per step stays ~8 MiB. */
const CHUNK = 8 << 10;

const METHODS: Record<number, 'stored' | 'deflate'> = { 0: 'stored', 8: 'deflate' };

/** A refusal with one of the codes the README lists: EINVAL, EBADZIP, EUNSUPPORTED, EBOMB, ECORRUPT. */
class Refused extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

interface Entry {
  name: string;
  size: number;
  compressedSize: number;
  ratio: number;
  method: 'stored' | 'deflate';
  directory: boolean;
  unsafePath: boolean;
}

function inspect(payload: unknown) {
  if (!(payload instanceof Uint8Array)) throw new Refused('EINVAL', `the payload must be the archive's bytes, got ${payload === null ? 'null' : typeof payload}`);
  const listed = centralDirectory(payload);
  refuseByDeclaredSizes(listed);
  const inflated = inflateAll(payload, listed);
  const entries: Entry[] = listed.map((file, i) => ({
    name: file.name,
    size: inflated[i]!,
    compressedSize: file.size,
    ratio: ratio(inflated[i]!, file.size),
    method: METHODS[file.compression]!,
    directory: file.name.endsWith('/'),
    unsafePath: unsafePath(file.name),
  }));
  const totalSize = entries.reduce((n, e) => n + e.size, 0);
  const totalCompressedSize = entries.reduce((n, e) => n + e.compressedSize, 0);
  return { entries, totalSize, totalCompressedSize, ratio: ratio(totalSize, totalCompressedSize) };
}

/** Step 1: the central directory, nothing inflated. */
function centralDirectory(bytes: Uint8Array): UnzipFileInfo[] {
  const listed: UnzipFileInfo[] = [];
  try {
    unzipSync(bytes, {
      filter: (file) => {
        if (listed.length >= MAX_ENTRIES) throw new Refused('EBOMB', `the archive lists more than ${MAX_ENTRIES} entries`);
        listed.push(file);
        return false; // list only: nothing is inflated here
      },
    });
  } catch (err) {
    if (err instanceof Refused) throw err;
    throw new Refused('EBADZIP', `not a readable ZIP archive (${bytes.length} bytes): ${(err as Error).message}`);
  }
  return listed;
}

/** Step 2: what the archive admits to. */
function refuseByDeclaredSizes(listed: readonly UnzipFileInfo[]): void {
  let total = 0;
  for (const file of listed) {
    if (METHODS[file.compression] === undefined) {
      throw new Refused('EUNSUPPORTED', `entry ${JSON.stringify(file.name)} uses compression method ${file.compression} (only stored and deflate are read)`);
    }
    if (file.originalSize > RATIO_FLOOR && ratio(file.originalSize, file.size) > MAX_RATIO) {
      throw new Refused('EBOMB', `entry ${JSON.stringify(file.name)} declares ${file.originalSize} bytes from ${file.size} (ratio ${ratio(file.originalSize, file.size)}, limit ${MAX_RATIO}): a zip bomb`);
    }
    total += file.originalSize;
    if (total > MAX_TOTAL_BYTES) throw new Refused('EBOMB', `the entries declare more than ${MAX_TOTAL_BYTES} bytes in all (limit reached at ${JSON.stringify(file.name)})`);
  }
}

/** Step 3: the real sizes, found by inflating in bounded steps and discarding the output. */
function inflateAll(bytes: Uint8Array, listed: readonly UnzipFileInfo[]): number[] {
  const sizes: number[] = [];
  let problem: Refused | undefined;
  let total = 0;
  const unzip = new Unzip((file: UnzipFile) => {
    const index = sizes.length;
    const declared = listed[index];
    if (declared === undefined || declared.name !== file.name) {
      problem ??= new Refused('ECORRUPT', `local entry ${index} (${JSON.stringify(file.name)}) is not the central directory's ${declared === undefined ? '(none)' : JSON.stringify(declared.name)}`);
      return;
    }
    sizes.push(0);
    file.ondata = (err, chunk, final) => {
      if (problem !== undefined) return;
      if (err) {
        problem = new Refused('ECORRUPT', `entry ${JSON.stringify(file.name)} does not inflate: ${err.message}`);
        return;
      }
      sizes[index]! += chunk.length;
      total += chunk.length;
      if (sizes[index]! > declared.originalSize) {
        problem = new Refused('EBOMB', `entry ${JSON.stringify(file.name)} inflates past its declared ${declared.originalSize} bytes: a zip bomb that lies in its header`);
      } else if (total > MAX_TOTAL_BYTES) {
        problem = new Refused('EBOMB', `the archive inflates past ${MAX_TOTAL_BYTES} bytes in all`);
      } else if (final && sizes[index] !== declared.originalSize) {
        problem = new Refused('ECORRUPT', `entry ${JSON.stringify(file.name)} inflates to ${sizes[index]} bytes, its header says ${declared.originalSize}`);
      }
    };
    file.start();
  });
  unzip.register(UnzipInflate);
  try {
    for (let at = 0; at < bytes.length && problem === undefined; at += CHUNK) {
      unzip.push(bytes.subarray(at, at + CHUNK), at + CHUNK >= bytes.length);
    }
  } catch (err) {
    problem ??= new Refused('ECORRUPT', `the archive's entries cannot be read: ${(err as Error).message}`);
  }
  if (problem !== undefined) throw problem;
  if (sizes.length !== listed.length) {
    throw new Refused('ECORRUPT', `the central directory lists ${listed.length} entries, the archive holds ${sizes.length}`);
  }
  return sizes;
}

function ratio(size: number, compressed: number): number {
  if (compressed === 0) return size === 0 ? 1 : Number.MAX_SAFE_INTEGER;
  return Math.round((size / compressed) * 1000) / 1000;
}

/** A name that would escape the directory it is extracted to ("zip slip"), or is absolute. */
function unsafePath(name: string): boolean {
  return name.startsWith('/') || name.startsWith('\\') || /^[A-Za-z]:/.test(name) || name.split(/[\\/]/).includes('..');
}

serve({ inspect });
