import type { Image } from '../loader/image.js';
import type { SnapshotNode } from '../manager/snapshot.js';
import { loadSampleDriver, SampleImageMissing, type SampleHandlerKind } from '../../examples/sample-umd/loader.js';
import type { SampleManager } from '../../examples/sample-umd/manager.js';
import { runSelftest, type SelftestSummary } from '../../examples/sample-umd/selftest.js';
import { commandArgs, commandLine } from './command-line.js';

/**
 * `umdkit demo` (what `npm start` runs): the kernel's sample UMD and its umd_mgmt.sh selftest,
 * ported, run live from the image embedded at build time — with injected crashes, a one-line-per-
 * instance view, and a summary. Exits 0 only if every check passed.
 */

/**
 * Usage text of `umdkit demo`.
 *
 * @example
 * ```ts
 * process.stdout.write(DEMO_USAGE);
 * ```
 */
export const DEMO_USAGE = `usage: umdkit demo [--handler node|c] [--iterations N] [--reload-every N] [--crashes N]

  the kernel's umd_mgmt selftest, ported: N writes of random multiples of 1024 below 128 KiB to the
  sample UMD, the image unloaded and reloaded every --reload-every writes, handlers SIGKILLed with a
  write in flight --crashes times; every 128 KiB reply is checked. Exits 0 only if all checks pass.

  --handler node|c     the TypeScript handler (node image, default) or the C one (exec image)
  --iterations N       writes (default 500)
  --reload-every N     unload + reload after every N writes (default 50; 0 = never)
  --crashes N          injected handler crashes (default 5)
`;

/**
 * Where the demo writes. `isTTY` selects the live view redrawn in place; otherwise plain lines.
 *
 * @example
 * ```ts
 * const lines: string[] = [];
 * const out: DemoOutput = { write: (t) => lines.push(t), isTTY: false };
 * ```
 */
export interface DemoOutput {
  write(text: string): void;
  isTTY?: boolean;
}

/**
 * Options of {@link runDemo}.
 *
 * @example
 * ```ts
 * const options: DemoOptions = { handler: 'c', iterations: 100, reloadEvery: 10, crashes: 2 };
 * ```
 */
export interface DemoOptions {
  /** Which embedded image runs (default `node`). */
  handler?: SampleHandlerKind;
  /** Run this image instead of the embedded one (tests pack their own from source). */
  image?: Image;
  iterations?: number;
  reloadEvery?: number;
  crashes?: number;
  /** Where images are extracted (default: umdkit's runtime directory). */
  runtimeDir?: string;
  /** Default: process.stdout. */
  output?: DemoOutput;
}

/**
 * Runs the demo: the view while it runs, the summary at the end; resolves with the summary.
 * Rejects with `SampleImageMissing` when the asked-for image was not built.
 *
 * @example
 * ```ts
 * const summary = await runDemo({ handler: 'node', iterations: 500 });
 * process.exitCode = summary.ok ? 0 : 1;
 * ```
 */
export async function runDemo(options: DemoOptions = {}): Promise<SelftestSummary> {
  const out = options.output ?? process.stdout;
  const handler = options.handler ?? 'node';
  const image = options.image ?? (await loadSampleDriver(handler)).image;
  const iterations = options.iterations ?? 500;
  const reloadEvery = options.reloadEvery ?? 50;
  const crashes = options.crashes ?? 5;
  const title = `umdkit demo: the sample UMD, ${image.kind === 'exec' ? 'C handler (exec image)' : 'TypeScript handler (node image)'} ${image.sha256.slice(0, 12)}…, ` +
    `${iterations} writes, reload every ${reloadEvery || 'never'}, ${crashes} injected crashes`;
  const view = out.isTTY ? new LiveView(out, title) : new PlainView(out, title, iterations);
  try {
    const summary = await runSelftest({
      image,
      iterations,
      reloadEvery,
      crashes,
      ...(options.runtimeDir === undefined ? {} : { runtimeDir: options.runtimeDir }),
      observer: {
        started: (sample) => view.started(sample),
        iteration: (done, total) => view.progress(done, total),
        note: (line) => view.note(line),
      },
    });
    view.finish();
    out.write(formatSummary(summary).join('\n') + '\n');
    return summary;
  } finally {
    view.finish();
  }
}

