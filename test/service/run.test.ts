// `umdkit run`, `call` and `status` as real processes: the CLI (bundled from the sources) runs a
// config of real handlers, gets real signals, and must leave no process and no file behind.
import { readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { UmdError } from 'umdkit';
import { connectService, type ServiceClient } from '../../src/service/client.js';
import { useCli, type CliProcess } from './cli-child.js';
import { useWorkDir } from './harness.js';
import { pidsOf, records, startRun, useRuntimeDir } from './run-harness.js';
import { HELLO_JS, inlineImage } from '../fixtures/inline.js';
import { driverModule } from '../../src/loader/driver-module.js';

const work = useWorkDir(['echo', 'toolbox', 'rogue', 'chatty']);
const cli = useCli();

function startService(runtime: ReturnType<typeof useRuntimeDir>, config: string, extra: string[] = []) {
  return startRun(cli, runtime, work.path(config), extra);
}

async function untilInFlight(client: ServiceClient, n: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if ((await client.status()).inFlight === n) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`the service never had ${n} requests in flight`);
}

describe('umdkit run', () => {
  const runtime = useRuntimeDir();

  it('runs two drivers under a supervisor; call and status answer; SIGTERM lets requests in flight finish, exit 0', async () => {
    const { run, started } = await startService(runtime, 'two-drivers.mjs');
    expect(started.socket).toBe(join(runtime.dir, 'umdkit', 'umdkit.sock'));
    expect(started.pid).toBe(run.pid);
    expect(pidsOf(started.tree)).toHaveLength(2);

    expect(await cli.run(['call', 'echo', '{"a":[1,2],"s":"x"}'], runtime.env)).toEqual({ code: 0, stdout: '{"method":null,"payload":{"a":[1,2],"s":"x"}}\n', stderr: '' });
    expect(await cli.run(['call', 'toolbox', '{"$base64":"AQID"}', '--method', 'echo'], runtime.env)).toMatchObject({ code: 0, stdout: '{"$base64":"AQID"}\n' });
    const file = join(work.dir, 'payload.bin');
    await writeFile(file, Buffer.from([0xff, 0x00, 0x7f]));
    expect(await cli.run(['call', 'toolbox', `@${file}`, '--raw', '--method', 'echo'], runtime.env)).toMatchObject({ code: 0, stdout: '{"$base64":"/wB/"}\n' });
    expect(await cli.run(['call', 'toolbox', '@-', '--method', 'echo'], runtime.env, '[true, null]')).toMatchObject({ code: 0, stdout: '[true,null]\n' });

    const unknown = await cli.run(['call', 'nope', '1'], runtime.env);
    expect(unknown).toMatchObject({ code: 1, stdout: '' });
    expect(unknown.stderr).toMatch(/^umdkit call: BAD_REQUEST: driver must be one of "echo", "toolbox", got "nope"\n$/);
    const refused = await cli.run(['call', 'toolbox', '"x"', '--method', 'fail'], runtime.env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^umdkit call: HANDLER_ERROR: .*EREFUSED/);
    expect((await cli.run(['call', 'echo', '{not json'], runtime.env)).code).toBe(2);
    expect((await cli.run(['call', 'echo'], runtime.env)).code).toBe(2);

    const status = await cli.run(['status'], runtime.env);
    expect(status.code).toBe(0);
    const lines = status.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('root (supervisor, one_for_one) running restarts=0 queued=0 inFlight=0');
    expect(lines[1]).toBe('  workers (supervisor, one_for_all) running restarts=0 queued=0 inFlight=0');
    expect(lines[2]).toMatch(/^ {4}echo \(driver\) ready restarts=0 queued=0 inFlight=0 sandbox=/);
    expect(lines[3]).toMatch(new RegExp(`^ {6}instance \\S+ ready pid=${pidsOf(started.tree)[0]} generation=1 restarts=0 inFlight=0$`));
    expect(lines[4]).toMatch(/^ {4}toolbox \(driver\) ready/);
    expect(lines).toHaveLength(6);

    // Three requests in flight when SIGTERM comes: the drain lets them finish.
    const client = await connectService(started.socket);
    const slow = [0, 1, 2].map(() => client.request('toolbox', { ms: 600 }, { method: 'sleep' }));
    await untilInFlight(client, 3);
    run.child.kill('SIGTERM');
    const answers = await Promise.all(slow);
    expect(answers.map((a) => (a as { order: number }).order).sort()).toEqual([0, 1, 2]);
    expect(await run.exited).toBe(0);
    await client.close();

    const log = records(run);
    expect(log.find((r) => r.event === 'stopping')).toMatchObject({ level: 'info', signal: 'SIGTERM' });
    expect(log.at(-1)).toMatchObject({ event: 'service-exit', code: 0 });
    await expect(stat(started.socket)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  // Regression: each `call --timeout 100` to a 1 s method killed and restarted the handler; the
  // fourth made its supervisor give up, the service exited 70 and took the other driver with it.
  it('more calls with a short --timeout than the supervisor allows restarts fail those callers alone: no restart, the service and the other driver run on', async () => {
    const { run, started } = await startService(runtime, 'two-drivers.mjs');
    const [echoPid, toolboxPid] = pidsOf(started.tree);
    // `workers` allows 3 restarts in 5 s: a fourth would have made it give up.
    for (let i = 0; i < 4; i++) {
      const call = await cli.run(['call', 'toolbox', '{"ms":3000}', '--method', 'sleep', '--timeout', '100'], runtime.env);
      expect(call.code).toBe(1);
      expect(call.stderr).toMatch(/^umdkit call: TIMEOUT: .*a cancel was sent to the handler/);
    }
    expect(await cli.run(['call', 'echo', '"still here"'], runtime.env)).toMatchObject({ code: 0, stdout: '{"method":null,"payload":"still here"}\n' });
    expect(await cli.run(['call', 'toolbox', '7', '--method', 'echo'], runtime.env)).toMatchObject({ code: 0, stdout: '7\n' });
    const client = await connectService(started.socket);
    const tree = await client.status();
    await client.close();
    expect(tree.restarts).toBe(0);
    expect(pidsOf(tree)).toEqual([echoPid, toolboxPid]);
    expect(records(run).filter((r) => r.event === 'restart' || r.event === 'gave-up')).toEqual([]);
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
  });

  it('--http serves /metrics, /healthz and /readyz for systemd and Kubernetes while the service runs', async () => {
    const { run, started } = await startService(runtime, 'two-drivers.mjs', ['--http', '127.0.0.1:0']);
    expect(await cli.run(['call', 'echo', '1'], runtime.env)).toMatchObject({ code: 0 });
    const url = (JSON.parse(await run.line((l) => l.includes('"event":"http"'), 'http record')) as { url: string }).url;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect((await fetch(`${url}healthz`)).status).toBe(200);
    expect((await fetch(`${url}readyz`)).status).toBe(200);
    const metrics = await (await fetch(`${url}metrics`)).text();
    expect(metrics).toMatch(/umdkit_requests_total\{driver="echo",outcome="OK"\} 1/);
    // The dashboard and its fault buttons are not served by `run`.
    expect((await fetch(url)).status).toBe(404);
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    await expect(fetch(`${url}healthz`)).rejects.toThrow();
    void started;
  });

  it('rejects requests that outlive the grace period with STOPPED, and still exits 0', async () => {
    const { run, started } = await startService(runtime, 'two-drivers.mjs', ['--drain-ms', '200']);
    const client = await connectService(started.socket);
    const slow = [0, 1].map(() => client.request('toolbox', { ms: 30_000 }, { method: 'sleep' }).catch((err: unknown) => (err as UmdError).code));
    await untilInFlight(client, 2);
    run.child.kill('SIGTERM');
    expect(await Promise.all(slow)).toEqual(['STOPPED', 'STOPPED']);
    expect(await run.exited).toBe(0);
    await client.close();
  });

  it('forces the stop on a second signal: pending requests STOPPED, handlers killed, exit 130', async () => {
    const { run, started } = await startService(runtime, 'two-drivers.mjs', ['--drain-ms', '60000']);
    const client = await connectService(started.socket);
    const slow = client.request('toolbox', { ms: 30_000 }, { method: 'sleep' }).catch((err: unknown) => (err as UmdError).code);
    await untilInFlight(client, 1);
    run.child.kill('SIGTERM');
    await run.line((l) => l.includes('"event":"stopping"'), 'stopping record');
    run.child.kill('SIGINT');
    expect(await slow).toBe('STOPPED');
    expect(await run.exited).toBe(130);
    expect(records(run).find((r) => r.event === 'forcing')).toMatchObject({ level: 'warn', signal: 'SIGINT' });
    expect(records(run).at(-1)).toMatchObject({ event: 'service-exit', code: 130 });
    await client.close();
  });

  it('stops once the tree is up when SIGTERM comes during the start', async () => {
    // A handler that takes its time to say hello, then leaves on the first frame it reads (bye).
    const slowStart = inlineImage(`${HELLO_JS}
setTimeout(() => process.stdout.write(hello()), 800);
process.stdin.on('data', () => process.exit(0));
process.stdin.on('end', () => process.exit(0));`);
    await writeFile(join(work.dir, 'slow.driver.mjs'), driverModule('slow', slowStart));
    await writeFile(join(work.dir, 'slow-start.mjs'), "import slow from './slow.driver.mjs';\nexport default { children: [slow] };\n");
    const run = cli.start(['run', work.path('slow-start.mjs'), '--log', 'json'], runtime.env);
    runtime.track(run.pid);
    const spawned = JSON.parse(await run.line((l) => l.includes('"event":"spawn"'), 'spawn record')) as { pid: number };
    runtime.track(spawned.pid);
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    expect(records(run).map((r) => r.event).filter((e) => ['signal', 'started', 'stopping', 'service-exit'].includes(e as string))).toEqual(['signal', 'started', 'stopping', 'service-exit']);
  });

  it('refuses a bad config with the field path and value, starting nothing (exit 78)', async () => {
    const result = await cli.run(['run', work.path('bad-intensity.mjs')], runtime.env);
    expect(result.code).toBe(78);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(`umdkit run: bad config: ${work.path('bad-intensity.mjs')}: children[1].intensity.periodMs must be a positive integer, got 0\n`);
    expect(await readdir(runtime.dir)).toEqual([]);

    const missing = await cli.run(['run'], runtime.env);
    expect(missing.code).toBe(78);
    expect(missing.stderr).toContain('umdkit.config.mjs: cannot read the config (ENOENT)');
    expect((await cli.run(['run', '--log', 'xml'], runtime.env)).code).toBe(2);
    expect(await readdir(runtime.dir)).toEqual([]);
  });

  it('exits 70 with a one-line reason when the root supervisor gives up (text log, --socket)', async () => {
    const socket = join(runtime.dir, 'custom.sock');
    const run = cli.start(['run', work.path('gives-up.mjs'), '--socket', socket], runtime.env);
    runtime.track(run.pid);
    await run.line((l) => l === `socket: ${socket}`, 'socket line');
    // Lifecycle lines of the start come first, then what was started, then the socket.
    const at = run.lines.findIndex((l) => l.startsWith('umdkit run: started'));
    expect(run.lines[at]).toMatch(new RegExp(`^umdkit run: started tree "root" from .*gives-up\\.mjs \\(service pid ${run.pid}\\); socket `));
    expect(run.lines[at + 1]).toBe('root (supervisor, one_for_one) running restarts=0 queued=0 inFlight=0');
    expect(run.lines.slice(0, at).every((l) => / info  rogue\/\S+#1( pid \d+)?: /.test(l)), run.lines.join('\n')).toBe(true);
    const instance = run.lines.find((l) => l.trimStart().startsWith('instance '))!;
    runtime.track(Number(/pid=(\d+)/.exec(instance)![1]));

    const crash = await cli.run(['call', 'rogue', '{"code":3}', '--method', 'exitWith', '--socket', socket], runtime.env);
    expect(crash.code).toBe(1);
    expect(crash.stderr).toMatch(/^umdkit call: (HANDLER_CRASHED|GAVE_UP): /);
    expect(await run.exited).toBe(70);
    const reason = run.stderr();
    expect(reason).toMatch(/^umdkit run: the root supervisor gave up: .+\n$/);
    expect(reason.split('\n')).toHaveLength(2);
    expect(run.lines.some((l) => / error gave-up|supervisor root: the root supervisor root gave up/.test(l))).toBe(true);
    await expect(stat(socket)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('writes JSON log lines with time, level, driver, instance, generation, pid, event and message', async () => {
    const { run, started } = await startService(runtime, 'chatty.mjs');
    expect(await cli.run(['call', 'chatty', '"hi"'], runtime.env)).toMatchObject({ code: 0, stdout: '{"answered":"hi"}\n' });
    await run.line((l) => l.includes('chatty: warn'), 'a handler stderr line');
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);

    const log = records(run);
    for (const record of log) {
      expect(record).toMatchObject({ time: expect.any(String), level: expect.stringMatching(/^(info|warn|error)$/), event: expect.any(String), message: expect.any(String) });
      expect(new Date(record.time as string).toISOString()).toBe(record.time);
    }
    const pid = pidsOf(started.tree)[0];
    const handlerLine = log.find((r) => r.event === 'log' && r.message === 'chatty: warn');
    expect(handlerLine).toEqual({
      time: expect.any(String),
      level: 'info',
      event: 'log',
      message: 'chatty: warn',
      driver: 'chatty',
      instance: started.tree.children![0]!.children![0]!.id,
      generation: 1,
      pid,
    });
    // The lifecycle: spawned at start, stopped with the service.
    expect(log.find((r) => r.event === 'spawn')).toMatchObject({ driver: 'chatty', generation: 1, pid });
    expect(log.find((r) => r.event === 'exit')).toMatchObject({ driver: 'chatty', pid, code: 0, signal: null });
    expect(log.some((r) => r.event === 'stopped')).toBe(true);
  });
});
