/**
 * `deno task bench`: the benchmark harness. Starts its own nats-server (file storage), gateway
 * and workers (and a Redis server for the BullMQ peer), measures, prints a markdown table on
 * stdout (progress goes to stderr) and writes the figures as JSON (`bench/results/latest.json`).
 * Ratios are always between figures measured in this one run, on this machine.
 *
 * ```
 * deno task bench [--n 5000] [--clients 32] [--settings 1x8,2x8,2x16] [--seed-runs 100000]
 *                 [--only e2e,limit,peer,reads,auth,memory] [--out bench/results/latest.json]
 * deno task bench --smoke     # tiny: N=50, 2 clients, one setting, 500 seeded runs
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { measureAuth } from "./auth.ts";
import { measureE2e } from "./e2e.ts";
import { measureLimit } from "./limit.ts";
import { measurePeer } from "./peer_bullmq.ts";
import { measureReads } from "./reads.ts";
import { round2 } from "./_stats.ts";
import { best, parseSettings, progress } from "./_types.ts";
import { type BenchReport, type Goal, renderMarkdown } from "./_report.ts";

const _PARTS = ["e2e", "limit", "peer", "reads", "auth", "memory"] as const;
type _Part = typeof _PARTS[number];

const _USAGE = `Usage: deno task bench [options]

  --n N              runs per throughput measurement (default 5000; smoke 50)
  --clients N        concurrent HTTP clients / producers (default 32; smoke 2)
  --settings LIST    worker settings WxC, comma-separated (default 1x8,2x8,2x16; smoke 1x2)
  --seed-runs N      runs stored for the read paths (default 100000; smoke 500)
  --only LIST        parts: ${_PARTS.join(",")} (default all)
  --out PATH         JSON results (default bench/results/latest.json)
  --smoke            tiny settings that finish in well under a minute
  -h, --help         show this help`;

async function _machine(): Promise<BenchReport["machine"]> {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  const model = cpuinfo.match(/^model name\s*:\s*(.+)$/m)?.[1] ?? null;
  let nats: string | null = null;
  try {
    const out = await new Deno.Command(
      Deno.env.get("PYOCO_NATS_SERVER_BIN") ?? "nats-server",
      { args: ["--version"], stdout: "piped", stderr: "null" },
    ).output();
    nats = new TextDecoder().decode(out.stdout).trim();
  } catch { /* reported as null */ }
  return {
    nproc: navigator.hardwareConcurrency,
    cpu: model,
    memory_mb: Math.round(Deno.systemMemoryInfo().total / 1024 / 1024),
    os: `${Deno.build.os} ${Deno.osRelease()}`,
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    nats_server: nats,
    loadavg_at_start: Deno.loadavg().map(round2),
  };
}

function _goals(report: BenchReport): Goal[] {
  const goals: Goal[] = [];
  const add = (goal: string, target: string, measured: number | null, met: boolean | null) =>
    goals.push({ goal, target, measured, met });
  add(
    "e2e runs/s vs BullMQ peer",
    "≥ 1.0×",
    report.ratios.e2e_vs_peer,
    report.ratios.e2e_vs_peer === null ? null : report.ratios.e2e_vs_peer >= 1.0,
  );
  add(
    "e2e runs/s vs NATS limit",
    "≥ 0.6×",
    report.ratios.e2e_vs_limit,
    report.ratios.e2e_vs_limit === null ? null : report.ratios.e2e_vs_limit >= 0.6,
  );
  const half = report.e2e?.half_rate?.latency_ms.p99 ?? null;
  add(
    "p99 submit→terminal at half the peak rate (ms)",
    "< 100",
    half,
    half === null ? null : half < 100,
  );
  const sizes = report.reads?.sizes ?? [];
  const small = sizes[0] ?? null;
  const large = sizes[sizes.length - 1] ?? null;
  for (const key of ["list", "metrics"] as const) {
    const name = key === "list" ? "GET /runs?limit=50" : "GET /metrics";
    const p50 = large?.[key].p50 ?? null;
    add(
      `${name} p50 at ${large?.runs ?? "?"} runs (ms)`,
      "< 50",
      p50,
      p50 === null ? null : p50 < 50,
    );
    const growth = small && large && small !== large
      ? round2(large[key].p50 / small[key].p50)
      : null;
    add(
      `${name} p50 growth ${small?.runs ?? "?"} → ${large?.runs ?? "?"} runs`,
      "flat (< 2×)",
      growth,
      growth === null ? null : growth < 2,
    );
  }
  const cost = report.auth?.cost_pct ?? null;
  add(
    "auth on: throughput cost of GET /runs/{id} (%)",
    "< 10",
    cost,
    cost === null ? null : cost < 10,
  );
  return goals;
}

