/**
 * `umdkit top`: the rendering (a pure function of snapshot and stats) over a real tree with a real
 * crash, and the command itself over a config file, in a terminal and in a pipe.
 */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { RequestStats, renderTop, type ManagerEvent } from 'umdkit';
import { topCommand } from '../../src/cli/top.js';
import { failure, fixtureDriver, gone, pidsOf, until, useManagers } from '../manager/harness.js';
import { useConfigFiles } from './config-files.js';

/** The nearest-rank quantile, computed here from the raw events (not with the code under test). */
function nearestRank(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(1, Math.ceil(q * sorted.length)) - 1]!;
}

/** The value of `key=` in a plain line. */
function field(line: string, key: string): string | undefined {
  return new RegExp(`(?:^| )${key}=("(?:[^"\\\\]|\\\\.)*"|\\S+)`).exec(line)?.[1];
}

describe('renderTop', () => {
  const env = useManagers();

  async function crashedTree() {
    const stats = new RequestStats();
    const manager = await env.start({ children: [await fixtureDriver('toolbox', { instances: 2 })] });
    manager.subscribe((e) => stats.observe(e));
    await Promise.all(Array.from({ length: 10 }, (_, i) => manager.request('toolbox', i, { method: 'echo' })));
    for (let i = 0; i < 2; i++) expect((await failure(manager.request('toolbox', i, { method: 'fail' }))).code).toBe('HANDLER_ERROR');
    const [first, second] = pidsOf(manager, 'toolbox');
    process.kill(first!, 'SIGKILL');
    await until(() => env.of('state').some((e) => e.to === 'ready' && e.generation === 2), 'the killed instance to be back');
    return { manager, stats, killed: first!, untouched: second! };
  }

  it('prints one plain line per instance, no escape codes, with what the snapshot and the request events say', async () => {
    const { manager, stats, killed, untouched } = await crashedTree();
    const snapshot = manager.snapshot();
    const now = new Date('2025-01-02T03:04:05.000Z');
    const lines = renderTop(snapshot, stats.summary(), { tty: false, now });

    const instances = snapshot.children![0]!.children!;
    expect(lines).toHaveLength(instances.length);
    expect(lines.join('\n')).not.toContain('\x1b');
    const [a, b] = lines as [string, string];
    expect(field(a, 'time')).toBe(now.toISOString());
    expect(field(a, 'instance')).toBe(instances[0]!.id);
    expect(field(a, 'state')).toBe('ready');
    expect(Number(field(a, 'pid'))).toBe(pidsOf(manager, 'toolbox')[0]);
    expect(Number(field(a, 'pid'))).not.toBe(killed);
    expect(field(a, 'generation')).toBe('2');
    expect(field(a, 'restarts')).toBe('1');
    expect(field(a, 'last_exit')).toBe('"killed by SIGKILL"');
    expect(Number(field(b, 'pid'))).toBe(untouched);
    expect(field(b, 'generation')).toBe('1');
    expect(field(b, 'restarts')).toBe('0');
    expect(field(b, 'last_exit')).toBeUndefined();
    expect(field(b, 'queued')).toBe('0');
    expect(field(b, 'in_flight')).toBe('0');

    const latencies = env.of('request').map((e: Extract<ManagerEvent, { type: 'request' }>) => e.latencyMs);
    expect(latencies).toHaveLength(12);
    for (const [key, q] of [['p50_ms', 0.5], ['p99_ms', 0.99]] as const) {
      const shown = Number(field(a, key));
      const expected = nearestRank(latencies, q);
      expect(Math.abs(shown - expected)).toBeLessThanOrEqual(Math.max(0.006, expected * 0.006));
    }
  });

  it('draws a table for a terminal: the tree by depth, header totals, colour only on the state, cut to the width', async () => {
    const { manager, stats } = await crashedTree();
    const snapshot = manager.snapshot();
    const lines = renderTop(snapshot, stats.summary(), { tty: true, now: new Date('2025-01-02T03:04:05Z') });
    expect(lines[0]).toBe('umdkit top · root (one_for_one) running · 2 instances · 12 requests, 2 failed · 03:04:05');
    const body = lines.slice(lines.findIndex((l) => l.startsWith('NAME')) + 1);
    const instances = snapshot.children![0]!.children!;
    expect(body).toHaveLength(1 + 1 + instances.length);
    expect(body[0]).toMatch(/^root \(one_for_one\)\s+running\s/);
    expect(body[1]).toMatch(/^ {2}toolbox\s+ready\s/);
    expect(body[1]).toContain('12 req, 2 failed');
    expect(body[2]).toMatch(new RegExp(`^ {4}#0 ${instances[0]!.id}\\s+ready\\s+${instances[0]!.pid}\\s+2\\s+1\\s.*killed by SIGKILL$`));
    expect(body[3]).toMatch(new RegExp(`^ {4}#1 ${instances[1]!.id}\\s+ready\\s+${instances[1]!.pid}\\s+1\\s+0\\s`));
    expect(lines.join('')).not.toContain('\x1b');

    const coloured = renderTop(snapshot, stats.summary(), { tty: true, color: true, width: 40 });
    const row = coloured.find((l) => l.includes(instances[0]!.id!))!;
    expect(row).toContain('\x1b[32mready\x1b[0m');
    expect(row.replace(/\x1b\[\d+m/g, '').length).toBeLessThanOrEqual(40);
    expect(coloured.every((l) => l.replace(/\x1b\[\d+m/g, '').length <= 40)).toBe(true);
  });

  // Regression: the table was cut at the terminal's width mid-column, so at 80 columns LAST EXIT
  // (why an instance restarted) was never seen. Now whole columns give way, P50 first.
  it('fits an 80-column terminal by leaving out whole columns, keeping STATE, PID and LAST EXIT; a wide one shows them all', async () => {
    const { manager, stats } = await crashedTree();
    const snapshot = manager.snapshot();
    const killed = snapshot.children![0]!.children![0]!;
    const narrow = renderTop(snapshot, stats.summary(), { tty: true, width: 80 });
    expect(narrow.every((l) => l.length <= 80)).toBe(true);
    const header = narrow.find((l) => l.startsWith('NAME'))!;
    expect(header).toMatch(/STATE\s+PID\s.*LAST EXIT$/);
    expect(header).not.toContain('P50 ms');
    const row = narrow.find((l) => l.includes(killed.id!))!;
    expect(row).toMatch(new RegExp(`ready\\s+${killed.pid}\\s.*killed by SIGKILL$`));

    const wide = renderTop(snapshot, stats.summary(), { tty: true, width: 200 });
    expect(wide.find((l) => l.startsWith('NAME'))).toMatch(/^NAME\s+STATE\s+PID\s+GEN\s+RESTARTS\s+QUEUE\s+INFLIGHT\s+P50 ms\s+P99 ms\s+LAST EXIT$/);
    expect(wide.find((l) => l.includes(killed.id!))).toMatch(/killed by SIGKILL$/);
  });

  it('says when the tree gave up', async () => {
    const manager = await env.start({ children: [await fixtureDriver('toolbox')], intensity: { maxRestarts: 0, periodMs: 10_000 } });
    process.kill(pidsOf(manager, 'toolbox')[0]!, 'SIGKILL');
    await until(() => env.of('gave-up').length > 0, 'the tree to give up');
    const snapshot = manager.snapshot();
    const tty = renderTop(snapshot, {}, { tty: true });
    expect(tty[1]).toBe(`GAVE UP: ${snapshot.gaveUp}`);
    const plain = renderTop(snapshot, {}, { tty: false });
    expect(plain[0]).toContain('gave_up="root: more than 0 restarts');
  });
});

describe('umdkit top', () => {
  const env = useManagers();
  const configs = useConfigFiles();

  it('prints plain lines per refresh when stdout is not a terminal, then stops the tree', async () => {
    const config = await configs.write(env.root, [{ fixture: 'toolbox', options: { instances: 2 } }]);
    let out = '';
    const code = await topCommand([config, '--count', '3', '--interval', '50'], { out: (t) => (out += t), err: (t) => (out += t), isTTY: false });
    expect(code).toBe(0);
    const lines = out.trimEnd().split('\n');
    expect(lines).toHaveLength(3 * 2);
    expect(out).not.toContain('\x1b');
    const pids = new Set(lines.map((l) => Number(field(l, 'pid'))));
    expect(pids.size).toBe(2);
    for (const line of lines) expect(field(line, 'state')).toBe('ready');
    for (const pid of pids) expect(await gone(pid, 2000)).toBe(true);
  });

  it('repaints in place in a terminal (cursor home, clear to end of line and screen) and shows the cursor again', async () => {
    const config = await configs.write(env.root, [{ fixture: 'echo' }]);
    const writes: string[] = [];
    const code = await topCommand([config, '--count', '2', '--interval', '50'], { out: (t) => writes.push(t), err: (t) => writes.push(t), isTTY: true, columns: 100 });
    expect(code).toBe(0);
    expect(writes[0]).toBe('\x1b[?25l\x1b[2J');
    const frames = writes.slice(1, -1);
    expect(frames).toHaveLength(2);
    for (const frame of frames) {
      expect(frame.startsWith('\x1b[H')).toBe(true);
      expect(frame.endsWith('\x1b[J')).toBe(true);
      expect(frame).toMatch(/ {2}echo\s+.*ready/);
    }
    expect(writes.at(-1)).toBe('\x1b[?25h');
    const pid = Number(/#0 \S+\s+\S+\s+(\d+)/.exec(frames[0]!.replace(/\x1b\[[\d;?]*[A-Za-z]/g, ''))?.[1]);
    expect(pid).toBeGreaterThan(0);
    expect(await gone(pid, 2000)).toBe(true);
  });

  // Regression: `q` did nothing; only Ctrl-C stopped top.
  it('quits on q in a terminal: the tree is stopped and the exit code is 0', async () => {
    const config = await configs.write(env.root, [{ fixture: 'echo' }]);
    const keys = new PassThrough();
    let out = '';
    const exited = topCommand([config, '--interval', '50'], { out: (t) => (out += t), err: (t) => (out += t), isTTY: true, columns: 120, keys });
    await until(() => /echo\s+.*ready/.test(out), 'the first frame');
    const pid = Number(/#0 \S+\s+\S+\s+(\d+)/.exec(out.replace(/\x1b\[[\d;?]*[A-Za-z]/g, ''))?.[1]);
    keys.write('x'); // any other key is ignored
    keys.write('q');
    expect(await exited).toBe(0);
    expect(out.endsWith('\x1b[?25h')).toBe(true);
    expect(keys.listenerCount('data')).toBe(0);
    expect(await gone(pid, 2000)).toBe(true);
  });

  it('refuses bad usage with exit code 2 (one line, pointing at --help) and a config that does not load with 78', async () => {
    let err = '';
    const io = { out: () => {}, err: (t: string) => (err += t), isTTY: false };
    expect(await topCommand(['a.mjs', 'b.mjs'], io)).toBe(2);
    expect(err).toBe('umdkit top: expected one [config], got "a.mjs" "b.mjs" (see umdkit top --help)\n');
    err = '';
    expect(await topCommand(['x.mjs', '--interval', '5'], io)).toBe(2);
    expect(err).toContain('--interval must be an integer of at least 50 (ms), got "5"');
    err = '';
    expect(await topCommand([`${env.root}/missing.config.mjs`], io)).toBe(78);
    expect(err).toMatch(/^umdkit top: bad config: .*missing\.config\.mjs/);
  });
});
