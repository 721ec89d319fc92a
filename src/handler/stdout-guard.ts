/**
 * Reserves stdout for frames. Evaluated when the runtime is imported — before the module body of
 * any handler that imports it — because a single stray `console.log` in the frame stream would
 * desynchronise the framing and the manager would have to kill the handler.
 *
 * `process.stdout.write` and `console.log/info/debug` are pointed at stderr (the log the manager
 * captures); frames go through the original stream's `write`, bound before the patch. Output that
 * bypasses both (for example `fs.writeSync(1, ...)`) is not caught: it corrupts the stream, and
 * the manager treats the handler as compromised.
 */

const stdout = process.stdout;
const stderr = process.stderr;
// Bound before the patch below, so frames keep going to the real stdout.
const writeStdout = stdout.write.bind(stdout) as (chunk: Uint8Array, callback?: (error?: Error | null) => void) => boolean;

stdout.write = stderr.write.bind(stderr) as typeof stdout.write;
const toStderr = console.error.bind(console);
console.log = toStderr;
console.info = toStderr;
console.debug = toStderr;

/**
 * Writes one encoded frame to the real stdout. Pipes are asynchronous in Node: the stream queues
 * what the pipe cannot take yet, so nothing is lost; {@link flushOutput} waits for the queue.
 *
 * @example
 * ```ts
 * writeFrame(encodeFrame({ t: 'pong', id: 7 }));
 * ```
 */
export function writeFrame(frame: Uint8Array): void {
  writeStdout(frame);
}

/**
 * Resolves when everything written so far to stdout and stderr has left the process (or the
 * stream failed), so an exit right after it loses neither frames nor log lines.
 *
 * @example
 * ```ts
 * await flushOutput();
 * process.exit(0);
 * ```
 */
export function flushOutput(): Promise<void> {
  // An empty write completes after every write queued before it.
  const drained = (write: (chunk: Uint8Array, callback: () => void) => unknown) =>
    new Promise<void>((resolve) => write(new Uint8Array(0), () => resolve()));
  return Promise.all([drained(writeStdout), drained(stderr.write.bind(stderr))]).then(() => undefined);
}

/**
 * Calls `listener` once when the real stdout fails (EPIPE: the manager closed its end).
 *
 * @example
 * ```ts
 * onOutputError(() => process.exit(0));
 * ```
 */
export function onOutputError(listener: (error: Error) => void): void {
  stdout.once('error', listener);
}
