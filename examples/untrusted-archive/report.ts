/**
 * The shape of an answer, as a zod schema. zod implements Standard Schema, so the schema itself is
 * the driver's `validate`: an answer that does not fit (a compromised handler lying about an
 * archive) is refused with `INVALID_RESPONSE` before the caller sees it, and the handler restarted.
 */
import { z } from 'zod';

/**
 * Entries an answer may list (the handler refuses archives with more).
 *
 * @example
 * ```ts
 * report.entries.length <= MAX_REPORTED_ENTRIES; // always true for a validated report
 * ```
 */
export const MAX_REPORTED_ENTRIES = 10_000;

/**
 * One entry of an inspected archive.
 *
 * @example
 * ```ts
 * archiveEntry.parse({ name: 'a.txt', size: 12, compressedSize: 10, ratio: 1.2, method: 'deflate', directory: false, unsafePath: false });
 * ```
 */
export const archiveEntry = z.strictObject({
  /** Path inside the archive, as stored. */
  name: z.string().max(65_535),
  /** Inflated size in bytes, as counted by inflating it (not as declared). */
  size: z.number().int().nonnegative(),
  /** Stored (compressed) size in bytes. */
  compressedSize: z.number().int().nonnegative(),
  /** size / compressedSize. */
  ratio: z.number().nonnegative().finite(),
  method: z.enum(['stored', 'deflate']),
  /** The name ends with '/'. */
  directory: z.boolean(),
  /** Absolute, or climbs out with '..': extracting it naively would write outside the target ("zip slip"). */
  unsafePath: z.boolean(),
});

/**
 * The report of one archive; totals must agree with the entries.
 *
 * @example
 * ```ts
 * const report: ArchiveReport = archiveReport.parse(answer);
 * ```
 */
export const archiveReport = z
  .strictObject({
    entries: z.array(archiveEntry).max(MAX_REPORTED_ENTRIES),
    totalSize: z.number().int().nonnegative(),
    totalCompressedSize: z.number().int().nonnegative(),
    ratio: z.number().nonnegative().finite(),
  })
  .refine((r) => r.totalSize === r.entries.reduce((n, e) => n + e.size, 0), { message: 'totalSize must be the sum of the entry sizes', path: ['totalSize'] })
  .refine((r) => r.totalCompressedSize === r.entries.reduce((n, e) => n + e.compressedSize, 0), {
    message: 'totalCompressedSize must be the sum of the entry compressed sizes',
    path: ['totalCompressedSize'],
  });

/**
 * An archive's report, as the caller receives it.
 *
 * @example
 * ```ts
 * const report: ArchiveReport = await inspector.inspectArchive(bytes);
 * ```
 */
export type ArchiveReport = z.infer<typeof archiveReport>;
/**
 * One entry of an {@link ArchiveReport}.
 *
 * @example
 * ```ts
 * const risky: ArchiveEntry[] = report.entries.filter((e) => e.unsafePath);
 * ```
 */
export type ArchiveEntry = z.infer<typeof archiveEntry>;
