import type { DriverOptions } from '../manager/driver.js';
import { runChaos, type ChaosOptions, type ChaosReport } from '../testing/chaos.js';
import { loadDriverModule } from '../testing/chaos-options.js';
import { CHAOS_PAYLOADS, isPayloadGeneratorName } from '../testing/chaos-payloads.js';
import { parseFaultList } from '../testing/plan.js';
import { commandArgs, commandLine, commandLineTerms, EXIT, integerOption, STDIO_OUTPUT, usageError, type CommandOutput } from './command-line.js';
import { readPayload } from './payload.js';

/** `umdkit chaos`: drive load at a packed driver while injecting faults, then check the invariants. */

/**
 * Usage text of `umdkit chaos`.
 *
 * @example
 * ```ts
 * process.stdout.write(CHAOS_USAGE);
 * ```
 */
export const CHAOS_USAGE = `usage: umdkit chaos --driver <module> [--method m] [--payload p] [--requests N] [--faults list] [--seed S] [--json]

  --driver <module>    a driver module written by \`umdkit pack\`
  --method <m>         the method of every request (the handler's serve({ <m>: ... }) key); a
                       handler with a method map answers a request without one with an error
  --payload <p>        what every request sends: JSON text ({"$base64":"..."} is a byte string),
                       @file holding JSON, or a generator, different for each request i:
${Object.entries(CHAOS_PAYLOADS).map(([name, g]) => `                         ${name.padEnd(13)}${g.does}`).join('\n')}
  --raw                send the --payload text, or the @file's bytes, as one byte string
  --requests N         requests to send (default 1000)
  --concurrency C      requests outstanding at once (default 8)
  --faults list        name:rate per request, comma-separated (default process:0.001); names:
                       kill exit segv abort hang spin slow heap bitflip truncate oversize garbage
                       unknownId duplicateId missingId noHello closeStdout tamperImage unwritableRoot;
                       groups: process pipe disk signal all (e.g. process:0.002,bitflip:0.001)
  --seed S             seeds the fault schedule: same seed, same schedule (default 1)
  --instances N        handler instances (default 2)
  --timeout MS         request deadline (default 3000)
  --json               print the report as one JSON object

The report counts failures by code and quotes the first message seen for each.
exit codes: 0 every invariant held (nothing lost or settled twice, no process and no file left,
the driver answers again after healing), 1 one broke, 2 usage, 78 the driver module does not load.
`;

/**
 * Where the command writes; tests pass their own.
 *
 * @example
 * ```ts
 * await chaosCommand(argv, { out: (t) => lines.push(t), err: (t) => errors.push(t) });
 * ```
 */
export type ChaosOutput = CommandOutput;

/**
 * Runs `umdkit chaos` with `argv` (the words after `chaos`); returns the exit code.
 *
 * @example
 * ```ts
 * process.exitCode = await chaosCommand(['--driver', 'sample.driver.mjs', '--requests', '20000', '--faults', 'process:0.001', '--seed', '7', '--json']);
 * ```
 */
export async function chaosCommand(argv: string[], io: ChaosOutput = STDIO_OUTPUT): Promise<number> {
  const line = commandLine('chaos', CHAOS_USAGE, io, () => parseCommand(argv));
  if ('exitCode' in line) return line.exitCode;
  const { options, json, payload } = line.settings;
  let generate: (i: number) => unknown;
  try {
    generate = await payloadOf(payload, options.seed);
  } catch (err) {
    io.err(usageError('chaos', `--payload: ${(err as Error).message}`));
    return EXIT.USAGE;
  }
  let driver: DriverOptions;
  try {
    driver = await loadDriverModule(options.driver);
  } catch (err) {
    io.err(`umdkit chaos: bad driver module: ${commandLineTerms((err as Error).message)}\n`);
    return EXIT.CONFIG;
  }
  let report: ChaosReport;
  try {
    report = await runChaos({
      ...options,
      driver,
      payload: generate,
      onProgress: json ? undefined : (settled, total) => io.err(`umdkit chaos: ${settled}/${total} settled\n`),
    });
  } catch (err) {
    io.err(`umdkit chaos: ${commandLineTerms((err as Error).message)}\n`);
    return err instanceof TypeError || err instanceof RangeError ? EXIT.USAGE : EXIT.FAILED;
  }
  io.out(json ? `${JSON.stringify(report)}\n` : describe(report));
  return report.violations.length === 0 ? EXIT.OK : EXIT.FAILED;
}

