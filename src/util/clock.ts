/**
 * Time as the manager sees it. Injected so that logic depending on time — deadlines, backoff,
 * heartbeats, the idle edge, cancel graces, handshake timeouts — can be driven by a test clock;
 * the default is the real one.
 */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  /**
   * Runs `fn` once the current turn of the event loop is done (a debounce, not a wait: the real
   * clock uses setImmediate). Without it, a 0 ms timeout of this clock stands in.
   */
  defer?(fn: () => void): void;
}

/** The real clock: monotonic milliseconds, Node timers (unref'd: a pending deadline never keeps a process alive by itself). */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
  defer: (fn) => {
    setImmediate(fn);
  },
};
