import type { SnapshotNode, TreeSnapshot } from '../manager/snapshot.js';

/**
 * Liveness and readiness of a supervision tree, as pure functions of its snapshot, so the HTTP
 * probes, `umdkit top` and tests all judge the same way.
 */

/** A probe's verdict and, when it fails, why (served as the body of `/healthz` and `/readyz`). */
export interface HealthReport {
  ok: boolean;
  reason: string;
}

/** A readiness verdict with the verdict per required driver. */
export interface ReadinessReport extends HealthReport {
  drivers: Record<string, boolean>;
}

/**
 * Live while the root supervisor runs: it has not given up and has not been stopped. A failed
 * liveness probe means "restart the whole service" (the tree could not heal itself).
 *
 * @example
 * ```ts
 * const { ok, reason } = liveness(manager.snapshot());
 * if (!ok) console.error(reason); // 'root supervisor "root" gave up: root: more than 3 restarts in 5000 ms (...)'
 * ```
 */
export function liveness(snapshot: TreeSnapshot): HealthReport {
  if (snapshot.gaveUp !== undefined) return { ok: false, reason: `root supervisor "${snapshot.name}" gave up: ${snapshot.gaveUp}` };
  if (snapshot.state === 'running' || snapshot.state === 'starting') return { ok: true, reason: `root supervisor "${snapshot.name}" is ${snapshot.state}` };
  return { ok: false, reason: `root supervisor "${snapshot.name}" is ${snapshot.state}` };
}

/**
 * Ready when live and every required driver has at least one active (non-spare) instance ready or
 * busy. Required are the drivers named in `permanent` when given (pass the permanent ones: see
 * `permanentDrivers`); without it, every driver except those whose instances were all retired by
 * their supervisor (all `stopped` while the tree runs: only temporary and transient children are
 * ever left so).
 *
 * @example
 * ```ts
 * readiness(manager.snapshot(), { permanent: ['parser'] }); // { ok: false, reason: 'driver "parser" has no ready instance (backoff)', drivers: { parser: false } }
 * ```
 */
export function readiness(snapshot: TreeSnapshot, options: { permanent?: readonly string[] } = {}): ReadinessReport {
  const live = liveness(snapshot);
  const drivers = driverNodes(snapshot);
  const byName = new Map(drivers.map((d) => [d.name, d]));
  const required = options.permanent ?? drivers.filter((d) => !(d.children ?? []).every((i) => i.state === 'stopped')).map((d) => d.name);
  const verdicts: Record<string, boolean> = {};
  const problems: string[] = [];
  for (const name of required) {
    const driver = byName.get(name);
    if (driver === undefined) {
      verdicts[name] = false;
      problems.push(`driver "${name}" is not in the tree`);
      continue;
    }
    const active = (driver.children ?? []).filter((i) => !i.spare);
    const ready = active.some((i) => i.state === 'ready' || i.state === 'busy');
    verdicts[name] = ready;
    if (!ready) problems.push(`driver "${name}" has no ready instance (${active.map((i) => i.state).join(', ') || 'none'})`);
  }
  if (!live.ok) return { ok: false, reason: live.reason, drivers: verdicts };
  if (problems.length > 0) return { ok: false, reason: problems.join('; '), drivers: verdicts };
  return { ok: true, reason: required.length === 0 ? 'no driver is required' : `ready: ${required.join(', ')}`, drivers: verdicts };
}

/**
 * Every driver node of a snapshot, in tree order.
 *
 * @example
 * ```ts
 * driverNodes(manager.snapshot()).map((d) => d.name); // ['tokenizer', 'parser']
 * ```
 */
export function driverNodes(node: SnapshotNode): SnapshotNode[] {
  if (node.kind === 'driver') return [node];
  return (node.children ?? []).flatMap(driverNodes);
}
