import { spawn, type ChildProcessWithoutNullStreams, type StdioOptions } from 'node:child_process';
import { open } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { UmdError, type UmdErrorDetails } from '../errors.js';
import {
  FrameDecoder,
  FrameWriter,
  type DecodeBudget,
  parseHandlerMessage,
  parseHello,
  ProtocolError,
  type HelloMessage,
  type ManagerMessage,
  type PongMessage,
  type ProtocolLimits,
  type ResponseMessage,
} from '../protocol/index.js';
import { systemClock, type Clock } from '../util/clock.js';
import { nonNegativeInteger, positiveInteger } from '../util/options.js';
import type { LoadedImage } from './extract.js';
import { inheritableFds } from './inherited-fds.js';
import { launchPlan, type LaunchHook, type LaunchPlan } from './launch-plan.js';
import { signalGroup } from './process-group.js';
import { IMAGE_FD } from './sealed-copy.js';
import { StderrLines } from './stderr-log.js';

/**
 * The kernel's `fork_usermode_driver` and `umd_cleanup_helper`: start a handler from a loaded
 * image, wait for its `hello`, then carry frames both ways; reap it and its whole process group.
 */

/**
 * One line a handler wrote to stderr, tagged with who wrote it.
 *
 * @example
 * ```ts
 * const onLog = ({ driver, generation, pid, line }: LogLine) => console.error(`[${driver}#${generation} ${pid}] ${line}`);
 * ```
 */
export interface LogLine {
  driver: string;
  instance: string;
  generation: number;
  pid: number;
  line: string;
}

/**
 * Options of {@link spawnHandler}.
 *
 * @example
 * ```ts
 * const options: SpawnOptions = { driver: 'parser', instance: nanoid(), generation: 3, startTimeoutMs: 10_000, maxFrameBytes: 1 << 24, maxDepth: 64, env: { LOG_LEVEL: 'info' } };
 * ```
 */
export interface SpawnOptions {
  /** Driver name (argv[0] of the handler; tags log lines and errors). */
  driver: string;
  /** Instance id (nanoid); tags log lines and errors. */
  instance: string;
  /** Process generation of this start; tags log lines and errors. */
  generation: number;
  /** Time from spawn to `hello` before the start fails with `SPAWN`. */
  startTimeoutMs: number;
  /** The clock its timers run on (handshake timeout, cut-frame verdict, `terminate`'s grace); default the real one. */
  clock?: Clock;
  maxFrameBytes: number;
  maxDepth: number;
  /** Most data items in one frame (default 262144). */
  maxItems?: number;
  /** The driver's budget of frame bytes held half-read at once, shared by its instances. */
  decodeBudget?: DecodeBudget;
  /** Extra environment variables; the parent's environment is scrubbed to PATH, LANG, LC_ALL, TZ. */
  env?: Readonly<Record<string, string>>;
  /** Extra arguments after the image. */
  args?: readonly string[];
  /** Rewrites the command before it runs (the sandbox module wraps it here). */
  launch?: LaunchHook;
  /** Called for each stderr line. */
  onLog?: (line: LogLine) => void;
}

/**
 * How a handler ended.
 *
 * @example
 * ```ts
 * const { code, signal, stderrTail } = await handler.exited;
 * if (code !== 0) console.error(`crashed (${signal ?? code}):`, stderrTail.join('\n'));
 * ```
 */
export interface HandlerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Its last stderr lines, oldest first. */
  stderrTail: string[];
}

/**
 * A running handler that has said `hello`: the owner's whole view of the process.
 *
 * @example
 * ```ts
 * handler.onMessage = (message) => (message.t === 'res' ? settle(message) : heartbeat(message));
 * handler.onFault = () => handler.kill();                // a bad frame: presume it compromised
 * handler.send({ t: 'req', id: 1, m: 'parse', p: bytes });
 * const exit = await handler.terminate(5000);           // bye, grace, SIGKILL
 * ```
 */
