/** Per-request options. */
export interface RequestOptions {
  /** Method name sent as `m` (the handler's `serve({ method })` key). */
  method?: string;
  /** Deadline in ms, queue time included (default: the driver's `requestTimeoutMs`). */
  timeoutMs?: number;
  /** Cancels the request: it rejects with `ABORTED`, and a `cancel` frame goes to the handler. */
  signal?: AbortSignal;
  /** Safe to send again: retried (up to the driver's `retries`) if its handler crashes. */
  idempotent?: boolean;
}
