#!/usr/bin/env node
// Self-check for examples/c-handler: compiles sample_handler.c into a temporary
// directory (removed afterwards), then drives it over umdkit wire protocol v1.
// Each scenario runs against the release build (-O2 -static, or without -static
// when the host has no static libc) and, when the toolchain has the sanitizers,
// against an -fsanitize=address,undefined build.
//
//   node examples/c-handler/selftest.mjs
//
// Plain Node ESM; the only dependency is cbor-x. Exits 0 when every check passes.

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Decoder, Encoder } from 'cbor-x';

const HERE = dirname(fileURLToPath(import.meta.url));
const SOURCES = ['sample_handler.c', 'cbor.c'].map((f) => join(HERE, f));
const SAMPLE_BYTES = 131072;
const MAX_FRAME = 16 * 1024 * 1024;
const FRAME_TIMEOUT_MS = 10_000;

// Plain CBOR, as the manager's codec sends it (no records, no tags).
const encoder = new Encoder({
  useRecords: false, mapsAsObjects: true, useTag259ForMaps: false,
  tagUint8Array: false, structuredClone: false, pack: false,
});
const decoder = new Decoder({ useRecords: false, mapsAsObjects: true, structuredClone: false });

let failures = 0;
const ok = (line) => console.log(`ok   ${line}`);
function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
}

// JSON for messages in failures: bigint and byte strings too.
const show = (v) => JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? `${x}n` : x instanceof Uint8Array ? `<${x.length} bytes>` : x));

const frameOf = (body) => {
  const head = Buffer.alloc(4);
  head.writeUInt32BE(body.length);
  return Buffer.concat([head, Buffer.from(body)]);
};
const frame = (msg) => frameOf(encoder.encode(msg));
const hex = (s) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// ---- building ----

function compile(dir) {
  const cc = process.env.CC || 'cc';
  const base = ['-std=c11', '-Wall', '-Wextra', '-Werror'];
  const run = (out, flags) => {
    const args = [...base, ...flags, '-o', join(dir, out), ...SOURCES];
    const r = spawnSync(cc, args, { encoding: 'utf8' });
    return { ok: r.status === 0, cmd: `${cc} ${args.join(' ')}`, err: (r.stderr || '') + (r.error ? String(r.error) : '') };
  };
  let rel = run('sample_handler', ['-O2', '-static']);
  let isStatic = true;
  if (!rel.ok) {
    isStatic = false;
    const again = run('sample_handler', ['-O2']);
    if (!again.ok) throw new Error(`compile failed:\n${rel.cmd}\n${rel.err}\n${again.cmd}\n${again.err}`);
    rel = again;
  }
  if (rel.err.trim()) throw new Error(`compiler printed something:\n${rel.err}`);
  const builds = [{ name: isStatic ? 'static -O2' : 'dynamic -O2 (no static libc)', bin: join(dir, 'sample_handler'), sanitized: false, cmd: rel.cmd }];
  const san = run('sample_handler_san', ['-O1', '-g', '-fno-omit-frame-pointer', '-fsanitize=address,undefined', '-fno-sanitize-recover=all']);
  if (san.ok && !san.err.trim()) {
    builds.push({ name: 'asan+ubsan', bin: join(dir, 'sample_handler_san'), sanitized: true, cmd: san.cmd });
  } else {
    console.log(`skip sanitizer build (toolchain refused it): ${san.err.split('\n')[0]}`);
  }
  return builds;
}

// ---- a running handler ----

class Handler {
  static live = new Set();

  /** Kills whatever a failed scenario left running. */
  static killAll() {
    for (const h of Handler.live) h.child.kill('SIGKILL');
  }

