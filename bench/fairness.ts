/**
 * Bench part `fairness` (SPEC §13, issue 15): with `PYOCO_TENANT_ISOLATION=namespaced`, tenant A
 * queues a backlog (2,000 runs), then tenant B submits 20; B's waits (start − submit) are the
 * figure, against B's service time and the workers' pull interval (goal: every B run starts
 * within 2 × (service time + pull interval)). Also the end-to-end throughput of a one-task flow
 * in namespaced mode beside shared mode, measured the same way on fresh stacks.
 *
 * Submits go through the real submit path in-process (`submitRun`, as the gateway does, with
 * the tenant of an API key); workers are real `cli/worker.ts` processes.
 *
 * @module
 */

import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import type { KvWatchEntry } from "@nats-io/kv";
import { type Config, loadConfig, parseRunKey } from "../src/config.ts";
import type { RunSnapshot } from "../src/contract/wire.ts";
import { isTerminal } from "../src/contract/wire.ts";
import { Logger } from "../src/log.ts";
import { ensureResources, type PyocoBuckets } from "../src/nats/resources.ts";
import { submitRun, validateRunRequest } from "../src/runs/submit.ts";
import { startNatsServer } from "../tests/_helpers/nats_server.ts";
import { startWorkerProcess, type WorkerProcess } from "../tests/_helpers/worker_process.ts";
import { percentile, round2, waitFor } from "./_stats.ts";
import { progress } from "./_types.ts";

/** Options of {@linkcode measureFairness}. */
export interface FairnessOptions {
  /** Runs tenant A queues first. @default {2000} */
  backlog?: number;
  /** Runs tenant B submits after. @default {20} */
  late?: number;
  /** Service time of one run, in milliseconds. @default {50} */
  serviceMs?: number;
  /** Worker processes. @default {2} */
  workers?: number;
  /** Concurrency of each. @default {16} */
  concurrency?: number;
  /** Runs of the throughput comparison (per mode). @default {2000} */
  throughputRuns?: number;
}

/** What {@linkcode measureFairness} measured. */
export interface FairnessOutcome {
  /** A's backlog and B's runs. */
  backlog: number;
  late: number;
  /** Workers × concurrency. */
  setting: string;
  /** B's mean service time (end − start), ms. */
  service_ms: number;
  /** The workers' pull interval (idle refresh), ms. */
  pull_interval_ms: number;
  /** B's waits (start − submit), ms. */
  b_wait_ms: { p50: number; p95: number; max: number };
  /** 2 × (service + pull interval), ms. */
  bound_ms: number;
  /** B's p95 wait / B's service time (the figure). */
  p95_wait_over_service: number;
  /** Whether every B run started within the bound. */
  within_bound: boolean;
  /** A's runs not started yet when B's last run started. */
  a_pending_when_b_started: number;
  /** End-to-end runs/s of a one-task flow, shared vs namespaced (same machine, same way). */
  throughput: { shared: number; namespaced: number; ratio: number };
}

const _PULL_INTERVAL_MS = 250;
const _QUIET = new Logger({ service: "pyoco-server:http", level: "ERROR", write: () => {} });

interface _Rig {
  config: Config;
  nc: NatsConnection;
  buckets: PyocoBuckets;
  workers: WorkerProcess[];
  /** Latest snapshot of every run seen. */
  seen: Map<string, RunSnapshot>;
  submit(tenant: string, body: Record<string, unknown>): Promise<string>;
  stop(): Promise<void>;
}

