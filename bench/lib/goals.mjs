import { ratio } from './rounds.mjs';

/**
 * The goals, checked against one run's numbers. Every ratio is between implementations
 * measured in the same rounds.
 *
 * @example
 * for (const g of goals(report)) console.log(g.met, g.goal, g.measured);
 */
export function goals(report) {
  const out = [];
  const section = (id) => report.sections.find((s) => s.id === id);
  const row = (s, prefix) => s?.rows.find((r) => r.name.startsWith(prefix));
  const check = (goal, value, target, better, unit = '×') => {
    if (value === undefined || Number.isNaN(value)) return;
    const met = better === 'higher' ? value >= target : value <= target;
    out.push({ goal, target, value, met, measured: `${value.toFixed(2)}${unit}` });
  };

  const one = section('one-in-flight');
  if (one) check('1 in flight: umdkit >= 0.9x the raw pipe', row(one, 'umdkit').ratio, 0.9, 'higher');

  const many = section('pipelined');
  if (many) {
    const umdkit = row(many, 'umdkit').result;
    check('64 pipelined: umdkit >= 1.0x the raw pipe', row(many, 'umdkit').ratio, 1.0, 'higher');
    check('64 pipelined: umdkit >= 1.2x fork IPC (json)', ratio(umdkit, row(many, 'fork IPC (json)').result), 1.2, 'higher');
    check('64 pipelined: umdkit >= 10x piscina (default)', ratio(umdkit, row(many, 'piscina (default)').result), 10, 'higher');
    check('64 pipelined: umdkit >= 10x workerpool (default)', ratio(umdkit, row(many, 'workerpool (default)').result), 10, 'higher');
  }

  const bulk = section('bulk');
  if (bulk) {
    check('bulk 64 KiB: umdkit >= 1.0x the raw framed pipe', row(bulk, 'umdkit').ratio, 1.0, 'higher');
    const unframed = row(bulk, 'unframed').result;
    out.push({ goal: 'bulk 64 KiB: umdkit vs the unframed pipe (reported, no target)', met: true, value: ratio(row(bulk, 'umdkit').result, unframed), measured: `${ratio(row(bulk, 'umdkit').result, unframed).toFixed(2)}×` });
  }

  const crash = section('crash');
  if (crash) {
    check('crash -> next answer with a spare <= 10 ms (median)', row(crash, 'umdkit crash -> next answer, warm spare').median, 10, 'lower', ' ms');
    const cold = row(crash, 'umdkit crash -> next answer, cold');
    const afterExit = crash.rows[crash.rows.indexOf(cold) + 1];
    // The goal as written: the whole crash -> answer against a spawn alone (which never dies first).
    check('crash -> next answer cold <= 1.15x a bare node spawn -> hello (empty script)', cold.ratio, 1.15, 'lower');
    // The restart itself, from the moment the exit is seen, against the same bare spawn.
    check('restart (exit seen -> next answer) cold <= 1.15x a bare node spawn -> hello (empty script)', afterExit.ratio, 1.15, 'lower');
    // Like for like: a bare node process that dies and is replaced by a fresh empty script.
    const bare = row(crash, 'bare node: crash');
    check('crash -> next answer cold <= 1.15x a bare node crash -> exit -> spawn -> hello', cold.median / bare.median, 1.15, 'lower');
    const image = row(crash, 'node spawn -> hello (the packed handler').median;
    out.push({ goal: 'crash -> next answer cold vs a bare spawn of the same packed handler (reported)', met: true, value: cold.median / image, measured: `${(cold.median / image).toFixed(2)}×` });
  }

  if (report.memory) {
    check(`parent RSS growth over ${report.memory.over.requests.toLocaleString('en-US')} requests < 10 MB`, report.memory.over.rssGrowthMb, 10, 'lower', ' MB');
  }
  return out;
}
