#!/usr/bin/env node
// The decoder's worst case: for each hostile shape a handler could send, one frame as large as the
// default limits allow (maxItems data items, at most maxFrameBytes), decoded by the manager's
// FrameDecoder. Prints the parent heap the decoded value holds and the event-loop time the decode
// took, per frame byte and per item, and how fast an over-limit frame (16 MiB of empty maps, which
// cost ~1 GB of heap before items were counted) is refused. Needs the built package (dist/); re-runs itself with --expose-gc.
//
//   node bench/decode-worst.mjs          a table
//   node bench/decode-worst.mjs --json   one JSON object per shape
import { spawnSync } from 'node:child_process';
import { requireBuilt } from './lib/umdkit-client.mjs';

if (typeof globalThis.gc !== 'function') {
  const result = spawnSync(process.execPath, ['--expose-gc', ...process.execArgv, new URL(import.meta.url).pathname, ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(result.status ?? 1);
}

try {
  requireBuilt();
} catch (err) {
  process.stderr.write(`decode-worst: ${err.message}\n`);
  process.exit(1);
}
const { FrameDecoder, DEFAULT_LIMITS } = await import('../dist/src/protocol/index.js');
const json = process.argv.includes('--json');
const ITEMS = DEFAULT_LIMITS.maxItems;

/** A CBOR head, shortest form. */
function head(major, n) {
  const m = major << 5;
  if (n < 24) return [m | n];
  if (n < 0x100) return [m | 24, n];
  if (n < 0x10000) return [m | 25, n >> 8, n & 0xff];
  return [m | 26, (n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
}

/** A frame (4-byte prefix + body) from body parts. */
function frame(parts) {
  const body = Buffer.concat(parts.map((p) => (Buffer.isBuffer(p) ? p : Buffer.from(p))));
  const out = Buffer.alloc(4 + body.length);
  out.writeUInt32BE(body.length, 0);
  body.copy(out, 4);
  return out;
}

/** A top-level array of `count` copies of `item` (bytes): count + 1 items. */
const arrayOf = (count, item) => frame([head(4, count), Buffer.alloc(count * item.length).fill(Buffer.from(item))]);
/** Distinct short keys: base-36 counters. */
const keyBytes = (i) => {
  const k = Buffer.from(i.toString(36));
  return Buffer.concat([Buffer.from(head(3, k.length)), k]);
};

const SHAPES = {
  // Each item as small as CBOR allows, each a separate heap object.
  'empty maps (a0)': () => arrayOf(ITEMS - 1, [0xa0]),
  'empty arrays (80)': () => arrayOf(ITEMS - 1, [0x80]),
  'empty byte strings (40)': () => arrayOf(ITEMS - 1, [0x40]),
  'half floats (f9 3c01)': () => arrayOf(ITEMS - 1, [0xf9, 0x3c, 0x01]),
  'small integers (00)': () => arrayOf(ITEMS - 1, [0x00]),
  // Every map with a key no other map has: a new hidden class per object in V8.
  'maps of one distinct key': () => {
    const count = Math.floor((ITEMS - 1) / 3);
    const parts = [head(4, count)];
    for (let i = 0; i < count; i++) parts.push([0xa1], keyBytes(i), [0xf6]);
    return frame(parts);
  },
  // One map, every key distinct (a "1 M keys" map, at the largest size the default allows).
  'one map of distinct keys': () => {
    const count = Math.floor((ITEMS - 1) / 2);
    const parts = [head(5, count)];
    for (let i = 0; i < count; i++) parts.push(keyBytes(i), [0xf6]);
    return frame(parts);
  },
  'distinct short strings': () => {
    const count = ITEMS - 1;
    const parts = [head(4, count)];
    for (let i = 0; i < count; i++) parts.push(keyBytes(i));
    return frame(parts);
  },
};

function measure(name, bytes) {
  const decoder = new FrameDecoder();
  globalThis.gc();
  globalThis.gc();
  const before = process.memoryUsage().heapUsed;
  const started = process.hrtime.bigint();
  const value = decoder.push(bytes);
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  globalThis.gc();
  globalThis.gc();
  const heap = process.memoryUsage().heapUsed - before;
  if (value.length !== 1) throw new Error(`${name}: expected one message, got ${value.length}`);
  const frameBytes = bytes.length - 4;
  return { shape: name, frameBytes, items: ITEMS, ms, heapBytes: heap, heapPerByte: heap / frameBytes, nsPerByte: (ms * 1e6) / frameBytes, heapPerItem: heap / ITEMS, nsPerItem: (ms * 1e6) / ITEMS, keep: value };
}

function refusal() {
  // The attack itself: 16 MiB of empty maps, 16.7 M items. Refused by the scan, nothing built.
  const max = DEFAULT_LIMITS.maxFrameBytes;
  const bytes = frame([[0x9a, ((max - 5) >>> 24) & 0xff, ((max - 5) >> 16) & 0xff, ((max - 5) >> 8) & 0xff, (max - 5) & 0xff], Buffer.alloc(max - 5, 0xa0)]);
  globalThis.gc();
  const before = process.memoryUsage().heapUsed;
  const started = process.hrtime.bigint();
  let reason = 'accepted';
  try {
    new FrameDecoder().push(bytes);
  } catch (err) {
    reason = err.reason ?? String(err);
  }
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  return { shape: '16 MiB of empty maps (over the limit)', frameBytes: bytes.length - 4, ms, reason, heapBytes: process.memoryUsage().heapUsed - before };
}

// Each shape is measured warm (once decoded and dropped) and then the median of three runs.
const RUNS = 3;
const rows = [];
for (const [name, make] of Object.entries(SHAPES)) {
  const bytes = make();
  measure(name, bytes);
  const runs = [];
  for (let i = 0; i < RUNS; i++) {
    const row = measure(name, bytes);
    delete row.keep;
    runs.push(row);
  }
  runs.sort((a, b) => a.ms - b.ms);
  const row = runs[RUNS >> 1];
  row.heapBytes = Math.max(...runs.map((r) => r.heapBytes));
  row.heapPerByte = row.heapBytes / row.frameBytes;
  row.heapPerItem = row.heapBytes / ITEMS;
  rows.push(row);
}
const refused = refusal();

if (json) {
  for (const row of rows) process.stdout.write(`${JSON.stringify(row)}\n`);
  process.stdout.write(`${JSON.stringify(refused)}\n`);
} else {
  const mb = (n) => (n / (1024 * 1024)).toFixed(1);
  process.stdout.write(`decoder worst case under the default limits (maxItems ${ITEMS}, maxFrameBytes ${DEFAULT_LIMITS.maxFrameBytes}); node ${process.version}\n`);
  process.stdout.write('shape                         frame MiB   heap MiB   ms      heap B/frame B  ns/frame B  heap B/item  ns/item\n');
  for (const r of rows) {
    process.stdout.write(
      `${r.shape.padEnd(30)}${mb(r.frameBytes).padStart(9)}${mb(r.heapBytes).padStart(11)}${r.ms.toFixed(0).padStart(6)}` +
        `${r.heapPerByte.toFixed(1).padStart(16)}${r.nsPerByte.toFixed(1).padStart(12)}${r.heapPerItem.toFixed(1).padStart(13)}${r.nsPerItem.toFixed(0).padStart(9)}\n`,
    );
  }
  process.stdout.write(`${refused.shape}: refused ${refused.reason} after ${refused.ms.toFixed(1)} ms (frame ${mb(refused.frameBytes)} MiB, nothing built)\n`);
}
