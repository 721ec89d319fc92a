/**
 * The Manager (the kernel's sample_mgr.c): the front door `write(text)` that parses an offset,
 * asks the handler, and checks the reply before it answers; `post_start` runs a health check
 * (offset 0) after every start of the handler, as `sample_post_start_umh` does.
 */
import { createManager, defineDriver, type Image, type Manager, type ManagerEvent, type ValidateContext } from 'umdkit';
import { parseOffset, replyProblem } from './offset.js';

/**
 * The driver's name: requests are addressed to it; also the handler's file name and argv[0].
 *
 * @example
 * ```ts
 * await sample.manager.request(SAMPLE_DRIVER, 1024, { idempotent: true });
 * ```
 */
export const SAMPLE_DRIVER = 'sample';

/**
 * Options of {@link SampleManager.start}.
 *
 * @example
 * ```ts
 * const options: SampleManagerOptions = { image, onEvent: (e) => e.type === 'spawn' && console.log(e.pid) };
 * ```
 */
export interface SampleManagerOptions {
  /** The handler's image: the node image packed from handler.ts, or the C handler as an exec image. */
  image: Image;
  /** Where images are extracted (default: umdkit's runtime directory). */
  runtimeDir?: string;
  /** Sees every manager event from the very first spawn on. */
  onEvent?: (event: ManagerEvent) => void;
}

/**
 * The Manager's check of a reply, as the driver's `validate`: the request's payload is the offset,
 * and a reply that fails {@link replyProblem} is refused (`INVALID_RESPONSE`, handler restarted).
 *
 * @example
 * ```ts
 * defineDriver({ name: 'sample', image, validate: checkSampleReply });
 * ```
 */
export function checkSampleReply(answer: unknown, context: ValidateContext): unknown {
  const offset = context.payload;
  if (typeof offset !== 'number') throw new TypeError(`the request payload must be the offset, got ${typeof offset}`);
  const why = replyProblem(answer, offset);
  if (why !== undefined) throw new Error(why);
  return answer;
}

/**
 * The sample UMD's Manager. Create it with {@link SampleManager.start}; `manager` is the umdkit
 * manager underneath (snapshots, events).
 *
 * @example
 * ```ts
 * const sample = await SampleManager.start({ image });
 * await sample.write('1024\n');   // 5, like the kernel's write(2)
 * await sample.reload();          // rmmod the Loader; the next start extracts the image again
 * await sample.stop();
 * ```
 */
export class SampleManager {
  /** Health checks run so far (one per start of the handler). */
  healthChecks = 0;
  /** Health checks that failed, with why. */
  readonly healthFailures: Error[] = [];
  private readonly inFlightChecks = new Set<Promise<void>>();

  private constructor(readonly manager: Manager) {}

  /**
   * Starts the handler from `image` and runs the first health check; rejects (with nothing left
   * running) if either fails, as the kernel's load fails when `post_start` does.
   *
   * @example
   * ```ts
   * const sample = await SampleManager.start({ image: (await loadSampleDriver('node')).image });
   * ```
   */
  static async start(options: SampleManagerOptions): Promise<SampleManager> {
    let sample: SampleManager | undefined;
    let starts = 0;
    const driver = defineDriver({
      name: SAMPLE_DRIVER,
      image: options.image,
      validate: checkSampleReply,
      requestTimeoutMs: 10_000,
      // Restarts are part of the exercise: keep the wait before each short.
      backoff: { initialMs: 10, maxMs: 500 },
    });
    const manager = await createManager({
      children: [driver],
      strategy: 'one_for_one',
      // Injected crashes come a few per second; the kernel has no limit at all.
      intensity: { maxRestarts: 20, periodMs: 10_000 },
      ...(options.runtimeDir === undefined ? {} : { runtimeDir: options.runtimeDir }),
      onEvent: (event) => {
        // post_start: every start of a handler is followed by a health check. The first start
        // happens inside createManager, before `sample` exists: it is counted and checked below.
        if (event.type === 'state' && event.from === 'spawning' && event.to === 'ready') {
          if (sample === undefined) starts++;
          else sample.postStart();
        }
        options.onEvent?.(event);
      },
    });
    sample = new SampleManager(manager);
    const first: Promise<void>[] = [];
    for (let i = 0; i < starts; i++) first.push(sample.postStart());
    // Only the checks of this start: a failed one restarts the handler, whose next check is not awaited here.
    await Promise.all(first);
    const failed = sample.healthFailures[0];
    if (failed !== undefined) {
      await manager.stop({ drainMs: 0 });
      throw failed;
    }
    return sample;
  }

  /**
   * The kernel's `sample_umd_write`: parses `text` (fewer than 8 bytes, base 10, below 128 KiB),
   * sends the offset, checks the reply, and resolves with the number of bytes written. Rejects
   * with `OffsetError` before anything is sent for a bad text, with a `UmdError` otherwise
   * (`INVALID_RESPONSE` when the reply fails the check).
   *
   * @example
   * ```ts
   * await sample.write('4096\n'); // 5
   * await sample.write('0x10');   // rejects: OffsetError EINVAL
   * ```
   */
  async write(text: string): Promise<number> {
    const offset = parseOffset(text);
    // Idempotent: the same offset gives the same reply, so a request lost in a crash is sent again.
    await this.manager.request(SAMPLE_DRIVER, offset, { idempotent: true });
    return Buffer.byteLength(text, 'utf8');
  }

  /**
   * `rmmod sample_loader_kmod`: removes the extracted image and starts the handler again from a
   * fresh extraction (followed, like every start, by a health check).
   *
   * @example
   * ```ts
   * await sample.reload();
   * ```
   */
  async reload(): Promise<void> {
    await this.manager.reload(SAMPLE_DRIVER);
  }

  /**
   * Resolves once every health check started so far has finished.
   *
   * @example
   * ```ts
   * await sample.settled();
   * console.log(sample.healthChecks, sample.healthFailures.length);
   * ```
   */
  async settled(): Promise<void> {
    while (this.inFlightChecks.size > 0) await Promise.all(this.inFlightChecks);
  }

  /**
   * Waits for the health checks in flight, then stops the handler and removes its image.
   *
   * @example
   * ```ts
   * await sample.stop();
   * ```
   */
  async stop(): Promise<void> {
    await this.settled();
    await this.manager.stop();
  }

  /** `sample_post_start_umh`: offset 0 must come back with its byte set. Never rejects. */
  private postStart(): Promise<void> {
    this.healthChecks++;
    const check: Promise<void> = this.manager
      .request(SAMPLE_DRIVER, 0, { idempotent: true })
      .then(
        () => undefined,
        (err: unknown) => {
          this.healthFailures.push(err instanceof Error ? err : new Error(String(err)));
        },
      )
      .finally(() => this.inFlightChecks.delete(check));
    this.inFlightChecks.add(check);
    return check;
  }
}
