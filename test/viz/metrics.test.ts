/**
 * Prometheus metrics and health probes of a real tree, read over HTTP from the observability
 * server exactly as Prometheus and a kubelet would.
 */
import { request as httpRequest } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { createMetrics, createObservabilityServer, permanentDrivers, readiness, type Manager, type ObservabilityServer } from 'umdkit';
import { failure, fixtureDriver, outcomes, pidsOf, until, useManagers } from '../manager/harness.js';

/** Parses the exposition text into `name{labels}` → value. */
function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

function useServers() {
  const servers: ObservabilityServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });
  return async (manager: Manager, options: Parameters<typeof createObservabilityServer>[1] = {}) => {
    const server = await createObservabilityServer(manager, options);
    servers.push(server);
    return server;
  };
}

async function get(server: ObservabilityServer, path: string): Promise<{ status: number; type: string | null; text: string }> {
  const res = await fetch(new URL(path, server.url));
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
}

describe('metrics', () => {
  const env = useManagers();
  const serve = useServers();

  it('count exactly the requests, outcomes and restarts of a scripted run', async () => {
    const manager = await env.start({ children: [await fixtureDriver('rogue')] });
    const server = await serve(manager);
    const script: Promise<unknown>[] = [];
    for (let i = 0; i < 10; i++) script.push(manager.request('rogue', i, { method: 'echo' }));
    for (let i = 0; i < 3; i++) script.push(manager.request('rogue', i, { method: 'noSuchMethod' }));
    await Promise.allSettled(script);
    // Two crashes, each with its request in flight; each waits for the instance to be back.
    for (let crash = 1; crash <= 2; crash++) {
      const lost = manager.request('rogue', { code: 3 }, { method: 'exitWith' });
      script.push(lost);
      expect((await failure(lost)).code).toBe('HANDLER_CRASHED');
      await until(() => env.of('state').some((e) => e.to === 'ready' && e.generation === crash + 1), `instance back after crash ${crash}`);
    }
    const counted = await outcomes(script);
    expect(counted).toEqual({ OK: 10, HANDLER_ERROR: 3, HANDLER_CRASHED: 2 });
    const restarts = env.of('restart');
    expect(restarts).toHaveLength(2);

    const res = await get(server, '/metrics');
    expect(res.status).toBe(200);
    expect(res.type).toContain('text/plain');
    const m = parseMetrics(res.text);
    for (const [outcome, n] of Object.entries(counted)) expect(m.get(`umdkit_requests_total{driver="rogue",outcome="${outcome}"}`)).toBe(n);
    expect([...m.keys()].filter((k) => k.startsWith('umdkit_requests_total{'))).toHaveLength(3);
    expect(m.get('umdkit_request_duration_seconds_count{driver="rogue"}')).toBe(15);
    const latencySum = env.of('request').reduce((s, e) => s + e.latencyMs / 1000, 0);
    expect(m.get('umdkit_request_duration_seconds_sum{driver="rogue"}')).toBeCloseTo(latencySum, 6);
    expect(m.get('umdkit_request_duration_seconds_bucket{le="+Inf",driver="rogue"}')).toBe(15);
    expect(m.get('umdkit_restarts_total{supervisor="root",child="rogue"}')).toBe(restarts.length);
    expect(m.get('umdkit_queue_depth{driver="rogue"}')).toBe(0);
    expect(m.get('umdkit_instances{driver="rogue",state="ready"}')).toBe(1);
    expect(m.get('umdkit_instances{driver="rogue",state="crashed"}')).toBe(0);
  });

  it('count a recycle (every slot stuck) as a recycle of its driver, not as a restart', async () => {
    const manager = await env.start({ children: [await fixtureDriver('rogue', { cancelGraceMs: 100 })] });
    const server = await serve(manager);
    const before = parseMetrics((await get(server, '/metrics')).text);
    expect(before.get('umdkit_recycles_total{driver="rogue",cause="stuck"}')).toBe(0);
    await expect(manager.request('rogue', null, { method: 'silent', timeoutMs: 50 })).rejects.toMatchObject({ code: 'TIMEOUT' });
    await until(() => env.of('recycle').length === 1, 'the recycle');
    const after = parseMetrics((await get(server, '/metrics')).text);
    expect(after.get('umdkit_recycles_total{driver="rogue",cause="stuck"}')).toBe(1);
    expect(after.get('umdkit_restarts_total{supervisor="root",child="rogue"}')).toBe(0);
    await manager.stop();
  });

  it('read queue depth and instance states from the tree at scrape time', async () => {
    const manager = await env.start({ children: [await fixtureDriver('rogue', { concurrency: 1 })] });
    const metrics = createMetrics(manager);
    const slow = Array.from({ length: 4 }, (_, i) => manager.request('rogue', { ms: 150, value: i }, { method: 'slow' }));
    const m = parseMetrics(await metrics.text());
    expect(m.get('umdkit_queue_depth{driver="rogue"}')).toBe(3);
    expect(m.get('umdkit_instances{driver="rogue",state="busy"}')).toBe(1);
    expect(m.get('umdkit_requests_total{driver="rogue",outcome="OK"}')).toBe(0);
    expect(await outcomes(slow)).toEqual({ OK: 4 });
    const after = parseMetrics(await metrics.text());
    expect(after.get('umdkit_queue_depth{driver="rogue"}')).toBe(0);
    expect(after.get('umdkit_requests_total{driver="rogue",outcome="OK"}')).toBe(4);
    metrics.close();
    await manager.request('rogue', 1, { method: 'echo' });
    expect(parseMetrics(await metrics.text()).get('umdkit_requests_total{driver="rogue",outcome="OK"}')).toBe(4);
  });

  it('use a registry per manager, never the global one', async () => {
    const a = await env.start({ children: [await fixtureDriver('echo')] });
    const b = await env.start({ children: [await fixtureDriver('echo')] });
    const registry = new Registry();
    const ma = createMetrics(a, { registry });
    const mb = createMetrics(b);
    expect(ma.registry).toBe(registry);
    expect(mb.registry).not.toBe(registry);
    await a.request('echo', 'x');
    expect(parseMetrics(await ma.text()).get('umdkit_requests_total{driver="echo",outcome="OK"}')).toBe(1);
    expect(parseMetrics(await mb.text()).get('umdkit_requests_total{driver="echo",outcome="OK"}')).toBe(0);
    expect(() => createMetrics(a, { registry })).toThrow(/already been registered/);
    ma.close();
    mb.close();
  });
});