async function _rig(
  mode: "shared" | "namespaced",
  options: { workers: number; concurrency: number },
): Promise<_Rig> {
  const nats = await startNatsServer();
  const env = { PYOCO_NATS_URL: nats.url, PYOCO_TENANT_ISOLATION: mode };
  const config = loadConfig({ env, envFile: false });
  const nc = await connect({ servers: nats.url, name: "bench-fairness" });
  const buckets = await ensureResources(nc, config);
  const seen = new Map<string, RunSnapshot>();
  const watch = await buckets.runs.watch();
  (async () => {
    for await (const e of watch as AsyncIterable<KvWatchEntry>) {
      if (e.operation !== "PUT" || e.length === 0) continue;
      // Namespaced keys are `<tenant>.<run_id>`: index by the run id.
      const run = parseRunKey(config, e.key);
      if (run !== null) seen.set(run.runId, e.json<RunSnapshot>());
    }
  })().catch(() => {});
  const workers = await Promise.all(
    Array.from({ length: options.workers }, (_, i) =>
      startWorkerProcess({
        natsUrl: nats.url,
        flows: ["bench/_fairness_flows.ts", "bench/flows.ts"],
        workerId: `fair-w${i + 1}-${crypto.randomUUID().slice(0, 4)}`,
        concurrency: options.concurrency,
        env: { PYOCO_TENANT_ISOLATION: mode },
      })),
  );
  const backend = {
    js: jetstream(nc),
    runs: buckets.runs,
    timeoutMs: 10_000,
    state: { connected: true },
  };
  return {
    config,
    nc,
    buckets,
    workers,
    seen,
    async submit(tenant, body) {
      const request = validateRunRequest(body, config);
      const ctx = { backend, config, logger: _QUIET, principal: { tenantId: tenant, keyId: "k" } };
      return (await submitRun(ctx, request)).run_id;
    },
    async stop() {
      watch.stop();
      await Promise.all(workers.map((w) => w.stop().catch(() => 0)));
      await nc.close().catch(() => {});
      await nats.stop();
    },
  };
}

/** Submit `count` runs from `clients` loops; the run ids in submit order (roughly). */
async function _submitMany(
  rig: _Rig,
  tenant: string,
  options: { count: number; body: Record<string, unknown>; clients?: number },
): Promise<string[]> {
  const ids: string[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: options.clients ?? 32 }, async () => {
    while (next < options.count) {
      next++;
      ids.push(await rig.submit(tenant, options.body));
    }
  }));
  return ids;
}

async function _allTerminal(rig: _Rig, ids: string[], timeoutMs: number): Promise<void> {
  await waitFor(
    () => ids.every((id) => isTerminal(rig.seen.get(id)?.status ?? "PENDING")),
    `${ids.length} runs to end`,
    timeoutMs,
    20,
  );
}

async function _throughput(
  mode: "shared" | "namespaced",
  options: { runs: number; workers: number; concurrency: number },
): Promise<number> {
  const rig = await _rig(mode, options);
  try {
    // Warm-up (JIT, consumers), then the measured runs spread over four tenants.
    const warm = await _submitMany(rig, "t0", { count: 100, body: { flow_name: "noop" } });
    await _allTerminal(rig, warm, 60_000);
    const started = performance.now();
    const ids = (await Promise.all(
      ["t0", "t1", "t2", "t3"].map((t) =>
        _submitMany(rig, t, { count: options.runs / 4, body: { flow_name: "noop" }, clients: 8 })
      ),
    )).flat();
    await _allTerminal(rig, ids, 300_000);
    return round2(ids.length / ((performance.now() - started) / 1000));
  } finally {
    await rig.stop();
  }
}

/**
 * Run the fairness scenario and the throughput comparison.
 *
 * @param options Sizes, service time and workers.
 * @returns The figures.
 * @throws {Error} When a process does not start or runs do not end in time.
 */
