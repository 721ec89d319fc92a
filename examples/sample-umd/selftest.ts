/**
 * The kernel's umd_mgmt.sh, ported: 500 writes of random multiples of 1024 below 128 KiB, the
 * Loader unloaded after every 50th (`rmmod`; the next write reloads it), and — what the kernel
 * script cannot do — handler processes SIGKILLed at fixed iterations while a write is in flight
 * (the write is idempotent, so umdkit sends it again to the restarted handler). It then checks
 * what umdkit promises: every reply verified, no failure, no process and no directory left.
 */
import { existsSync, readlinkSync } from 'node:fs';
import type { Image, ManagerEvent } from 'umdkit';
import { SampleManager } from './manager.js';
import { SAMPLE_REPLY_BYTES } from './offset.js';
import { mulberry32 } from '../../src/testing/prng.js';

/**
 * Options of {@link runSelftest}.
 *
 * @example
 * ```ts
 * const options: SelftestOptions = { image, iterations: 500, reloadEvery: 50, crashes: 5 };
 * ```
 */
export interface SelftestOptions {
  /** The handler's image (node or exec). */
  image: Image;
  /** Writes (default 500, as umd_mgmt.sh). */
  iterations?: number;
  /** Unload and reload after every this many writes, counting from the first (default 50; 0 = never). */
  reloadEvery?: number;
  /** Handler processes SIGKILLed with a write in flight, spread evenly (default 5). */
  crashes?: number;
  /** Seed of the offsets (the script uses $RANDOM; a seed makes a run repeatable). */
  seed?: number;
  /** Where images are extracted (default: umdkit's runtime directory). */
  runtimeDir?: string;
  /** Told as the run goes, e.g. to draw a live view. */
  observer?: SelftestObserver;
}

/**
 * What a view is told. Every method is optional.
 *
 * @example
 * ```ts
 * const observer: SelftestObserver = { note: (line) => console.log(line) };
 * ```
 */
export interface SelftestObserver {
  /** The handler is up; `sample.manager` gives snapshots and events. */
  started?(sample: SampleManager): void;
  /** `done` of `total` writes finished. */
  iteration?(done: number, total: number): void;
  /** Something worth a line: a reload, an injected crash, a failure. */
  note?(line: string): void;
  /** Every manager event. */
  event?(event: ManagerEvent): void;
}

/**
 * One named check of the run.
 *
 * @example
 * ```ts
 * const check: SelftestCheck = { name: 'no failure', ok: true, detail: '0 of 500 writes failed' };
 * ```
 */
export interface SelftestCheck {
  name: string;
  ok: boolean;
  detail: string;
}

/**
 * What a run did and found. `ok` is true only when every check passed.
 *
 * @example
 * ```ts
 * const summary = await runSelftest({ image });
 * if (!summary.ok) console.error(summary.checks.filter((c) => !c.ok));
 * ```
 */
export interface SelftestSummary {
  ok: boolean;
  checks: SelftestCheck[];
  /** The image kind that ran: `node` or `exec`. */
  kind: Image['kind'];
  iterations: number;
  /** Writes whose reply passed the Manager's check. */
  verified: number;
  /** Writes that failed, and the first few reasons. */
  failures: number;
  failureReasons: string[];
  /** Requests sent by the Manager: writes plus health checks. */
  requests: number;
  healthChecks: number;
  healthFailures: number;
  crashesInjected: number;
  /** Injected crashes the Manager saw end a process (exit by SIGKILL). */
  crashesSeen: number;
  /** Restarts the supervisor made after crashes (reloads are not crashes and are counted apart). */
  restarts: number;
  reloads: number;
  /** Reloads after which the handler ran from a new directory and the old one was gone. */
  reloadsVerified: number;
  /** Handler processes started, and those still running after stop. */
  processes: number;
  leftoverPids: number[];
  /** Extraction directories handlers ran from, and those still there after stop. */
  directories: number;
  leftoverDirs: string[];
  latencyMs: { p50: number; p99: number; max: number };
  durationMs: number;
}

/**
 * Runs the ported selftest against `image` and resolves with its summary (it never rejects for
 * a failed check: the summary says what failed). Nothing is left running or on disk afterwards.
 *
 * @example
 * ```ts
 * const summary = await runSelftest({ image, iterations: 500, reloadEvery: 50, crashes: 5 });
 * process.exitCode = summary.ok ? 0 : 1;
 * ```
 */