  /** @param {{bin: string, sanitized: boolean}} build */
  constructor(build, { memLimitKb } = {}) {
    this.build = build;
    const env = { ...process.env };
    if (build.sanitized) {
      // Any allocation above 32 MiB aborts (the largest legal frame is 16 MiB).
      env.ASAN_OPTIONS = 'detect_leaks=0:abort_on_error=0:max_allocation_size_mb=32:allocator_may_return_null=0';
      env.UBSAN_OPTIONS = 'print_stacktrace=1:halt_on_error=1';
    }
    const [cmd, args] = memLimitKb && !build.sanitized
      ? ['sh', ['-c', `ulimit -v ${memLimitKb} && exec "$0"`, build.bin]]
      : [build.bin, []];
    this.child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env });
    Handler.live.add(this);
    this.child.stdin.on('error', () => {}); // EPIPE once the handler has exited
    this.frames = [];
    this.waiters = [];
    this.stderr = '';
    this.pending = Buffer.alloc(0);
    this.badStdout = null;
    this.child.stdout.on('data', (chunk) => this.#onData(chunk));
    this.child.stderr.on('data', (chunk) => { this.stderr += chunk.toString('utf8'); });
    this.closed = new Promise((resolve) => {
      this.child.on('close', (code, signal) => {
        Handler.live.delete(this);
        this.#flushWaiters();
        resolve({ code, signal });
      });
    });
  }

  #onData(chunk) {
    this.pending = Buffer.concat([this.pending, chunk]);
    while (this.pending.length >= 4) {
      const n = this.pending.readUInt32BE(0);
      if (n < 1 || n > MAX_FRAME) { this.badStdout = `frame length ${n} out of range`; return; }
      if (this.pending.length < 4 + n) break;
      const body = this.pending.subarray(4, 4 + n);
      this.pending = this.pending.subarray(4 + n);
      try {
        this.frames.push(decoder.decode(body)); // throws on trailing bytes
      } catch (err) {
        this.badStdout = `undecodable frame: ${err.message}`;
      }
    }
    this.#flushWaiters();
  }

  #flushWaiters() {
    while (this.waiters.length && (this.frames.length || this.child.exitCode !== null || this.child.signalCode !== null)) {
      this.waiters.shift()();
    }
  }

  send(msg) { this.child.stdin.write(Buffer.isBuffer(msg) ? msg : frame(msg)); }
  end() { this.child.stdin.end(); }

  async next(what = 'a frame') {
    const deadline = Date.now() + FRAME_TIMEOUT_MS;
    while (!this.frames.length) {
      check(this.badStdout === null, `stdout carries frames only (${this.badStdout})`);
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        await this.closed;
        if (this.frames.length) break;
        throw new Error(`handler exited (${this.child.exitCode ?? this.child.signalCode}) while waiting for ${what}; stderr:\n${this.stderr}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timeout waiting for ${what}; stderr:\n${this.stderr}`);
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => { clearTimeout(timer); resolve(); });
      });
    }
    return this.frames.shift();
  }

  async exit(timeoutMs = 10_000) {
    let timer;
    const result = await Promise.race([
      this.closed,
      new Promise((resolve) => { timer = setTimeout(() => resolve(null), timeoutMs); }),
    ]);
    clearTimeout(timer);
    if (result === null) {
      this.child.kill('SIGKILL');
      throw new Error(`handler did not exit within ${timeoutMs} ms; stderr:\n${this.stderr}`);
    }
    check(this.badStdout === null, `stdout carries frames only (${this.badStdout})`);
    check(!/AddressSanitizer|runtime error|LeakSanitizer/.test(this.stderr), `no sanitizer report; stderr:\n${this.stderr}`);
    return result;
  }

  async hello() {
    const h = await this.next('hello');
    check(h.t === 'hello' && h.v === 1 && h.pid === this.child.pid, `hello {t,v:1,pid:${this.child.pid}}, got ${show(h)}`);
    check(Object.keys(h).sort().join() === 'pid,t,v', 'hello has exactly t, v, pid');
    return h;
  }
}

// ---- checks on answers ----

function checkSample(res, id, offset) {
  check(res.t === 'res' && Number(res.id) === id && res.ok === true, `res ok for id ${id}, got ${show({ ...res, p: undefined })}`);
  check(res.p instanceof Uint8Array && res.p.length === SAMPLE_BYTES, `id ${id}: p is a ${SAMPLE_BYTES}-byte byte string`);
  let set = 0;
  for (let i = 0; i < res.p.length; i++) if (res.p[i] !== 0) set++;
  check(set === 1 && res.p[offset] === 1, `id ${id}: exactly one byte set, at ${offset} (set=${set})`);
}

