import { constants } from 'node:os';
import { resolve } from 'node:path';
import { startService, type Service } from '../service/service.js';
import { ServiceLog, type LogFormat } from '../service/log.js';
import { renderTree } from '../service/tree-text.js';
import { createObservabilityServer, type ObservabilityServer } from '../viz/server.js';
import { permanentDrivers } from '../viz/permanent.js';
import { loadServiceConfig } from '../service/config.js';
import { configOrExit, DEFAULT_CONFIG_PATH } from './config.js';
import { commandArgs, commandLine, EXIT, integerOption, type CommandOutput, STDIO_OUTPUT } from './command-line.js';

/** `umdkit run`: a tree from a config module as a foreground service (docs/SERVICE.md). */

/**
 * Usage text of `umdkit run`.
 *
 * @example
 * ```ts
 * process.stdout.write(RUN_USAGE);
 * ```
 */
export const RUN_USAGE = `usage: umdkit run [config] [options]

  [config]              the config module (default ${DEFAULT_CONFIG_PATH}): .mjs, .js, .cjs or .ts
  --socket <path>       the service socket (default $XDG_RUNTIME_DIR/umdkit/umdkit.sock,
                        else /tmp/umdkit-<uid>/umdkit.sock)
  --drain-ms <ms>       on SIGTERM/SIGINT, how long requests in flight may take to finish
                        (default: the config's service.drainMs, else 5000)
  --log text|json       log lines for people (default) or JSON lines for log pipelines
  --verbose             also log debug lines (ready <-> busy transitions)
  --max-in-flight <n>   requests one socket client may have in flight (default: the config's
                        service.maxInFlightPerClient, else 64)
  --http <host:port>    also serve /metrics, /healthz and /readyz there (for systemd, Kubernetes,
                        Prometheus); port 0 picks a free one

signals: SIGTERM or SIGINT stops gracefully (exit 0); a second one forces (exit 128 + its number).
exit codes: 0 stopped, 1 could not start, 2 usage, 70 the root supervisor gave up, 78 bad config,
            130/143 forced by a second SIGINT/SIGTERM.
`;

/**
 * Exit codes of `umdkit run`: the table every command shares ({@link EXIT}), in `run`'s words.
 *
 * @example
 * ```ts
 * if (code === RUN_EXIT.GAVE_UP) console.error('the tree gave up; restart the service');
 * ```
 */
export const RUN_EXIT = Object.freeze({ STOPPED: EXIT.OK, FAILED: EXIT.FAILED, USAGE: EXIT.USAGE, GAVE_UP: EXIT.GAVE_UP, CONFIG: EXIT.CONFIG });

interface RunSettings {
  config: string;
  socket: string | undefined;
  drainMs: number | undefined;
  log: LogFormat;
  verbose: boolean;
  maxInFlight: number | undefined;
  http: { host: string; port: number } | undefined;
}

/**
 * Runs `umdkit run` with `argv` (the words after `run`): loads the config, starts the tree and the
 * socket, logs to `io.out`, and resolves with the exit code once the service has ended (see
 * {@link RUN_EXIT}). SIGTERM/SIGINT are handled while it runs.
 *
 * @example
 * ```ts
 * process.exitCode = await runCommand(['umdkit.config.mjs', '--log', 'json']);
 * ```
 */
export async function runCommand(argv: string[], io: CommandOutput = STDIO_OUTPUT): Promise<number> {
  const line = commandLine('run', RUN_USAGE, io, () => parseCommand(argv));
  if ('exitCode' in line) return line.exitCode;
  const settings = line.settings;
  // On the process's own stdout the log is bounded: a slow reader costs records (counted), not memory.
  const output = io === STDIO_OUTPUT ? { stream: process.stdout } : { write: io.out };
  const log = new ServiceLog({ format: settings.log, verbose: settings.verbose, ...output });
  const file = resolve(settings.config);

  const loaded = await configOrExit('run', () => loadServiceConfig(file), io);
  if (typeof loaded === 'number') return loaded;

  // Listening before the start: a signal during it stops the service as soon as it is up.
  const signals = new SignalHandling(log);
  const config = loaded.manager;
  let service: Service;
  try {
    service = await startService({
      manager: config,
      // The config's limits; a flag on the command line wins.
      ...loaded.service,
      ...(settings.drainMs === undefined ? {} : { drainMs: settings.drainMs }),
      onEvent: log.event,
      ...(settings.socket === undefined ? {} : { socket: settings.socket }),
      ...(settings.maxInFlight === undefined ? {} : { maxInFlightPerClient: settings.maxInFlight }),
    });
  } catch (err) {
    signals.dispose();
    io.err(`umdkit run: cannot start: ${(err as Error).message}\n`);
    return RUN_EXIT.FAILED;
  }
  let http: ObservabilityServer | undefined;
  if (settings.http !== undefined) {
    try {
      http = await createObservabilityServer(service.manager, { ...settings.http, dashboard: false, permanent: permanentDrivers(config) });
    } catch (err) {
      io.err(`umdkit run: cannot serve --http ${settings.http.host}:${settings.http.port}: ${(err as Error).message}\n`);
      await service.stop({ force: true });
      signals.dispose();
      return RUN_EXIT.FAILED;
    }
  }
  announce(service, file, log, io);
  if (http !== undefined) log.info('http', `metrics and health on ${http.url}metrics, ${http.url}healthz, ${http.url}readyz`, { url: http.url });
  signals.attach(service);

  const end = await service.exited;
  signals.dispose();
  await http?.close();
  log.finish();
  switch (end.reason) {
    case 'stopped':
      log.info('service-exit', 'stopped; exiting 0', { code: RUN_EXIT.STOPPED });
      return RUN_EXIT.STOPPED;
    case 'forced': {
      const code = 128 + (constants.signals[signals.forcedBy ?? 'SIGTERM'] ?? 15);
      log.warn('service-exit', `stop forced by ${signals.forcedBy ?? 'a second signal'}; exiting ${code}`, { code });
      return code;
    }
    case 'gave-up':
      io.err(`umdkit run: the root supervisor gave up: ${end.message}\n`);
      return RUN_EXIT.GAVE_UP;
  }
}

