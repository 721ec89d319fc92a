/**
 * Time as the manager sees it. Injected so that logic depending on time — deadlines, backoff,
 * heartbeats, the idle edge, cancel graces, handshake timeouts — can be driven by a test clock;
 * the default is the real one.
 */
export interface Clock {
  now(): number;
  /**
   * Runs `fn` after `ms`. The real clock's timers do not keep the process alive (a pending deadline
   * or heartbeat never does by itself), except with `keepAlive`: a restart waiting out its backoff
   * is work under way, and a process whose handlers are all down between two starts must not end
   * with requests still waiting for the next one.
   */
  setTimeout(fn: () => void, ms: number, options?: { keepAlive?: boolean }): unknown;
  clearTimeout(handle: unknown): void;
  /**
   * Runs `fn` once the current turn of the event loop is done (a debounce, not a wait: the real
   * clock uses setImmediate). Without it, a 0 ms timeout of this clock stands in.
   */
  defer?(fn: () => void): void;
}

/** The real clock: monotonic milliseconds, Node timers (unref'd unless `keepAlive` is asked for). */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms, options) => {
    const timer = setTimeout(fn, ms);
    if (options?.keepAlive !== true) timer.unref();
    return timer;
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
  defer: (fn) => {
    setImmediate(fn);
  },
};
