#!/usr/bin/env node
// A regression guard in ~10 s: one driver's round trip (1 in flight) against the raw stdio pipe
// with cbor-x, measured in the same run, printed as a ratio. Needs the built package (dist/).
//
//   node bench/quick-ratio.mjs              prints e.g. "umdkit / raw pipe, 1 in flight: 0.97x"
//   node bench/quick-ratio.mjs --min 0.8    exits 1 when the ratio is below 0.8
//   node bench/quick-ratio.mjs --window 64  the same with 64 requests in flight (driver concurrency 64)
//   node bench/quick-ratio.mjs --json       { ratio, umdkit, raw, rounds, window }
import { requireBuilt } from './lib/umdkit-client.mjs';

const argv = process.argv.slice(2);
const option = (name, fallback) => {
  const at = argv.indexOf(name);
  if (at < 0) return fallback;
  const value = Number(argv[at + 1]);
  if (!Number.isFinite(value) || value <= 0) {
    process.stderr.write(`quick-ratio: ${name} must be a positive number, got ${argv[at + 1]}\n`);
    process.exit(2);
  }
  return value;
};
const min = option('--min', 0);
const window = option('--window', 1);
const rounds = option('--rounds', 7);
const json = argv.includes('--json');

try {
  requireBuilt();
} catch (err) {
  process.stderr.write(`quick-ratio: ${err.message}\n`);
  process.exit(1);
}
const { packEchoHandler, startUmdkit } = await import('./lib/umdkit-client.mjs');
const { startRawPipe } = await import('./lib/raw-client.mjs');
const { interleaved, ratio } = await import('./lib/rounds.mjs');
const { median } = await import('./lib/stats.mjs');
const { SMALL_PAYLOAD } = await import('./lib/sections.mjs');

const packed = await packEchoHandler();
let result;
try {
  const raw = await startRawPipe();
  const umdkit = await startUmdkit(packed.driver, window > 1 ? { concurrency: window } : {});
  try {
    const [rawResult, umdkitResult] = await interleaved([raw, umdkit], { rounds, window, durationMs: 500, warmupMs: 300, payload: SMALL_PAYLOAD });
    result = { ratio: ratio(umdkitResult, rawResult), umdkit: median(umdkitResult.rates), raw: median(rawResult.rates), rounds, window };
  } finally {
    await umdkit.stop();
    await raw.stop();
  }
} finally {
  await packed.dispose();
}

if (json) {
  process.stdout.write(`${JSON.stringify(result)}\n`);
} else {
  const rate = (n) => `${Math.round(n).toLocaleString('en-US')}/s`;
  process.stdout.write(`umdkit / raw pipe, ${window} in flight: ${result.ratio.toFixed(2)}x (umdkit ${rate(result.umdkit)}, raw ${rate(result.raw)}; median of ${rounds} interleaved rounds)\n`);
}
if (result.ratio < min) {
  process.stderr.write(`quick-ratio: ${result.ratio.toFixed(2)}x is below --min ${min}\n`);
  process.exitCode = 1;
}