async function _main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      n: { type: "string" },
      clients: { type: "string" },
      settings: { type: "string" },
      "seed-runs": { type: "string" },
      only: { type: "string" },
      out: { type: "string" },
      smoke: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    console.log(_USAGE);
    return 0;
  }
  const smoke = values.smoke ?? false;
  const int = (text: string | undefined, def: number, name: string) => {
    const v = text === undefined ? def : Number(text);
    if (!Number.isInteger(v) || v < 1) {
      throw new Error(`Invalid --${name} ${text}: expected a positive integer`);
    }
    return v;
  };
  const n = int(values.n, smoke ? 50 : 5000, "n");
  const clients = int(values.clients, smoke ? 2 : 32, "clients");
  const settings = parseSettings(values.settings ?? (smoke ? "1x2" : "1x8,2x8,2x16"));
  const seedRuns = int(values["seed-runs"], smoke ? 500 : 100_000, "seed-runs");
  const only = new Set<_Part>(
    (values.only ?? _PARTS.join(",")).split(",").map((s) => s.trim()).filter(Boolean).map((s) => {
      if (!(_PARTS as readonly string[]).includes(s)) {
        throw new Error(`Invalid --only part "${s}": expected one of ${_PARTS.join(", ")}`);
      }
      return s as _Part;
    }),
  );
  const out = values.out ?? new URL("./results/latest.json", import.meta.url).pathname;
  const warmup = smoke ? 10 : Math.min(500, Math.max(50, Math.round(n / 10)));

  const report: BenchReport = {
    generated_at: new Date().toISOString(),
    machine: await _machine(),
    params: {
      n,
      clients,
      settings: settings.map((s) => s.label),
      seed_runs: seedRuns,
      smoke,
      warmup,
    },
    e2e: null,
    limit: null,
    peer: null,
    ratios: { e2e_vs_limit: null, e2e_vs_peer: null },
    reads: null,
    auth: null,
    memory: null,
    goals: [],
  };
  const started = performance.now();

  const errors: Record<string, string> = {};
  const part = async (name: string, fn: () => Promise<void>) => {
    try {
      await fn();
    } catch (err) {
      errors[name] = (err as Error).message;
      progress(`${name} FAILED: ${(err as Error).stack ?? err}`);
    }
  };

  if (only.has("e2e") || only.has("memory")) {
    await part("e2e", async () => {
      progress(`e2e: ${n} runs × ${settings.length} settings, ${clients} clients`);
      const e2e = await measureE2e({ n, clients, settings, warmup, pacedRuns: smoke ? 20 : 2000 });
      report.e2e = e2e;
      report.memory = {
        setting: e2e.best.setting,
        gateway_peak_rss_mb: e2e.best.gateway_peak_rss_mb ?? null,
        worker_peak_rss_mb: e2e.best.worker_peak_rss_mb ?? null,
      };
    });
  }
  if (only.has("limit")) {
    await part("limit", async () => {
      progress(`limit: ${n} jobs × ${settings.length} settings, raw nats.js`);
      const results = await measureLimit({ n, clients, settings, warmup });
      report.limit = { results, best: best(results)! };
    });
  }
  if (only.has("peer")) {
    await part("peer", async () => {
      progress(`peer: ${n} BullMQ jobs × ${settings.length} settings`);
      const peer = await measurePeer({ n, clients, settings, warmup });
      report.peer = {
        skipped: peer.skipped,
        redis_version: peer.redis_version,
        results: peer.results,
        best: best(peer.results),
      };
    });
  }
  if (only.has("reads")) {
    await part("reads", async () => {
      const sizes = [Math.max(1, Math.round(seedRuns / 10)), seedRuns];
      progress(`reads: ${sizes.join(" then ")} runs`);
      report.reads = { sizes: await measureReads({ sizes, requests: smoke ? 20 : 200 }) };
    });
  }
  if (only.has("auth")) {
    await part("auth", async () => {
      progress("auth: GET /runs/{id} with auth off vs on");
      report.auth = await measureAuth({
        requests: smoke ? 200 : 4000,
        clients: smoke ? clients : 32,
        runs: smoke ? 100 : 1000,
        rounds: smoke ? 1 : 3,
      });
    });
  }

  const e2eBest = report.e2e?.best.runs_per_sec ?? null;
  const limitBest = report.limit?.best.runs_per_sec ?? null;
  const peerBest = report.peer?.best?.runs_per_sec ?? null;
  report.ratios = {
    e2e_vs_limit: e2eBest !== null && limitBest ? round2(e2eBest / limitBest) : null,
    e2e_vs_peer: e2eBest !== null && peerBest ? round2(e2eBest / peerBest) : null,
  };
  report.goals = _goals(report);
  if (Object.keys(errors).length > 0) report.errors = errors;
  report.duration_sec = round2((performance.now() - started) / 1000);

  const slash = out.lastIndexOf("/");
  if (slash > 0) await Deno.mkdir(out.slice(0, slash), { recursive: true });
  await Deno.writeTextFile(out, JSON.stringify(report, null, 2) + "\n");
  console.log(renderMarkdown(report));
  progress(`wrote ${out} (${report.duration_sec} s)`);
  if (report.errors) {
    console.error(`Benchmark parts failed: ${Object.keys(report.errors).join(", ")}`);
    return 1;
  }
  return 0;
}

if (import.meta.main) {
  try {
    Deno.exit(await _main());
  } catch (err) {
    console.error(`Benchmark failed: ${(err as Error).stack ?? err}`);
    Deno.exit(1);
  }
}