export interface HandlerProcess {
  /**
   * True while its stdout is not read because the driver's decode budget is spent: a pong it sent
   * may be waiting in the pipe, so its silence then says nothing about its health.
   */
  readonly stalled: boolean;
  readonly pid: number;
  readonly driver: string;
  readonly instance: string;
  readonly generation: number;
  readonly hello: HelloMessage;
  /**
   * Encodes one frame (an unencodable message throws `ProtocolError` at once) and writes it with
   * every other frame sent in the same tick, in one write. A dead pipe is not an error here
   * (`exited` reports it).
   */
  send(message: ManagerMessage): void;
  /** Set by the owner; called with each validated frame after `hello` (frames that came earlier are delivered when it is set). */
  onMessage: ((message: ResponseMessage | PongMessage) => void) | undefined;
  /**
   * Set by the owner; called once for a bad frame: the decoder is dead and the handler presumed
   * compromised. stdout ending inside a frame counts only when the process is still running a
   * moment later; a frame cut short by an exit is the crash that `exited` reports.
   */
  onFault: ((error: ProtocolError) => void) | undefined;
  /**
   * Resolves once the process is reaped and its pipes are closed, or {@link EXIT_DRAIN_MS} after
   * its exit when something it started still holds them open (they are then closed on our side).
   * Never rejects.
   */
  readonly exited: Promise<HandlerExit>;
  /** False once the process has exited. */
  readonly alive: boolean;
  /** The last stderr lines so far. */
  stderrTail(): string[];
  /** Signals the whole process group (default SIGKILL); does nothing once the process has exited. */
  kill(signal?: NodeJS.Signals): void;
  /** Closes the handler's stdin: it exits 0 on EOF. */
  endInput(): void;
  /** Sends `bye`, waits up to `graceMs` for the exit, then SIGKILLs the group; resolves once reaped. */
  terminate(graceMs: number | 'brutal_kill'): Promise<HandlerExit>;
}

/**
 * How long after stdout ended inside a frame the handler must still be running for that to be a
 * protocol fault. A process that dies while writing closes stdout a moment before its exit is
 * reported (the kernel closes its files, then reports the exit); waiting this long tells a crash
 * from a handler that closed stdout mid-frame and lives on.
 */
const CUT_FRAME_VERDICT_MS = 250;

/**
 * How long after a handler's exit its pipes may stay open before they are closed on our side. A
 * process that escaped the kill (outside any PID namespace) can hold the handler's stdout open
 * forever; the exit, not the pipe's end, is what settles the handler. This long lets the last
 * stderr lines of an ordinary crash arrive first.
 */
const EXIT_DRAIN_MS = 250;

/** Attempts when exec fails with ETXTBSY: another thread's fork can briefly hold a write descriptor. */
const TEXT_BUSY_ATTEMPTS = 5;

/**
 * Verifies the image on disk (a tripwire), seals a fresh copy of the verified bytes, starts the
 * handler from that copy (fd 3; own process group, scrubbed environment, cwd its private
 * directory, argv[0] the driver name, no other descriptor of this process) and waits for a valid
 * `hello`.
 *
 * Rejects with `INTEGRITY` (nothing spawned), `SPAWN` (the OS refused, no hello within
 * `startTimeoutMs`, or an exit during the handshake: exit code, signal and stderr tail in
 * `details`), `PROTOCOL` (a bad first frame) or `ABORTED` (`signal`). Whatever was started is
 * killed and reaped before the promise rejects.
 *
 * @example
 * ```ts
 * const handler = await spawnHandler(loaded, {
 *   driver: 'parser', instance: nanoid(), generation: 1,
 *   startTimeoutMs: 10_000, maxFrameBytes: 16 << 20, maxDepth: 64,
 *   onLog: ({ driver, pid, line }) => console.error(`[${driver} ${pid}] ${line}`),
 * });
 * handler.onMessage = (message) => settle(message);
 * handler.send({ t: 'req', id: 1, p: input });
 * ```
 */
