/**
 * Batch submit (SPEC §10): N one-task runs submitted with `POST /runs/batch`, `size` runs a
 * request (100 by default), from `clients` concurrent HTTP clients to one gateway, executed by
 * W×C workers — the counterpart of BullMQ's `Queue.addBulk` with the same number of jobs a call.
 * Like the e2e run: a fresh stack, a warm-up, runs/s from the first request to the last terminal
 * snapshot (seen by the harness's own KV watch), submit→terminal latency per run from just before
 * its request, CPU and NATS messages per run.
 *
 * @module
 */

import { CpuMeter, pidListeningOn } from "./_rss.ts";
import { runConcurrently } from "./_stats.ts";
import { progress, type Setting, type ThroughputResult, throughputResult } from "./_types.ts";
import { TrafficMeter } from "./_varz.ts";
import { STACK_CLIENT_GROUPS, withStack } from "./e2e.ts";
import type { TerminalWatcher } from "./_watch.ts";

/** Options of {@linkcode measureBatch}. */
export interface BatchOptions {
  /** Runs measured. */
  n: number;
  /** Concurrent HTTP clients (each with one batch request in flight). */
  clients: number;
  /** The worker setting. */
  setting: Setting;
  /** Warm-up runs (also submitted in batches). */
  warmup: number;
  /** Runs a request. @default {100} */
  size?: number;
}

/**
 * Submit `count` runs as batches of `size` from `clients` loops.
 *
 * @param url The gateway base URL.
 * @param watcher Told each run's id and submit start.
 * @param options Count, size, clients.
 * @throws {Error} When a request is not answered 200 or an item is refused.
 */
async function _submitBatches(
  url: string,
  watcher: TerminalWatcher,
  options: { count: number; size: number; clients: number },
): Promise<void> {
  const requests = Math.ceil(options.count / options.size);
  await runConcurrently(requests, options.clients, async (i) => {
    const runs = Math.min(options.size, options.count - i * options.size);
    const body = JSON.stringify({
      runs: Array.from({ length: runs }, () => ({ flow_name: "noop" })),
    });
    const start = performance.now();
    const res = await fetch(`${url}/runs/batch`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
    });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`POST /runs/batch answered ${res.status}: ${text}`);
    const { items } = JSON.parse(text) as { items: { run_id?: string; error?: unknown }[] };
    for (const item of items) {
      if (!item.run_id) {
        throw new Error(`POST /runs/batch refused an item: ${JSON.stringify(item)}`);
      }
      watcher.submitted(item.run_id, start);
    }
  });
}

/**
 * Measure batch submit on one setting, on a fresh stack.
 *
 * @param options N, clients, setting, warm-up, batch size.
 * @returns The result (runs/s, latency, CPU and NATS messages per run).
 * @throws {Error} When a process does not start, a batch fails, or runs do not finish in time.
 *
 * @example
 * ```ts
 * const r = await measureBatch({ n: 5000, clients: 8, setting: parseSettings("2x16")[0]!, warmup: 500 });
 * console.log(r.runs_per_sec);
 * ```
 */
export async function measureBatch(options: BatchOptions): Promise<ThroughputResult> {
  const size = options.size ?? 100;
  const result = await withStack(options.setting, async (stack, watcher, monitored) => {
    const url = stack.gatewayUrl;
    await _submitBatches(url, watcher, { count: options.warmup, size, clients: options.clients });
    await watcher.waitDone(options.warmup, 120_000);
    watcher.reset();
    const cpu = new CpuMeter({
      gateway: [stack.gatewayPid],
      workers: stack.workers.map((w) => w.pid),
      nats: [pidListeningOn(stack.nats.port)],
      harness: [Deno.pid],
    });
    const traffic = await TrafficMeter.start(monitored.monitorUrl, STACK_CLIENT_GROUPS);
    const t0 = performance.now();
    await _submitBatches(url, watcher, { count: options.n, size, clients: options.clients });
    await watcher.waitDone(options.n);
    const r = throughputResult(
      options.setting,
      options.n,
      watcher.lastTerminalAt - t0,
      watcher.latencies,
      watcher.failed,
    );
    r.cpu_ms_per_run = cpu.read(options.n);
    r.nats_msgs_per_run = await traffic.read(options.n);
    return r;
  });
  progress(
    `batch ${options.setting.label} (${size} a request): ${result.runs_per_sec} runs/s, p50 ${result.latency_ms.p50} ms, p99 ${result.latency_ms.p99} ms`,
  );
  return result;
}