function checkError(res, id, code, mention) {
  check(res.t === 'res' && Number(res.id) === id && res.ok === false && !('p' in res), `res ok:false for id ${id}, got ${show(res)}`);
  check(res.e && res.e.code === code && typeof res.e.message === 'string', `id ${id}: e.code ${code}, got ${show(res.e)}`);
  if (mention !== undefined) check(res.e.message.includes(mention), `id ${id}: message names ${mention}: ${res.e.message}`);
}

// ---- scenarios ----

async function runMain(build) {
  const h = new Handler(build);
  await h.hello();
  let id = 0;
  const offsets = Array.from({ length: 50 }, (_, i) => ((i * 53) % 128) * 1024); // 50 distinct multiples of 1024
  // Method spelled three ways: absent, "offset", and undefined (cbor-x sends 0xf7).
  const req = (offset, i) => {
    const msg = { t: 'req', id: ++id, p: offset };
    if (i % 3 === 1) msg.m = 'offset';
    if (i % 3 === 2) msg.m = undefined;
    return msg;
  };
  // 10 one at a time.
  for (let i = 0; i < 10; i++) {
    h.send(req(offsets[i], i));
    checkSample(await h.next(`answer ${id}`), id, offsets[i]);
  }
  // 25 pipelined in a single write, then 15 pipelined as separate writes.
  let first = id + 1;
  h.send(Buffer.concat(offsets.slice(10, 35).map((o, k) => frame(req(o, 10 + k)))));
  for (let k = 0; k < 25; k++) checkSample(await h.next(`answer ${first + k}`), first + k, offsets[10 + k]);
  first = id + 1;
  for (let k = 0; k < 15; k++) h.send(req(offsets[35 + k], 35 + k));
  for (let k = 0; k < 15; k++) checkSample(await h.next(`answer ${first + k}`), first + k, offsets[35 + k]);
  check(id === 50, '50 requests');
  ok(`${build.name}: hello; 50 requests (10 serial, 25 in one write, 15 pipelined), each 128 KiB with one byte set at its offset`);

  h.send({ t: 'req', id: ++id, p: SAMPLE_BYTES - 1 });
  checkSample(await h.next(), id, SAMPLE_BYTES - 1);
  h.send({ t: 'req', id: 2 ** 40, p: 0 }); // cbor-x sends this id as a float64
  checkSample(await h.next(), 2 ** 40, 0);

  h.send({ t: 'ping', id: 4242 });
  const pong = await h.next('pong');
  check(pong.t === 'pong' && pong.id === 4242 && Object.keys(pong).length === 2, `pong {t,id:4242}, got ${show(pong)}`);
  h.send({ t: 'cancel', id: 3 });
  h.send({ t: 'something-new', id: 1 });
  h.send({ t: 'ping', id: 4243 });
  const pong2 = await h.next('pong after cancel');
  check(pong2.t === 'pong' && pong2.id === 4243, 'cancel and an unknown type are ignored (the next frame is the pong)');
  ok(`${build.name}: offset 131071 and a float64 id 2^40; ping -> pong; cancel and unknown t ignored`);

  h.send({ t: 'req', id: ++id, m: 'frobnicate', p: 0 });
  checkError(await h.next(), id, 'ENOSYS', 'frobnicate');
  h.send({ t: 'req', id: ++id, m: 'é'.repeat(500), p: 0 });
  const long = await h.next();
  checkError(long, id, 'ENOSYS');
  check(long.e.message.length < 200, 'a long method name is clipped in the message');
  h.send({ t: 'req', id: ++id, m: 42, p: 0 });
  checkError(await h.next(), id, 'EINVAL');
  h.send({ t: 'req', id: ++id, p: SAMPLE_BYTES });
  checkError(await h.next(), id, 'EINVAL', String(SAMPLE_BYTES));
  h.send({ t: 'req', id: ++id, m: 'offset', p: 2 ** 40 });
  checkError(await h.next(), id, 'EINVAL', String(2 ** 40));
  const wrong = ['1024', -1, 1.5, [1024], { offset: 1 }, null, true, new Uint8Array(4)];
  for (const p of wrong) {
    h.send({ t: 'req', id: ++id, p });
    checkError(await h.next(), id, 'EINVAL');
  }
  h.send({ t: 'req', id: ++id });
  checkError(await h.next(), id, 'EINVAL');
  // 64 levels of nesting (the map plus 63 arrays) is legal: a wrong type, not a violation.
  h.send(frameOf(Buffer.concat([hex('a3 6174 63726571 626964 1903e8 6170'), Buffer.alloc(63, 0x81), hex('00')])));
  checkError(await h.next(), 1000, 'EINVAL');
  ok(`${build.name}: unknown method -> ENOSYS (named, clipped); offset 131072 and 2^40 -> EINVAL (named); ${wrong.length + 2} wrong/missing payloads -> EINVAL`);

  h.send({ t: 'bye' });
  const { code, signal } = await h.exit();
  check(code === 0 && signal === null, `exit 0 after bye, got ${code ?? signal}`);
  check(h.frames.length === 0 && h.pending.length === 0, 'nothing written after bye');
  check(/bye/.test(h.stderr), 'stderr has a log line for bye');
  ok(`${build.name}: bye -> exit 0`);
}

