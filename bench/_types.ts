/**
 * Shared shapes of the benchmark: worker settings (W×C) and throughput results.
 *
 * @module
 */

import { type LatencySummary, round2, summarize } from "./_stats.ts";

/** NATS messages and bytes per run, as the server counted them. */
export interface NatsTraffic {
  /** Messages into nats-server per run (published by clients: PUBs, requests, acks). */
  in: number;
  /** Messages out of nats-server per run (delivered to subscribers, PubAcks, replies). */
  out: number;
  /** Bytes in per run (payloads and headers). */
  in_bytes: number;
  /** Bytes out per run. */
  out_bytes: number;
  /** Messages in / out per run by client group (connection name prefix), when known. */
  by_client?: Record<string, { in: number; out: number }>;
  /**
   * JetStream bytes stored per run by stream (`/jsz` deltas: what the runs left on disk, before
   * any retention; a KV bucket is the stream `KV_<bucket>`).
   */
  stored_bytes_per_run?: Record<string, number>;
}

/** W worker processes, each running C jobs at once. */
export interface Setting {
  /** Worker processes. */
  workers: number;
  /** Concurrency of each. */
  concurrency: number;
  /** `WxC`, e.g. `2x8`. */
  label: string;
}

/**
 * Parse `1x8,2x8,2x16`.
 *
 * @param text Comma-separated `WxC`.
 * @returns The settings.
 * @throws {Error} When an item is not `<workers>x<concurrency>` with positive integers.
 */
export function parseSettings(text: string): Setting[] {
  return text.split(",").map((s) => s.trim()).filter(Boolean).map((s) => {
    const m = s.match(/^(\d+)x(\d+)$/);
    const workers = Number(m?.[1]);
    const concurrency = Number(m?.[2]);
    if (!m || workers < 1 || concurrency < 1) {
      throw new Error(`Invalid setting "${s}": expected <workers>x<concurrency>, e.g. 2x8`);
    }
    return { workers, concurrency, label: `${workers}x${concurrency}` };
  });
}

/** One throughput measurement. */
export interface ThroughputResult {
  /** `WxC`. */
  setting: string;
  workers: number;
  concurrency: number;
  /** Runs (jobs) measured. */
  runs: number;
  /** First submit to last terminal, seconds. */
  seconds: number;
  /** `runs / seconds`. */
  runs_per_sec: number;
  /** Submit→terminal latency. */
  latency_ms: LatencySummary;
  /** Runs that did not end COMPLETED. */
  failed: number;
  /** Peak RSS of the gateway during the run, MiB (e2e only). */
  gateway_peak_rss_mb?: number;
  /** Peak RSS of one worker during the run, MiB (e2e only). */
  worker_peak_rss_mb?: number;
  /**
   * CPU milliseconds per run of each process group during the measured run (user + system, from
   * `/proc`): where the machine's cores went. `harness` is the load generator and watcher.
   */
  cpu_ms_per_run?: Record<string, number>;
  /**
   * NATS messages and bytes per run as nats-server counted them (`/varz` deltas over the measured
   * runs, heartbeats and the harness's watch included), by client group too. NATS systems only.
   */
  nats_msgs_per_run?: NatsTraffic;
}

/**
 * Build a result.
 *
 * @param setting The setting.
 * @param runs Runs measured.
 * @param elapsedMs First submit to last terminal, ms.
 * @param latencies Submit→terminal latencies, ms.
 * @param failed Runs that did not complete.
 * @returns The result.
 */
export function throughputResult(
  setting: Setting,
  runs: number,
  elapsedMs: number,
  latencies: readonly number[],
  failed: number,
): ThroughputResult {
  return {
    setting: setting.label,
    workers: setting.workers,
    concurrency: setting.concurrency,
    runs,
    seconds: round2(elapsedMs / 1000),
    runs_per_sec: round2(runs / (elapsedMs / 1000)),
    latency_ms: summarize(latencies),
    failed,
  };
}

/**
 * The result with the highest throughput.
 *
 * @param results Results.
 * @returns The best, or `null` when there are none.
 */
export function best<T extends { runs_per_sec: number }>(results: readonly T[]): T | null {
  let top: T | null = null;
  for (const r of results) if (!top || r.runs_per_sec > top.runs_per_sec) top = r;
  return top;
}

/**
 * Print a progress line on stderr (stdout carries the table).
 *
 * @param message The line.
 */
export function progress(message: string): void {
  console.error(`[bench] ${message}`);
}