/** What `--payload` names, as the payload of request i: a generator, or one value for every request. */
async function payloadOf(payload: { text: string | undefined; raw: boolean }, seed: number): Promise<(i: number) => unknown> {
  const { text, raw } = payload;
  if (text === undefined) return CHAOS_PAYLOADS.offset!.generate as (i: number) => unknown;
  if (!raw && isPayloadGeneratorName(text)) {
    const generator = CHAOS_PAYLOADS[text]!.generate;
    return (i) => generator(i, seed);
  }
  const value = await readPayload(text, raw);
  return () => value;
}

function describe(r: ChaosReport): string {
  const counts = (record: Record<string, number>) =>
    Object.entries(record).map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
  return [
    `driver ${r.driver}, seed ${r.seed}, ${r.requests} requests, concurrency ${r.concurrency}${r.shim ? ', fault shim' : ''}`,
    `faults planned ${r.planned} (schedule ${r.scheduleDigest.slice(0, 16)}), injected: ${counts(r.injected)}; skipped: ${counts(r.skipped)}`,
    `submitted ${r.submitted}, settled ${r.settled}, ok ${r.ok}, failed: ${counts(r.failedByCode)}`,
    ...Object.entries(r.firstMessages).map(([code, message]) => `  first ${code}: ${message}`),
    `lost ${r.lost}, settled twice ${r.doubleSettled}, unexpected errors ${r.unexpectedErrors}, orphans ${r.orphans}, leftover files ${r.leftoverFiles}`,
    `restarts ${r.restarts}, processes spawned ${r.spawned}, healed ${r.healed}${r.gaveUp === null ? '' : `, gave up: ${r.gaveUp}`}`,
    `latency p50 ${r.latencyMs.p50} ms, p99 ${r.latencyMs.p99} ms, max ${r.latencyMs.max} ms; took ${(r.durationMs / 1000).toFixed(1)} s`,
    r.violations.length === 0 ? 'every invariant held' : `INVARIANTS BROKEN:\n${r.violations.map((v) => `  - ${v}`).join('\n')}`,
    '',
  ].join('\n');
}

function parseCommand(argv: string[]): { options: Omit<ChaosOptions, 'driver'> & { driver: string }; payload: { text: string | undefined; raw: boolean }; json: boolean } | 'help' {
  const args = commandArgs(argv, {
    driver: { type: 'string' },
    method: { type: 'string' },
    payload: { type: 'string' },
    raw: { type: 'boolean' },
    requests: { type: 'string' },
    concurrency: { type: 'string' },
    faults: { type: 'string' },
    seed: { type: 'string' },
    instances: { type: 'string' },
    timeout: { type: 'string' },
    json: { type: 'boolean' },
  });
  if (args === 'help') return args;
  const { values, positionals } = args;
  if (positionals.length > 0) throw new Error(`unexpected argument ${JSON.stringify(positionals[0])}`);
  if (values.driver === undefined) throw new Error('--driver <module> is required');
  if (values.method !== undefined && values.method.length === 0) throw new Error('--method must name a method, got ""');
  if (values.raw === true && values.payload === undefined) throw new Error('--raw goes with --payload <text|@file>');
  const text = values.payload;
  // A bare word that is neither JSON nor a generator is most likely a misspelt generator.
  if (text !== undefined && /^[A-Za-z][\w-]*$/.test(text) && !['true', 'false', 'null'].includes(text) && !isPayloadGeneratorName(text) && values.raw !== true) {
    throw new Error(`--payload must be JSON, @file or a generator (${Object.keys(CHAOS_PAYLOADS).join(', ')}), got ${JSON.stringify(text)}`);
  }
  const faults = values.faults ?? 'process:0.001';
  parseFaultList(faults); // a bad list is a usage error, before anything starts
  return {
    json: values.json ?? false,
    payload: { text, raw: values.raw ?? false },
    options: {
      driver: values.driver,
      ...(values.method === undefined ? {} : { method: values.method }),
      requests: integerOption('--requests', values.requests, 1000, 1),
      concurrency: integerOption('--concurrency', values.concurrency, 8, 1),
      faults,
      seed: integerOption('--seed', values.seed, 1, 0),
      driverOptions: {
        instances: integerOption('--instances', values.instances, 2, 1),
        requestTimeoutMs: integerOption('--timeout', values.timeout, 3000, 1),
      },
    },
  };
}
