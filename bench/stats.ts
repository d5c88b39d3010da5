// Small helpers every benchmark script shares: order statistics, rounding for the results files, and
// a description of the machine the numbers were taken on.
import { cpus } from 'node:os';

/** The p-th percentile (nearest rank) of `values`; NaN for an empty list. */
export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
}

/** `v` rounded to `digits` decimals, for results files. */
export const round = (v: number, digits = 2): number => Math.round(v * 10 ** digits) / 10 ** digits;

/** CPU model, core count and Node version, recorded beside every result. */
export function machineInfo(): { cpu: string; cores: number; node: string } {
  return { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version };
}
