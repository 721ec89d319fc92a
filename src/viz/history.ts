import type { ManagerEvent } from '../manager/events.js';
import { positiveInteger } from '../util/options.js';

/**
 * The recent states of each instance, from `state` events, so a view opened late still shows how
 * an instance got where it is (crashed → backoff → ready).
 */

/** One state an instance entered. */
export interface HistoryEntry {
  state: string;
  generation: number;
  at: number;
}

/** Recent entries per instance id. */
export type StateHistorySnapshot = Record<string, HistoryEntry[]>;

/**
 * Keeps the last `limit` states of every instance (instances are a fixed set per tree, so the
 * whole record is bounded).
 *
 * @example
 * ```ts
 * const history = new StateHistory(20);
 * manager.subscribe((e) => history.observe(e));
 * history.toJSON()[instanceId]?.map((h) => h.state); // ['ready', 'crashed', 'backoff', 'extracting', 'spawning', 'ready']
 * ```
 */
export class StateHistory {
  private readonly entries = new Map<string, HistoryEntry[]>();

  constructor(private readonly limit = 20) {
    positiveInteger('limit', limit);
  }

  /** Takes in one event; everything but `state` events is ignored. */
  observe(event: ManagerEvent): void {
    if (event.type !== 'state') return;
    let list = this.entries.get(event.instance);
    if (list === undefined) {
      list = [];
      this.entries.set(event.instance, list);
    }
    list.push({ state: event.to, generation: event.generation, at: event.at });
    if (list.length > this.limit) list.splice(0, list.length - this.limit);
  }

  /** A copy of every instance's entries, oldest first. */
  toJSON(): StateHistorySnapshot {
    return Object.fromEntries([...this.entries].map(([id, list]) => [id, list.map((e) => ({ ...e }))]));
  }
}
