import { median } from './stats.mjs';

/** Plain-text tables for the terminal. */

const group = (n, digits = 0) => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

/** Formats a rate in the section's unit. */
export function formatRate(value, unit) {
  if (unit === 'GB/s') return `${group(value, 2)} GB/s`;
  if (unit === 'ms') return `${group(value, 1)} ms`;
  return `${group(value)}/s`;
}

/**
 * One table: name, median, min, max, ratio to the section's baseline, and extras.
 *
 * @example
 * console.log(table(section));
 */
export function table(section) {
  const header = ['implementation', 'median', 'min', 'max', `× ${section.baselineLabel}`, ...section.extraColumns.map((c) => c.label)];
  const rows = section.rows.map((row) => [
    row.name,
    formatRate(row.median, section.unit),
    formatRate(row.min, section.unit),
    formatRate(row.max, section.unit),
    row.ratio === undefined ? '' : `${row.ratio.toFixed(2)}×`,
    ...section.extraColumns.map((c) => c.format(row)),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells) => cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ');
  return [`${section.title}`, line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** `median (min–max)` of an optional list. */
export function spread(values, digits = 1) {
  if (values === undefined || values.length === 0) return '';
  return `${median(values).toFixed(digits)}`;
}
