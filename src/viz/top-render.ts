import type { SnapshotNode, TreeSnapshot } from '../manager/snapshot.js';
import type { RequestStatsSummary } from './request-stats.js';
import { stateTone, type StateTone } from './tones.js';

/**
 * What `umdkit top` shows, as a pure function of (snapshot, stats): a table of the tree for a
 * terminal, or plain `key=value` lines (one per instance) for a pipe or a log.
 */

/** Options of {@link renderTop}. */
export interface TopRenderOptions {
  /** A terminal: the table. Otherwise one plain line per instance, no escape codes. */
  tty: boolean;
  /** Terminal width: columns are dropped to fit it, then what still overflows is cut (default: not cut). */
  width?: number;
  /** Colour the state column (terminal only; default false). */
  color?: boolean;
  /** The time printed in the header / on each plain line (default: now). */
  now?: Date;
}

const TONE_COLOR: Record<StateTone, string> = { ok: '\x1b[32m', starting: '\x1b[33m', bad: '\x1b[31m', off: '\x1b[90m' };
const RESET = '\x1b[0m';

const COLUMNS = ['STATE', 'PID', 'GEN', 'RESTARTS', 'QUEUE', 'INFLIGHT', 'P50 ms', 'P99 ms', 'LAST EXIT'] as const;
/** Columns given up first when the terminal is narrow (indexes into COLUMNS); STATE, PID and LAST EXIT stay. */
const DROP_ORDER = [6, 4, 2, 5, 7, 3] as const;
/** Space between columns. */
const GAP = 2;
/** LAST EXIT keeps at least this much room before other columns are dropped for it. */
const LAST_MIN = 20;

/**
 * Renders the tree. In a terminal: a header, then one row per supervisor, driver and instance
 * (indented by depth); the caller repaints them in place. Elsewhere: one `key=value` line per
 * instance, so a refresh appends greppable lines to a log instead of repainting.
 *
 * @example
 * ```ts
 * const stats = new RequestStats();
 * manager.subscribe((e) => stats.observe(e));
 * for (const line of renderTop(manager.snapshot(), stats.summary(), { tty: false })) console.log(line);
 * // time=2025-01-01T12:00:00.000Z driver=parser instance=V1StGXR8_Z index=0 state=ready pid=4242 generation=2 restarts=1 ...
 * ```
 */
export function renderTop(snapshot: TreeSnapshot, stats: RequestStatsSummary, options: TopRenderOptions): string[] {
  const now = options.now ?? new Date();
  return options.tty ? table(snapshot, stats, options, now) : plain(snapshot, stats, now);
}

