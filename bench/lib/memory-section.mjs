import { memoryOverRequests, queuedOverhead } from './memory.mjs';
import { SMALL_PAYLOAD } from './sections.mjs';
import { startUmdkit } from './umdkit-client.mjs';

/**
 * `--memory`: parent RSS over `total` requests (64 in flight) and heap bytes per queued request.
 *
 * @example
 * const { over, queued } = await memory(driver, { total: 1_000_000, queued: 100_000 });
 */
export async function memory(image, { total, queued }) {
  const echo = await startUmdkit(image, { concurrency: 64 });
  let over;
  try {
    over = await memoryOverRequests(echo, { total, window: 64, payload: SMALL_PAYLOAD });
  } finally {
    await echo.stop();
  }
  const paused = await startUmdkit(image, { concurrency: 1, maxQueue: queued + 10, requestTimeoutMs: 3_600_000, heartbeatMs: false });
  try {
    return { over, queued: await queuedOverhead(paused.manager, { count: queued }) };
  } finally {
    await paused.stop();
  }
}