/**
 * Runs `umdkit demo` with `argv` (the words after `demo`); returns the exit code: 0 every check
 * passed, 1 a check failed or the image is missing, 2 bad usage.
 *
 * @example
 * ```ts
 * process.exitCode = await demoCommand(['--handler', 'c', '--iterations', '100']);
 * ```
 */
export async function demoCommand(argv: string[], output: DemoOutput = process.stdout, errors: DemoOutput = process.stderr): Promise<number> {
  const line = commandLine('demo', DEMO_USAGE, { out: (text) => output.write(text), err: (text) => errors.write(text) }, () => parseDemoArgs(argv));
  if ('exitCode' in line) return line.exitCode;
  const options = line.settings;
  try {
    const summary = await runDemo({ ...options, output });
    return summary.ok ? 0 : 1;
  } catch (err) {
    if (err instanceof SampleImageMissing) {
      errors.write(`umdkit demo: ${err.message}\n`);
      return 1;
    }
    errors.write(`umdkit demo: ${(err as Error)?.stack ?? String(err)}\n`);
    return 1;
  }
}

/**
 * Parses the demo's options; throws an `Error` naming the option and the value for bad ones.
 *
 * @example
 * ```ts
 * parseDemoArgs(['--crashes', '2']); // { handler: 'node', iterations: 500, reloadEvery: 50, crashes: 2 }
 * ```
 */