function table(snapshot: TreeSnapshot, stats: RequestStatsSummary, options: TopRenderOptions, now: Date): string[] {
  const rows: Array<{ name: string; cells: string[]; state: string }> = [];
  const visit = (node: SnapshotNode, depth: number, index: number) => {
    const indent = '  '.repeat(depth);
    const s = node.kind === 'driver' ? stats[node.name] : undefined;
    switch (node.kind) {
      case 'supervisor':
        rows.push({ name: `${indent}${node.name} (${node.strategy})`, state: node.state, cells: [node.state, '', '', String(node.restarts), String(node.queued), String(node.inFlight), '', '', ''] });
        break;
      case 'driver':
        rows.push({ name: `${indent}${node.name}`, state: node.state, cells: [node.state, '', '', String(node.restarts), String(node.queued), String(node.inFlight), ms(s?.p50Ms), ms(s?.p99Ms), s ? `${s.requests} req, ${s.failed} failed` : ''] });
        break;
      case 'instance':
        rows.push({
          name: `${indent}#${index} ${node.id ?? ''}${node.spare ? ' spare' : ''}`,
          state: node.state,
          cells: [node.state, node.pid === null ? '-' : String(node.pid), String(node.generation), String(node.restarts), '', String(node.inFlight), '', '', exitText(node)],
        });
        break;
    }
    (node.children ?? []).forEach((child, i) => visit(child, depth + 1, i));
  };
  visit(snapshot, 0, 0);
  const nameWidth = Math.max(4, ...rows.map((r) => r.name.length)) + GAP;
  // Each column as wide as its widest cell; when the terminal is narrower than the whole table,
  // whole columns are dropped (least telling first) rather than every row cut mid-column.
  const widths = COLUMNS.map((title, i) => Math.max(title.length, ...rows.map((r) => r.cells[i]!.length)) + GAP);
  const shown = new Set(COLUMNS.map((_, i) => i));
  const fixedWidth = () => nameWidth + [...shown].filter((i) => i < COLUMNS.length - 1).reduce((sum, i) => sum + widths[i]!, 0);
  for (const i of DROP_ORDER) {
    if (options.width === undefined || fixedWidth() + LAST_MIN <= options.width) break;
    shown.delete(i);
  }
  const fit = (line: string) => (options.width !== undefined && line.length > options.width ? `${line.slice(0, Math.max(0, options.width - 1))}…` : line);
  const format = (name: string, cells: readonly string[]) =>
    (name.padEnd(nameWidth) + cells.map((c, i) => (!shown.has(i) ? '' : i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('')).trimEnd();
  const instances = rows.length - countKinds(snapshot, 'supervisor') - countKinds(snapshot, 'driver');
  const totals = Object.values(stats).reduce((t, s) => ({ requests: t.requests + s.requests, failed: t.failed + s.failed }), { requests: 0, failed: 0 });
  const lines = [
    fit(`umdkit top · ${snapshot.name} (${snapshot.strategy}) ${snapshot.state} · ${instances} instance${instances === 1 ? '' : 's'} · ${totals.requests} requests, ${totals.failed} failed · ${now.toISOString().slice(11, 19)}`),
  ];
  if (snapshot.gaveUp !== undefined) lines.push(fit(`GAVE UP: ${snapshot.gaveUp}`));
  lines.push('', fit(format('NAME', COLUMNS)));
  for (const row of rows) {
    const line = fit(format(row.name, row.cells));
    if (!options.color) {
      lines.push(line);
      continue;
    }
    // Colour only the state cell, after cutting, so the escape codes never count as width.
    const start = nameWidth;
    const end = Math.min(line.length, start + row.state.length);
    lines.push(end <= start ? line : `${line.slice(0, start)}${TONE_COLOR[stateTone(row.state)]}${line.slice(start, end)}${RESET}${line.slice(end)}`);
  }
  return lines;
}

function plain(snapshot: TreeSnapshot, stats: RequestStatsSummary, now: Date): string[] {
  const lines: string[] = [];
  const time = now.toISOString();
  if (snapshot.gaveUp !== undefined) lines.push(`time=${time} supervisor=${snapshot.name} state=${snapshot.state} gave_up=${quote(snapshot.gaveUp)}`);
  const visit = (node: SnapshotNode) => {
    if (node.kind === 'driver') {
      const s = stats[node.name];
      (node.children ?? []).forEach((instance, index) => {
        const fields = [
          `time=${time}`,
          `driver=${node.name}`,
          `instance=${instance.id ?? '-'}`,
          `index=${index}`,
          `state=${instance.state}`,
          `pid=${instance.pid ?? '-'}`,
          `generation=${instance.generation}`,
          `restarts=${instance.restarts}`,
          `queued=${node.queued}`,
          `in_flight=${instance.inFlight}`,
          `p50_ms=${ms(s?.p50Ms) || '-'}`,
          `p99_ms=${ms(s?.p99Ms) || '-'}`,
        ];
        if (instance.spare) fields.push('spare=true');
        if (instance.lastExit !== undefined) fields.push(`last_exit=${quote(exitText(instance))}`);
        lines.push(fields.join(' '));
      });
      return;
    }
    for (const child of node.children ?? []) visit(child);
  };
  visit(snapshot);
  return lines;
}

function countKinds(node: SnapshotNode, kind: SnapshotNode['kind']): number {
  return (node.kind === kind ? 1 : 0) + (node.children ?? []).reduce((n, c) => n + countKinds(c, kind), 0);
}

/** How the last process ended, in the words of the snapshot ('killed by SIGKILL'). */
function exitText(node: SnapshotNode): string {
  return node.lastExit?.reason ?? '';
}

/** A latency for display: 3 significant figures, '' when unknown. */
function ms(value: number | null | undefined): string {
  if (value === null || value === undefined) return '';
  return value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);
}

/** A logfmt value: quoted (with escapes) when it holds spaces, quotes or '='. */
function quote(value: string): string {
  return /^[^\s"=\\]+$/.test(value) ? value : JSON.stringify(value);
}
