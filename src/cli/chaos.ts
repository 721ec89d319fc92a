import { runChaos, type ChaosOptions, type ChaosReport } from '../testing/chaos.js';
import { parseFaultList } from '../testing/plan.js';
import { commandArgs, commandLine, STDIO_OUTPUT, type CommandOutput } from './command-line.js';

/** `umdkit chaos`: drive load at a packed driver while injecting faults, then check the invariants. */

/**
 * Usage text of `umdkit chaos`.
 *
 * @example
 * ```ts
 * process.stdout.write(CHAOS_USAGE);
 * ```
 */
export const CHAOS_USAGE = `usage: umdkit chaos --driver <module> [--requests N] [--concurrency C] [--faults list] [--seed S] [--json]

  --driver <module>    a driver module written by \`umdkit pack\`
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

Exits 0 when every invariant held (nothing lost or settled twice, no process and no file left,
the driver answers again after healing), 1 when one broke, 2 on bad usage.
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
  const { options, json } = line.settings;
  let report: ChaosReport;
  try {
    report = await runChaos({
      ...options,
      onProgress: json ? undefined : (settled, total) => io.err(`umdkit chaos: ${settled}/${total} settled\n`),
    });
  } catch (err) {
    io.err(`umdkit chaos: ${(err as Error).message}\n`);
    return err instanceof TypeError || err instanceof RangeError ? 2 : 1;
  }
  io.out(json ? `${JSON.stringify(report)}\n` : describe(report));
  return report.violations.length === 0 ? 0 : 1;
}

function describe(r: ChaosReport): string {
  const counts = (record: Record<string, number>) =>
    Object.entries(record).map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
  return [
    `driver ${r.driver}, seed ${r.seed}, ${r.requests} requests, concurrency ${r.concurrency}${r.shim ? ', fault shim' : ''}`,
    `faults planned ${r.planned} (schedule ${r.scheduleDigest.slice(0, 16)}), injected: ${counts(r.injected)}; skipped: ${counts(r.skipped)}`,
    `submitted ${r.submitted}, settled ${r.settled}, ok ${r.ok}, failed: ${counts(r.failedByCode)}`,
    `lost ${r.lost}, settled twice ${r.doubleSettled}, unexpected errors ${r.unexpectedErrors}, orphans ${r.orphans}, leftover files ${r.leftoverFiles}`,
    `restarts ${r.restarts}, processes spawned ${r.spawned}, healed ${r.healed}${r.gaveUp === null ? '' : `, gave up: ${r.gaveUp}`}`,
    `latency p50 ${r.latencyMs.p50} ms, p99 ${r.latencyMs.p99} ms, max ${r.latencyMs.max} ms; took ${(r.durationMs / 1000).toFixed(1)} s`,
    r.violations.length === 0 ? 'every invariant held' : `INVARIANTS BROKEN:\n${r.violations.map((v) => `  - ${v}`).join('\n')}`,
    '',
  ].join('\n');
}

function parseCommand(argv: string[]): { options: ChaosOptions; json: boolean } | 'help' {
  const args = commandArgs(argv, {
    driver: { type: 'string' },
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
  const integer = (flag: string, text: string | undefined, fallback: number, min: number): number => {
    if (text === undefined) return fallback;
    if (!/^[0-9]+$/.test(text) || Number(text) < min) throw new Error(`${flag} must be an integer >= ${min}, got ${JSON.stringify(text)}`);
    return Number(text);
  };
  const faults = values.faults ?? 'process:0.001';
  parseFaultList(faults); // a bad list is a usage error, before anything starts
  return {
    json: values.json ?? false,
    options: {
      driver: values.driver,
      requests: integer('--requests', values.requests, 1000, 1),
      concurrency: integer('--concurrency', values.concurrency, 8, 1),
      faults,
      seed: integer('--seed', values.seed, 1, 0),
      driverOptions: {
        instances: integer('--instances', values.instances, 2, 1),
        requestTimeoutMs: integer('--timeout', values.timeout, 3000, 1),
      },
    },
  };
}
