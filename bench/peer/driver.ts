/**
 * The peer: BullMQ (npm) on a Redis server started by the harness on a free port, doing the same
 * N trivial jobs with the same number of concurrent producers and the same W×C workers (separate
 * processes, `worker.ts`). Redis runs with persistence off (`--save "" --appendonly no`, as
 * BullMQ's own benchmarks run) or, with `--aof`, with the append-only file fsynced every second
 * (`--appendonly yes --appendfsync everysec`: what BullMQ's docs ask for in production, the
 * durability closest to JetStream's file storage). With `--bulk K` jobs are added with
 * `Queue.addBulk`, K a call (the counterpart of `POST /runs/batch`). Runs as its own process under `bench/peer/deno.json` (see `package.json` there);
 * prints the {@linkcode PeerOutcome} as JSON on the last stdout line.
 *
 * Usage: `deno run -A --config bench/peer/deno.json bench/peer/driver.ts --n 5000 --clients 32
 * --settings 1x8,2x8 --warmup 500 [--aof] [--bulk 100]` Completion is observed through `QueueEvents` ("completed"), BullMQ's
 * counterpart of the KV watch. Completed jobs are kept (BullMQ's default), as our snapshots are.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Queue, QueueEvents } from "bullmq";
import { freePort } from "../../tests/_helpers/nats_server.ts";
import { runConcurrently } from "../_stats.ts";
import { type ReadyProcess, spawnReady } from "../_proc.ts";
import {
  parseSettings,
  progress,
  type Setting,
  type ThroughputResult,
  throughputResult,
} from "../_types.ts";
import { CompletionTracker } from "../_tracker.ts";
import { CpuMeter } from "../_rss.ts";

const _WORKER = new URL("./worker.ts", import.meta.url).pathname;
const _CONFIG = new URL("./deno.json", import.meta.url).pathname;

/** Options of {@linkcode measurePeer}. */
export interface PeerOptions {
  /** Jobs per setting. */
  n: number;
  /** Concurrent producers. */
  clients: number;
  /** Worker settings to try. */
  settings: readonly Setting[];
  /** Warm-up jobs before each measurement. */
  warmup: number;
  /** Redis with the append-only file, fsync every second. @default {false} */
  aof?: boolean;
  /** Add jobs with `addBulk`, this many a call (0 = one `add` per job). @default {0} */
  bulk?: number;
}

/** The outcome: results, or why the peer was skipped. */
export interface PeerOutcome {
  /** Set when the peer did not run (e.g. no `redis-server`). */
  skipped: string | null;
  /** `redis-server --version`, when found. */
  redis_version: string | null;
  /** One result per setting. */
  results: ThroughputResult[];
}

/**
 * The `redis-server` binary (`PYOCO_BENCH_REDIS_SERVER` or PATH) and its version.
 *
 * @returns Path and version line, or `null` when it cannot be run.
 */
export async function findRedisServer(): Promise<
  { bin: string; version: string } | null
> {
  const bin = Deno.env.get("PYOCO_BENCH_REDIS_SERVER") ?? "redis-server";
  try {
    const out = await new Deno.Command(bin, {
      args: ["--version"],
      stdout: "piped",
    }).output();
    if (!out.success) return null;
    return { bin, version: new TextDecoder().decode(out.stdout).trim() };
  } catch {
    return null;
  }
}

/**
 * Measure BullMQ for each setting, each on a fresh Redis server.
 *
 * @param options N, producers, settings, warm-up, persistence, bulk size.
 * @returns Results, or a skip message when `redis-server` is absent.
 * @throws {Error} When a process fails to start or jobs do not finish in time.
 */
export async function measurePeer(options: PeerOptions): Promise<PeerOutcome> {
  const redis = await findRedisServer();
  if (!redis) {
    const skipped = "redis-server not found (install Debian's redis-server); BullMQ peer skipped";
    progress(skipped);
    return { skipped, redis_version: null, results: [] };
  }
  const results: ThroughputResult[] = [];
  for (const setting of options.settings) {
    const r = await _measureOne(redis.bin, setting, options);
    results.push(r);
    progress(
      `peer${options.aof ? " (AOF everysec)" : ""}${
        options.bulk ? ` (addBulk ${options.bulk})` : ""
      } ${setting.label}: ${r.runs_per_sec} jobs/s, p50 ${r.latency_ms.p50} ms, p99 ${r.latency_ms.p99} ms`,
    );
  }
  return { skipped: null, redis_version: redis.version, results };
}

