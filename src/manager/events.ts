import type { UmdErrorCode } from '../errors.js';

/**
 * Everything a manager reports. Each event names the driver/instance/generation it concerns, so a
 * log line or a dashboard row can always be traced back to one process.
 */
export type ManagerEvent =
  | { type: 'state'; driver: string; instance: string; generation: number; pid: number | null; from: string; to: string; at: number }
  | { type: 'spawn'; driver: string; instance: string; generation: number; pid: number; at: number }
  | { type: 'exit'; driver: string; instance: string; generation: number; pid: number; code: number | null; signal: string | null; at: number }
  | { type: 'fault'; driver: string; instance: string; generation: number; reason: string; at: number }
  | { type: 'restart'; supervisor: string; child: string; reason: string; delayMs: number; at: number }
  | { type: 'escalate'; supervisor: string; reason: string; at: number }
  | { type: 'gave-up'; supervisor: string; reason: string; at: number }
  | { type: 'request'; driver: string; request: string; outcome: 'OK' | UmdErrorCode; latencyMs: number; at: number }
  | { type: 'log'; driver: string; instance: string; generation: number; pid: number; line: string; at: number }
  | { type: 'sandbox'; driver: string; dropped: string[]; reason: string; at: number }
  | { type: 'stopped'; at: number };

/** The `type` of a {@link ManagerEvent}. */
export type ManagerEventType = ManagerEvent['type'];

/** A listener; returns nothing. A throwing listener is reported on stderr and does not break the manager. */
export type ManagerListener = (event: ManagerEvent) => void;

/**
 * A tiny synchronous fan-out. Listeners see events in order; one that throws cannot stop the
 * others or the manager (a dashboard bug must not take down request handling).
 */
export class EventHub {
  private listeners = new Set<ManagerListener>();

  get active(): boolean {
    return this.listeners.size > 0;
  }

  subscribe(listener: ManagerListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  emit(event: ManagerEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        process.stderr.write(`umdkit: an event listener threw on "${event.type}": ${(err as Error)?.stack ?? String(err)}\n`);
      }
    }
  }
}