async function runHugeLength(build) {
  // Under a 64 MiB address-space limit (release build) or an ASan allocation cap
  // of 32 MiB (sanitized build), allocating 2 GiB would fail loudly instead.
  const h = new Handler(build, { memLimitKb: 65536 });
  await h.hello();
  const started = Date.now();
  h.send(hex('7fffffff'));
  h.send(Buffer.alloc(1024, 0xa0)); // some body bytes; the handler must not wait for 2 GiB
  const { code } = await h.exit(5000);
  check(code !== 0 && code === 2, `exit 2 on length 0x7fffffff, got ${code}`);
  check(/out of range/.test(h.stderr) && !/out of memory/.test(h.stderr), `stderr names the length: ${h.stderr.trim()}`);
  check(h.frames.length === 0, 'no answer to a bad frame');
  ok(`${build.name}: length prefix 0x7fffffff -> exit ${code} in ${Date.now() - started} ms, no allocation (${build.sanitized ? 'ASan cap 32 MiB' : 'ulimit -v 64 MiB'})`);
}

async function runEof(build) {
  const h = new Handler(build);
  await h.hello();
  h.end();
  const { code } = await h.exit();
  check(code === 0, `exit 0 on EOF, got ${code}`);
  ok(`${build.name}: EOF on stdin -> exit 0`);
}

// Frames that must end the handler with status 2 and no answer.
const PING = 'a2 6174 6470696e67 626964 01'; // {t:"ping", id:1}
const MALFORMED = [
  ['length 0', hex('00000000')],
  ['length 16 MiB + 1', hex('01000001')],
  ['trailing bytes', frameOf(hex(`${PING} 00`))],
  ['tag', frameOf(hex('c1 00'))],
  ['tag inside', frameOf(hex('a3 6174 63726571 626964 01 6170 c1 00'))],
  ['indefinite map', frameOf(hex('bf 6174 6470696e67 ff'))],
  ['indefinite string', frameOf(hex('a2 6174 7f 6470696e67 ff 626964 01'))],
  ['indefinite array', frameOf(hex('a3 6174 63726571 626964 01 6170 9f ff'))],
  ['65 levels deep', frameOf(Buffer.concat([hex('a3 6174 63726571 626964 01 6170'), Buffer.alloc(64, 0x81), hex('00')]))],
  ['non-text key', frameOf(hex('a2 6174 6470696e67 01 01'))],
  ['invalid UTF-8', frameOf(hex('a2 6174 64 70 c3 28 67 626964 01'))],
  ['surrogate in UTF-8', frameOf(hex('a2 6174 63 eda080 626964 01'))],
  ['string past the end', frameOf(hex('a2 6174 6470696e'))],
  ['count 2^64-1', frameOf(hex('a2 6174 63726571 6170 9b ffffffffffffffff'))],
  ['truncated head', frameOf(hex('a2 6174 6470696e67 626964 1b 0000'))],
  ['reserved ai 28', frameOf(hex('1c'))],
  ['simple value f8', frameOf(hex('a2 6174 6470696e67 626964 f8 20'))],
  ['simple value 16', frameOf(hex('f0'))],
  ['stray break', frameOf(hex('ff'))],
  ['not a map', frameOf(hex('01'))],
  ['no t', frameOf(hex('a1 626964 01'))],
  ['t not text', frameOf(hex('a2 6174 01 626964 01'))],
  ['duplicate key', frameOf(hex('a3 6174 6470696e67 6174 6470696e67 626964 01'))],
  ['ping without id', frameOf(hex('a1 6174 6470696e67'))],
  ['req with negative id', frameOf(hex('a3 6174 63726571 626964 20 6170 00'))],
  ['EOF inside the prefix', hex('0000')],
  ['EOF inside the body', hex('0000000a a2 6174')],
];

