/**
 * Gateway cold start against many stored runs (SPEC §11: 1,000,000 runs ready in ≤ 15 s): the
 * runs bucket is seeded fast with raw, pipelined publishes to `$KV.<bucket>.<key>` (no wait for
 * each ack; the stream's message count says when they are stored), then a gateway process is
 * started and timed until it is ready — `GET /ready` answering 200 when that route exists, and
 * the first `GET /runs?status=FAILED&limit=50` answered 200 (served from the full index) — and its
 * resident memory is read from `/proc/<pid>/status` right after. Both are recorded: `/ready`
 * may say ready before the index has loaded everything, the list cannot.
 *
 * ```
 * deno run -A bench/cold_start.ts [RUNS]     # default 1000000
 * ```
 *
 * @module
 */

import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { startNatsServer } from "../tests/_helpers/nats_server.ts";
import { startGatewayProcess } from "../tests/_helpers/gateway_process.ts";
import { loadConfig } from "../src/config.ts";
import { ensureResources } from "../src/nats/resources.ts";
import { pidListeningOn, readMemory } from "./_rss.ts";
import { round2, waitFor } from "./_stats.ts";
import { progress } from "./_types.ts";
import { seedRun } from "./reads.ts";

/** Options of {@linkcode measureColdStart}. */
export interface ColdStartOptions {
  /** Runs stored before the gateway starts. */
  runs: number;
  /** Give up waiting for the gateway after this long. @default {300000} */
  timeoutMs?: number;
}

/** What {@linkcode measureColdStart} measured (`cold_start` in `latest.json`). */
export interface ColdStartOutcome {
  /** Runs stored. */
  runs: number;
  /**
   * Milliseconds from spawning the gateway process until it is ready: `GET /ready` answers 200
   * (when the route exists) and a filtered list (`GET /runs?status=FAILED&limit=50`, which waits
   * for the full index) answers 200 — the later of the two.
   */
  ready_ms: number;
  /** When `GET /ready` first answered 200 (`null`: no such route). */
  ready_route_ms: number | null;
  /** When the first filtered list was served (from the full index). */
  first_list_ms: number;
  /** Gateway RSS right after it was ready, MiB. */
  rss_mib: number | null;
  /** CPU time (user + system) the gateway process had used when it was ready, ms. */
  cpu_ms: number | null;
  /** RSS above the same gateway's RSS against an empty bucket, per run, bytes. */
  rss_bytes_per_run: number | null;
  /** Seconds the seeding took. */
  seed_seconds: number;
  /** Publishes per second while seeding. */
  seed_puts_per_sec: number;
}

/**
 * Publish runs `from..to-1` into the runs bucket without waiting for acks (flushing every
 * batch so the connection's buffer stays small), then wait until the stream holds them.
 *
 * @param nc A NATS connection.
 * @param options Bucket, range and the stream's message count before.
 * @returns Seconds taken.
 * @throws {Error} When the stream does not reach the expected count.
 */
export async function seedRunsRaw(
  nc: Awaited<ReturnType<typeof connect>>,
  options: { bucket: string; from: number; to: number },
): Promise<number> {
  const t0 = performance.now();
  const jsm = await jetstreamManager(nc);
  const stream = `KV_${options.bucket}`;
  const before = (await jsm.streams.info(stream)).state.messages;
  const batch = 2000;
  for (let i = options.from; i < options.to; i += batch) {
    const end = Math.min(options.to, i + batch);
    for (let k = i; k < end; k++) {
      const { id, data } = seedRun(k);
      nc.publish(`$KV.${options.bucket}.${id}`, data);
    }
    await nc.flush();
    if ((i / batch) % 50 === 0) progress(`cold start: published ${end - options.from} runs`);
  }
  const expected = before + (options.to - options.from);
  await waitFor(
    async () => (await jsm.streams.info(stream)).state.messages >= expected,
    `the runs stream to hold ${expected} messages`,
    120_000,
    200,
  );
  return (performance.now() - t0) / 1000;
}