/** The startup lines: what runs (the tree with pids and sandbox layers) and where the socket is. */
function announce(service: Service, file: string, log: ServiceLog, io: CommandOutput): void {
  const tree = service.manager.snapshot();
  const message = `started tree "${tree.name}" from ${file} (service pid ${process.pid}); socket ${service.socketPath}`;
  if (log.format === 'json') {
    log.info('started', message, { config: file, pid: process.pid, socket: service.socketPath, tree });
    return;
  }
  io.out(`umdkit run: ${message}\n${renderTree(tree)}socket: ${service.socketPath}\n`);
}

/**
 * SIGTERM/SIGINT while the service runs: the first stops it gracefully, the second forces; any
 * later one is ignored (the forced stop is already killing everything and cannot hang).
 */
class SignalHandling {
  private count = 0;
  private service: Service | undefined;
  /** Signals that came while the tree was starting, replayed once it is up. */
  private readonly early: NodeJS.Signals[] = [];
  /** The signal that forced the stop (the second one). */
  forcedBy: NodeJS.Signals | undefined;
  private readonly listener = (signal: NodeJS.Signals) => this.onSignal(signal);

  constructor(private readonly log: ServiceLog) {
    process.on('SIGTERM', this.listener);
    process.on('SIGINT', this.listener);
  }

  /** The service is up: act on signals that came during the start, and on later ones. */
  attach(service: Service): void {
    this.service = service;
    for (const signal of this.early.splice(0)) this.onSignal(signal);
  }

  dispose(): void {
    process.off('SIGTERM', this.listener);
    process.off('SIGINT', this.listener);
  }

  private onSignal(signal: NodeJS.Signals): void {
    const service = this.service;
    if (service === undefined) {
      this.early.push(signal);
      this.log.info('signal', `${signal} during start: stopping once the tree is up`, { signal });
      return;
    }
    this.count++;
    if (this.count === 1) {
      this.log.info('stopping', `${signal}: stopping; new requests are refused, ${service.pending} in flight get up to ${service.limits.drainMs} ms; send it again to force`, { signal });
      void service.stop();
    } else if (this.count === 2) {
      this.forcedBy = signal;
      this.log.warn('forcing', `${signal} again: forcing the stop; requests still pending are rejected STOPPED and every handler is killed`, { signal });
      void service.stop({ force: true });
    }
  }
}

function parseCommand(argv: string[]): RunSettings | 'help' {
  const args = commandArgs(argv, {
    socket: { type: 'string' },
    'drain-ms': { type: 'string' },
    log: { type: 'string' },
    verbose: { type: 'boolean' },
    'max-in-flight': { type: 'string' },
    http: { type: 'string' },
  });
  if (args === 'help') return args;
  const { values, positionals } = args;
  if (positionals.length > 1) throw new Error(`expected at most one config, got ${positionals.map((p) => JSON.stringify(p)).join(' ')}`);
  const log = values.log ?? 'text';
  if (log !== 'text' && log !== 'json') throw new Error(`--log must be text or json, got ${JSON.stringify(log)}`);
  if (values.socket !== undefined && values.socket.length === 0) throw new Error('--socket must be a path, got ""');
  return {
    config: positionals[0] ?? DEFAULT_CONFIG_PATH,
    // Absolute, so the path `run` prints works from any directory.
    socket: values.socket === undefined ? undefined : resolve(values.socket),
    drainMs: values['drain-ms'] === undefined ? undefined : integerOption('--drain-ms', values['drain-ms'], 0, 0),
    log,
    verbose: values.verbose ?? false,
    maxInFlight: values['max-in-flight'] === undefined ? undefined : integerOption('--max-in-flight', values['max-in-flight'], 0, 1),
    http: values.http === undefined ? undefined : hostPort(values.http),
  };
}

/** `127.0.0.1:9464` → { host, port }; the host is required so nothing listens on all interfaces by accident. */
function hostPort(text: string): { host: string; port: number } {
  const match = /^(.+):(\d+)$/.exec(text);
  if (match === null) throw new Error(`--http must be host:port (e.g. 127.0.0.1:9464), got ${JSON.stringify(text)}`);
  const port = Number(match[2]);
  if (port > 65535) throw new Error(`--http port must be at most 65535, got ${port}`);
  return { host: match[1]!.replace(/^\[(.*)\]$/, '$1'), port };
}
