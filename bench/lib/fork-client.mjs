import { fork } from 'node:child_process';

/**
 * `child_process.fork` IPC to children/fork-echo.mjs, with `serialization` 'json' (the default)
 * or 'advanced' (structured clone).
 *
 * @example
 * const ipc = await startFork('json');
 * await ipc.call({ n: 1 });
 * await ipc.stop();
 */
export async function startFork(serialization) {
  const child = fork(new URL('../children/fork-echo.mjs', import.meta.url).pathname, [], { serialization, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const pending = new Map();
  let nextId = 1;
  await new Promise((resolve) => child.once('message', resolve));
  child.on('message', (message) => {
    const resolve = pending.get(message.id);
    pending.delete(message.id);
    resolve(message.p);
  });
  const exited = new Promise((resolve) => child.once('exit', resolve)); // 'close' never comes once the IPC channel was disconnected
  return {
    name: `fork IPC (${serialization})`,
    pids: () => [child.pid],
    call(payload) {
      return new Promise((resolve) => {
        const id = nextId++;
        pending.set(id, resolve);
        child.send({ id, p: payload });
      });
    },
    async stop() {
      child.disconnect();
      await exited;
    },
  };
}