export async function spawnHandler(loaded: LoadedImage, options: SpawnOptions, signal?: AbortSignal): Promise<HandlerProcess> {
  positiveInteger('options.startTimeoutMs', options.startTimeoutMs);
  nonNegativeInteger('options.generation', options.generation);
  const details: UmdErrorDetails = { driver: options.driver, instance: options.instance, generation: options.generation };
  const abortError = (pid?: number) =>
    new UmdError('ABORTED', `start of handler "${options.driver}" was aborted`, pid === undefined ? details : { ...details, pid });
  if (signal?.aborted) throw abortError();
  await loaded.verify();
  if (signal?.aborted) throw abortError();
  const plan = launchPlan(loaded, options);
  const sealed = await loaded.seal();
  const devNull = await open('/dev/null', 'r').catch(async (err: unknown) => {
    await sealed.close();
    throw spawnFailure(plan, details, err);
  });
  let started: Promise<HandlerProcess>;
  try {
    const stdio = handlerStdio(sealed.fd, await inheritableFds(), devNull.fd);
    const limits = { maxFrameBytes: options.maxFrameBytes, maxDepth: options.maxDepth, maxItems: options.maxItems };
    ({ started } = await start(plan, details, stdio, (child) => ({
      started: new Handler(child, plan, options, limits, details).handshake(options.startTimeoutMs, signal, abortError),
    })));
    // Its rejection may come while the descriptors close: handled here so it is never "unhandled";
    // the caller still gets it from the promise returned below.
    started.catch(() => {});
  } finally {
    // The handler holds its own copies of these descriptors.
    await Promise.allSettled([sealed.close(), devNull.close()]);
  }
  return started;
}

/**
 * Spawns the plan with `stdio` (see {@link handlerStdio}) and hands the child to `own` at once, in
 * the same tick, so its listeners are in place before any event; a synchronous spawn failure
 * (ETXTBSY, ENOEXEC...) becomes `SPAWN`.
 */
async function start<T>(plan: LaunchPlan, details: UmdErrorDetails, stdio: StdioOptions, own: (child: ChildProcessWithoutNullStreams) => T): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    let child: ChildProcessWithoutNullStreams;
    try {
      child = spawn(plan.command, plan.args, {
        cwd: plan.cwd,
        env: plan.env,
        argv0: plan.argv0,
        stdio,
        detached: true, // its own process group, so the whole group can be killed
      }) as ChildProcessWithoutNullStreams;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ETXTBSY' && attempt < TEXT_BUSY_ATTEMPTS) {
        await sleep(10 * attempt);
        continue;
      }
      throw spawnFailure(plan, details, err);
    }
    return own(child);
  }
}

/**
 * The child's descriptors: 0-2 the frame pipes and the log, 3 the image, and every descriptor this
 * process would otherwise pass on (held without close-on-exec) covered by /dev/null: libuv leaves
 * such descriptors open in the child, so each is overwritten instead.
 */
function handlerStdio(imageFd: number, inheritable: readonly number[], devNull: number): StdioOptions {
  const stdio: (number | 'pipe' | 'ignore')[] = ['pipe', 'pipe', 'pipe', imageFd];
  for (const fd of inheritable) {
    if (fd <= IMAGE_FD) continue;
    while (stdio.length < fd) stdio.push('ignore');
    stdio[fd] = devNull;
  }
  return stdio;
}

function spawnFailure(plan: LaunchPlan, details: UmdErrorDetails, err: unknown): UmdError {
  const code = (err as NodeJS.ErrnoException).code ?? 'error';
  return new UmdError('SPAWN', `cannot start handler "${details.driver}" (${plan.command}): ${code}: ${(err as Error).message}`, {
    ...details,
    reason: code,
  }, { cause: err });
}

class Handler implements HandlerProcess {
  readonly pid: number;
  readonly driver: string;
  readonly instance: string;
  readonly generation: number;
  hello!: HelloMessage;
  readonly exited: Promise<HandlerExit>;

