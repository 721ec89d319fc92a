#!/usr/bin/env node
// `npm run bench`: umdkit against a raw stdio pipe with cbor-x, fork() IPC, piscina and workerpool,
// measured side by side in one run (interleaved rounds; medians, min/max, ratios to the baseline).
//
//   npm run build && npm run bench            full run (about 2 minutes)
//   npm run bench -- --quick                  under a minute, fewer and shorter rounds
//   npm run bench -- --json                   one JSON document on stdout instead of tables
//   npm run bench -- --memory                 parent RSS over 1,000,000 requests, bytes per queued request
//   npm run bench -- --only crash,bulk        only these sections (one, pipelined, bulk, crash)
//
// It measures the BUILT package (dist/), as users get it, and packs its echo handler with it into
// a temp dir at start, removed at the end. Nothing is downloaded.
import { availableParallelism, loadavg } from 'node:os';
import { requireBuilt } from './lib/umdkit-client.mjs';

const USAGE = 'usage: node bench/run.mjs [--quick] [--json] [--memory] [--rounds N] [--only one,pipelined,bulk,crash]';
const SECTIONS = ['one', 'pipelined', 'bulk', 'crash'];

const argv = process.argv.slice(2);
const flags = new Set(argv.filter((a) => a.startsWith('--')));
for (const flag of flags) {
  if (!['--quick', '--json', '--memory', '--rounds', '--only', '--help'].includes(flag)) {
    process.stderr.write(`bench: unknown option ${flag}\n${USAGE}\n`);
    process.exit(2);
  }
}
if (flags.has('--help')) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
try {
  requireBuilt();
} catch (err) {
  process.stderr.write(`bench: ${err.message}\n`);
  process.exit(1);
}

const { packEchoHandler } = await import('./lib/umdkit-client.mjs');
const { roundTrips, bulk, crashes } = await import('./lib/sections.mjs');
const { goals } = await import('./lib/goals.mjs');
const { table, spread } = await import('./lib/report.mjs');

const quick = flags.has('--quick');
const json = flags.has('--json');
const roundsArg = argv.indexOf('--rounds');
const config = {
  rounds: roundsArg >= 0 ? Number(argv[roundsArg + 1]) : quick ? 3 : 5,
  durationMs: quick ? 300 : 1000,
  warmupMs: quick ? 200 : 500,
  crashSamples: quick ? 2 : 3,
  bulkWindow: 4, // 4 x 64 KiB in flight: the best window for all three (16 makes every one of them slower)
};
const onlyArg = argv.indexOf('--only');
const only = new Set(onlyArg >= 0 ? String(argv[onlyArg + 1]).split(',') : SECTIONS);
for (const name of only) {
  if (!SECTIONS.includes(name)) {
    process.stderr.write(`bench: --only takes sections among ${SECTIONS.join(', ')}, got ${JSON.stringify(name)}\n`);
    process.exit(2);
  }
}
if (!Number.isInteger(config.rounds) || config.rounds < 1) {
  process.stderr.write(`bench: --rounds must be a positive integer, got ${argv[roundsArg + 1]}\n`);
  process.exit(2);
}

const log = (line) => {
  if (!json) process.stderr.write(`${line}\n`);
};

const packed = await packEchoHandler();
let removed = false;
const removeTemp = async () => {
  if (removed) return;
  removed = true;
  await packed.dispose();
};
process.once('SIGINT', () => void removeTemp().then(() => process.exit(130)));

const report = {
  node: process.version,
  cpus: availableParallelism(),
  loadAverageAtStart: loadavg()[0],
  config: { ...config, quick },
  sections: [],
};

try {
  if (flags.has('--memory')) {
    const { memory } = await import('./lib/memory-section.mjs');
    log('memory: 1,000,000 requests, then 100,000 queued requests (takes a while)');
    report.memory = await memory(packed.driver, { total: quick ? 200_000 : 1_000_000, queued: 100_000 });
  } else {
    log(`bench: ${config.rounds} interleaved rounds of ${config.durationMs} ms per implementation (load average ${loadavg()[0].toFixed(2)})`);
    if (only.has('one')) {
      log('1 in flight...');
      report.sections.push(await roundTrips(packed.driver, { window: 1, ...config }));
    }
    if (only.has('pipelined')) {
      log('64 pipelined...');
      report.sections.push(await roundTrips(packed.driver, { window: 64, ...config }));
    }
    if (only.has('bulk')) {
      log('bulk...');
      report.sections.push(await bulk(packed.driver, { window: config.bulkWindow, ...config }));
    }
    if (only.has('crash')) {
      log('crash -> next answer...');
      report.sections.push(await crashes(packed.driver, { rounds: config.rounds, samples: config.crashSamples, tempDir: packed.dir }));
    }
  }
  report.goals = goals(report);
} finally {
  await removeTemp();
}

if (json) {
  const plain = JSON.parse(JSON.stringify(report, (key, value) => (key === 'result' ? undefined : value)));
  process.stdout.write(`${JSON.stringify(plain, null, 2)}\n`);
} else {
  const out = [];
  for (const section of report.sections) {
    const extras = [];
    if (section.rows.some((row) => row.result?.p50us?.length)) extras.push({ label: 'p50 µs', format: (row) => spread(row.result?.p50us) });
    if (section.rows.some((row) => row.result?.cpuUsPerOp?.length)) extras.push({ label: 'CPU µs/op', format: (row) => spread(row.result?.cpuUsPerOp, 2) });
    out.push(table({ ...section, extraColumns: extras }), '');
  }
  if (report.memory) out.push(...memoryLines(report.memory), '');
  out.push('goals', ...report.goals.map((g) => `  ${g.met ? 'met   ' : 'MISSED'}  ${g.goal}: ${g.measured}`));
  const how = report.memory ? 'after a full GC each time' : `medians of ${config.rounds} interleaved rounds`;
  out.push('', `node ${report.node}, ${report.cpus} CPUs, load average ${report.loadAverageAtStart.toFixed(2)} at start; ${how}`);
  process.stdout.write(`${out.join('\n')}\n`);
}

function memoryLines(m) {
  return [
    `memory (parent process)`,
    `  ${m.over.requests.toLocaleString('en-US')} requests, 64 in flight: RSS ${m.over.rssBeforeMb.toFixed(1)} -> ${m.over.rssAfterMb.toFixed(1)} MB (growth ${m.over.rssGrowthMb.toFixed(2)} MB, peak ${m.over.rssPeakMb.toFixed(1)} MB); heap ${m.over.heapBeforeMb.toFixed(1)} -> ${m.over.heapAfterMb.toFixed(1)} MB`,
    `  ${m.queued.queued.toLocaleString('en-US')} requests queued behind a paused handler: ${m.queued.bytesPerRequest.toFixed(0)} heap bytes per queued request (the caller's promise included)`,
  ];
}
