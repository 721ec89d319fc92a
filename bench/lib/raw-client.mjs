import { spawn } from 'node:child_process';
import { Decoder, Encoder } from 'cbor-x';
import { FrameReader } from './frame-reader.mjs';

/**
 * The raw baseline's parent side: a hand-written length-prefixed cbor-x pipe to
 * children/raw-echo.mjs, with the minimum any real client needs (an id per request, a map of
 * pending promises). One write per frame, as such code is usually written.
 *
 * @example
 * const raw = await startRawPipe();
 * await raw.call({ n: 1 });
 * await raw.stop();
 */
export async function startRawPipe() {
  const child = spawn(process.execPath, [new URL('../children/raw-echo.mjs', import.meta.url).pathname], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const encoder = new Encoder({ useRecords: false, mapsAsObjects: true });
  const decoder = new Decoder({ useRecords: false, mapsAsObjects: true });
  const pending = new Map();
  let nextId = 1;
  let onHello;
  const hello = new Promise((resolve) => (onHello = resolve));

  const reader = new FrameReader((body) => {
    const message = decoder.decode(body);
    if (message.t === 'hello') {
      onHello();
      return;
    }
    const resolve = pending.get(message.id);
    pending.delete(message.id);
    resolve(message.p);
  });
  child.stdout.on('data', (chunk) => reader.push(chunk));
  const exited = new Promise((resolve) => child.once('close', resolve));
  await hello;

  return {
    name: 'raw pipe + cbor-x',
    pids: () => [child.pid],
    call(payload) {
      return new Promise((resolve) => {
        const id = nextId++;
        pending.set(id, resolve);
        const body = encoder.encode({ id, p: payload });
        const frame = Buffer.allocUnsafe(4 + body.length);
        frame.writeUInt32BE(body.length, 0);
        body.copy(frame, 4);
        child.stdin.write(frame);
      });
    },
    async stop() {
      child.stdin.end();
      await exited;
    },
  };
}