  private running = true;
  private ready = false;
  private readonly decoder: FrameDecoder;
  private readonly writer: FrameWriter;
  private readonly log: StderrLines;
  private messageListener: ((message: ResponseMessage | PongMessage) => void) | undefined;
  private faultListener: ((error: ProtocolError) => void) | undefined;
  /** Frames that arrived before the owner set `onMessage`. */
  private backlog: (ResponseMessage | PongMessage)[] = [];
  private fault: ProtocolError | undefined;
  private faultReported = false;
  /** The first bytes of stdout before hello, kept to say what a handler printed instead of a frame. */
  private early: Buffer[] = [];
  private earlyBytes = 0;
  private readonly clock: Clock;
  /** Settles the handshake; replaced by a no-op once it is settled. */
  private onHandshake: (event: HandshakeEvent) => void = () => {};

  get stalled(): boolean {
    return this.decoder.stalled;
  }

  constructor(
    private readonly child: ChildProcessWithoutNullStreams,
    private readonly plan: LaunchPlan,
    options: SpawnOptions,
    private readonly limits: ProtocolLimits,
    private readonly details: UmdErrorDetails,
  ) {
    this.pid = child.pid ?? 0; // 0 only when the spawn failed; the handshake then rejects
    this.driver = options.driver;
    this.instance = options.instance;
    this.generation = options.generation;
    this.clock = options.clock ?? systemClock;
    // Waiting for the driver's decode budget stops reading stdout: the handler then blocks on its write.
    this.decoder = new FrameDecoder({ ...limits, budget: options.decodeBudget, onStall: (stalled) => (stalled ? child.stdout.pause() : child.stdout.resume()) });
    const stdin = child.stdin;
    // write() queues what the pipe cannot take yet: nothing is lost, so its return value is ignored.
    const writable = () => !stdin.destroyed && !stdin.writableEnded;
    this.writer = new FrameWriter(
      (chunk) => {
        if (writable()) stdin.write(chunk);
      },
      limits,
      (chunks) => {
        if (!writable()) return;
        stdin.cork(); // one writev for a batch that holds large bodies
        for (const chunk of chunks) stdin.write(chunk);
        stdin.uncork();
      },
    );
    const onLog = options.onLog;
    this.log = new StderrLines(onLog === undefined ? undefined : (line) =>
      onLog({ driver: this.driver, instance: this.instance, generation: this.generation, pid: this.pid, line }));

    let exitCode: number | null = null;
    let exitSignal: NodeJS.Signals | null = null;
    child.once('exit', (code, signal) => {
      this.running = false;
      exitCode = code;
      exitSignal = signal;
      // What is left in the pipe is read without the budget: a dead handler holds none of it.
      this.decoder.detachBudget();
      // Anything the handler started dies with it (its group outlives the leader otherwise).
      // Best effort: a failure here must not throw inside an event handler of the manager.
      try {
        if (this.pid > 0) signalGroup(this.pid, 'SIGKILL');
      } catch {
        // EPERM: a member changed its credentials; nothing more this process can do
      }
    });
    // 'close' comes after 'exit' and after every stdio stream has closed: nothing more can arrive.
    this.exited = new Promise((resolve) => {
      child.once('close', () => {
        this.running = false;
        resolve({ code: exitCode, signal: exitSignal, stderrTail: this.log.tail() });
      });
    });
    // Settled by the exit, never by the pipes alone: whatever still holds them open after the
    // drain is cut off here, which lets 'close' come.
    child.once('exit', () => {
      const drain = this.clock.setTimeout(() => {
        for (const stream of [child.stdin, child.stdout, child.stderr]) stream.destroy();
      }, EXIT_DRAIN_MS);
      child.once('close', () => this.clock.clearTimeout(drain));
    });
    // An 'error' without a listener would throw in the manager: every stream gets one.
    child.on('error', (err) => {
      // Emitted for a failed spawn (ENOENT, EACCES); 'close' follows.
      if (child.pid === undefined) this.onHandshake({ kind: 'spawn-error', error: err });
    });
    const ignore = () => {}; // a pipe error means the handler is gone; 'exit' and 'close' report it
    child.stdin.on('error', ignore);
    child.stdout.on('error', ignore);
    child.stderr.on('error', ignore);
    child.stdout.on('data', (chunk: Buffer) => this.receive(chunk));
    child.stdout.on('end', () => {
      if (this.fault !== undefined) return;
      try {
        this.decoder.end();
      } catch (err) {
        this.cutShort(err as ProtocolError);
      }
    });
    child.stderr.on('data', (chunk: Buffer) => this.log.push(chunk));
    child.stderr.on('end', () => this.log.end());
  }

