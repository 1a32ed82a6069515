/**
 * The benchmark report: the JSON shape of `bench/results/latest.json` and its markdown table.
 *
 * @module
 */

import type { AbuseOutcome } from "./abuse.ts";
import { GATEWAY_V8_FLAGS } from "../src/host/permissions.ts";
import type { AuthOutcome } from "./auth.ts";
import type { E2eOutcome } from "./e2e.ts";
import type { ReadsAtSize } from "./reads.ts";
import type { ColdStartOutcome } from "./cold_start.ts";
import type { LatencySummary } from "./_stats.ts";
import type { ThroughputResult } from "./_types.ts";
import type { BenchRatios } from "./_goals.ts";

/** A BullMQ measurement (or why it was skipped). */
export interface PeerSection {
  skipped: string | null;
  redis_version: string | null;
  results: ThroughputResult[];
  best: ThroughputResult | null;
  /** Redis with the append-only file (fsync every second). */
  aof?: boolean;
  /** Jobs a call with `addBulk` (0 = one `add` each). */
  bulk?: number;
}

/** One goal of the issue, measured. */
export interface Goal {
  /** What is measured. */
  goal: string;
  /** The target, as text. */
  target: string;
  /** The measured figure (`null` when not measured in this run). */
  measured: number | null;
  /** Whether the target is met (`null` when not measured). */
  met: boolean | null;
}

/** Everything one benchmark run measured. */
export interface BenchReport {
  /** ISO time of the run. */
  generated_at: string;
  /** The machine and the software versions. */
  machine: {
    nproc: number;
    cpu: string | null;
    memory_mb: number;
    os: string;
    deno: string;
    v8: string;
    nats_server: string | null;
    /** 1/5/15-minute load averages when the run started (other work on the machine). */
    loadavg_at_start: number[];
  };
  /** The parameters. */
  params: {
    n: number;
    clients: number;
    settings: string[];
    seed_runs: number;
    smoke: boolean;
    /** `--quick`: ≈2,000 runs, one setting, e2e + floor + both BullMQ rows. */
    quick?: boolean;
    warmup: number;
  };
  /** End-to-end throughput and latency (null when not run). */
  e2e: E2eOutcome | null;
  /** The raw-NATS limit: the first design's per-run NATS work. */
  limit: { results: ThroughputResult[]; best: ThroughputResult } | null;
  /** The floor: SPEC §10's minimal NATS work per run, raw nats.js. */
  floor?: { results: ThroughputResult[]; best: ThroughputResult } | null;
  /** The floor on a 3-node cluster on this machine (R3 resources), one setting. */
  floor_r3?: { results: ThroughputResult[]; best: ThroughputResult } | null;
  /** The BullMQ peer, Redis persistence off. */
  peer: PeerSection | null;
  /** The BullMQ peer, Redis `--appendonly yes --appendfsync everysec`. */
  peer_aof?: PeerSection | null;
  /** `POST /runs/batch`, 100 runs a request (one setting). */
  batch?: ThroughputResult | null;
  /** BullMQ `addBulk`, 100 jobs a call, same setting, Redis with AOF. */
  peer_bulk?: PeerSection | null;
  /** NATS messages in / out of nats-server per run (best setting), from `/varz`. */
  nats_msgs_per_run?: {
    e2e: { in: number; out: number } | null;
    floor: { in: number; out: number } | null;
  };
  /** Best-setting runs/s ratios. */
  ratios: BenchRatios;
  /** Read paths at scale. */
  reads: { sizes: ReadsAtSize[] } | null;
  /** Gateway cold start against many stored runs (SPEC §11). */
  cold_start: ColdStartOutcome | null;
  /** Auth on vs off. */
  auth: AuthOutcome | null;
  /** Peak RSS during the best e2e throughput run. */
  memory: {
    setting: string;
    gateway_peak_rss_mb: number | null;
    worker_peak_rss_mb: number | null;
  } | null;
  /**
   * Gateway RSS after each of 8 rounds of bad input (issue 12 #6), with the V8 flags the gateway
   * ships with (`GATEWAY_V8_FLAGS`), and the same with `--optimize-for-size` added.
   */
  abuse: (AbuseOutcome & { optimize_for_size: AbuseOutcome | null }) | null;
  /** The goals against the figures. */
  goals: Goal[];
  /** Parts that failed, with the error message (the exit code is then 1). */
  errors?: Record<string, string>;
  /** Wall time of the whole benchmark, seconds. */
  duration_sec?: number;
}

type _System = [name: string, results: readonly ThroughputResult[], best: ThroughputResult | null];