async function runMalformed(build) {
  await Promise.all(MALFORMED.map(async ([name, bytes]) => {
    const h = new Handler(build);
    await h.hello();
    h.send(bytes);
    h.end();
    const { code } = await h.exit();
    check(code === 2, `${name}: exit 2, got ${code}; stderr: ${h.stderr.trim()}`);
    check(h.frames.length === 0, `${name}: no answer`);
    check(/protocol violation: .+/.test(h.stderr), `${name}: stderr names the reason`);
  }));
  ok(`${build.name}: ${MALFORMED.length} malformed inputs (lengths, trailing bytes, tags, indefinite, depth, keys, UTF-8, truncation, bad messages) -> exit 2, no answer`);
}

// Mutated valid frames (deterministic): exit 0 or 2 only, never a crash or a sanitizer report.
async function runFuzz(build, cases = 200) {
  let seed = 0x5eed;
  const rand = (n) => { seed = (seed * 1103515245 + 12345) >>> 0; return (seed >>> 8) % n; };
  const seeds = [
    encoder.encode({ t: 'req', id: 1, m: 'offset', p: 1024 }),
    encoder.encode({ t: 'req', id: 2, p: [1, 'x', { a: null, b: [true, 1.5] }] }),
    encoder.encode({ t: 'ping', id: 3 }),
  ];
  const inputs = [];
  for (let i = 0; i < cases; i++) {
    const body = Buffer.from(seeds[i % seeds.length]);
    for (let k = 0, n = 1 + rand(3); k < n; k++) body[rand(body.length)] = rand(256);
    inputs.push(frameOf(body.subarray(0, body.length - (rand(4) === 0 ? rand(body.length) : 0) || 1)));
  }
  const codes = new Map();
  for (let i = 0; i < inputs.length; i += 16) {
    await Promise.all(inputs.slice(i, i + 16).map(async (bytes) => {
      const h = new Handler(build);
      h.send(bytes);
      h.end();
      const { code, signal } = await h.exit();
      check(signal === null && (code === 0 || code === 2), `fuzz input ${bytes.toString('hex')}: exit ${code ?? signal}; stderr: ${h.stderr}`);
      codes.set(code, (codes.get(code) ?? 0) + 1);
    }));
  }
  ok(`${build.name}: ${cases} mutated frames -> exit 0: ${codes.get(0) ?? 0}, exit 2: ${codes.get(2) ?? 0}; no crash`);
}

// ---- main ----

const dir = mkdtempSync(join(tmpdir(), 'umdkit-c-handler-'));
try {
  const builds = compile(dir);
  for (const b of builds) console.log(`built ${b.name}: ${b.cmd.replaceAll(dir + '/', '$TMP/').replaceAll(HERE + '/', '')}`);
  for (const build of builds) {
    for (const scenario of [runMain, runHugeLength, runEof, runMalformed, ...(build.sanitized ? [runFuzz] : [])]) {
      try {
        await scenario(build);
      } catch (err) {
        failures++;
        console.log(`FAIL ${build.name}: ${scenario.name}: ${err.message}`);
      } finally {
        Handler.killAll();
      }
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log(failures ? `${failures} scenario(s) failed` : 'all checks passed');
process.exitCode = failures ? 1 : 0;
