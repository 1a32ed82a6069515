/**
 * Raw nats.js doing a run's NATS work and nothing else — no HTTP, no engine — with the same client
 * library, the same resources (streams, buckets, durable consumer settings from
 * `ensureResources` / `ensureConsumer`) and the same concurrency as the e2e run. Two variants:
 *
 * - **the limit** (`measureLimit`): the per-run work of the first design. Producer: KV create of
 *   the PENDING snapshot, then `js.publish` with `msgID`. Consumer (`_limit_worker.ts`): pull, KV
 *   get (the revision the compare-and-set needs), KV update RUNNING, KV update COMPLETED, ack.
 * - **the floor** (`measureFloor`, SPEC §10): the minimal durable work. Producer: KV create, then
 *   publish of a job carrying the create's revision (`pending_revision`) with `msgID`. Consumer
 *   (`_floor_worker.ts`): batched pull (`consume()` sized to C), one KV compare-and-set to the
 *   terminal snapshot against `pending_revision`, plain ack.
 *
 * The producer runs in the harness process on one connection with `clients` concurrent loops;
 * consumers are W separate processes with C jobs at once. Completion is observed like the e2e
 * run, by a KV watch. nats-server runs with monitoring on, so the NATS messages per run are
 * counted (`/varz`).
 *
 * @module
 */

import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { loadConfig, workSubject } from "../src/config.ts";
import { ensureConsumer, ensureResources } from "../src/nats/resources.ts";
import { encodeJson } from "../src/nats/kv.ts";
import { benchJob, benchSnapshot } from "./_snapshots.ts";
import { runConcurrently } from "./_stats.ts";
import { benchFile, type ReadyProcess, spawnReady } from "./_proc.ts";
import { progress, type Setting, type ThroughputResult, throughputResult } from "./_types.ts";
import { TerminalWatcher } from "./_watch.ts";
import { CpuMeter } from "./_rss.ts";
import { startNatsUnderTest, TrafficMeter } from "./_varz.ts";

/** Which raw-NATS variant: the first design's per-run work, or SPEC §10's floor. */
type _Kind = "limit" | "floor";

/** Connection-name groups for the per-client message counts of the raw-NATS runs. */
export const RAW_CLIENT_GROUPS: Record<string, RegExp> = {
  workers: /worker/,
  harness: /^bench-/,
};

/** Options of {@linkcode measureLimit}. */
export interface LimitOptions {
  /** Runs per setting. */
  n: number;
  /** Concurrent producer loops. */
  clients: number;
  /** Worker settings to try. */
  settings: readonly Setting[];
  /** Warm-up runs before each measurement. */
  warmup: number;
  /**
   * nats-server nodes: 1 (one server, R1 resources) or 3 (a 3-node cluster on this machine, R3
   * resources, clients spread over the nodes). @default {1}
   */
  nodes?: number;
}

/**
 * Measure the raw-NATS limit for each setting, each on a fresh nats-server (file storage).
 *
 * @param options N, clients, settings, warm-up.
 * @returns One result per setting.
 * @throws {Error} When a process fails to start or runs do not finish in time.
 */
export async function measureLimit(options: LimitOptions): Promise<ThroughputResult[]> {
  return await _measureAll("limit", options);
}

/**
 * Measure the floor (SPEC §10's minimal work per run) for each setting, each on a fresh
 * nats-server (file storage).
 *
 * @param options N, clients, settings, warm-up.
 * @returns One result per setting, with NATS messages per run.
 * @throws {Error} When a process fails to start or runs do not finish in time.
 *
 * @example
 * ```ts
 * const [r] = await measureFloor({ n: 2000, clients: 32, settings: parseSettings("2x16"), warmup: 200 });
 * console.log(r.runs_per_sec, r.nats_msgs_per_run?.in);
 * ```
 */
export async function measureFloor(options: LimitOptions): Promise<ThroughputResult[]> {
  return await _measureAll("floor", options);
}

async function _measureAll(kind: _Kind, options: LimitOptions): Promise<ThroughputResult[]> {
  const results: ThroughputResult[] = [];
  const label = (options.nodes ?? 1) > 1 ? `${kind} R${options.nodes}` : kind;
  for (const setting of options.settings) {
    const r = await _measureOne(kind, setting, options);
    results.push(r);
    progress(
      `${label} ${setting.label}: ${r.runs_per_sec} runs/s, p50 ${r.latency_ms.p50} ms, p99 ${r.latency_ms.p99} ms, NATS msgs in/out per run ${r.nats_msgs_per_run?.in}/${r.nats_msgs_per_run?.out}`,
    );
  }
  return results;
}

async function _measureOne(
  kind: _Kind,
  setting: Setting,
  options: LimitOptions,
): Promise<ThroughputResult> {
  await using srv = await startNatsUnderTest(options.nodes ?? 1);
  const env = { PYOCO_NATS_URL: srv.urls.join(","), PYOCO_JS_REPLICAS: String(srv.replicas) };
  const config = loadConfig({ env, envFile: false });
  // Experiment knob (also read by _limit_worker.ts): no per-request Error objects in nats.js.
  // The floor always runs without them (as the product's connections do).
  const noAsyncTraces = kind === "floor" || Deno.env.get("PYOCO_BENCH_NO_ASYNC_TRACES") === "1";
  const nc = await connect({ servers: srv.urls, name: `bench-${kind}-producer`, noAsyncTraces });
  const watchNc = await connect({ servers: srv.urls, name: "bench-watch" });
  const workers: ReadyProcess[] = [];
  try {
    await ensureResources(nc, config);
    await ensureConsumer(await jetstreamManager(nc), config, "default");
    const kv = await new Kvm(nc).open(config.runsKvBucket);
    const js = jetstream(nc);
    const subject = workSubject(config, "default");
    for (let i = 0; i < setting.workers; i++) {
      workers.push(
        await spawnReady([
          "run",
          "-A",
          benchFile(kind === "floor" ? "_floor_worker.ts" : "_limit_worker.ts"),
          srv.urls[i % srv.urls.length]!,
          String(setting.concurrency),
        ]),
      );
    }
    const watcher = await TerminalWatcher.open(watchNc, config.runsKvBucket);
    const submit = async () => {
      const start = performance.now();
      const runId = crypto.randomUUID().replaceAll("-", "");
      const rev = await kv.create(runId, encodeJson(benchSnapshot(runId, "PENDING")));
      const job = kind === "floor"
        ? { ...benchJob(runId), pending_revision: rev }
        : benchJob(runId);
      await js.publish(subject, encodeJson(job), { msgID: runId });
      watcher.submitted(runId, start);
    };
    await runConcurrently(options.warmup, options.clients, submit);
    await watcher.waitDone(options.warmup, 120_000);
    watcher.reset();
    const cpu = new CpuMeter({
      workers: workers.map((w) => w.pid),
      nats: srv.pids(),
      harness: [Deno.pid],
    });
    const traffic = await TrafficMeter.start(srv.monitorUrls, RAW_CLIENT_GROUPS);
    const t0 = performance.now();
    await runConcurrently(options.n, options.clients, submit);
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
    watcher.stop();
    return result;
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    await nc.close();
    await watchNc.close();
  }
}
