/**
 * The source of the fault shim: a tiny Node program that a fault-injecting manager runs *instead
 * of* each handler (through the manager's internal launch wrapper), and that runs the real handler
 * as its child. It relays stdin to the child untouched, relays the child's frames to stdout one
 * whole frame at a time, mirrors the child's exit (same code, same signal), and misbehaves only
 * when the parent tells it to over a private control socket.
 *
 * Why a separate process instead of a hook in the handler runtime: it works the same for every
 * handler in every language (the C handler included), needs no change to `serve`, and the
 * faults are real — real bytes on a real pipe, real exits and signals of the process the manager
 * spawned — while production code has no switch that could turn them on.
 *
 * Plain JavaScript with Node builtins only; it is written next to the control socket and run
 * with a small heap, so the `heap` fault exhausts it quickly.
 *
 * @example
 * ```ts
 * await writeFile(join(dir, 'shim.mjs'), SHIM_SOURCE);
 * ```
 */
export const SHIM_SOURCE = String.raw`// umdkit fault shim (umdkit/testing): relays one handler's pipes and misbehaves on request.
import { spawn } from 'node:child_process';
import { connect } from 'node:net';

const [ctlPath, driver, instance, generation, argv0, command, ...args] = process.argv.slice(2);
const log = (line) => process.stderr.write('[umdkit fault] ' + line + '\n');

// ---- control channel: newline-delimited JSON both ways ----
let control = null;
// Commands that arrive before the relay is set up wait here (the parent only sends them after
// hello, but a fault must never hit half-built state).
const early = [];
let dispatch = (message) => early.push(message);
function tell(message) {
  if (control !== null && !control.destroyed) control.write(JSON.stringify(message) + '\n');
}

function openControl() {
  return new Promise((resolve) => {
    let settled = false;
    const done = (faults) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(faults);
    };
    const socket = connect(ctlPath);
    // A parent that does not answer must not stop the handler from starting.
    const timer = setTimeout(() => done([]), 2000);
    let buffered = '';
    socket.setEncoding('utf8');
    socket.on('error', () => done([]));
    socket.on('connect', () => {
      control = socket;
      tell({ type: 'attach', pid: process.pid, driver, instance, generation: Number(generation) });
    });
    socket.on('data', (text) => {
      buffered += text;
      for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        let message;
        try {
          message = JSON.parse(line);
        } catch {
          continue;
        }
        if (message.type === 'arm') done(message.faults ?? []);
        else if (message.type === 'fault') dispatch(message);
      }
    });
    socket.unref();
  });
}

const startFaults = await openControl();
let swallowHello = startFaults.some((f) => f.fault === 'noHello');

// fd 3 is the handler's image (a sealed copy, run as /proc/self/fd/3): pass it on.
const child = spawn(command, args, { cwd: process.cwd(), env: process.env, argv0, stdio: ['pipe', 'pipe', 'inherit', 3] });
child.on('error', (err) => {
  log('cannot start the handler: ' + err.message);
  process.exit(127);
});
if (child.pid !== undefined) tell({ type: 'child', pid: child.pid });

// ---- manager -> handler: untouched ----
process.stdin.on('error', () => {});
child.stdin.on('error', () => {});
process.stdin.pipe(child.stdin);

// ---- handler -> manager: whole frames, so that a fault lands on a frame boundary ----
const out = process.stdout;
out.on('error', () => {});
let outClosed = false;
let waitingDrain = false;
function emit(bytes) {
  if (outClosed) return;
  if (!out.write(bytes) && !waitingDrain) {
    waitingDrain = true;
    child.stdout.pause();
    out.once('drain', () => {
      waitingDrain = false;
      child.stdout.resume();
    });
  }
}

const chunks = [];
let available = 0;
let raw = false; // the handler's own stream is not framed: pass it through as it is
let held = 0; // frames held back by 'slow'
const onAnswer = []; // faults waiting for the next answer frame

function take(n) {
  const first = chunks[0];
  if (first.length >= n) {
    const part = first.subarray(0, n);
    if (first.length === n) chunks.shift();
    else chunks[0] = first.subarray(n);
    available -= n;
    return part;
  }
  const whole = Buffer.allocUnsafe(n);
  let filled = 0;
  while (filled < n) {
    const chunk = chunks[0];
    const part = Math.min(chunk.length, n - filled);
    chunk.copy(whole, filled, 0, part);
    filled += part;
    if (part === chunk.length) chunks.shift();
    else chunks[0] = chunk.subarray(part);
  }
  available -= n;
  return whole;
}

function lengthPrefix() {
  const first = chunks[0];
  if (first.length >= 4) return first.readUInt32BE(0);
  const head = Buffer.concat(chunks, 4);
  return head.readUInt32BE(0);
}

child.stdout.on('data', (chunk) => {
  if (outClosed) return;
  if (raw) return emit(chunk);
  chunks.push(chunk);
  available += chunk.length;
  while (available >= 4) {
    const length = lengthPrefix();
    if (length === 0 || length > 0x7fffffff) {
      raw = true;
      emit(take(available));
      return;
    }
    if (available < 4 + length) return;
    frame(take(4 + length));
  }
});

let first = true;
function frame(bytes) {
  if (first) {
    first = false;
    if (swallowHello) {
      log('noHello: the hello frame was swallowed');
      return;
    }
    return emit(bytes);
  }
  if (onAnswer.length > 0 && typeOf(bytes) === 'res') return answerFault(onAnswer.shift(), bytes);
  emit(bytes);
}

function answerFault(fault, bytes) {
  const p = fault.params ?? {};
  switch (fault.fault) {
    case 'bitflip': {
      const at = clamp(p.byte ?? Math.floor((p.fraction ?? 0.5) * bytes.length), 0, bytes.length - 1);
      const copy = Buffer.from(bytes);
      copy[at] ^= 1 << ((p.bit ?? 0) & 7);
      log('bitflip: byte ' + at + ' bit ' + ((p.bit ?? 0) & 7) + ' of a ' + bytes.length + '-byte frame');
      return emit(copy);
    }
    case 'truncate': {
      const keep = clamp(p.byte ?? Math.floor((p.fraction ?? 0.5) * bytes.length), 5, bytes.length - 1);
      log('truncate: ' + keep + ' of ' + bytes.length + ' bytes, then exit');
      emit(bytes.subarray(0, keep));
      outClosed = true;
      return out.write(new Uint8Array(0), () => die(1));
    }
    case 'duplicateId':
      log('duplicateId: an answer sent twice');
      emit(bytes);
      return emit(Buffer.from(bytes));
    case 'missingId':
      log('missingId: an answer dropped');
      return;
    case 'slow': {
      const ms = p.ms ?? 500;
      log('slow: an answer held back ' + ms + ' ms');
      held++;
      setTimeout(() => {
        held--;
        emit(bytes);
        if (ended !== null && held === 0) finish();
      }, ms);
      return;
    }
  }
  emit(bytes);
}

let unknownIds = 0;
function command_(message) {
  const ack = (then) => {
    if (control === null || control.destroyed) return then?.();
    control.write(JSON.stringify({ type: 'ack', seq: message.seq }) + '\n', () => then?.());
  };
  const p = message.params ?? {};
  switch (message.fault) {
    case 'exit':
      log('exit: exiting with code ' + (p.code ?? 1));
      return ack(() => die(p.code ?? 1));
    case 'spin':
      log('spin: busy loop');
      return ack(() => {
        for (;;) {
          // never yields: no frame is read or written again
        }
      });
    case 'heap':
      log('heap: allocating until the heap is exhausted');
      return ack(() => {
        const hog = [];
        for (;;) hog.push(new Array(1 << 16).fill(hog.length));
      });
    case 'closeStdout':
      log('closeStdout: stdout closed');
      outClosed = true;
      out.destroy();
      child.stdout.resume(); // keep draining the handler, so it never blocks on a full pipe
      return ack();
    // The manager kills the process as soon as it reads these: confirm first, then write.
    case 'oversize':
      log('oversize: length prefix 0x7fffffff');
      return ack(() => emit(Buffer.from([0x7f, 0xff, 0xff, 0xff])));
    case 'garbage':
      log('garbage: a text line on stdout');
      return ack(() => emit(Buffer.from('umdkit fault: garbage on stdout\n')));
    case 'unknownId': {
      const id = 0x7fff0000 + unknownIds++;
      log('unknownId: an answer for id ' + id);
      return ack(() => emit(answerFrame(id)));
    }
    case 'noHello':
      swallowHello = true; // only matters before the first frame
      return ack();
    default:
      onAnswer.push(message);
      return ack();
  }
}

dispatch = command_;
early.splice(0).forEach(command_);

// ---- exit: mirror the child's ----
let ended = null;
child.on('close', (code, signal) => {
  ended = { code, signal };
  if (held === 0) finish();
});

function finish() {
  const { code, signal } = ended;
  const mirror = () => {
    if (signal !== null) {
      process.kill(process.pid, signal);
      // A signal Node ignores (SIGPIPE) or handles: the shell's convention instead.
      setTimeout(() => process.exit(128 + 1), 200);
      return;
    }
    process.exit(code ?? 1);
  };
  if (outClosed) return mirror();
  out.write(new Uint8Array(0), mirror);
}

function die(code) {
  try {
    child.kill('SIGKILL');
  } catch {
    // already gone
  }
  process.exit(code);
}

function clamp(value, low, high) {
  return Math.max(low, Math.min(high, value));
}

// ---- just enough CBOR to tell an answer ({ t: 'res', id }) from a pong ----
function typeOf(bytes) {
  try {
    let i = 4;
    const map = head(bytes, i);
    if (map.major !== 5) return undefined;
    i = map.next;
    for (let k = 0; k < map.value; k++) {
      const key = head(bytes, i);
      if (key.major !== 3) return undefined;
      const name = bytes.toString('utf8', key.next, key.next + key.value);
      i = key.next + key.value;
      if (name === 't') {
        const value = head(bytes, i);
        return value.major === 3 ? bytes.toString('utf8', value.next, value.next + value.value) : undefined;
      }
      i = skip(bytes, i);
    }
  } catch {
    return undefined;
  }
  return undefined;
}

function head(bytes, i) {
  const initial = bytes[i];
  if (initial === undefined) throw new Error('short');
  const major = initial >> 5;
  const info = initial & 31;
  if (info < 24) return { major, info, value: info, next: i + 1 };
  if (info === 24) return { major, info, value: bytes[i + 1], next: i + 2 };
  if (info === 25) return { major, info, value: bytes.readUInt16BE(i + 1), next: i + 3 };
  if (info === 26) return { major, info, value: bytes.readUInt32BE(i + 1), next: i + 5 };
  if (info === 27) return { major, info, value: Number(bytes.readBigUInt64BE(i + 1)), next: i + 9 };
  throw new Error('indefinite or reserved');
}

function skip(bytes, i) {
  const h = head(bytes, i);
  switch (h.major) {
    case 2:
    case 3:
      return h.next + h.value;
    case 4: {
      let j = h.next;
      for (let k = 0; k < h.value; k++) j = skip(bytes, j);
      return j;
    }
    case 5: {
      let j = h.next;
      for (let k = 0; k < 2 * h.value; k++) j = skip(bytes, j);
      return j;
    }
    case 6:
      return skip(bytes, h.next);
    default:
      return h.next;
  }
}

/** { t: 'res', id, ok: true, p: null }, encoded by hand. */
function answerFrame(id) {
  const body = Buffer.from([0xa4, 0x61, 0x74, 0x63, 0x72, 0x65, 0x73, 0x62, 0x69, 0x64, 0x1a, 0, 0, 0, 0, 0x62, 0x6f, 0x6b, 0xf5, 0x61, 0x70, 0xf6]);
  body.writeUInt32BE(id, 11);
  const prefix = Buffer.alloc(4);
  prefix.writeUInt32BE(body.length, 0);
  return Buffer.concat([prefix, body]);
}
`;