export async function runSelftest(options: SelftestOptions): Promise<SelftestSummary> {
  if (typeof options !== 'object' || options === null) throw new TypeError(`options must be an object, got ${options === null ? 'null' : typeof options}`);
  const iterations = integer('options.iterations', options.iterations, 500, 1);
  const reloadEvery = integer('options.reloadEvery', options.reloadEvery, 50, 0);
  const requested = integer('options.crashes', options.crashes, 5, 0);
  const seed = integer('options.seed', options.seed, 0x5eed, 0);
  const observer = options.observer ?? {};
  const random = mulberry32(seed);
  const crashAt = crashIterations(iterations, requested, reloadEvery);
  const crashes = crashAt.size;

  const pids = new Set<number>();
  const dirOf = new Map<number, string>();
  const killed = new Set<number>();
  let crashesSeen = 0;
  let requests = 0;
  let restarts = 0;
  const onEvent = (event: ManagerEvent): void => {
    if (event.type === 'spawn') {
      pids.add(event.pid);
      const dir = cwdOf(event.pid);
      if (dir !== undefined) dirOf.set(event.pid, dir);
    } else if (event.type === 'exit' && killed.has(event.pid) && event.signal === 'SIGKILL') {
      crashesSeen++;
    } else if (event.type === 'request') {
      requests++;
    } else if (event.type === 'restart') {
      restarts++;
    }
    observer.event?.(event);
  };

  const started = performance.now();
  const sample = await SampleManager.start({ image: options.image, onEvent, ...(options.runtimeDir === undefined ? {} : { runtimeDir: options.runtimeDir }) });
  observer.started?.(sample);

  const latencies: number[] = [];
  const failureReasons: string[] = [];
  let verified = 0;
  let reloads = 0;
  let reloadsVerified = 0;
  let injected = 0;
  let pendingCrash = 0;
  let gaveUp: string | undefined;
  try {
    for (let i = 0; i < iterations; i++) {
      if (sample.manager.stopped) {
        // The supervisor gave up (restart intensity exceeded): every further write would fail at once.
        gaveUp = sample.manager.snapshot().gaveUp ?? 'the manager stopped';
        observer.note?.(`iteration ${i}: the supervisor gave up (${gaveUp}); the run ends here`);
        break;
      }
      // `echo $(( RANDOM % 128 * 1024 )) > /sys/kernel/security/sample_umd`: echo adds the newline.
      const text = `${Math.floor(random() * 128) * 1024}\n`;
      if (crashAt.has(i)) pendingCrash++;
      const begin = performance.now();
      const write = sample.write(text);
      if (pendingCrash > 0) {
        // The write is on the pipe now: kill the handler under it.
        const pid = currentPid(sample);
        if (pid !== null) {
          killed.add(pid);
          process.kill(pid, 'SIGKILL');
          pendingCrash--;
          injected++;
          observer.note?.(`iteration ${i}: SIGKILL to handler pid ${pid} with a write in flight (crash ${injected}/${crashes})`);
        }
      }
      try {
        const written = await write;
        if (written !== Buffer.byteLength(text)) throw new Error(`write returned ${written}, expected ${Buffer.byteLength(text)}`);
        verified++;
        latencies.push(performance.now() - begin);
      } catch (err) {
        if (failureReasons.length < 5) failureReasons.push(`iteration ${i} (${JSON.stringify(text)}): ${(err as Error).message}`);
        observer.note?.(`iteration ${i}: write of ${JSON.stringify(text)} failed: ${(err as Error).message}`);
      }
      // `if [ $(( i % 50 )) -eq 0 ]; then rmmod sample_loader_kmod; fi`
      if (reloadEvery > 0 && i % reloadEvery === 0 && !sample.manager.stopped) {
        const before = currentPid(sample);
        const oldDir = before === null ? undefined : dirOf.get(before);
        await sample.reload();
        reloads++;
        const after = currentPid(sample);
        const newDir = after === null ? undefined : dirOf.get(after);
        const fresh = oldDir !== undefined && newDir !== undefined && newDir !== oldDir && !existsSync(oldDir);
        if (fresh) reloadsVerified++;
        observer.note?.(`iteration ${i}: reload ${reloads}: pid ${before} -> ${after}${fresh ? ', fresh extraction, old directory removed' : ''}`);
      }
      observer.iteration?.(i + 1, iterations);
    }
    await sample.settled();
  } finally {
    await sample.stop();
  }
  const durationMs = performance.now() - started;

  const leftoverPids = [...pids].filter(isAlive);
  const directories = new Set(dirOf.values());
  const leftoverDirs = [...directories].filter((dir) => existsSync(dir));
  const failures = iterations - verified;
  const observable = existsSync('/proc/self/cwd');
  const checks: SelftestCheck[] = [
    { name: 'replies verified', ok: verified === iterations, detail: `${verified}/${iterations} replies of ${SAMPLE_REPLY_BYTES} bytes: 1 at the offset, 0 elsewhere` },
    { name: 'no failure', ok: failures === 0, detail: `${failures} of ${iterations} writes failed${gaveUp === undefined ? '' : ` (the supervisor gave up: ${gaveUp})`}` },
    { name: 'health checks', ok: sample.healthFailures.length === 0 && sample.healthChecks > 0, detail: `${sample.healthChecks} post-start checks, ${sample.healthFailures.length} failed` },
    { name: 'crashes injected and survived', ok: injected === crashes && crashesSeen === crashes, detail: `${injected}/${crashes} injected, ${crashesSeen} seen by the Manager` },
    {
      name: 'reloads from a fresh extraction',
      ok: observable ? reloadsVerified === reloads : true,
      detail: observable ? `${reloadsVerified}/${reloads} reloads ran from a new directory, the old one removed` : 'not observable without /proc',
    },
    { name: 'no process left', ok: leftoverPids.length === 0, detail: `${pids.size} handler processes started, ${leftoverPids.length} still running${leftoverPids.length ? `: ${leftoverPids.join(', ')}` : ''}` },
    {
      name: 'no directory left',
      ok: leftoverDirs.length === 0 && (!observable || directories.size > 0),
      detail: observable ? `${directories.size} extraction directories used, ${leftoverDirs.length} left${leftoverDirs.length ? `: ${leftoverDirs.join(', ')}` : ''}` : 'not observable without /proc',
    },
  ];
  return {
    ok: checks.every((check) => check.ok),
    checks,
    kind: options.image.kind,
    iterations,
    verified,
    failures,
    failureReasons,
    requests,
    healthChecks: sample.healthChecks,
    healthFailures: sample.healthFailures.length,
    crashesInjected: injected,
    crashesSeen,
    restarts,
    reloads,
    reloadsVerified,
    processes: pids.size,
    leftoverPids,
    directories: directories.size,
    leftoverDirs,
    latencyMs: { p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99), max: percentile(latencies, 1) },
    durationMs,
  };
}