function _systems(r: BenchReport): _System[] {
  const out: _System[] = [];
  const push = (
    name: string,
    sec: { results: ThroughputResult[]; best: ThroughputResult | null } | null | undefined,
  ) => {
    if (sec && sec.results.length > 0) out.push([name, sec.results, sec.best]);
  };
  push("pyoco e2e (HTTP)", r.e2e);
  push("floor (raw nats.js, SPEC §10)", r.floor);
  push("floor, 3-node cluster R3 (one machine)", r.floor_r3);
  push("limit (raw nats.js, first design)", r.limit);
  push("BullMQ, persistence off", r.peer);
  push("BullMQ, AOF everysec", r.peer_aof);
  if (r.batch) push("pyoco batch (POST /runs/batch ×100)", { results: [r.batch], best: r.batch });
  push("BullMQ addBulk ×100, AOF everysec", r.peer_bulk);
  return out;
}

function _natsRows(systems: readonly _System[]): string[] {
  const rows: string[] = [];
  for (const [name, list] of systems) {
    for (const x of list) {
      const t = x.nats_msgs_per_run;
      if (!t) continue;
      const by = Object.entries(t.by_client ?? {}).map(([k, v]) => `${k} ${v.in}/${v.out}`);
      const stored = Object.entries(t.stored_bytes_per_run ?? {}).map(([k, v]) => `${k} ${v}`);
      rows.push(
        `| ${name} | ${x.setting} | ${t.in} | ${t.out} | ${Math.round(t.in_bytes)} | ${
          Math.round(t.out_bytes)
        } | ${by.join(", ")} | ${stored.join(", ") || "—"} |`,
      );
    }
  }
  if (rows.length === 0) return [];
  return [
    "#### NATS traffic per run (nats-server `/varz`, `/connz` and `/jsz` deltas over the measured runs)",
    "",
    "| system | W×C | msgs in | msgs out | bytes in | bytes out | in/out by client | stored bytes by stream |",
    "|---|---|---:|---:|---:|---:|---|---|",
    ...rows,
    "",
  ];
}

function _ms(s: LatencySummary): string {
  return `${s.p50} / ${s.p99}`;
}

function _fmt(x: number | null | undefined, suffix = ""): string {
  return x === null || x === undefined ? "—" : `${x}${suffix}`;
}

/**
 * Render the report as markdown tables.
 *
 * @param r The report.
 * @returns Markdown text.
 */
