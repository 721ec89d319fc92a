// Pure logic of service mode: payloads as JSON text, log records, client messages, the status
// tree, socket paths. Everything else in test/service runs real processes.
import { EventEmitter } from 'node:events';
import { chmod, chown, lstat, mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ManagerEvent, TreeSnapshot } from 'umdkit';
import { encodeFrame } from '../../src/protocol/index.js';
import { fromJsonText, toJsonText } from '../../src/service/json-text.js';
import { formatRecord, recordOf, ServiceLog } from '../../src/service/log.js';
import { parseClientMessage, parseServiceMessage } from '../../src/service/messages.js';
import { checkSocketPath, defaultSocketPath, ensureSocketDir, socketDir } from '../../src/service/socket-path.js';
import { renderTree } from '../../src/service/tree-text.js';
import { needs, root } from '../fixtures/requires.js';

describe('payloads as JSON text', () => {
  it('writes byte strings as {"$base64"}, big integers exactly, undefined as null or left out', () => {
    const value = { bytes: Uint8Array.of(0, 255, 16), big: 2n ** 64n + 1n, list: [undefined, 1.5, 'x'], gone: undefined, nested: { ok: true, n: null } };
    expect(toJsonText(value)).toBe('{"bytes":{"$base64":"AP8Q"},"big":18446744073709551617,"list":[null,1.5,"x"],"nested":{"ok":true,"n":null}}');
    expect(toJsonText(Buffer.from('hi').subarray(1))).toBe('{"$base64":"aQ=="}');
  });

  it('reads {"$base64"} back as bytes, keeps other objects, refuses bad base64, never turns __proto__ into a prototype', () => {
    const value = fromJsonText('{"a":{"$base64":"AP8Q"},"b":{"$base64":"AP8Q","other":1},"c":[{"$base64":""}]}') as Record<string, unknown>;
    expect(value.a).toEqual(new Uint8Array([0, 255, 16]));
    expect(value.b).toEqual({ $base64: 'AP8Q', other: 1 });
    expect((value.c as unknown[])[0]).toEqual(new Uint8Array(0));
    expect(() => fromJsonText('{"$base64":"not base64!"}')).toThrow(TypeError);
    expect(() => fromJsonText('{"$base64":7}')).toThrow('$base64 must hold base64 text, got 7');
    const sneaky = fromJsonText('{"__proto__":{"polluted":true}}') as Record<string, unknown>;
    expect(Object.getPrototypeOf(sneaky)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    // The codec refuses such a key on the wire, as it does in frames from handlers.
    expect(() => encodeFrame({ t: 'req', id: 1, d: 'x', p: sneaky })).toThrow(/FORBIDDEN_KEY/);
  });
});

describe('log records', () => {
  const at = 1000;
  const iso = new Date(performance.timeOrigin + at).toISOString();

  it('turns manager events into records naming the handler, and leaves out successful requests', () => {
    const log: ManagerEvent = { type: 'log', driver: 'parser', instance: 'V1StGXR8_Z', generation: 2, pid: 4242, line: 'parsed 3 files', at };
    expect(recordOf(log)).toEqual({ time: iso, level: 'info', event: 'log', message: 'parsed 3 files', driver: 'parser', instance: 'V1StGXR8_Z', generation: 2, pid: 4242 });
    expect(formatRecord(recordOf(log)!, 'text')).toBe(`${iso} info  parser/V1StGXR8_Z#2 pid 4242: parsed 3 files\n`);
    expect(JSON.parse(formatRecord(recordOf(log)!, 'json'))).toEqual(recordOf(log));

    expect(recordOf({ type: 'request', driver: 'parser', request: 'r1', outcome: 'OK', latencyMs: 3, at })).toBeUndefined();
    expect(recordOf({ type: 'request', driver: 'parser', request: 'r1', outcome: 'TIMEOUT', latencyMs: 3, at })).toMatchObject({ level: 'warn', outcome: 'TIMEOUT' });
    expect(recordOf({ type: 'exit', driver: 'p', instance: 'i', generation: 1, pid: 9, code: null, signal: 'SIGSEGV', at })).toMatchObject({ level: 'warn', message: 'killed by SIGSEGV' });
    expect(recordOf({ type: 'gave-up', supervisor: 'root', reason: 'too many', at })).toMatchObject({ level: 'error', supervisor: 'root' });
    expect(formatRecord(recordOf({ type: 'restart', supervisor: 'root', child: 'p', reason: 'crash', delayMs: 99.6, at })!, 'text')).toBe(`${iso} warn  supervisor root: restarting p in 100 ms: crash\n`);
  });

  it('writes ready <-> busy flips only when verbose, and service records with their fields after the head', () => {
    const lines: string[] = [];
    const quiet = new ServiceLog({ format: 'json', write: (line) => lines.push(line) });
    const flip: ManagerEvent = { type: 'state', driver: 'p', instance: 'i', generation: 1, pid: 9, from: 'ready', to: 'busy', at };
    quiet.event(flip);
    quiet.event({ ...flip, from: 'busy', to: 'crashed' });
    quiet.info('started', 'up', { socket: '/s', time: 'not this one' });
    expect(lines.map((l) => JSON.parse(l).message)).toEqual(['busy -> crashed', 'up']);
    expect(Object.keys(JSON.parse(lines[1]!))).toEqual(['time', 'level', 'event', 'message', 'socket']);
    expect(JSON.parse(lines[1]!).time).not.toBe('not this one');
    const verbose: string[] = [];
    new ServiceLog({ format: 'text', write: (line) => verbose.push(line), verbose: true }).event(flip);
    expect(verbose).toEqual([`${iso} debug p/i#1 pid 9: ready -> busy\n`]);
  });

  it('bounds what a slow stream holds: drops past the bound with a count, reports it on drain and at the end', () => {
    // A stand-in for a stdout pipe nobody reads: it holds whatever is written until drained.
    const stream = Object.assign(new EventEmitter(), {
      lines: [] as string[],
      writableLength: 0,
      write(text: string) {
        this.lines.push(text);
        this.writableLength += Buffer.byteLength(text);
        return false;
      },
    });
    const log = new ServiceLog({ format: 'json', stream, maxBufferedBytes: 1000 });
    const line: ManagerEvent = { type: 'log', driver: 'p', instance: 'i', generation: 1, pid: 9, line: 'x', at };
    for (let i = 0; i < 100; i++) log.event(line);
    const written = stream.lines.length;
    expect(written).toBeGreaterThan(0);
    expect(written).toBeLessThan(20);
    expect(stream.writableLength).toBeLessThan(1000 + 200);
    expect(log.dropped).toBe(100 - written);

    stream.writableLength = 0;
    stream.emit('drain');
    expect(JSON.parse(stream.lines.at(-1)!)).toMatchObject({ level: 'warn', event: 'dropped', dropped: 100 - written, message: `dropped ${100 - written} log records: the log reader was too slow` });
    // Counted once: the next drain owes nothing.
    stream.emit('drain');
    expect(stream.lines.filter((l) => l.includes('"event":"dropped"'))).toHaveLength(1);

    // Full again at the end: the count owed and the last records go out anyway.
    for (let i = 0; i < 50; i++) log.event(line);
    const before = stream.lines.length;
    log.finish();
    log.info('service-exit', 'stopped; exiting 0');
    expect(stream.lines.slice(before).map((l) => JSON.parse(l).event)).toEqual(['dropped', 'service-exit']);

    // A reader that is gone (EPIPE) ends the log quietly: nothing more is written, nothing throws.
    stream.emit('error', Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
    const after = stream.lines.length;
    log.event(line);
    log.finish();
    expect(stream.lines.length).toBe(after);
  });

  it('refuses a log with both or neither of write and stream, and a bad maxBufferedBytes, naming the value', () => {
    expect(() => new ServiceLog({ format: 'json' })).toThrow('options must have exactly one of write and stream');
    expect(() => new ServiceLog({ format: 'json', write: () => {}, stream: process.stdout })).toThrow(TypeError);
    expect(() => new ServiceLog({ format: 'json', stream: process.stdout, maxBufferedBytes: 0 })).toThrow('options.maxBufferedBytes must be a positive integer, got 0');
  });
});

describe('client and service messages', () => {
  it('accepts the client message set and refuses anything else, naming the field', () => {
    expect(parseClientMessage({ t: 'req', id: 1, d: 'p', m: 'parse', p: { a: 1 }, timeoutMs: 5, idempotent: true })).toEqual({ t: 'req', id: 1, d: 'p', m: 'parse', p: { a: 1 }, timeoutMs: 5, idempotent: true });
    expect(parseClientMessage({ t: 'status', id: 0 })).toEqual({ t: 'status', id: 0 });
    for (const [bad, why] of [
      [{ t: 'req', id: 1, d: '', p: 1 }, '"req".d must be a driver name'],
      [{ t: 'req', id: 1.5, d: 'p', p: 1 }, '"req".id must be an unsigned integer'],
      [{ t: 'req', id: 1, d: 'p', p: 1, timeoutMs: 0 }, '"req".timeoutMs must be a positive integer, got 0'],
      [{ t: 'req', id: 1, d: 'p', p: 1, timeoutMs: 2 ** 31 }, '"req".timeoutMs must be an unsigned integer up to 2147483647'],
      [{ t: 'req', id: 1, d: 'p', p: 1, idempotent: 'yes' }, '"req".idempotent must be a boolean'],
      [{ t: 'subscribe', id: 1, since: 0 }, '"subscribe" has an unknown field "since"'],
      [{ t: 'bye' }, 'unknown message type t = "bye" from a client'],
      [Uint8Array.of(1), 'a message must be a map, got a byte string'],
    ] as const) {
      expect(() => parseClientMessage(bad), why).toThrow(why);
    }
  });

  it('accepts what a service sends', () => {
    expect(parseServiceMessage({ t: 'res', id: 2, ok: false, e: { code: 'TIMEOUT', message: 'late', details: { driver: 'p' } } })).toEqual({ t: 'res', id: 2, ok: false, e: { code: 'TIMEOUT', message: 'late', details: { driver: 'p' } } });
    expect(parseServiceMessage({ t: 'dropped', n: 3 })).toEqual({ t: 'dropped', n: 3 });
    expect(() => parseServiceMessage({ t: 'hello', v: 2, pid: 1 })).toThrow('"hello".v must be 1, got 2');
    expect(() => parseServiceMessage({ t: 'event', p: { at: 1 } })).toThrow('"event".p.type must be text');
  });
});

describe('the status tree', () => {
  it('indents supervisors, drivers and instances with their counts', () => {
    const tree: TreeSnapshot = {
      name: 'root', kind: 'supervisor', state: 'running', pid: null, generation: 0, restarts: 1, queued: 2, inFlight: 3, strategy: 'rest_for_one',
      children: [{
        name: 'parser', kind: 'driver', state: 'busy+ready', pid: null, generation: 0, restarts: 1, queued: 2, inFlight: 3, sandbox: ['env', 'cwd'],
        children: [
          { name: 'parser', kind: 'instance', id: 'a1', state: 'busy', pid: 10, generation: 2, restarts: 1, queued: 0, inFlight: 3, spare: false, lastExit: { code: null, signal: 'SIGSEGV', reason: 'crash' } },
          { name: 'parser', kind: 'instance', id: 'b2', state: 'backoff', pid: null, generation: 0, restarts: 0, queued: 0, inFlight: 0, spare: true },
        ],
      }],
      gaveUp: 'too many restarts',
    };
    expect(renderTree(tree)).toBe([
      'root (supervisor, rest_for_one) running restarts=1 queued=2 inFlight=3',
      '  parser (driver) busy+ready restarts=1 queued=2 inFlight=3 sandbox=env,cwd',
      '    instance a1 busy pid=10 generation=2 restarts=1 inFlight=3 lastExit=SIGSEGV',
      '    instance b2 spare backoff pid=- generation=0 restarts=0 inFlight=0',
      'gave up: too many restarts',
      '',
    ].join('\n'));
  });
});

describe('socket paths', () => {
  it('uses $XDG_RUNTIME_DIR/umdkit when it is absolute, else <tmpdir>/umdkit-<uid>', () => {
    expect(defaultSocketPath({ XDG_RUNTIME_DIR: '/run/user/1000' })).toBe('/run/user/1000/umdkit/umdkit.sock');
    expect(socketDir({ XDG_RUNTIME_DIR: 'relative/dir' })).toBe(join(tmpdir(), `umdkit-${process.getuid!()}`));
    expect(socketDir({})).toBe(join(tmpdir(), `umdkit-${process.getuid!()}`));
    expect(() => checkSocketPath(`/${'x'.repeat(107)}`)).toThrow('the socket path must be at most 107 bytes, got 108');
  });

  it('creates the socket directory 0700, narrows a wider one, and refuses a symlink', async () => {
    const base = await mkdtemp(join(tmpdir(), 'umdkit-sockdir-'));
    try {
      const dir = join(base, 'umdkit');
      await ensureSocketDir(dir);
      expect((await lstat(dir)).mode & 0o777).toBe(0o700);
      await chmod(dir, 0o755);
      await ensureSocketDir(dir);
      expect((await lstat(dir)).mode & 0o777).toBe(0o700);

      const elsewhere = join(base, 'elsewhere');
      await mkdir(elsewhere);
      const link = join(base, 'link');
      await symlink(elsewhere, link);
      await expect(ensureSocketDir(link)).rejects.toThrow('is a symlink');
    } finally {
      await rm(base, { recursive: true, force: true });
    }
  });

  // Handing a directory to another user takes chown, which takes root.
  const chownable = needs('the other-user socket directory check', [root()]);
  it.runIf(chownable.run)(`refuses a socket directory of another user${chownable.note}`, async () => {
    const base = await mkdtemp(join(tmpdir(), 'umdkit-sockdir-'));
    try {
      const theirs = join(base, 'theirs');
      await mkdir(theirs, { mode: 0o700 });
      await chown(theirs, 65534, 65534);
      await expect(ensureSocketDir(theirs)).rejects.toThrow('is owned by uid 65534');
    } finally {
      await rm(base, { recursive: true, force: true });
    }
  });
});
