import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { crashToNextAnswer } from './crash.mjs';
import { startFork } from './fork-client.mjs';
import { startUnframedPipe } from './pipe-client.mjs';
import { startPiscina, startWorkerpool } from './pools.mjs';
import { startRawPipe } from './raw-client.mjs';
import { interleaved, ratio } from './rounds.mjs';
import { bareCrashThenSpawn, spawnToHello } from './spawn-hello.mjs';
import { summary } from './stats.mjs';
import { startUmdkit } from './umdkit-client.mjs';

/**
 * The measurements of `npm run bench`, one function per section. Each starts what it compares,
 * measures it in interleaved rounds, stops it, and returns rows (median, min, max, ratio to the
 * section's baseline) plus the raw samples.
 */

/** A small request: what a parser asked a short question sends. */
export const SMALL_PAYLOAD = { n: 12345, s: 'hello, handler' };
/** The bulk payload. */
export const BULK_BYTES = 64 * 1024;

const rowsOf = (results, baseline) =>
  results.map((result) => ({ ...summary(result.rates), name: result.name, ratio: result === baseline ? 1 : ratio(result, baseline), result }));

async function withImpls(starters, use) {
  const impls = [];
  try {
    for (const start of starters) impls.push(await start());
    return await use(impls);
  } finally {
    for (const impl of impls.reverse()) await impl.stop();
  }
}

/** Round trips with `window` requests in flight: raw pipe, umdkit, fork IPC, piscina, workerpool. */
export async function roundTrips(image, { window, rounds, durationMs, warmupMs }) {
  const umdkitOptions = window === 1 ? {} : { concurrency: window };
  const starters = [
    () => startRawPipe(),
    () => startUmdkit(image, umdkitOptions, `umdkit (concurrency ${umdkitOptions.concurrency ?? 1})`),
    () => startFork('json'),
    () => startFork('advanced'),
    () => startPiscina('default'),
    () => startPiscina('best'),
    () => startWorkerpool('default'),
    () => startWorkerpool('best'),
  ];
  return withImpls(starters, async (impls) => {
    const results = await interleaved(impls, { rounds, window, durationMs, warmupMs, payload: SMALL_PAYLOAD });
    return {
      id: window === 1 ? 'one-in-flight' : 'pipelined',
      title: window === 1 ? '1 in flight (small request, round trips per second)' : `${window} pipelined (small requests, round trips per second)`,
      unit: 'ops/s',
      baselineLabel: 'raw',
      rows: rowsOf(results, results[0]),
    };
  });
}

/** 64 KiB byte strings echoed: raw framed pipe, umdkit, and the unframed pipe as the ceiling. */
export async function bulk(image, { window, rounds, durationMs, warmupMs }) {
  const payload = new Uint8Array(BULK_BYTES).map((_, i) => i & 0xff);
  const starters = [
    () => startRawPipe(),
    () => startUmdkit(image, { concurrency: window }, `umdkit (concurrency ${window})`),
    () => startUnframedPipe(),
  ];
  return withImpls(starters, async (impls) => {
    const results = await interleaved(impls, { rounds, window, durationMs, warmupMs, payload, bytesPerOp: BULK_BYTES });
    return {
      id: 'bulk',
      title: `bulk: ${BULK_BYTES / 1024} KiB byte strings echoed, ${window} in flight (payload bytes per second, one way)`,
      unit: 'GB/s',
      baselineLabel: 'raw',
      rows: rowsOf(results, results[0]),
    };
  });
}

/**
 * Crash -> next answer with a warm spare and cold (no spare, no backoff), against a bare Node start:
 * spawn to hello of an empty script, and of the packed handler image itself.
 */
export async function crashes(image, { rounds, samples, tempDir }) {
  // The extension tells Node how to load it, as the loader's extraction does.
  const imageFile = join(tempDir, image.image.format === 'cjs' ? 'echo-image.cjs' : 'echo-image.mjs');
  await writeFile(imageFile, image.image.bytes);
  const emptyScript = new URL('../children/hello.mjs', import.meta.url).pathname;
  const crashScript = new URL('../children/hello-crash.mjs', import.meta.url).pathname;
  const restartNow = { backoff: { initialMs: 0, maxMs: 0, jitter: 0 } };
  const spare = await startUmdkit(image, { ...restartNow, spares: 1 }, 'umdkit, warm spare');
  const cold = await startUmdkit(image, restartNow, 'umdkit, cold restart');
  const series = {
    bare: { name: 'node spawn -> hello (empty script)', samples: [] },
    image: { name: 'node spawn -> hello (the packed handler, no umdkit)', samples: [] },
    bareCrash: { name: 'bare node: crash -> exit seen -> spawn -> hello', samples: [] },
    bareDeath: { name: '  of which: crash -> exit seen (the dying)', samples: [] },
    cold: { name: 'umdkit crash -> next answer, cold restart', samples: [] },
    coldAfterExit: { name: '  of which: exit seen -> next answer', samples: [] },
    spare: { name: 'umdkit crash -> next answer, warm spare', samples: [] },
    spareAfterExit: { name: '  of which: exit seen -> next answer', samples: [] },
  };
  try {
    for (let round = 0; round < rounds; round++) {
      for (let i = 0; i < samples; i++) {
        series.bare.samples.push(await spawnToHello([emptyScript]));
        series.image.samples.push(await spawnToHello([imageFile]));
        const bareSample = await bareCrashThenSpawn(crashScript, emptyScript);
        series.bareCrash.samples.push(bareSample.ms);
        series.bareDeath.samples.push(bareSample.deathMs);
        const coldSample = await crashToNextAnswer(cold, 1);
        series.cold.samples.push(coldSample.ms);
        series.coldAfterExit.samples.push(coldSample.afterExitMs);
        const spareSample = await crashToNextAnswer(spare, 2);
        series.spare.samples.push(spareSample.ms);
        series.spareAfterExit.samples.push(spareSample.afterExitMs);
      }
    }
  } finally {
    await spare.stop();
    await cold.stop();
  }
  const base = summary(series.bare.samples).median;
  const rows = Object.values(series).map((s) => {
    const stats = summary(s.samples);
    return { ...stats, name: s.name, ratio: stats.median / base };
  });
  return { id: 'crash', title: 'crash -> next answer, and the Node start it is compared with (milliseconds, lower is better)', unit: 'ms', baselineLabel: 'bare spawn', rows };
}
