import { describe, expect, it } from 'vitest';
import { loadImage } from '../../src/loader/extract.js';
import { spawnHandler, type LogLine } from '../../src/loader/spawn.js';
import { encodeFrame, ProtocolError, type PongMessage, type ResponseMessage } from '../../src/protocol/index.js';
import { gone, isRunning, spawnOptions, useCleanSlate } from '../fixtures/harness.js';
import { HELLO_JS, inlineImage, STAY_ALIVE_JS } from '../fixtures/inline.js';

const hex = (message: unknown) => encodeFrame(message).toString('hex');

describe('a running handler process', () => {
  const slate = useCleanSlate();
  const start = async (name: string, source: string, extra: Record<string, unknown> = {}) => {
    const loaded = await loadImage(name, inlineImage(source), { root: slate.root });
    const handler = slate.track(await spawnHandler(loaded, spawnOptions(name, extra)));
    return { loaded, handler };
  };

  it('terminate("brutal_kill") SIGKILLs at once and resolves when reaped', async () => {
    const { loaded, handler } = await start('brutal', `${HELLO_JS} process.stdout.write(hello()); ${STAY_ALIVE_JS}`);
    const exit = await handler.terminate('brutal_kill');
    expect(exit).toMatchObject({ code: null, signal: 'SIGKILL' });
    expect(handler.alive).toBe(false);
    expect(isRunning(handler.pid)).toBe(false);
    await loaded.unload();
  });

  it('terminate(grace) sends bye, waits the grace period, then SIGKILLs a handler that ignores it', async () => {
    const { loaded, handler } = await start('stubborn', `${HELLO_JS} process.stdout.write(hello()); process.stdin.resume(); ${STAY_ALIVE_JS}`);
    const started = Date.now();
    const exit = await handler.terminate(250);
    expect(Date.now() - started).toBeGreaterThanOrEqual(240);
    expect(exit.signal).toBe('SIGKILL');
    await loaded.unload();
  });

  it('kills the whole process group: a grandchild dies with the handler', async () => {
    const { loaded, handler } = await start('parent', `${HELLO_JS}
      import { spawn } from 'node:child_process';
      const grandchild = spawn(process.execPath, ['-e', 'setInterval(() => {}, 60000)'], { stdio: 'ignore' });
      process.stderr.write('grandchild ' + grandchild.pid + '\\n');
      process.stdout.write(hello());
      ${STAY_ALIVE_JS}`);
    await waitUntil(() => handler.stderrTail().length > 0, 'the handler names its grandchild');
    const grandchild = Number(handler.stderrTail()[0]!.split(' ')[1]);
    slate.trackPid(grandchild);
    expect(isRunning(grandchild)).toBe(true);
    handler.kill('SIGTERM');
    expect((await handler.exited).signal).toBe('SIGTERM');
    expect(await gone(grandchild, 2000)).toBe(true);
    await loaded.unload();
  });

  it('send() ignores a dead pipe but throws ProtocolError for an unencodable message', async () => {
    const { loaded, handler } = await start('short', `${HELLO_JS} process.stdout.write(hello()); process.stdin.on('end', () => process.exit(0)); process.stdin.resume();`);
    expect(() => handler.send({ t: 'req', id: 1, p: new Date() })).toThrow(ProtocolError);
    expect(() => handler.send({ t: 'req', id: 1, p: new Date() })).toThrow(/UNENCODABLE/);
    handler.endInput();
    await handler.exited;
    expect(() => handler.send({ t: 'ping', id: 2 })).not.toThrow();
    handler.kill(); // does nothing once exited
    await loaded.unload();
  });

  it('delivers frames that arrive with the hello once onMessage is set', async () => {
    const early = hex({ t: 'pong', id: 7 });
    const { loaded, handler } = await start('eager', `${HELLO_JS}
      process.stdout.write(Buffer.concat([hello(), Buffer.from('${early}', 'hex')]));
      process.stdin.on('end', () => process.exit(0)); process.stdin.resume();`);
    await pause(50); // let the early frame arrive before anyone listens
    const received: (ResponseMessage | PongMessage)[] = [];
    handler.onMessage = (message) => received.push(message);
    await waitUntil(() => received.length > 0, 'the early pong is delivered');
    expect(received).toEqual([{ t: 'pong', id: 7 }]);
    handler.endInput();
    expect((await handler.exited).code).toBe(0);
    await loaded.unload();
  });

  it('reports a bad frame after hello once through onFault, and ignores the rest of the stream', async () => {
    const good = hex({ t: 'res', id: 1, ok: true, p: 'fine' });
    const { loaded, handler } = await start('corrupt', `${HELLO_JS}
      process.stdout.write(hello());
      await new Promise((r) => setTimeout(r, 50));
      process.stdout.write(Buffer.from('${good}', 'hex'));
      process.stdout.write(Buffer.from([0xff, 0xff, 0xff, 0xff]));
      process.stdout.write(Buffer.from('${good}', 'hex'));
      ${STAY_ALIVE_JS}`, { maxFrameBytes: 1024 });
    const received: unknown[] = [];
    const faults: ProtocolError[] = [];
    handler.onMessage = (message) => received.push(message);
    handler.onFault = (error) => faults.push(error);
    await waitUntil(() => faults.length > 0, 'the bad frame is reported');
    await pause(50); // the rest of the stream would arrive now
    expect(received).toEqual([{ t: 'res', id: 1, ok: true, p: 'fine' }]);
    expect(faults).toHaveLength(1);
    expect(faults[0]!.reason).toBe('FRAME_TOO_LARGE');
    await handler.terminate('brutal_kill');
    expect(faults).toHaveLength(1);
    await loaded.unload();
  });

  it('leaves a frame cut off by the exit to the exit: a crash (code, signal), not a fault', async () => {
    const faults: ProtocolError[] = [];
    const { loaded, handler } = await start('cut', `${HELLO_JS}
      import { writeSync } from 'node:fs';
      writeSync(1, Buffer.concat([hello(), Buffer.from([0, 0, 0, 9, 0xa1])]));
      process.exit(1);`);
    handler.onFault = (error) => faults.push(error);
    const exit = await handler.exited;
    expect(exit.code).toBe(1);
    await pause(CUT_FRAME_VERDICT_MS + 100); // past the time a live handler would be blamed
    expect(faults).toEqual([]);
    await loaded.unload();
  });

  it('reports stdout closed inside a frame by a handler that lives on as TRUNCATED, even to an onFault set afterwards', async () => {
    const { loaded, handler } = await start('closer', `${HELLO_JS}
      import { closeSync, writeSync } from 'node:fs';
      writeSync(1, Buffer.concat([hello(), Buffer.from([0, 0, 0, 9, 0xa1])]));
      closeSync(1);
      ${STAY_ALIVE_JS}`);
    await pause(CUT_FRAME_VERDICT_MS + 100);
    expect(handler.alive).toBe(true);
    const faults: ProtocolError[] = [];
    handler.onFault = (error) => faults.push(error);
    await waitUntil(() => faults.length > 0, 'the cut frame is reported');
    expect(faults.map((f) => f.reason)).toEqual(['TRUNCATED']);
    expect(handler.alive).toBe(true); // what to do about it is the owner's call
    expect((await handler.terminate('brutal_kill')).signal).toBe('SIGKILL');
    await loaded.unload();
  });

  it('logs stderr line by line with tags, keeps only a bounded tail, and caps long lines', async () => {
    const lines: LogLine[] = [];
    const { loaded, handler } = await start('noisy', `${HELLO_JS}
      for (let i = 1; i <= 30; i++) process.stderr.write('line ' + i + '\\n');
      process.stderr.write('x'.repeat(5000) + '\\n');
      process.stderr.write('last line without newline');
      process.stdout.write(hello(), () => process.exit(0));`, { onLog: (line: LogLine) => lines.push(line) });
    const exit = await handler.exited;
    expect(lines).toHaveLength(32);
    expect(lines[0]).toEqual({ driver: 'noisy', instance: 'test-noisy', generation: 1, pid: handler.pid, line: 'line 1' });
    expect(exit.stderrTail).toHaveLength(20);
    expect(exit.stderrTail[0]).toBe('line 13');
    expect(exit.stderrTail[18]).toBe(`${'x'.repeat(1024)}…`);
    expect(exit.stderrTail[19]).toBe('last line without newline');
    await loaded.unload();
  });
});

/** How long spawn.ts waits for an exit before blaming a live handler for a cut frame. */
const CUT_FRAME_VERDICT_MS = 250;

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls until `condition` holds; throws, naming `what`, when it does not within `ms`. */
async function waitUntil(condition: () => boolean, what: string, ms = 3000): Promise<void> {
  const until = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