export function parseDemoArgs(argv: string[]): DemoOptions | 'help' {
  const args = commandArgs(argv, {
    handler: { type: 'string' },
    iterations: { type: 'string' },
    'reload-every': { type: 'string' },
    crashes: { type: 'string' },
  });
  if (args === 'help') return args;
  const { values, positionals } = args;
  if (positionals.length > 0) throw new Error(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const handler = values.handler ?? 'node';
  if (handler !== 'node' && handler !== 'c') throw new Error(`--handler must be node or c, got ${JSON.stringify(handler)}`);
  const iterations = count('--iterations', values.iterations, 500, 1);
  const reloadEvery = count('--reload-every', values['reload-every'], 50, 0);
  const crashes = count('--crashes', values.crashes, 5, 0);
  if (crashes > iterations) throw new Error(`--crashes must be at most --iterations (${iterations}), got ${crashes}`);
  return { handler, iterations, reloadEvery, crashes };
}

function count(option: string, text: string | undefined, fallback: number, min: number): number {
  if (text === undefined) return fallback;
  const value = /^[0-9]{1,9}$/.test(text) ? Number(text) : NaN;
  if (!(value >= min)) throw new Error(`${option} must be an integer of at least ${min}, got ${JSON.stringify(text)}`);
  return value;
}

/**
 * The summary as lines of text, ending with PASS or FAIL.
 *
 * @example
 * ```ts
 * console.log(formatSummary(summary).join('\n'));
 * ```
 */
export function formatSummary(s: SelftestSummary): string[] {
  const ms = (value: number) => `${value.toFixed(value < 10 ? 2 : 1)} ms`;
  const lines = [
    'summary',
    `  requests   ${s.requests} (${s.iterations} writes + ${s.healthChecks} post-start health checks)`,
    `  verified   ${s.verified}/${s.iterations} replies (128 KiB each: 1 at the offset, 0 elsewhere)`,
    `  failures   ${s.failures}${s.failureReasons.length ? `: ${s.failureReasons.join('; ')}` : ''}`,
    `  restarts   ${s.restarts} by the supervisor after ${s.crashesSeen} crashes seen (${s.crashesInjected} injected); ${s.processes} handler processes in all`,
    `  reloads    ${s.reloads} (${s.reloadsVerified} from a fresh extraction, the old directory removed)`,
    `  latency    p50 ${ms(s.latencyMs.p50)}, p99 ${ms(s.latencyMs.p99)}, max ${ms(s.latencyMs.max)}`,
    `  leftovers  ${s.leftoverPids.length} of ${s.processes} processes, ${s.leftoverDirs.length} of ${s.directories} directories`,
    `  duration   ${(s.durationMs / 1000).toFixed(2)} s`,
  ];
  for (const check of s.checks) lines.push(`  ${check.ok ? 'ok  ' : 'FAIL'} ${check.name}: ${check.detail}`);
  lines.push(s.ok ? 'PASS: every check passed' : `FAIL: ${s.checks.filter((c) => !c.ok).map((c) => c.name).join(', ')}`);
  return lines;
}

/** One line per instance: state, pid, generation, restarts, queue. */
function instanceLines(sample: SampleManager | undefined): string[] {
  const driver = sample?.manager.snapshot().children?.[0];
  if (driver === undefined) return ['  (starting)'];
  return (driver.children ?? []).map((instance: SnapshotNode) =>
    `  ${driver.name} ${instance.id ?? ''}  ${instance.state.padEnd(10)} pid ${String(instance.pid ?? '-').padEnd(7)} ` +
    `gen ${String(instance.generation).padEnd(3)} restarts ${String(instance.restarts).padEnd(3)} queue ${driver.queued}  in flight ${instance.inFlight}`);
}

interface View {
  started(sample: SampleManager): void;
  progress(done: number, total: number): void;
  note(line: string): void;
  finish(): void;
}

/** On a terminal: a block redrawn in place ten times a second, notes scrolling above it. */
class LiveView implements View {
  private sample: SampleManager | undefined;
  private done = 0;
  private total = 0;
  private drawn = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly out: DemoOutput, private readonly title: string) {
    out.write(`${title}\n`);
    this.timer = setInterval(() => this.draw(), 100);
    this.timer.unref();
  }

  started(sample: SampleManager): void {
    this.sample = sample;
    this.draw();
  }

  progress(done: number, total: number): void {
    this.done = done;
    this.total = total;
  }

  note(line: string): void {
    this.out.write(`${this.clear()}  ${line}\n`);
    this.drawn = 0;
    this.draw();
  }

  finish(): void {
    if (this.timer === undefined) return;
    clearInterval(this.timer);
    this.timer = undefined;
    this.draw();
  }

  private draw(): void {
    const width = 30;
    const filled = this.total === 0 ? 0 : Math.round((this.done / this.total) * width);
    const lines = [`  [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${this.done}/${this.total || '?'} writes`, ...instanceLines(this.sample)];
    this.out.write(this.clear() + lines.join('\n') + '\n');
    this.drawn = lines.length;
  }

  /** Moves up over the block drawn last and clears to the end of the screen. */
  private clear(): string {
    return this.drawn > 0 ? `\x1b[${this.drawn}A\x1b[J` : '';
  }
}

/** Not a terminal (a pipe, a CI log): plain lines, a progress line every tenth of the run. */
class PlainView implements View {
  private sample: SampleManager | undefined;
  private readonly every: number;

  constructor(private readonly out: DemoOutput, title: string, iterations: number) {
    this.every = Math.max(1, Math.floor(iterations / 10));
    out.write(`${title}\n`);
  }

  started(sample: SampleManager): void {
    this.sample = sample;
    this.out.write(`started:\n${instanceLines(sample).join('\n')}\n`);
  }

  progress(done: number, total: number): void {
    if (done % this.every !== 0 && done !== total) return;
    this.out.write(`[${String(done).padStart(String(total).length)}/${total}]\n${instanceLines(this.sample).join('\n')}\n`);
  }

  note(line: string): void {
    this.out.write(`  ${line}\n`);
  }

  finish(): void {}
}