/** User + system CPU time of a process so far (Linux `/proc/<pid>/stat`, 100 ticks a second). */
function _cpuMs(pid: number): number | null {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return null;
  }
}

async function _ok(url: string): Promise<number> {
  const res = await fetch(url).catch(() => null);
  await res?.body?.cancel();
  return res?.status ?? 0;
}

async function _startAndTime(natsUrl: string, timeoutMs: number) {
  const t0 = performance.now();
  const gateway = await startGatewayProcess({ natsUrl, timeoutMs });
  let readyRoute: number | null = null;
  let firstList: number | null = null;
  await waitFor(
    async () => {
      if (readyRoute === null) {
        const status = await _ok(`${gateway.url}/ready`);
        if (status === 200) readyRoute = performance.now() - t0;
        if (status === 404) readyRoute = -1; // no such route (yet): the list alone decides
      }
      if (firstList === null && (await _ok(`${gateway.url}/runs?status=FAILED&limit=50`)) === 200) {
        firstList = performance.now() - t0;
      }
      return readyRoute !== null && firstList !== null;
    },
    "the gateway to be ready",
    timeoutMs,
    20,
  );
  const pid = pidListeningOn(Number(new URL(gateway.url).port));
  const rss = pid === null ? null : readMemory(pid)?.rssMb ?? null;
  const cpu = pid === null ? null : _cpuMs(pid);
  await gateway.stop();
  const route = readyRoute! < 0 ? null : Math.round(readyRoute!);
  const list = Math.round(firstList!);
  return { readyMs: Math.max(route ?? 0, list), route, list, rss, cpu };
}

/**
 * Seed the runs, start a gateway against them and time it to ready (plus a baseline gateway
 * against an empty bucket first, for the per-run memory).
 *
 * @param options Runs and timeout.
 * @returns The figures.
 * @throws {Error} When seeding fails or the gateway is not ready in time.
 */
export async function measureColdStart(options: ColdStartOptions): Promise<ColdStartOutcome> {
  const timeoutMs = options.timeoutMs ?? 300_000;
  await using srv = await startNatsServer();
  const config = loadConfig({ env: { PYOCO_NATS_URL: srv.url }, envFile: false });
  const nc = await connect({ servers: srv.url, name: "bench-cold-start" });
  try {
    await ensureResources(nc, config);
    const empty = await _startAndTime(srv.url, timeoutMs);
    progress(`cold start: empty bucket ready in ${empty.readyMs} ms, ${empty.rss} MiB`);
    const seconds = await seedRunsRaw(nc, {
      bucket: config.runsKvBucket,
      from: 0,
      to: options.runs,
    });
    progress(`cold start: seeded ${options.runs} runs in ${round2(seconds)} s`);
    const full = await _startAndTime(srv.url, timeoutMs);
    const perRun = full.rss !== null && empty.rss !== null
      ? Math.round(((full.rss - empty.rss) * 1024 * 1024) / options.runs)
      : null;
    const out: ColdStartOutcome = {
      runs: options.runs,
      ready_ms: full.readyMs,
      rss_mib: full.rss,
      cpu_ms: full.cpu,
      rss_bytes_per_run: perRun,
      ready_route_ms: full.route,
      first_list_ms: full.list,
      seed_seconds: round2(seconds),
      seed_puts_per_sec: Math.round(options.runs / seconds),
    };
    progress(
      `cold start @${options.runs}: ready in ${out.ready_ms} ms (/ready ${out.ready_route_ms} ms, ` +
        `first filtered list ${out.first_list_ms} ms), ` +
        `${out.cpu_ms} ms CPU, ${out.rss_mib} MiB RSS (${out.rss_bytes_per_run} B/run above empty)`,
    );
    return out;
  } finally {
    await nc.close();
  }
}

if (import.meta.main) {
  const runs = Number(Deno.args[0] ?? 1_000_000);
  console.log(JSON.stringify(await measureColdStart({ runs }), null, 2));
}
