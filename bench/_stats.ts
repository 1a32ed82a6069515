/**
 * Percentiles and summaries of latency samples for the benchmark harness.
 *
 * @module
 */

/** A summary of latency samples in milliseconds. */
export interface LatencySummary {
  /** How many samples. */
  count: number;
  /** Median, ms. */
  p50: number;
  /** 90th percentile, ms. */
  p90: number;
  /** 99th percentile, ms. */
  p99: number;
  /** Largest sample, ms. */
  max: number;
  /** Arithmetic mean, ms. */
  mean: number;
}

/**
 * The `p`-th percentile of sorted samples (nearest rank).
 *
 * @param sorted Samples sorted ascending.
 * @param p Percentile in 0..100.
 * @returns The sample at that rank, or `NaN` when there are no samples.
 */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  const index = Math.min(sorted.length - 1, Math.max(0, rank - 1));
  return sorted[index] ?? NaN;
}

/**
 * Summarise latency samples (rounded to 0.01 ms).
 *
 * @param samples Latencies in milliseconds, in any order.
 * @returns Count, p50, p90, p99, max and mean.
 * @throws {RangeError} When there are no samples.
 */
export function summarize(samples: readonly number[]): LatencySummary {
  if (samples.length === 0) throw new RangeError("Cannot summarise latencies: no samples");
  const sorted = [...samples].sort((a, b) => a - b);
  const sum = sorted.reduce((a, b) => a + b, 0);
  return {
    count: sorted.length,
    p50: round2(percentile(sorted, 50)),
    p90: round2(percentile(sorted, 90)),
    p99: round2(percentile(sorted, 99)),
    max: round2(sorted[sorted.length - 1] ?? NaN),
    mean: round2(sum / sorted.length),
  };
}

/**
 * Round to two decimals.
 *
 * @param x A number.
 * @returns `x` rounded to 0.01.
 */
export function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

/**
 * Run `total` asynchronous operations with `concurrency` loops pulling from a shared counter.
 *
 * @param total How many operations.
 * @param concurrency How many at once.
 * @param op The operation, given its index.
 * @returns When every operation has finished.
 * @throws {Error} The first error an operation threw (the others are still awaited).
 */
export async function runConcurrently(
  total: number,
  concurrency: number,
  op: (index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failure: unknown = null;
  const loop = async () => {
    while (failure === null) {
      const i = next++;
      if (i >= total) return;
      try {
        await op(i);
      } catch (err) {
        failure ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, loop));
  if (failure !== null) throw failure;
}

/**
 * Wait until `check` returns true, polling every `intervalMs`.
 *
 * @param check The condition.
 * @param what What is awaited (for the error message).
 * @param timeoutMs Give up after this long.
 * @param intervalMs Poll interval.
 * @returns When the condition holds.
 * @throws {Error} When the deadline passes first.
 */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 60_000,
  intervalMs = 50,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