describe('health probes', () => {
  const env = useManagers();
  const serve = useServers();

  it('readiness fails while the only instance of a permanent driver restarts; liveness holds', async () => {
    const manager = await env.start({ children: [await fixtureDriver('echo', { backoff: { initialMs: 600, jitter: 0 } })] });
    const server = await serve(manager);
    expect((await get(server, '/healthz')).status).toBe(200);
    const ready = await get(server, '/readyz');
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.text)).toEqual({ ok: true, reason: 'ready: echo', drivers: { echo: true } });

    process.kill(pidsOf(manager, 'echo')[0]!, 'SIGKILL');
    await until(() => env.of('state').some((e) => e.to === 'backoff'), 'the backoff');
    const unready = await get(server, '/readyz');
    expect(unready.status).toBe(503);
    expect(JSON.parse(unready.text)).toMatchObject({ ok: false, reason: expect.stringContaining('driver "echo" has no ready instance'), drivers: { echo: false } });
    const live = await get(server, '/healthz');
    expect(live.status).toBe(200);
    expect(JSON.parse(live.text)).toEqual({ ok: true, reason: 'root supervisor "root" is running' });

    await until(() => env.of('state').some((e) => e.to === 'ready' && e.generation === 2), 'the restart');
    expect((await get(server, '/readyz')).status).toBe(200);
  });

  it('liveness fails once the root gives up', async () => {
    const manager = await env.start({ children: [await fixtureDriver('echo')], intensity: { maxRestarts: 0, periodMs: 10_000 } });
    const server = await serve(manager);
    process.kill(pidsOf(manager, 'echo')[0]!, 'SIGKILL');
    await until(() => env.of('gave-up').length > 0, 'the give-up');
    const live = await get(server, '/healthz');
    expect(live.status).toBe(503);
    expect(JSON.parse(live.text).reason).toMatch(/^root supervisor "root" gave up: root: more than 0 restarts/);
    expect((await get(server, '/readyz')).status).toBe(503);
  });

  it('readiness waits only for permanent drivers when told which they are', async () => {
    const children = [await fixtureDriver('echo'), await fixtureDriver('toolbox', { restart: 'temporary' })];
    expect(permanentDrivers({ children })).toEqual(['echo']);
    const manager = await env.start({ children });
    const server = await serve(manager, { permanent: permanentDrivers({ children }) });
    process.kill(pidsOf(manager, 'toolbox')[0]!, 'SIGKILL');
    await until(() => env.of('state').some((e) => e.to === 'stopped'), 'the temporary driver to be retired');
    expect(JSON.parse((await get(server, '/readyz')).text)).toEqual({ ok: true, reason: 'ready: echo', drivers: { echo: true } });
    // Without the list, a retired driver is not waited for either; an unknown name is never ready.
    expect(readiness(manager.snapshot()).ok).toBe(true);
    expect(readiness(manager.snapshot(), { permanent: ['nope'] })).toMatchObject({ ok: false, reason: 'driver "nope" is not in the tree' });
  });
});