async function _measureOne(
  bin: string,
  setting: Setting,
  options: PeerOptions,
): Promise<ThroughputResult> {
  const port = freePort();
  const dir = await Deno.makeTempDir({ prefix: "pyoco-bench-redis-" });
  const server = await spawnReady(
    [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      ...(options.aof
        ? ["--appendonly", "yes", "--appendfsync", "everysec"]
        : ["--appendonly", "no"]),
      "--dir",
      dir,
    ],
    { command: bin, readyLine: /Ready to accept connections/ },
  );
  const connection = { host: "127.0.0.1", port, maxRetriesPerRequest: null };
  const name = "bench";
  const workers: ReadyProcess[] = [];
  const queues: Queue[] = [];
  let events: QueueEvents | null = null;
  try {
    for (let i = 0; i < setting.workers; i++) {
      workers.push(
        await spawnReady([
          "run",
          "-A",
          "--config",
          _CONFIG,
          _WORKER,
          String(port),
          String(setting.concurrency),
          name,
        ]),
      );
    }
    const tracker = new CompletionTracker();
    events = new QueueEvents(name, { connection });
    events.on(
      "completed",
      ({ jobId }) => tracker.terminal(jobId, true, performance.now()),
    );
    events.on(
      "failed",
      ({ jobId }) => tracker.terminal(jobId, false, performance.now()),
    );
    await events.waitUntilReady();
    for (let i = 0; i < options.clients; i++) {
      queues.push(new Queue(name, { connection }));
    }
    await Promise.all(queues.map((q) => q.waitUntilReady()));
    const bulk = options.bulk ?? 0;
    const submit = bulk > 0 ? _bulkSubmitter(queues, tracker, bulk) : async (i: number) => {
      const queue = queues[i % queues.length]!;
      const start = performance.now();
      const job = await queue.add("noop", { flow_name: "noop", params: {} });
      tracker.submitted(job.id!, start);
    };
    const calls = (count: number) => bulk > 0 ? Math.ceil(count / bulk) : count;
    await runConcurrently(
      calls(options.warmup),
      options.clients,
      (i) => submit(i, options.warmup),
    );
    await tracker.waitDone(options.warmup, 120_000);
    tracker.reset();
    const cpu = new CpuMeter({
      workers: workers.map((w) => w.pid),
      redis: [server.pid],
      harness: [Deno.pid],
    });
    const t0 = performance.now();
    await runConcurrently(
      calls(options.n),
      options.clients,
      (i) => submit(i, options.n),
    );
    await tracker.waitDone(options.n);
    const result = throughputResult(
      setting,
      options.n,
      tracker.lastTerminalAt - t0,
      tracker.latencies,
      tracker.failed,
    );
    result.cpu_ms_per_run = cpu.read(options.n);
    return result;
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    await events?.close().catch(() => {});
    await Promise.all(queues.map((q) => q.close().catch(() => {})));
    await server.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/**
 * A submitter that adds jobs with `addBulk`, `size` a call (the last call of `total` may be
 * shorter); all jobs of a call share its start time.
 */
function _bulkSubmitter(
  queues: readonly Queue[],
  tracker: CompletionTracker,
  size: number,
): (i: number, total: number) => Promise<void> {
  return async (i, total) => {
    const queue = queues[i % queues.length]!;
    const count = Math.min(size, total - i * size);
    const start = performance.now();
    const jobs = await queue.addBulk(
      Array.from(
        { length: count },
        () => ({ name: "noop", data: { flow_name: "noop", params: {} } }),
      ),
    );
    for (const job of jobs) tracker.submitted(job.id!, start);
  };
}

async function _main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      n: { type: "string", default: "5000" },
      clients: { type: "string", default: "32" },
      settings: { type: "string", default: "1x8" },
      warmup: { type: "string", default: "500" },
      aof: { type: "boolean", default: false },
      bulk: { type: "string", default: "0" },
    },
  });
  const outcome = await measurePeer({
    n: Number(values.n),
    clients: Number(values.clients),
    settings: parseSettings(values.settings),
    warmup: Number(values.warmup),
    aof: values.aof,
    bulk: Number(values.bulk),
  });
  console.log(JSON.stringify(outcome));
  // ioredis keeps sockets and timers alive a little after close().
  Deno.exit(0);
}

if (import.meta.main) await _main();