  get alive(): boolean {
    return this.running;
  }

  get onMessage(): ((message: ResponseMessage | PongMessage) => void) | undefined {
    return this.messageListener;
  }

  set onMessage(listener: ((message: ResponseMessage | PongMessage) => void) | undefined) {
    this.messageListener = listener;
    if (listener === undefined || this.backlog.length === 0) return;
    const early = this.backlog;
    this.backlog = [];
    queueMicrotask(() => early.forEach((message) => this.deliver(message)));
  }

  get onFault(): ((error: ProtocolError) => void) | undefined {
    return this.faultListener;
  }

  set onFault(listener: ((error: ProtocolError) => void) | undefined) {
    this.faultListener = listener;
    if (listener !== undefined && this.fault !== undefined && !this.faultReported) {
      queueMicrotask(() => this.reportFault());
    }
  }

  send(message: ManagerMessage): void {
    this.writer.write(message);
  }

  stderrTail(): string[] {
    return this.log.tail();
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    // Once it has exited its pid may belong to someone else: never signal it again.
    if (this.running && this.pid > 0) signalGroup(this.pid, signal);
  }

  endInput(): void {
    this.writer.flush(); // frames sent before the end still go out, in order
    if (!this.child.stdin.writableEnded) this.child.stdin.end();
  }

  async terminate(graceMs: number | 'brutal_kill'): Promise<HandlerExit> {
    if (!this.running) return this.exited;
    if (graceMs === 'brutal_kill') {
      this.kill('SIGKILL');
      return this.exited;
    }
    this.send({ t: 'bye' });
    const timer = this.clock.setTimeout(() => this.kill('SIGKILL'), graceMs);
    try {
      return await this.exited;
    } finally {
      this.clock.clearTimeout(timer);
    }
  }

  /** Waits for `hello`; on any failure kills the group, waits for the reap, then rejects. */
  handshake(timeoutMs: number, signal: AbortSignal | undefined, abortError: (pid?: number) => UmdError): Promise<HandlerProcess> {
    return new Promise<HandlerProcess>((resolve, reject) => {
      const timer = this.clock.setTimeout(() => this.onHandshake({ kind: 'timeout', timeoutMs }), timeoutMs);
      const onAbort = () => this.onHandshake({ kind: 'aborted' });
      signal?.addEventListener('abort', onAbort, { once: true });
      void this.exited.then(() => this.onHandshake({ kind: 'closed' }));
      this.onHandshake = (event) => {
        this.onHandshake = () => {};
        this.clock.clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (event.kind === 'hello') {
          this.ready = true;
          resolve(this);
          return;
        }
        this.kill('SIGKILL');
        void this.exited.then((exit) => reject(event.kind === 'aborted' ? abortError(this.pid) : this.startFailure(event, exit)));
      };
    });
  }

  private startFailure(event: Exclude<HandshakeEvent, { kind: 'hello' | 'aborted' }>, exit: HandlerExit): UmdError {
    const who = `handler "${this.driver}" (pid ${this.pid})`;
    const facts: UmdErrorDetails = { ...this.details, pid: this.pid, exitCode: exit.code, signal: exit.signal, stderrTail: exit.stderrTail };
    const lastLine = exit.stderrTail.length > 0 ? `; stderr: ${exit.stderrTail[exit.stderrTail.length - 1]}` : '';
    switch (event.kind) {
      case 'spawn-error':
        return spawnFailure(this.plan, facts, event.error);
      case 'timeout':
        return new UmdError('SPAWN', `${who} did not say hello within ${event.timeoutMs} ms; killed it${lastLine}`, { ...facts, reason: 'timeout' });
      case 'bad-hello': {
        const text = printedText(Buffer.concat(this.early));
        if (text !== undefined) {
          return new ProtocolError(event.error.reason, `${who} wrote text to stdout before hello: ${JSON.stringify(text)} ` +
            "(a node handler must call serve() from 'umdkit/handler', which sends hello and moves console.log to stderr)", facts, { cause: event.error });
        }
        const reason = event.error.message.slice(event.error.reason.length + 2);
        return new ProtocolError(event.error.reason, `${who} sent a bad first frame: ${reason}`, facts, { cause: event.error });
      }
      case 'closed': {
        const how = exit.signal !== null ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
        return new UmdError('SPAWN', `${who} ${how} before saying hello${lastLine}`, { ...facts, reason: 'exited' });
      }
    }
  }