export function renderMarkdown(r: BenchReport): string {
  const m = r.machine;
  const lines: string[] = [];
  lines.push(
    `### Benchmark ${r.generated_at}${
      r.params.smoke ? " (smoke)" : r.params.quick ? " (quick)" : ""
    }`,
    "",
    `Machine: ${m.nproc} CPUs (${m.cpu ?? "?"}), ${m.memory_mb} MiB, ${m.os}; Deno ${m.deno} ` +
      `(V8 ${m.v8}); ${m.nats_server ?? "nats-server ?"}; ${
        (r.peer ?? r.peer_aof)?.redis_version?.split(" sha")[0] ?? "no Redis"
      }; load average at start ${m.loadavg_at_start.join(" / ")}.`,
    `N = ${r.params.n} one-task runs per measurement, ${r.params.clients} concurrent clients, ` +
      `${r.params.warmup} warm-up runs, settings W×C = ${r.params.settings.join(", ")}.`,
    "",
  );
  const rows: string[] = [];
  const add = (system: string, res: ThroughputResult, isBest: boolean) =>
    rows.push(
      `| ${system} | ${res.setting}${isBest ? " **best**" : ""} | ${res.runs_per_sec} | ${
        _ms(res.latency_ms)
      } | ${_fmt(res.gateway_peak_rss_mb)} | ${_fmt(res.worker_peak_rss_mb)} | ${res.failed} |`,
    );
  const systems = _systems(r);
  for (const [name, list, top] of systems) for (const x of list) add(name, x, x === top);
  if (rows.length > 0) {
    lines.push(
      "#### Throughput (closed loop, saturated)",
      "",
      "| system | W×C | runs/s | submit→terminal p50 / p99 ms | gateway peak RSS MiB | worker peak RSS MiB | not completed |",
      "|---|---|---:|---:|---:|---:|---:|",
      ...rows,
      "",
    );
  }
  const cpuRows: string[] = [];
  const cpuRow = (system: string, res: ThroughputResult) => {
    const c = res.cpu_ms_per_run;
    if (!c) return;
    const total = Object.values(c).reduce((a, b) => a + b, 0);
    const parts = Object.entries(c).map(([k, v]) => `${k} ${v}`).join(", ");
    cpuRows.push(`| ${system} | ${res.setting} | ${parts} | ${Math.round(total * 1000) / 1000} |`);
  };
  for (const [name, list] of systems) for (const x of list) cpuRow(name, x);
  if (cpuRows.length > 0) {
    lines.push(
      "#### CPU per run (ms of user + system CPU per run, by process group, during the run above)",
      "",
      "| system | W×C | by process | total |",
      "|---|---|---|---:|",
      ...cpuRows,
      "",
    );
  }
  lines.push(..._natsRows(systems));
  for (const p of [r.peer, r.peer_aof, r.peer_bulk]) {
    if (p?.skipped) lines.push(`Peer skipped: ${p.skipped}`, "");
  }
  const ratios = Object.entries(r.ratios).map(([k, v]) => `${k} ${_fmt(v)}`).join(", ");
  lines.push(`Ratios (best settings, this run): ${ratios}.`, "");
  const half = r.e2e?.half_rate;
  if (half) {
    lines.push(
      `Half the peak rate (open loop, ${half.target_rate} runs/s target, ${half.achieved_rate} ` +
        `achieved, ${half.runs} runs on ${half.setting}): submit→terminal p50 ` +
        `${half.latency_ms.p50} ms, p90 ${half.latency_ms.p90} ms, p99 ${half.latency_ms.p99} ms.`,
      "",
    );
  }
  const sizes = r.reads?.sizes ?? [];
  if (sizes.length > 0) {
    const head = sizes.map((s) => `${s.runs} runs p50 / p99 ms`).join(" | ");
    const row = (name: string, pick: (s: ReadsAtSize) => LatencySummary) =>
      `| ${name} | ${sizes.map((s) => _ms(pick(s))).join(" | ")} |`;
    lines.push(
      "#### Read paths (one client, sequential)",
      "",
      `| request | ${head} |`,
      `|---|${sizes.map(() => "---:").join("|")}|`,
      row("`GET /runs?limit=50`", (s) => s.list),
      row("`GET /runs?status=FAILED&flow=etl&limit=50`", (s) => s.list_filtered),
      row("`GET /runs?updated_after=0&limit=50` (delta page)", (s) => s.list_delta),
      row("`GET /runs/{id}`", (s) => s.get),
      row("`GET /metrics`", (s) => s.metrics),
      `| gateway RSS after the calls (MiB) | ${
        sizes.map((s) => _fmt(s.gateway_rss_mb)).join(" | ")
      } |`,
      `| seeding (KV puts/s) | ${sizes.map((s) => s.seed_puts_per_sec).join(" | ")} |`,
      "",
    );
  }
  const cold = r.cold_start;
  if (cold) {
    lines.push(
      `Cold start: a gateway against ${cold.runs} stored runs was ready in ${cold.ready_ms} ms ` +
        `(\`/ready\` ${cold.ready_route_ms ?? "—"} ms, first filtered list ${cold.first_list_ms} ` +
        `ms), ${_fmt(cold.rss_mib)} MiB RSS after (${_fmt(cold.rss_bytes_per_run)} B per run ` +
        `above an empty gateway).`,
      "",
    );
  }
  if (r.auth) {
    lines.push(
      "#### Auth (`GET /runs/{id}`, 32 clients)",
      "",
      `Auth off ${r.auth.off_rps} req/s, auth on ${r.auth.on_rps} req/s (best of ` +
        `${r.auth.rounds.length / 2} alternating rounds each): cost ${r.auth.cost_pct}%.`,
      "",
    );
  }
  if (r.memory) {
    lines.push(
      `Memory (peak RSS during the ${r.memory.setting} throughput run): gateway ` +
        `${_fmt(r.memory.gateway_peak_rss_mb)} MiB, one worker ${
          _fmt(r.memory.worker_peak_rss_mb)
        } MiB.`,
      "",
    );
  }
  if (r.abuse) {
    const row = (name: string, a: AbuseOutcome) =>
      `| ${name} | ${a.rss_mib_before} | ${
        a.rss_mib_after_round.join(" / ")
      } | ${a.ratio_8_vs_1} |`;
    lines.push(
      `#### Memory under abuse (${r.abuse.requests_per_round} bad requests per round, auth on)`,
      "",
      "| gateway | RSS before MiB | RSS after rounds 1…8 MiB | round 8 / round 1 |",
      "|---|---:|---|---:|",
      row(`as shipped (\`${GATEWAY_V8_FLAGS}\`)`, r.abuse),
      ...(r.abuse.optimize_for_size
        ? [row("as shipped + `DENO_V8_FLAGS=--optimize-for-size`", r.abuse.optimize_for_size)]
        : []),
      "",
    );
  }
  for (const [name, message] of Object.entries(r.errors ?? {})) {
    lines.push(`**${name} failed**: ${message.split("\n")[0]}`, "");
  }
  lines.push(
    "#### Goals",
    "",
    "| goal | target | measured | met |",
    "|---|---|---:|---|",
    ...r.goals.map((g) =>
      `| ${g.goal} | ${g.target} | ${_fmt(g.measured)} | ${
        g.met === null ? "not measured" : g.met ? "yes" : "**no**"
      } |`
    ),
    "",
  );
  return lines.join("\n");
}
