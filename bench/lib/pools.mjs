import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import workerpool from 'workerpool';

const workerFile = new URL('../children/worker-echo.mjs', import.meta.url);
const workerpoolFile = new URL('../children/workerpool-echo.mjs', import.meta.url).pathname;

/**
 * The configurations compared. "default" is what the README of each library shows; "best" is the
 * fastest configuration found for this echo on this machine (tried: 1 or 2 threads, 1/16/64 tasks
 * per worker, atomics on and off): for piscina one thread kept alive taking 64 tasks at once (like
 * one umdkit handler with concurrency 64), for workerpool one thread per core kept alive.
 */
export const POOL_CONFIGS = {
  piscina: {
    default: {},
    best: { minThreads: 1, maxThreads: 1, idleTimeout: Infinity, concurrentTasksPerWorker: 64 },
  },
  workerpool: {
    default: {},
    best: { minWorkers: 'max', maxWorkers: availableParallelism(), workerType: 'thread' },
  },
};

/**
 * A piscina pool running children/worker-echo.mjs.
 *
 * @example
 * const pool = await startPiscina('best');
 * await pool.call({ n: 1 });
 */
export async function startPiscina(config) {
  const pool = new Piscina({ filename: workerFile.href, ...POOL_CONFIGS.piscina[config] });
  await pool.run(null); // the first task starts a thread
  return {
    name: `piscina (${config})`,
    pids: () => [],
    call: (payload) => pool.run(payload),
    stop: () => pool.destroy(),
  };
}

/**
 * A workerpool pool running children/workerpool-echo.mjs.
 *
 * @example
 * const pool = await startWorkerpool('default');
 * await pool.call({ n: 1 });
 */
export async function startWorkerpool(config) {
  const pool = workerpool.pool(workerpoolFile, POOL_CONFIGS.workerpool[config]);
  await pool.exec('echo', [null]);
  return {
    name: `workerpool (${config})`,
    pids: () => [],
    call: (payload) => pool.exec('echo', [payload]),
    stop: () => pool.terminate(),
  };
}
