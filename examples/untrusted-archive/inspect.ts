/**
 * The Manager side: a sandboxed `archive` driver and the front door `inspectArchive(bytes)`.
 * Archives come from users; the parent never parses or inflates one. It sends the bytes down a
 * pipe, and trusts only an answer that fits the report schema.
 */
import { createManager, defineDriver, type Driver, type Image, type Manager, type ManagerEvent } from 'umdkit';
import { archiveReport, type ArchiveReport } from './report.js';

/**
 * The driver's name.
 *
 * @example
 * ```ts
 * inspector.manager.snapshot().children?.find((d) => d.name === ARCHIVE_DRIVER);
 * ```
 */
export const ARCHIVE_DRIVER = 'archive';

/**
 * Largest archive accepted at the front door: it must fit one frame with room for the envelope.
 *
 * @example
 * ```ts
 * if (upload.length > MAX_ARCHIVE_BYTES) return reply(413);
 * ```
 */
export const MAX_ARCHIVE_BYTES = 16 * 1024 * 1024 - 1024;

/**
 * The archive driver on `image` (packed from handler.ts): strict sandbox (no network, read only its
 * own directory, an unprivileged user when run as root, CPU and file limits) with a 64 MiB heap
 * cap, and the report schema as `validate`.
 *
 * @example
 * ```ts
 * import archive from './archive.driver.mjs'; // umdkit pack examples/untrusted-archive/handler.ts --name archive --out archive.driver.mjs
 * const manager = await createManager({ children: [archiveDriver(archive.image)] });
 * ```
 */
export function archiveDriver(image: Image): Driver {
  return defineDriver({
    name: ARCHIVE_DRIVER,
    image,
    sandbox: { level: 'strict', heapMb: 64 },
    validate: archiveReport,
    requestTimeoutMs: 15_000,
    maxQueue: 100,
  });
}

/**
 * Options of {@link startArchiveInspector}.
 *
 * @example
 * ```ts
 * const options: ArchiveInspectorOptions = { image: archive.image };
 * ```
 */
export interface ArchiveInspectorOptions {
  image: Image;
  /** Where images are extracted (default: umdkit's runtime directory). */
  runtimeDir?: string;
  /** Every manager event, from the first spawn on. */
  onEvent?: (event: ManagerEvent) => void;
}

/**
 * A running inspector. `manager` is the umdkit manager underneath (snapshots, events).
 *
 * @example
 * ```ts
 * const inspector = await startArchiveInspector({ image });
 * const report = await inspector.inspectArchive(upload);
 * await inspector.stop();
 * ```
 */
export interface ArchiveInspector {
  readonly manager: Manager;
  /**
   * The report of one archive. Rejects with a `UmdError`: `HANDLER_ERROR` when the handler refused
   * the archive (`details.handlerCode`: EBADZIP, EBOMB, ECORRUPT, EUNSUPPORTED), `HANDLER_CRASHED`
   * when it died on it (heap cap, CPU limit), `INVALID_RESPONSE` when its answer did not fit the
   * schema. The next archive is served either way.
   */
  inspectArchive(bytes: Uint8Array): Promise<ArchiveReport>;
  stop(): Promise<void>;
}

/**
 * Starts the sandboxed archive handler.
 *
 * @example
 * ```ts
 * const inspector = await startArchiveInspector({ image });
 * try {
 *   const { entries } = await inspector.inspectArchive(await readFile('upload.zip'));
 *   for (const e of entries) console.log(e.name, e.size, e.ratio);
 * } catch (err) {
 *   if (err instanceof UmdError && err.code === 'HANDLER_ERROR') console.log('refused:', err.details.handlerCode);
 * }
 * ```
 */
export async function startArchiveInspector(options: ArchiveInspectorOptions): Promise<ArchiveInspector> {
  const manager = await createManager({
    children: [archiveDriver(options.image)],
    // A hostile upload may kill a handler now and then; more than 10 a minute is an attack on the service.
    intensity: { maxRestarts: 10, periodMs: 60_000 },
    ...(options.runtimeDir === undefined ? {} : { runtimeDir: options.runtimeDir }),
    ...(options.onEvent === undefined ? {} : { onEvent: options.onEvent }),
  });
  return {
    manager,
    inspectArchive(bytes: Uint8Array): Promise<ArchiveReport> {
      if (!(bytes instanceof Uint8Array)) return Promise.reject(new TypeError(`bytes must be a Uint8Array, got ${bytes === null ? 'null' : typeof bytes}`));
      if (bytes.length > MAX_ARCHIVE_BYTES) return Promise.reject(new RangeError(`bytes must be at most ${MAX_ARCHIVE_BYTES} bytes, got ${bytes.length}`));
      // Idempotent: an archive that kills one handler is tried once more, then rejected for good
      // as a poison pill (it cannot become a restart storm).
      return manager.request<ArchiveReport>(ARCHIVE_DRIVER, bytes, { method: 'inspect', idempotent: true });
    },
    stop: () => manager.stop(),
  };
}
