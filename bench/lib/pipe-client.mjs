import { spawn } from 'node:child_process';

/**
 * The ceiling for bytes through a pipe pair: children/pipe-echo.mjs copies stdin to stdout, and a
 * "call" writes one chunk and resolves once as many bytes have come back. No framing, no parsing.
 *
 * @example
 * const pipe = await startUnframedPipe();
 * await pipe.call(new Uint8Array(65536));
 */
export async function startUnframedPipe() {
  const child = spawn(process.execPath, [new URL('../children/pipe-echo.mjs', import.meta.url).pathname], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  await new Promise((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  let sent = 0;
  let received = 0;
  /** Calls in order: the byte count that completes each, and its resolve. */
  const waiting = [];
  child.stdout.on('data', (chunk) => {
    received += chunk.length;
    while (waiting.length > 0 && waiting[0].until <= received) waiting.shift().resolve();
  });
  const exited = new Promise((resolve) => child.once('close', resolve));
  return {
    name: 'unframed pipe (no parsing)',
    pids: () => [child.pid],
    call(bytes) {
      return new Promise((resolve) => {
        sent += bytes.length;
        waiting.push({ until: sent, resolve });
        child.stdin.write(bytes);
      });
    },
    async stop() {
      child.stdin.end();
      await exited;
    },
  };
}
