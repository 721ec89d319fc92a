/**
 * Seeing a running tree: machine diagrams generated from the machine definitions, drawings of a
 * running tree, the `top` view, Prometheus metrics, health probes and the dashboard server.
 *
 * @example
 * ```ts
 * import { builtinGraph, machineToMermaid, createObservabilityServer } from 'umdkit';
 * console.log(machineToMermaid(builtinGraph('instance')));
 * const server = await createObservabilityServer(manager); // /metrics, /healthz, /readyz, dashboard
 * ```
 */
export { machineGraph, builtinGraph, MACHINES, ANY_STATE, type MachineGraph, type GraphState, type GraphTransition, type MachineName } from './machine-graph.js';
export { machineToMermaid, treeToMermaid } from './mermaid.js';
export { machineToDot, treeToDot } from './dot.js';
export { machineToSvg, type SvgOptions } from './svg.js';
export { renderTop, type TopRenderOptions } from './top-render.js';
export { RequestStats, quantile, type DriverRequestStats, type RequestStatsSummary } from './request-stats.js';
export { StateHistory, type HistoryEntry, type StateHistorySnapshot } from './history.js';
export { createMetrics, DEFAULT_DURATION_BUCKETS, type ManagerMetrics, type MetricsOptions, type MetricsSource } from './metrics.js';
export { liveness, readiness, type HealthReport, type ReadinessReport } from './health.js';
export { createObservabilityServer, type ObservabilityServer, type ObservabilityServerOptions } from './server.js';
export { permanentDrivers } from './permanent.js';
