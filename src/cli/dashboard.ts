import { createManager, type Manager } from '../manager/manager.js';
import { permanentDrivers } from '../viz/permanent.js';
import { configOrExit, DEFAULT_CONFIG_PATH, loadConfig } from './config.js';
import { createObservabilityServer, type ObservabilityServer } from '../viz/server.js';
import { commandArgs, commandLine, EXIT, type CommandOutput, STDIO_OUTPUT } from './command-line.js';

/** `umdkit dashboard`: a live page of a running tree, served on the loopback interface. */

/**
 * Usage text of `umdkit dashboard`.
 *
 * @example
 * ```ts
 * process.stdout.write(DASHBOARD_USAGE);
 * ```
 */
export const DASHBOARD_USAGE = `usage: umdkit dashboard [config] [--port <n>] [--host <loopback address>]

  Starts the tree of [config] (as for umdkit run; default ${DEFAULT_CONFIG_PATH}) and serves
  a live page of it: the supervision tree with each instance's state and recent history, the
  lifecycle diagram with the current state highlighted, and buttons to kill (SIGKILL), hang
  (SIGSTOP) or resume an instance and to send a request. Also serves /metrics, /healthz, /readyz.
  Ctrl-C (SIGINT) or SIGTERM stops the tree and exits.

  --port <n>     TCP port (default 0: a free one, printed at start)
  --host <addr>  loopback address to listen on (default 127.0.0.1)

exit codes: 0 stopped, 1 could not start, 2 usage, 70 the tree gave up, 78 bad config.
`;

/**
 * Where `dashboard` writes; tests pass their own, with a signal that stops it like SIGINT.
 *
 * @example
 * ```ts
 * const stop = new AbortController();
 * void dashboardCommand(['tree.config.mjs'], { out: (t) => lines.push(t), err: console.error, signal: stop.signal });
 * ```
 */
export interface DashboardOutput extends CommandOutput {
  signal?: AbortSignal;
}

/**
 * Runs `umdkit dashboard` with `argv` (the words after `dashboard`); resolves with the exit code
 * once stopped: 0 stopped by the user, 1 the tree could not start, 2 bad usage, 70 the tree gave up,
 * 78 the config does not load (see {@link EXIT}).
 *
 * @example
 * ```ts
 * process.exitCode = await dashboardCommand(['umdkit.config.mjs', '--port', '8080']);
 * // umdkit dashboard: http://127.0.0.1:8080/ (also /metrics, /healthz, /readyz); Ctrl-C stops
 * ```
 */
export async function dashboardCommand(argv: string[], io: DashboardOutput = STDIO_OUTPUT): Promise<number> {
  const line = commandLine('dashboard', DASHBOARD_USAGE, io, () => parse(argv));
  if ('exitCode' in line) return line.exitCode;
  const parsed = line.settings;
  const options = await configOrExit('dashboard', () => loadConfig(parsed.config), io);
  if (typeof options === 'number') return options;
  let manager: Manager | undefined;
  let server: ObservabilityServer | undefined;
  try {
    manager = await createManager(options);
    server = await createObservabilityServer(manager, { port: parsed.port, host: parsed.host, permanent: permanentDrivers(options) });
  } catch (err) {
    await manager?.stop({ drainMs: 0 });
    io.err(`umdkit dashboard: cannot start: ${(err as Error).message}\n`);
    return EXIT.FAILED;
  }
  io.out(`umdkit dashboard: ${server.url} (also /metrics, /healthz, /readyz); Ctrl-C stops\n`);
  const outcome = await untilStopped(manager, io.signal);
  await server.close();
  await manager.stop();
  if (outcome === 'gave-up') {
    io.err(`umdkit dashboard: the tree gave up: ${manager.snapshot().gaveUp}\n`);
    return EXIT.GAVE_UP;
  }
  return EXIT.OK;
}

/** Resolves when the user stops the command (SIGINT, SIGTERM, `signal`) or the tree gives up; leaves no listener behind. */
function untilStopped(manager: Manager, signal: AbortSignal | undefined): Promise<'interrupted' | 'gave-up'> {
  return new Promise((resolve) => {
    const finish = (how: 'interrupted' | 'gave-up') => {
      off();
      process.off('SIGINT', interrupted);
      process.off('SIGTERM', interrupted);
      signal?.removeEventListener('abort', interrupted);
      resolve(how);
    };
    const interrupted = () => finish('interrupted');
    const off = manager.subscribe((event) => {
      if (event.type === 'gave-up') finish('gave-up');
    });
    process.once('SIGINT', interrupted);
    process.once('SIGTERM', interrupted);
    signal?.addEventListener('abort', interrupted, { once: true });
    if (manager.snapshot().gaveUp !== undefined) finish('gave-up');
    else if (signal?.aborted) interrupted();
  });
}

function parse(argv: string[]) {
  const args = commandArgs(argv, {
    port: { type: 'string' },
    host: { type: 'string' },
  });
  if (args === 'help') return args;
  const { values, positionals } = args;
  if (positionals.length > 1) throw new Error(`expected one [config], got ${positionals.map((p) => JSON.stringify(p)).join(' ')}`);
  const port = values.port === undefined ? 0 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be an integer from 0 to 65535, got ${JSON.stringify(values.port)}`);
  const host = values.host ?? '127.0.0.1';
  if (!/^(127\.\d+\.\d+\.\d+|::1|localhost)$/.test(host)) throw new Error(`--host must be a loopback address (the dashboard can kill handlers), got ${JSON.stringify(host)}`);
  return { config: positionals[0] ?? DEFAULT_CONFIG_PATH, port, host };
}
