/**
 * End-to-end throughput and latency: N one-task runs submitted with `POST /runs` by `clients`
 * concurrent HTTP clients to a real gateway, executed by W worker processes × concurrency C.
 * Submit→terminal latency runs from just before the POST to the moment the harness sees the
 * terminal snapshot through its own KV watch on the runs bucket (the gateway is never polled).
 * Also records the peak RSS of the gateway and of one worker during each run, and — for the best
 * setting — the latency at half the peak rate (open loop, not saturated). nats-server runs with
 * monitoring on, so the NATS messages per run are counted (`/varz`, by client group from `/connz`).
 *
 * @module
 */

import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/nats-core";
import { loadConfig } from "../src/config.ts";
import { CpuMeter, pidListeningOn, RssSampler } from "./_rss.ts";
import { type Stack, startStack } from "./_stack.ts";
import { type LatencySummary, round2, runConcurrently, summarize } from "./_stats.ts";
import { best, progress, type Setting, type ThroughputResult, throughputResult } from "./_types.ts";
import { TerminalWatcher } from "./_watch.ts";
import { type MonitoredNats, startMonitoredNats, TrafficMeter } from "./_varz.ts";

/** Connection-name groups for the per-client message counts of a stack. */
export const STACK_CLIENT_GROUPS: Record<string, RegExp> = {
  gateway: /^pyoco-gateway/,
  workers: /^pyoco-worker/,
  harness: /^bench-/,
};

/** Options of {@linkcode measureE2e}. */
export interface E2eOptions {
  /** Runs per setting. */
  n: number;
  /** Concurrent HTTP clients. */
  clients: number;
  /** Worker settings to try. */
  settings: readonly Setting[];
  /** Warm-up runs before each measurement. */
  warmup: number;
  /** Runs of the half-rate measurement (at most; it lasts about 8 s). */
  pacedRuns: number;
}

/** The latency when not saturated. */
export interface PacedResult {
  /** The setting used (the best one). */
  setting: string;
  /** Target submit rate, runs/s (half the best peak). */
  target_rate: number;
  /** Achieved completion rate, runs/s. */
  achieved_rate: number;
  /** Runs measured. */
  runs: number;
  /** Submit→terminal latency. */
  latency_ms: LatencySummary;
}

/** The outcome of {@linkcode measureE2e}. */
export interface E2eOutcome {
  /** One result per setting. */
  results: ThroughputResult[];
  /** The best setting's result. */
  best: ThroughputResult;
  /** Latency at half the peak rate on the best setting. */
  half_rate: PacedResult | null;
}

const _JSON = { "content-type": "application/json" };

/**
 * Submit one `noop` run.
 *
 * @param url The gateway base URL.
 * @returns The run id.
 * @throws {Error} When the gateway does not answer 200.
 */
