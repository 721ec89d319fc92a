import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import type { ManagerEvent } from '../manager/events.js';
import type { Manager } from '../manager/manager.js';
import type { SnapshotNode } from '../manager/snapshot.js';
import { isUmdError } from '../errors.js';
import { knownKeys, plainObject, nonNegativeInteger, boolean } from '../util/options.js';
import { dashboardPage } from './dashboard-page.js';
import { liveness, readiness } from './health.js';
import { builtinGraph } from './machine-graph.js';
import { createMetrics, type ManagerMetrics } from './metrics.js';
import { StateHistory } from './history.js';
import { machineToSvg } from './svg.js';

/**
 * One small HTTP server for everything a person or a probe asks a running tree: `/metrics`
 * (Prometheus), `/healthz` and `/readyz` always; on a loopback address also the dashboard (`/`,
 * its event stream `/events`, `/api/snapshot`, and the demo endpoints `POST /api/fault` and
 * `POST /api/request`).
 */

/** Options of {@link createObservabilityServer}. */
export interface ObservabilityServerOptions {
  /** TCP port; 0 (default) picks a free one (read it back from `server.port`). */
  port?: number;
  /** Address to listen on (default `127.0.0.1`). */
  host?: string;
  /**
   * Serve the dashboard and its fault-injection endpoints (default: true on a loopback host, false
   * elsewhere). They can kill handlers, so they are refused on any non-loopback address.
   */
  dashboard?: boolean;
  /**
   * The drivers readiness requires (pass the permanent ones, e.g. `permanentDrivers(options)`);
   * default: every driver not retired by its supervisor.
   */
  permanent?: readonly string[];
  /** Metrics to serve (default: `createMetrics(manager)`, closed with the server). */
  metrics?: ManagerMetrics;
  /** How often each dashboard stream gets a fresh snapshot, in ms (default 1000). */
  snapshotIntervalMs?: number;
}

