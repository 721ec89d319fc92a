import { createManager, type Manager } from '../manager/manager.js';
import { configOrExit, DEFAULT_CONFIG_PATH, loadConfig } from './config.js';
import { RequestStats } from '../viz/request-stats.js';
import { renderTop } from '../viz/top-render.js';
import { commandArgs, commandLine, EXIT, STDIO_OUTPUT, type CommandOutput } from './command-line.js';

/** `umdkit top`: a live view of a running tree, repainted in place, or plain lines in a pipe. */

/**
 * Usage text of `umdkit top`.
 *
 * @example
 * ```ts
 * process.stdout.write(TOP_USAGE);
 * ```
 */
export const TOP_USAGE = `usage: umdkit top [config] [--interval <ms>] [--count <n>] [--plain]

  Starts the tree of [config] (as for umdkit run; default ${DEFAULT_CONFIG_PATH}) and shows
  it live: state, pid, generation, restarts, queue, in flight, p50/p99 latency per driver, last
  exit. In a terminal the table is repainted in place; otherwise (or with --plain) each refresh
  prints one key=value line per instance. q, Ctrl-C (SIGINT) or SIGTERM stops the tree and exits.
  Columns that do not fit the terminal's width are left out (P50 first); widen it to see them.

  --interval <ms>   time between refreshes (default 1000)
  --count <n>       exit after n refreshes
  --plain           plain lines even in a terminal

exit codes: 0 stopped, 1 could not start, 2 usage, 70 the tree gave up, 78 bad config.
`;

/**
 * Where `top` writes, and what it knows of the terminal; tests pass their own.
 *
 * @example
 * ```ts
 * await topCommand(['tree.config.mjs', '--count', '2'], { out: (t) => lines.push(t), err: console.error, isTTY: false });
 * ```
 */
export interface TopOutput extends CommandOutput {
  /** Repaint in place (default: whether stdout is a TTY). */
  isTTY?: boolean;
  /** Terminal width (default: stdout's columns). */
  columns?: number;
  /** Stops like SIGINT would. */
  signal?: AbortSignal;
  /** Key presses: `q` (or Ctrl-C) quits (default: stdin when it is a terminal, read in raw mode). */
  keys?: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
}

const STDIO: TopOutput = {
  ...STDIO_OUTPUT,
  get isTTY() {
    return process.stdout.isTTY === true;
  },
  get columns() {
    return process.stdout.columns;
  },
  get keys() {
    return process.stdin.isTTY === true ? process.stdin : undefined;
  },
};

// ANSI: home, clear to end of line, clear to end of screen, hide and show the cursor.
const HOME = '\x1b[H';
const CLEAR_LINE = '\x1b[K';
const CLEAR_BELOW = '\x1b[J';
const HIDE_CURSOR = '\x1b[?25l';
const SHOW_CURSOR = '\x1b[?25h';

/**
 * Runs `umdkit top` with `argv` (the words after `top`); returns the exit code: 0 stopped by the
 * user (q, Ctrl-C, SIGTERM) or `--count`, 1 the tree could not start, 2 bad usage, 70 the tree
 * gave up, 78 the config does not load (see {@link EXIT}).
 *
 * @example
 * ```ts
 * process.exitCode = await topCommand(['umdkit.config.mjs', '--interval', '500']);
 * ```
 */
export async function topCommand(argv: string[], io: TopOutput = STDIO): Promise<number> {
  const line = commandLine('top', TOP_USAGE, io, () => parse(argv));
  if ('exitCode' in line) return line.exitCode;
  const parsed = line.settings;
  const stats = new RequestStats();
  const options = await configOrExit('top', () => loadConfig(parsed.config), io);
  if (typeof options === 'number') return options;
  let manager: Manager;
  try {
    manager = await createManager({ ...options, onEvent: (event) => stats.observe(event) });
  } catch (err) {
    io.err(`umdkit top: cannot start: ${(err as Error).message}\n`);
    return EXIT.FAILED;
  }

  const tty = io.isTTY === true && !parsed.plain;
  let wake: (() => void) | undefined;
  let interrupted = false;
  const interrupt = () => {
    interrupted = true;
    wake?.();
  };
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  io.signal?.addEventListener('abort', interrupt, { once: true });
  // In raw mode a key arrives as it is pressed (no Enter), and Ctrl-C arrives as \x03, not SIGINT.
  const keys = io.keys;
  const onKey = (chunk: Buffer | string) => {
    if (/[qQ\x03]/.test(String(chunk))) interrupt();
  };
  const raw = keys?.isTTY === true && typeof keys.setRawMode === 'function';
  if (keys !== undefined) {
    if (raw) keys.setRawMode!(true);
    keys.on('data', onKey);
    keys.resume();
  }
  const off = manager.subscribe((event) => {
    if (event.type === 'gave-up') wake?.();
  });
  if (tty) io.out(`${HIDE_CURSOR}\x1b[2J`);
  try {
    for (let frame = 1; ; frame++) {
      const snapshot = manager.snapshot();
      const lines = renderTop(snapshot, stats.summary(), { tty, color: tty, ...(io.columns === undefined ? {} : { width: io.columns }) });
      io.out(tty ? `${HOME}${lines.map((l) => `${l}${CLEAR_LINE}`).join('\n')}\n${CLEAR_BELOW}` : `${lines.join('\n')}\n`);
      if (snapshot.gaveUp !== undefined) {
        io.err(`umdkit top: the tree gave up: ${snapshot.gaveUp}\n`);
        return EXIT.GAVE_UP;
      }
      if (interrupted || (parsed.count !== undefined && frame >= parsed.count) || io.signal?.aborted) return EXIT.OK;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, parsed.interval);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
      if (interrupted) return EXIT.OK;
    }
  } finally {
    if (tty) io.out(SHOW_CURSOR);
    off();
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
    io.signal?.removeEventListener('abort', interrupt);
    if (keys !== undefined) {
      keys.off('data', onKey);
      if (raw) keys.setRawMode!(false);
      keys.pause(); // stdin left flowing would keep the process alive
    }
    await manager.stop();
  }
}

function parse(argv: string[]) {
  const args = commandArgs(argv, {
    interval: { type: 'string' },
    count: { type: 'string' },
    plain: { type: 'boolean' },
  });
  if (args === 'help') return args;
  const { values, positionals } = args;
  if (positionals.length > 1) throw new Error(`expected one [config], got ${positionals.map((p) => JSON.stringify(p)).join(' ')}`);
  const interval = values.interval === undefined ? 1000 : Number(values.interval);
  if (!Number.isInteger(interval) || interval < 50) throw new Error(`--interval must be an integer of at least 50 (ms), got ${JSON.stringify(values.interval)}`);
  const count = values.count === undefined ? undefined : Number(values.count);
  if (count !== undefined && (!Number.isInteger(count) || count < 1)) throw new Error(`--count must be a positive integer, got ${JSON.stringify(values.count)}`);
  return { config: positionals[0] ?? DEFAULT_CONFIG_PATH, interval, count, plain: values.plain === true };
}