  private receive(chunk: Buffer): void {
    if (!this.ready && this.earlyBytes < EARLY_BYTES) {
      const kept = chunk.subarray(0, EARLY_BYTES - this.earlyBytes);
      this.early.push(kept);
      this.earlyBytes += kept.length;
    }
    if (this.fault !== undefined) return; // the stream lost its framing: drain and ignore
    try {
      this.decoder.feed(chunk, this.frame);
    } catch (err) {
      this.faulted(err as ProtocolError);
    }
  }

  /** The decoder's sink: the first frame must be hello, the rest responses and pongs. */
  private readonly frame = (value: unknown): void => {
    if (!this.ready) {
      this.hello = parseHello(value); // throws ProtocolError: a bad first frame
      this.early = [];
      this.onHandshake({ kind: 'hello' });
      return;
    }
    this.deliver(parseHandlerMessage(value));
  };

  private deliver(message: ResponseMessage | PongMessage): void {
    const listener = this.messageListener;
    if (listener === undefined) {
      this.backlog.push(message);
      return;
    }
    try {
      listener(message);
    } catch (err) {
      // The owner's bug, not the handler's: keep it out of the decoder (which would blame the
      // stream) and let it surface as an uncaught exception.
      queueMicrotask(() => {
        throw err;
      });
    }
  }

  /**
   * stdout ended inside a frame. A handler that died while writing cut its last frame short: that
   * is a crash, which `exited` reports (exit code, signal), not a protocol violation. Only a
   * handler still running once its exit would have been seen closed stdout mid-frame: that is
   * the fault (TRUNCATED).
   */
  private cutShort(error: ProtocolError): void {
    if (!this.running) return;
    const verdict = this.clock.setTimeout(() => {
      // One more loop turn first: an exit already signalled is then seen even if the timer ran late.
      setImmediate(() => {
        if (this.running) this.faulted(error);
      });
    }, CUT_FRAME_VERDICT_MS);
    this.child.once('exit', () => this.clock.clearTimeout(verdict));
  }

  private faulted(error: ProtocolError): void {
    if (this.fault !== undefined) return;
    this.fault = error;
    if (!this.ready) {
      this.onHandshake({ kind: 'bad-hello', error });
      return;
    }
    this.reportFault();
  }

  private reportFault(): void {
    const listener = this.faultListener;
    if (listener === undefined || this.faultReported || this.fault === undefined) return;
    this.faultReported = true;
    listener(this.fault);
  }
}

/** How much of stdout before hello is kept to quote in the start failure. */
const EARLY_BYTES = 200;

/**
 * The text a handler printed where its hello should have been, or undefined when the bytes do not
 * read as text (a real but broken frame). The usual cause: a node handler that never called serve().
 */
function printedText(bytes: Buffer): string | undefined {
  if (bytes.length < 4) return undefined;
  const text = bytes.toString('utf8').replace(/\uFFFD+$/, ''); // the cut may split the last character
  // Printable text: no replacement characters (invalid UTF-8) and no control characters but tab and newlines.
  if (/[\uFFFD\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/.test(text)) return undefined;
  return text.trimEnd();
}

type HandshakeEvent =
  | { kind: 'hello' }
  | { kind: 'timeout'; timeoutMs: number }
  | { kind: 'aborted' }
  | { kind: 'closed' }
  | { kind: 'spawn-error'; error: Error }
  | { kind: 'bad-hello'; error: ProtocolError };
