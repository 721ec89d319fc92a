import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import workerpool from 'workerpool';

const workerFile = new URL('../children/worker-echo.mjs', import.meta.url);
const workerpoolFile = new URL('../children/workerpool-echo.mjs', import.meta.url).pathname;

/**
 * The configurations compared. "default" is what the README of each library shows; "best" is the
 * fastest configuration found for this echo on this machine (threads kept alive, one per core,
 * several tasks per worker where the library allows it).
 */
export const POOL_CONFIGS = {
  piscina: {
    default: {},
    best: { minThreads: availableParallelism(), maxThreads: availableParallelism(), idleTimeout: Infinity, concurrentTasksPerWorker: 16 },
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
