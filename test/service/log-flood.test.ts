// Regression: `umdkit run` buffered log records without bound when its own stdout was slow — a
// handler writing 5 MB of two-byte stderr lines grew the service to 1.47 GB. Now the log queue is
// bounded: past it records are dropped and counted, and a `dropped` record says how many once the
// reader catches up. A real service, a real flooding handler, a real pipe nobody reads.
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { connectService } from '../../src/service/client.js';
import { useCli } from './cli-child.js';
import { useWorkDir } from './harness.js';
import { records, startRun, useRuntimeDir } from './run-harness.js';

const work = useWorkDir(['flood']);
const cli = useCli();
const LINES = 1_000_000;
/** Generous: the unbounded queue reached several times this for the same flood. */
const RSS_BOUND_MB = 300;

async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

describe('umdkit run with a log reader that does not keep up', () => {
  const runtime = useRuntimeDir();

  it('keeps its memory bounded, drops records with a count, and reports the count once the reader catches up', { timeout: 120_000 }, async () => {
    const { run, started } = await startRun(cli, runtime, work.path('flood.mjs'));
    // Nobody reads the service's stdout from here on: the pipe fills, then the service's queue.
    run.child.stdout.pause();
    const client = await connectService(started.socket);
    let peak = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        peak = Math.max(peak, await rssMb(run.pid));
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    expect(await client.request('flood', { lines: LINES }, { method: 'flood' })).toEqual({ written: LINES });
    // The handler has written everything; keep sampling while the service reads the rest of it.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    sampling = false;
    await sampler;
    expect(peak, `service RSS peaked at ${peak.toFixed(0)} MB`).toBeLessThan(RSS_BOUND_MB);

    run.child.stdout.resume();
    await run.line((l) => l.includes('"event":"dropped"'), 'dropped record', 60_000);
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    await client.close();

    const log = records(run);
    const delivered = log.filter((r) => r.event === 'log' && r.driver === 'flood' && r.message === 'x').length;
    const drops = log.filter((r) => r.event === 'dropped');
    const dropped = drops.reduce((sum, r) => sum + (r.dropped as number), 0);
    expect(drops[0]).toMatchObject({ level: 'warn', message: expect.stringMatching(/^dropped \d+ log records/) });
    expect(dropped).toBeGreaterThan(0);
    // Every line of the flood is accounted for: written, or counted as dropped.
    expect(delivered + dropped).toBe(LINES);
    expect(log.at(-1)).toMatchObject({ event: 'service-exit', code: 0 });
  });
});
