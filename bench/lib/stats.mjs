/** Medians and spreads of repeated measurements. */

/** @example median([3, 1, 2]) // 2 */
export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** @example summary([3, 1, 2]) // { median: 2, min: 1, max: 3, samples: [3, 1, 2] } */
export function summary(values) {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values), samples: values };
}