export async function measureFairness(options: FairnessOptions = {}): Promise<FairnessOutcome> {
  const backlog = options.backlog ?? 2000;
  const late = options.late ?? 20;
  const serviceMs = options.serviceMs ?? 50;
  const workers = options.workers ?? 2;
  const concurrency = options.concurrency ?? 16;
  const rig = await _rig("namespaced", { workers, concurrency });
  let outcome: Omit<FairnessOutcome, "throughput">;
  try {
    // A and B are known tenants (each ran before); a brand-new tenant adds up to one discovery
    // interval (0.5 s) the first time.
    const tiny = { flow_name: "nap", params: { ms: 1 } };
    const first = [
      ...await _submitMany(rig, "a", { count: 1, body: tiny }),
      ...await _submitMany(rig, "b", { count: 1, body: tiny }),
    ];
    await _allTerminal(rig, first, 60_000);
    const body = { flow_name: "nap", params: { ms: serviceMs } };
    progress(`fairness: tenant A queues ${backlog} runs of ${serviceMs} ms`);
    const a = await _submitMany(rig, "a", { count: backlog, body });
    // The workers are busy with A's backlog before B comes.
    await waitFor(
      () => a.some((id) => isTerminal(rig.seen.get(id)?.status ?? "PENDING")),
      "A's runs to start",
      60_000,
      10,
    );
    progress(`fairness: tenant B submits ${late}`);
    const b = await _submitMany(rig, "b", { count: late, body, clients: 4 });
    await waitFor(
      () => b.every((id) => rig.seen.get(id)?.start_time != null),
      "B's runs to start",
      120_000,
      10,
    );
    const aPending = a.filter((id) => (rig.seen.get(id)?.status ?? "PENDING") === "PENDING").length;
    await _allTerminal(rig, [...a, ...b], 600_000);
    const bs = b.map((id) => rig.seen.get(id)!);
    const waits = bs.map((s) => (s.start_time! - s.submitted_at!) * 1000).sort((x, y) => x - y);
    const service = bs.reduce((n, s) => n + (s.end_time! - s.start_time!) * 1000, 0) / bs.length;
    const p95 = percentile(waits, 95);
    const bound = 2 * (service + _PULL_INTERVAL_MS);
    outcome = {
      backlog,
      late,
      setting: `${workers}x${concurrency}`,
      service_ms: round2(service),
      pull_interval_ms: _PULL_INTERVAL_MS,
      b_wait_ms: {
        p50: round2(percentile(waits, 50)),
        p95: round2(p95),
        max: round2(waits.at(-1)!),
      },
      bound_ms: round2(bound),
      p95_wait_over_service: round2(p95 / service),
      within_bound: waits.at(-1)! <= bound,
      a_pending_when_b_started: aPending,
    };
  } finally {
    await rig.stop();
  }
  progress(
    `fairness: B's wait p50 ${outcome.b_wait_ms.p50} ms, p95 ${outcome.b_wait_ms.p95} ms, max ${outcome.b_wait_ms.max} ms; service ${outcome.service_ms} ms; bound ${outcome.bound_ms} ms; A still waiting: ${outcome.a_pending_when_b_started}`,
  );
  const runs = options.throughputRuns ?? 2000;
  progress(`fairness: throughput of ${runs} one-task runs, shared then namespaced`);
  const shared = await _throughput("shared", { runs, workers, concurrency });
  const namespaced = await _throughput("namespaced", { runs, workers, concurrency });
  return {
    ...outcome,
    throughput: { shared, namespaced, ratio: round2(namespaced / shared) },
  };
}

/**
 * The markdown of the fairness part.
 *
 * @param f The outcome.
 * @returns Lines.
 */
export function renderFairness(f: FairnessOutcome): string[] {
  return [
    `#### Fairness between tenants (namespaced, ${f.setting}; A queues ${f.backlog}, then B submits ${f.late})`,
    "",
    "| figure | value |",
    "|---|---|",
    `| B's wait p50 / p95 / max | ${f.b_wait_ms.p50} / ${f.b_wait_ms.p95} / ${f.b_wait_ms.max} ms |`,
    `| B's service time | ${f.service_ms} ms (pull interval ${f.pull_interval_ms} ms) |`,
    `| B's p95 wait / service time | ${f.p95_wait_over_service} |`,
    `| bound 2 × (service + pull interval) | ${f.bound_ms} ms — ${
      f.within_bound ? "held" : "MISSED"
    } |`,
    `| A's runs not started when B's last started | ${f.a_pending_when_b_started} of ${f.backlog} |`,
    `| e2e runs/s shared / namespaced | ${f.throughput.shared} / ${f.throughput.namespaced} (× ${f.throughput.ratio}) |`,
    "",
  ];
}
