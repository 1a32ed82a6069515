/**
 * The limit: the same N jobs doing only the NATS work a run needs, with the same client library
 * (nats.js), the same resources (streams, buckets, durable consumer settings from
 * `ensureResources` / `ensureConsumer`) and the same concurrency — no HTTP, no engine.
 *
 * Producer side (what the gateway does per submit), in the harness process on one connection with
 * `clients` concurrent loops: KV create of the PENDING snapshot, then `js.publish` with `msgID`.
 * Consumer side (what a worker does per run), in W separate processes (`_limit_worker.ts`), each
 * with C jobs at once: pull, KV get (the revision the compare-and-set needs), KV update RUNNING,
 * KV update COMPLETED, ack. Completion is observed like the e2e run, by a KV watch.
 *
 * @module
 */

import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { startNatsServer } from "../tests/_helpers/nats_server.ts";
import { loadConfig, workSubject } from "../src/config.ts";
import { ensureConsumer, ensureResources } from "../src/nats/resources.ts";
import { encodeJson } from "../src/nats/kv.ts";
import { benchJob, benchSnapshot } from "./_snapshots.ts";
import { runConcurrently } from "./_stats.ts";
import { benchFile, type ReadyProcess, spawnReady } from "./_proc.ts";
import { progress, type Setting, type ThroughputResult, throughputResult } from "./_types.ts";
import { TerminalWatcher } from "./_watch.ts";
import { CpuMeter, pidListeningOn } from "./_rss.ts";

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
}

/**
 * Measure the raw-NATS limit for each setting, each on a fresh nats-server (file storage).
 *
 * @param options N, clients, settings, warm-up.
 * @returns One result per setting.
 * @throws {Error} When a process fails to start or runs do not finish in time.
 */
export async function measureLimit(options: LimitOptions): Promise<ThroughputResult[]> {
  const results: ThroughputResult[] = [];
  for (const setting of options.settings) {
    results.push(await _measureOne(setting, options));
    const r = results[results.length - 1]!;
    progress(
      `limit ${setting.label}: ${r.runs_per_sec} runs/s, p50 ${r.latency_ms.p50} ms, p99 ${r.latency_ms.p99} ms`,
    );
  }
  return results;
}

async function _measureOne(setting: Setting, options: LimitOptions): Promise<ThroughputResult> {
  await using srv = await startNatsServer();
  const config = loadConfig({ env: { PYOCO_NATS_URL: srv.url }, envFile: false });
  // Experiment knob (also read by _limit_worker.ts): no per-request Error objects in nats.js.
  const noAsyncTraces = Deno.env.get("PYOCO_BENCH_NO_ASYNC_TRACES") === "1";
  const nc = await connect({ servers: srv.url, name: "bench-limit-producer", noAsyncTraces });
  const watchNc = await connect({ servers: srv.url, name: "bench-watch" });
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
          benchFile("_limit_worker.ts"),
          srv.url,
          String(setting.concurrency),
        ]),
      );
    }
    const watcher = await TerminalWatcher.open(watchNc, config.runsKvBucket);
    const submit = async () => {
      const start = performance.now();
      const runId = crypto.randomUUID().replaceAll("-", "");
      await kv.create(runId, encodeJson(benchSnapshot(runId, "PENDING")));
      await js.publish(subject, encodeJson(benchJob(runId)), { msgID: runId });
      watcher.submitted(runId, start);
    };
    await runConcurrently(options.warmup, options.clients, submit);
    await watcher.waitDone(options.warmup, 120_000);
    watcher.reset();
    const cpu = new CpuMeter({
      workers: workers.map((w) => w.pid),
      nats: [pidListeningOn(srv.port)],
      harness: [Deno.pid],
    });
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
    watcher.stop();
    return result;
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    await nc.close();
    await watchNc.close();
  }
}