async function _submit(url: string): Promise<string> {
  const res = await fetch(`${url}/runs`, {
    method: "POST",
    headers: _JSON,
    body: '{"flow_name":"noop"}',
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`POST /runs answered ${res.status}: ${text}`);
  return (JSON.parse(text) as { run_id: string }).run_id;
}

/**
 * Run `fn` on a fresh stack (a monitored nats-server, one gateway, W workers) with a watcher.
 *
 * @param setting W×C.
 * @param fn What to do with the stack.
 * @returns What `fn` returns.
 * @throws {Error} When a process does not start, or what `fn` throws.
 */
export async function withStack<T>(
  setting: Setting,
  fn: (stack: Stack, watcher: TerminalWatcher, nats: MonitoredNats) => Promise<T>,
): Promise<T> {
  await using monitored = await startMonitoredNats();
  await using stack = await startStack({
    workers: setting.workers,
    concurrency: setting.concurrency,
    nats: monitored.server,
  });
  const config = loadConfig({ env: { PYOCO_NATS_URL: stack.nats.url }, envFile: false });
  const nc: NatsConnection = await connect({ servers: stack.nats.url, name: "bench-watch" });
  const watcher = await TerminalWatcher.open(nc, config.runsKvBucket);
  try {
    return await fn(stack, watcher, monitored);
  } finally {
    watcher.stop();
    await nc.close();
  }
}

/**
 * Submit `count` runs from `clients` loops, wait until all are terminal, then forget them.
 *
 * @param stack The stack.
 * @param watcher Its watcher.
 * @param count Warm-up runs.
 * @param clients Concurrent clients.
 * @throws {Error} When a submit fails or the runs do not finish in two minutes.
 */
export async function warmupStack(
  stack: Stack,
  watcher: TerminalWatcher,
  count: number,
  clients: number,
): Promise<void> {
  await runConcurrently(count, clients, async () => {
    const start = performance.now();
    watcher.submitted(await _submit(stack.gatewayUrl), start);
  });
  await watcher.waitDone(count, 120_000);
  watcher.reset();
}

async function _measureOne(setting: Setting, options: E2eOptions): Promise<ThroughputResult> {
  return await withStack(setting, async (stack, watcher, monitored) => {
    await warmupStack(stack, watcher, options.warmup, options.clients);
    const gw = stack.gatewayPid === null ? null : new RssSampler(stack.gatewayPid);
    const wk = stack.workers[0] ? new RssSampler(stack.workers[0].pid) : null;
    const cpu = new CpuMeter({
      gateway: [stack.gatewayPid],
      workers: stack.workers.map((w) => w.pid),
      nats: [pidListeningOn(stack.nats.port)],
      harness: [Deno.pid],
    });
    const traffic = await TrafficMeter.start(monitored.monitorUrl, STACK_CLIENT_GROUPS);
    const t0 = performance.now();
    await runConcurrently(options.n, options.clients, async () => {
      const start = performance.now();
      watcher.submitted(await _submit(stack.gatewayUrl), start);
    });
    await watcher.waitDone(options.n);
    const result = throughputResult(
      setting,
      options.n,
      watcher.lastTerminalAt - t0,
      watcher.latencies,
      watcher.failed,
    );
    result.cpu_ms_per_run = cpu.read(options.n);
    result.nats_msgs_per_run = await traffic.read(options.n);
    if (gw) result.gateway_peak_rss_mb = gw.stop();
    if (wk) result.worker_peak_rss_mb = wk.stop();
    return result;
  });
}

async function _measurePaced(
  setting: Setting,
  rate: number,
  options: E2eOptions,
): Promise<PacedResult> {
  return await withStack(setting, async (stack, watcher) => {
    await warmupStack(stack, watcher, options.warmup, options.clients);
    const count = Math.max(10, Math.min(options.pacedRuns, Math.round(rate * 8)));
    const interval = 1000 / rate;
    const inflight: Promise<void>[] = [];
    const t0 = performance.now();
    for (let i = 0; i < count; i++) {
      const wait = t0 + i * interval - performance.now();
      if (wait >= 1) await new Promise((r) => setTimeout(r, wait));
      const start = performance.now();
      inflight.push(_submit(stack.gatewayUrl).then((id) => watcher.submitted(id, start)));
    }
    await Promise.all(inflight);
    await watcher.waitDone(count);
    return {
      setting: setting.label,
      target_rate: round2(rate),
      achieved_rate: round2(count / ((watcher.lastTerminalAt - t0) / 1000)),
      runs: count,
      latency_ms: summarize(watcher.latencies),
    };
  });
}

/**
 * Measure end-to-end throughput for each setting (each on a fresh stack), then the latency at
 * half the best rate.
 *
 * @param options N, clients, settings, warm-up, paced runs.
 * @returns Per-setting results, the best, and the half-rate latency.
 * @throws {Error} When a process does not start, a submit fails, or runs do not finish in time.
 */
export async function measureE2e(options: E2eOptions): Promise<E2eOutcome> {
  const results: ThroughputResult[] = [];
  for (const setting of options.settings) {
    const r = await _measureOne(setting, options);
    results.push(r);
    progress(
      `e2e ${setting.label}: ${r.runs_per_sec} runs/s, p50 ${r.latency_ms.p50} ms, p99 ${r.latency_ms.p99} ms, gateway ${r.gateway_peak_rss_mb} MiB, worker ${r.worker_peak_rss_mb} MiB, NATS msgs in/out per run ${r.nats_msgs_per_run?.in}/${r.nats_msgs_per_run?.out}`,
    );
  }
  const top = best(results)!;
  const setting = options.settings.find((s) => s.label === top.setting)!;
  let half: PacedResult | null = null;
  if (options.pacedRuns > 0) {
    half = await _measurePaced(setting, top.runs_per_sec / 2, options);
    progress(
      `e2e half rate (${half.target_rate}/s on ${half.setting}): p50 ${half.latency_ms.p50} ms, p99 ${half.latency_ms.p99} ms`,
    );
  }
  return { results, best: top, half_rate: half };
}