/** A listening observability server. */
export interface ObservabilityServer {
  /** `http://host:port/` */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly metrics: ManagerMetrics;
  readonly server: Server;
  /** Ends the event streams, stops listening, and stops following the manager. Idempotent. */
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 64 * 1024;
/** Events kept for a page that opens later (the page shows 150). */
const RECENT_EVENTS = 150;

/**
 * Serves metrics, health and (on loopback) the dashboard of `manager`.
 *
 * @example
 * ```ts
 * const manager = await createManager(options);
 * const server = await createObservabilityServer(manager, { port: 9464, permanent: permanentDrivers(options) });
 * console.log(`dashboard: ${server.url}`); // http://127.0.0.1:9464/
 * // ...
 * await server.close();
 * await manager.stop();
 * ```
 */
export async function createObservabilityServer(manager: Manager, options: ObservabilityServerOptions = {}): Promise<ObservabilityServer> {
  const o = plainObject('options', options);
  knownKeys('options', o, ['port', 'host', 'dashboard', 'permanent', 'metrics', 'snapshotIntervalMs']);
  const port = o.port === undefined ? 0 : nonNegativeInteger('options.port', o.port);
  if (port > 65535) throw new RangeError(`options.port must be between 0 and 65535, got ${port}`);
  const host = o.host === undefined ? '127.0.0.1' : String(o.host);
  if (o.host !== undefined && (typeof o.host !== 'string' || (isIP(o.host) === 0 && o.host !== 'localhost'))) {
    throw new TypeError(`options.host must be an IP address or "localhost", got ${JSON.stringify(o.host)}`);
  }
  const loopback = isLoopback(host);
  const dashboard = o.dashboard === undefined ? loopback : boolean('options.dashboard', o.dashboard);
  if (dashboard && !loopback) {
    throw new RangeError(`options.dashboard must be false when options.host is not a loopback address (the dashboard can kill handlers), got true with host ${JSON.stringify(host)}`);
  }
  const permanent = o.permanent === undefined ? undefined : [...(o.permanent as readonly string[])];
  if (permanent !== undefined && !permanent.every((p) => typeof p === 'string')) throw new TypeError('options.permanent must be an array of driver names, got a non-string entry');
  const snapshotIntervalMs = o.snapshotIntervalMs === undefined ? 1000 : nonNegativeInteger('options.snapshotIntervalMs', o.snapshotIntervalMs);
  const ownMetrics = o.metrics === undefined;
  const metrics = (o.metrics as ManagerMetrics | undefined) ?? createMetrics(manager);

  const history = new StateHistory(50);
  // The recent events, so a page opened late (or reloaded) shows what already happened.
  const recent: ManagerEvent[] = [];
  const unsubscribe = manager.subscribe((event) => {
    history.observe(event);
    recent.push(event);
    if (recent.length > RECENT_EVENTS) recent.splice(0, recent.length - RECENT_EVENTS);
  });
  const page = dashboard ? dashboardPage({ instanceSvg: machineToSvg(builtinGraph('instance')), supervisorSvg: machineToSvg(builtinGraph('supervisor')) }) : '';
  const streams = new Set<() => void>();

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) json(res, 500, { ok: false, message: (err as Error)?.message ?? String(err) });
      else res.destroy();
    });
  });

  let boundPort = port;
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (req.method === 'GET' && path === '/metrics') {
      const body = await metrics.text();
      res.writeHead(200, { 'content-type': metrics.contentType, 'cache-control': 'no-store' });
      res.end(body);
      return;
    }
    if (req.method === 'GET' && (path === '/healthz' || path === '/livez')) {
      const report = liveness(manager.snapshot());
      json(res, report.ok ? 200 : 503, report);
      return;
    }
    if (req.method === 'GET' && path === '/readyz') {
      const report = readiness(manager.snapshot(), permanent === undefined ? {} : { permanent });
      json(res, report.ok ? 200 : 503, report);
      return;
    }
    if (!dashboard || !['/', '/events', '/api/snapshot', '/api/fault', '/api/request'].includes(path)) {
      json(res, 404, { ok: false, message: `no such endpoint: ${req.method} ${path}`, endpoints: dashboard ? ['/', '/events', '/api/snapshot', '/api/fault', '/api/request', '/metrics', '/healthz', '/readyz'] : ['/metrics', '/healthz', '/readyz'] });
      return;
    }
    // A page on another site must not drive the dashboard through the visitor's browser: the
    // Host must be ours (DNS rebinding), and posts must be same-origin JSON (no simple CORS form).
    if (!hostAllowed(req.headers.host, host, boundPort)) {
      json(res, 403, { ok: false, message: `Host ${JSON.stringify(req.headers.host)} is not this dashboard's` });
      return;
    }
    if (req.method === 'GET' && path === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'content-security-policy': "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:" });
      res.end(page);
      return;
    }
    if (req.method === 'GET' && path === '/api/snapshot') {
      json(res, 200, { snapshot: manager.snapshot(), history: history.toJSON(), recent });
      return;
    }
    if (req.method === 'GET' && path === '/events') {
      await streamEvents(req, res);
      return;
    }
    if (req.method !== 'POST') {
      json(res, 405, { ok: false, message: `${req.method} ${path} is not allowed; use POST` });
      return;
    }
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== `http://${req.headers.host}`) {
      json(res, 403, { ok: false, message: `origin ${JSON.stringify(origin)} may not post here` });
      return;
    }
    if (!String(req.headers['content-type'] ?? '').startsWith('application/json')) {
      json(res, 415, { ok: false, message: 'content-type must be application/json' });
      return;
    }
    let body: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(await readBody(req));
      body = plainObject('body', parsed);
    } catch (err) {
      json(res, 400, { ok: false, message: (err as Error).message });
      return;
    }
    if (path === '/api/fault') fault(body, res);
    else await request(body, res);
  };

  /** A fault for a demo, aimed only at a process of this tree (the pid comes from the snapshot, never from the client). */
  const fault = (body: Record<string, unknown>, res: ServerResponse) => {
    const signals = { kill: 'SIGKILL', hang: 'SIGSTOP', resume: 'SIGCONT' } as const;
    const action = body.action;
    if (typeof action !== 'string' || !(action in signals)) {
      json(res, 400, { ok: false, message: `action must be one of "kill", "hang", "resume", got ${JSON.stringify(action)}` });
      return;
    }
    const instance = findInstance(manager.snapshot(), String(body.instance));
    if (instance === undefined) {
      json(res, 404, { ok: false, message: `no instance ${JSON.stringify(body.instance)} in this tree` });
      return;
    }
    if (instance.pid === null) {
      json(res, 409, { ok: false, message: `instance ${instance.id} has no process right now (${instance.state})` });
      return;
    }
    const signal = signals[action as keyof typeof signals];
    try {
      process.kill(instance.pid, signal);
    } catch (err) {
      json(res, 409, { ok: false, message: `could not send ${signal} to pid ${instance.pid}: ${(err as Error).message}` });
      return;
    }
    json(res, 200, { ok: true, instance: instance.id, pid: instance.pid, signal });
  };

  const request = async (body: Record<string, unknown>, res: ServerResponse) => {
    const started = performance.now();
    try {
      const options: { method?: string; timeoutMs?: number } = {};
      if (body.method !== undefined) options.method = String(body.method);
      if (body.timeoutMs !== undefined) options.timeoutMs = Number(body.timeoutMs);
      const value = await manager.request(String(body.driver), body.payload ?? null, options);
      json(res, 200, { ok: true, value: jsonSafe(value), latencyMs: performance.now() - started });
    } catch (err) {
      if (isUmdError(err)) json(res, 200, { ok: false, code: err.code, message: err.message, latencyMs: performance.now() - started });
      else json(res, 400, { ok: false, code: 'BAD_REQUEST', message: (err as Error).message });
    }
  };

  /**
   * Server-Sent Events: the snapshot, history and recent events first, then every manager event, and a fresh
   * snapshot after lifecycle events (coalesced) and on a timer. Each stream reads its own
   * bounded `manager.events()`, so a slow browser loses old events (and is told how many), never
   * the server's memory.
   */
  const streamEvents = async (req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive' });
    const stream = manager.events({ bufferSize: 512 });
    let open = true;
    const end = () => {
      if (!open) return;
      open = false;
      clearInterval(timer);
      if (pending !== undefined) clearTimeout(pending);
      void stream.return();
      streams.delete(end);
      res.end();
    };
    streams.add(end);
    req.on('close', end);
    const send = async (event: string, payload: unknown) => {
      if (!open) return;
      if (!res.write(`event: ${event}\ndata: ${JSON.stringify(payload)}\n\n`)) {
        await new Promise<void>((resolve) => {
          res.once('drain', resolve);
          res.once('close', resolve);
        });
      }
    };
    let pending: NodeJS.Timeout | undefined;
    const soon = () => {
      pending ??= setTimeout(() => {
        pending = undefined;
        void send('snapshot', manager.snapshot());
      }, 50);
    };
    const timer = setInterval(() => void send('snapshot', manager.snapshot()), snapshotIntervalMs || 1000);
    timer.unref();
    // Event times come from the manager's monotonic clock (performance.now()); the page adds this to show wall time.
    // Taken in the same turn as the stream above was opened: no event is both in `recent` and in the stream, none in neither.
    await send('init', { snapshot: manager.snapshot(), history: history.toJSON(), recent, clockOffsetMs: Date.now() - performance.now() });
    let dropped = 0;
    for await (const event of stream) {
      if (!open) break;
      await send('manager', event);
      if (stream.dropped !== dropped) {
        dropped = stream.dropped;
        await send('dropped', { total: dropped });
      }
      if (event.type !== 'request' && event.type !== 'log') soon();
    }
    if (open) {
      // The manager stopped: say so with the final tree, then close (the page does not reconnect).
      await send('end', { snapshot: manager.snapshot() });
      end();
    }
  };

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  boundPort = typeof address === 'object' && address !== null ? address.port : port;
  const urlHost = host.includes(':') ? `[${host}]` : host;

  let closing: Promise<void> | undefined;
  return {
    url: `http://${urlHost}:${boundPort}/`,
    host,
    port: boundPort,
    metrics,
    server,
    close() {
      closing ??= (async () => {
        for (const end of [...streams]) end();
        unsubscribe();
        if (ownMetrics) metrics.close();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
      })();
      return closing;
    },
  };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new RangeError(`body must be at most ${MAX_BODY_BYTES} bytes, got more`));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Answers may hold byte strings: shown as arrays of numbers rather than failing to serialise. */
function jsonSafe(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value, (_key, v: unknown) => (v instanceof Uint8Array ? [...v] : v)) ?? 'null');
}

function findInstance(node: SnapshotNode, id: string): SnapshotNode | undefined {
  if (node.kind === 'instance' && node.id === id) return node;
  for (const child of node.children ?? []) {
    const hit = findInstance(child, id);
    if (hit !== undefined) return hit;
  }
  return undefined;
}

/**
 * Whether `host` is a loopback address (127.0.0.0/8, ::1, localhost).
 *
 * @example
 * ```ts
 * isLoopback('127.0.0.1'); // true
 * isLoopback('0.0.0.0');   // false
 * ```
 */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function hostAllowed(header: string | undefined, host: string, port: number): boolean {
  if (header === undefined) return false;
  const listening = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  return [listening, `127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`].includes(header.toLowerCase());
}