describe('the observability server', () => {
  const env = useManagers();
  const serve = useServers();

  function raw(server: ObservabilityServer, method: string, path: string, headers: Record<string, string>, body?: string): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: server.port, method, path, headers }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode!, text }));
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  it('listens on 127.0.0.1 by default and refuses the dashboard anywhere else', async () => {
    const manager = await env.start({ children: [await fixtureDriver('echo')] });
    const server = await serve(manager);
    expect(server.host).toBe('127.0.0.1');
    expect(server.url).toBe(`http://127.0.0.1:${server.port}/`);
    expect(server.port).toBeGreaterThan(0);
    await expect(createObservabilityServer(manager, { host: '0.0.0.0', dashboard: true })).rejects.toThrow(
      new RangeError('options.dashboard must be false when options.host is not a loopback address (the dashboard can kill handlers), got true with host "0.0.0.0"'),
    );
    await expect(createObservabilityServer(manager, { port: 70000 })).rejects.toThrow(RangeError);
    const probesOnly = await serve(manager, { dashboard: false });
    expect((await get(probesOnly, '/')).status).toBe(404);
    expect((await get(probesOnly, '/metrics')).status).toBe(200);
  });

  it('guards the dashboard against other sites: foreign Host, cross-origin or non-JSON posts', async () => {
    const manager = await env.start({ children: [await fixtureDriver('echo')] });
    const server = await serve(manager);
    const host = `127.0.0.1:${server.port}`;
    expect((await raw(server, 'GET', '/', { host: `attacker.example:${server.port}` })).status).toBe(403);
    expect((await raw(server, 'GET', '/', { host })).status).toBe(200);
    const instance = manager.snapshot().children![0]!.children![0]!.id!;
    const body = JSON.stringify({ instance, action: 'kill' });
    expect((await raw(server, 'POST', '/api/fault', { host, 'content-type': 'text/plain' }, body)).status).toBe(415);
    expect((await raw(server, 'POST', '/api/fault', { host, 'content-type': 'application/json', origin: 'http://attacker.example' }, body)).status).toBe(403);
    expect((await raw(server, 'POST', '/api/fault', { host, 'content-type': 'application/json' }, JSON.stringify({ instance: 'not-ours', action: 'kill' }))).status).toBe(404);
    // Nothing above reached the handler.
    expect(env.of('exit')).toEqual([]);
    const answer = await raw(server, 'POST', '/api/request', { host, 'content-type': 'application/json', origin: `http://${host}` }, JSON.stringify({ driver: 'echo', payload: { hi: 1 } }));
    expect(JSON.parse(answer.text)).toMatchObject({ ok: true, value: { payload: { hi: 1 } } });
  });
});