/**
 * The iterations at which a crash is injected: spread evenly, at most one per iteration, and never
 * on a reload iteration (the reload's own restart would hide it). Fewer than `crashes` only when
 * there are not enough other iterations.
 *
 * @example
 * ```ts
 * crashIterations(500, 5, 50); // Set { 51, 151, 251, 351, 451 }
 * ```
 */
export function crashIterations(iterations: number, crashes: number, reloadEvery: number): Set<number> {
  const at = new Set<number>();
  const free = (i: number) => !at.has(i) && !(reloadEvery > 0 && i % reloadEvery === 0);
  for (let k = 0; k < crashes; k++) {
    const ideal = Math.floor(((k + 0.5) * iterations) / crashes);
    // The first free iteration from the ideal one on, wrapping around.
    let found: number | undefined;
    for (let step = 0; step < iterations && found === undefined; step++) {
      const i = (ideal + step) % iterations;
      if (free(i)) found = i;
    }
    if (found === undefined) break;
    at.add(found);
  }
  return at;
}

/**
 * The nearest-rank percentile `p` (0..1] of `values`, in their unit; 0 for none.
 *
 * @example
 * ```ts
 * percentile([3, 1, 2], 0.5); // 2
 * ```
 */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)]!;
}

/** Validates an optional integer option at the boundary (`options.x must be ..., got ...`). */
function integer(path: string, value: unknown, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new RangeError(`${path} must be an integer of at least ${min}, got ${typeof value === 'number' ? value : typeof value}`);
  }
  return value;
}

/** The pid of the sample driver's instance now, or null between processes. */
function currentPid(sample: SampleManager): number | null {
  return sample.manager.snapshot().children?.[0]?.children?.[0]?.pid ?? null;
}

/** The handler's working directory — its private extraction directory — read from /proc. */
function cwdOf(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/cwd`);
  } catch {
    return undefined; // gone already, or no /proc here
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
