/**
 * Read paths at scale: runs seeded fast and directly into the runs bucket (many concurrent KV
 * puts), then the latency of `GET /runs?limit=50`, a filtered list, `GET /runs/{id}` and
 * `GET /metrics` (one client, sequential requests, so each figure is the cost of one request),
 * and the gateway's resident memory after those calls — at a small size and at the full size,
 * on the same gateway, to show whether the cost grows with the number of runs.
 *
 * @module
 */

import { connect } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import { startNatsServer } from "../tests/_helpers/nats_server.ts";
import { loadConfig } from "../src/config.ts";
import { ensureResources } from "../src/nats/resources.ts";
import { encodeJson } from "../src/nats/kv.ts";
import type { RunStatus } from "../src/contract/wire.ts";
import { benchSnapshot } from "./_snapshots.ts";
import { readMemory } from "./_rss.ts";
import { startStack } from "./_stack.ts";
import { type LatencySummary, round2, runConcurrently, summarize, waitFor } from "./_stats.ts";
import { progress } from "./_types.ts";

/** Options of {@linkcode measureReads}. */
export interface ReadsOptions {
  /** Run counts to measure at, ascending (e.g. `[10000, 100000]`). */
  sizes: readonly number[];
  /** Requests per endpoint and size. */
  requests: number;
}

/** The read latencies at one size. */
export interface ReadsAtSize {
  /** Runs stored. */
  runs: number;
  /** `GET /runs?limit=50`. */
  list: LatencySummary;
  /** `GET /runs?status=FAILED&flow=etl&limit=50`. */
  list_filtered: LatencySummary;
  /** `GET /runs?updated_after=…&limit=50`: one delta page (binary search, then 50 entries). */
  list_delta: LatencySummary;
  /** `GET /runs/{id}` of random stored runs. */
  get: LatencySummary;
  /** `GET /metrics`. */
  metrics: LatencySummary;
  /** Gateway RSS after the calls, MiB. */
  gateway_rss_mb: number | null;
  /** Seconds the seeding of this step took (KV puts only). */
  seed_seconds: number;
  /** KV puts per second while seeding. */
  seed_puts_per_sec: number;
}

const _FLOWS = ["noop", "etl", "report", "sync", "train"];
const _STATUSES: RunStatus[] = ["COMPLETED", "COMPLETED", "COMPLETED", "COMPLETED", "FAILED"];

/**
 * A deterministic mix of seeded runs: five flows, two tags, 80% COMPLETED and 20% FAILED (a few
 * RUNNING/PENDING), `updated_at` spread over the last week.
 *
 * @param i The run's index.
 * @returns Its id and snapshot bytes.
 */
export function seedRun(i: number): { id: string; data: Uint8Array } {
  const id = `seed${String(i).padStart(7, "0")}`;
  const status: RunStatus = i % 97 === 0
    ? "RUNNING"
    : i % 89 === 0
    ? "PENDING"
    : _STATUSES[i % _STATUSES.length]!;
  const now = Date.now() / 1000;
  const snapshot = benchSnapshot(id, status, {
    flowName: _FLOWS[i % _FLOWS.length],
    tag: i % 10 === 0 ? "gpu" : "default",
    updatedAt: now - ((i * 7919) % 604_800),
  });
  return { id, data: encodeJson(snapshot) };
}

async function _time(url: string, count: number, path: (i: number) => string) {
  const samples: number[] = [];
  for (let i = 0; i < count + 5; i++) {
    const start = performance.now();
    const res = await fetch(`${url}${path(i)}`);
    await res.arrayBuffer();
    const ms = performance.now() - start;
    if (res.status !== 200) throw new Error(`GET ${path(i)} answered ${res.status}`);
    if (i >= 5) samples.push(ms); // the first few warm up the connection and the JIT
  }
  return summarize(samples);
}

/**
 * The number of runs `GET /metrics` reports (sum of `pyoco_runs_total`).
 *
 * @param url The gateway base URL.
 * @param headers Request headers (an API key when auth is on).
 * @returns The total.
 */
export async function runsTotal(url: string, headers: HeadersInit = {}): Promise<number> {
  const text = await (await fetch(`${url}/metrics`, { headers })).text();
  let total = 0;
  for (const m of text.matchAll(/^pyoco_runs_total\{[^}]*\}\s+(\d+)/gm)) total += Number(m[1]);
  return total;
}

/**
 * Seed runs `from..to-1` directly into the runs bucket.
 *
 * @param kv The runs bucket.
 * @param from First index.
 * @param to One past the last index.
 * @param transform Change a seeded run (e.g. set its tenant).
 * @returns Seconds taken.
 */
export async function seedRuns(
  kv: { put(k: string, v: Uint8Array): Promise<number> },
  from: number,
  to: number,
  transform?: (data: Uint8Array) => Uint8Array,
): Promise<number> {
  const t0 = performance.now();
  await runConcurrently(to - from, 512, async (k) => {
    const { id, data } = seedRun(from + k);
    await kv.put(id, transform ? transform(data) : data);
  });
  return (performance.now() - t0) / 1000;
}

/**
 * Seed up to each size and measure the read paths there, on one gateway.
 *
 * @param options Sizes and requests per endpoint.
 * @returns One entry per size.
 * @throws {Error} When a request fails or the gateway does not catch up with the seeded runs.
 */
export async function measureReads(options: ReadsOptions): Promise<ReadsAtSize[]> {
  await using srv = await startNatsServer();
  const config = loadConfig({ env: { PYOCO_NATS_URL: srv.url }, envFile: false });
  const nc = await connect({ servers: srv.url, name: "bench-seed" });
  const out: ReadsAtSize[] = [];
  try {
    await ensureResources(nc, config);
    const kv = await new Kvm(nc).open(config.runsKvBucket);
    let seeded = 0;
    let stack: Awaited<ReturnType<typeof startStack>> | null = null;
    try {
      for (const size of options.sizes) {
        const seconds = await seedRuns(kv, seeded, size);
        const added = size - seeded;
        seeded = size;
        progress(`reads: seeded ${seeded} runs (${Math.round(added / seconds)} puts/s)`);
        stack ??= await startStack({ nats: srv });
        const url = stack.gatewayUrl;
        await waitFor(
          async () => (await runsTotal(url)) >= size,
          `the gateway to index ${size} runs`,
          120_000,
          250,
        );
        const n = options.requests;
        const entry: ReadsAtSize = {
          runs: size,
          list: await _time(url, n, () => "/runs?limit=50"),
          list_filtered: await _time(url, n, () => "/runs?status=FAILED&flow=etl&limit=50"),
          list_delta: await _time(url, n, () => "/runs?updated_after=0&limit=50"),
          get: await _time(url, n, (i) => {
            const k = (i * 2_654_435_761) % size;
            return `/runs/seed${String(k).padStart(7, "0")}`;
          }),
          metrics: await _time(url, n, () => "/metrics"),
          gateway_rss_mb: stack.gatewayPid === null
            ? null
            : readMemory(stack.gatewayPid)?.rssMb ?? null,
          seed_seconds: round2(seconds),
          seed_puts_per_sec: Math.round(added / seconds),
        };
        out.push(entry);
        progress(
          `reads @${size}: list p50 ${entry.list.p50} ms, filtered p50 ${entry.list_filtered.p50} ms, delta page p50 ${entry.list_delta.p50} ms, get p50 ${entry.get.p50} ms, metrics p50 ${entry.metrics.p50} ms, gateway ${entry.gateway_rss_mb} MiB`,
        );
      }
    } finally {
      await stack?.stop();
    }
  } finally {
    await nc.close();
  }
  return out;
}
