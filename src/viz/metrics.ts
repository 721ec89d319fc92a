import { createRequire } from 'node:module';
import type { Registry } from 'prom-client';

/**
 * prom-client, loaded on the first `createMetrics()`: it is the heaviest module of the package
 * (~20 ms to import here), and most programs that import umdkit never serve metrics.
 */
let promClient: typeof import('prom-client') | undefined;
function loadPromClient(): typeof import('prom-client') {
  promClient ??= createRequire(import.meta.url)('prom-client') as typeof import('prom-client');
  return promClient;
}
import { INSTANCE_STATES } from '../../machines/instance-types.js';
import type { ManagerEvent } from '../manager/events.js';
import type { SnapshotNode, TreeSnapshot } from '../manager/snapshot.js';
import { driverNodes } from './health.js';

/**
 * Prometheus metrics of one manager, in a registry of its own (never prom-client's global one, so
 * two managers in one process, or a test, never mix their numbers). Counters follow events;
 * gauges are read from a snapshot at scrape time, so they cannot drift from the tree.
 */

/** What metrics need of a manager (a `Manager` has both). */
export interface MetricsSource {
  subscribe(listener: (event: ManagerEvent) => void): () => void;
  snapshot(): TreeSnapshot;
}

/** Options of {@link createMetrics}. */
export interface MetricsOptions {
  /** Register here instead of a new registry (the names must not be registered in it yet). */
  registry?: Registry;
  /** Histogram buckets of `umdkit_request_duration_seconds`, in seconds. */
  buckets?: number[];
}

/** The metrics of one manager. */
export interface ManagerMetrics {
  readonly registry: Registry;
  /** The exposition text (what `/metrics` serves). */
  text(): Promise<string>;
  /** The Content-Type of {@link ManagerMetrics.text}. */
  readonly contentType: string;
  /** Stops following the manager's events (the registry keeps its values). */
  close(): void;
}

/**
 * Default latency buckets: 1 ms to 30 s.
 *
 * @example
 * ```ts
 * createMetrics(manager, { buckets: [...DEFAULT_DURATION_BUCKETS, 60] });
 * ```
 */
export const DEFAULT_DURATION_BUCKETS: readonly number[] = Object.freeze([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]);

/**
 * Creates the metrics of `manager`:
 * `umdkit_requests_total{driver,outcome}`, `umdkit_request_duration_seconds{driver}` (histogram),
 * `umdkit_restarts_total{supervisor,child}`, `umdkit_recycles_total{driver,cause}`, `umdkit_queue_depth{driver}` and
 * `umdkit_instances{driver,state}`. Create it before the traffic you want counted (with
 * `createManager({ onEvent })` timing, or right after start).
 *
 * @example
 * ```ts
 * const metrics = createMetrics(manager);
 * http.createServer(async (req, res) => {
 *   res.setHeader('content-type', metrics.contentType);
 *   res.end(await metrics.text());
 * }).listen(9464, '127.0.0.1');
 * ```
 */
export function createMetrics(manager: MetricsSource, options: MetricsOptions = {}): ManagerMetrics {
  const { Counter, Gauge, Histogram, Registry: PromRegistry } = loadPromClient();
  const registry = options.registry ?? new PromRegistry();
  const registers = [registry];
  const requests = new Counter({ name: 'umdkit_requests_total', help: 'Requests settled, by driver and outcome (OK or the UmdError code).', labelNames: ['driver', 'outcome'] as const, registers });
  const duration = new Histogram({
    name: 'umdkit_request_duration_seconds',
    help: 'Time from request() to its settling, queue time included, by driver.',
    labelNames: ['driver'] as const,
    buckets: [...(options.buckets ?? DEFAULT_DURATION_BUCKETS)],
    registers,
  });
  const restarts = new Counter({ name: 'umdkit_restarts_total', help: 'Restarts ordered by a supervisor, by supervisor and child.', labelNames: ['supervisor', 'child'] as const, registers });
  const recycles = new Counter({ name: 'umdkit_recycles_total', help: 'Handlers replaced without blame (not restarts), by driver and cause (stuck: every slot held by a cancelled request).', labelNames: ['driver', 'cause'] as const, registers });
  new Gauge({
    name: 'umdkit_queue_depth',
    help: 'Requests waiting for an instance, by driver.',
    labelNames: ['driver'] as const,
    registers,
    collect() {
      this.reset();
      for (const driver of driverNodes(manager.snapshot())) this.set({ driver: driver.name }, driver.queued);
    },
  });
  new Gauge({
    name: 'umdkit_instances',
    help: 'Instances by driver and lifecycle state (every state listed, 0 when none).',
    labelNames: ['driver', 'state'] as const,
    registers,
    collect() {
      this.reset();
      for (const driver of driverNodes(manager.snapshot())) {
        const counts = new Map<string, number>(INSTANCE_STATES.map((s) => [s, 0]));
        for (const instance of driver.children ?? []) counts.set(instance.state, (counts.get(instance.state) ?? 0) + 1);
        for (const [state, n] of counts) this.set({ driver: driver.name, state }, n);
      }
    },
  });
  // Series that exist from the start read 0 rather than missing, so rate() and alerts work from
  // the first scrape.
  const initial = manager.snapshot();
  for (const driver of driverNodes(initial)) {
    requests.inc({ driver: driver.name, outcome: 'OK' }, 0);
    recycles.inc({ driver: driver.name, cause: 'stuck' }, 0);
    duration.zero({ driver: driver.name });
  }
  for (const [supervisor, child] of supervisedPairs(initial)) restarts.inc({ supervisor, child }, 0);
  const unsubscribe = manager.subscribe((event) => {
    if (event.type === 'request') {
      requests.inc({ driver: event.driver, outcome: event.outcome });
      duration.observe({ driver: event.driver }, event.latencyMs / 1000);
    } else if (event.type === 'restart') {
      restarts.inc({ supervisor: event.supervisor, child: event.child });
    } else if (event.type === 'recycle') {
      recycles.inc({ driver: event.driver, cause: event.cause });
    }
  });
  return {
    registry,
    contentType: registry.contentType,
    text: () => registry.metrics(),
    close: unsubscribe,
  };
}

/** (supervisor, child) name pairs as restart events name them: a driver's instances by the driver's name. */
function supervisedPairs(node: SnapshotNode): Array<[string, string]> {
  if (node.kind !== 'supervisor') return [];
  const pairs: Array<[string, string]> = [];
  for (const child of node.children ?? []) {
    pairs.push([node.name, child.name]);
    pairs.push(...supervisedPairs(child));
  }
  return pairs;
}
