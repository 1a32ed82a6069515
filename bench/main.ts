/**
 * `deno task bench`: the benchmark harness. Starts its own nats-server (file storage), gateway
 * and workers (and a Redis server for the BullMQ peer), measures, prints a markdown table on
 * stdout (progress goes to stderr) and writes the figures as JSON (`bench/results/latest.json`).
 * Ratios are always between figures measured in this one run, on this machine.
 *
 * ```
 * deno task bench [--n 5000] [--clients 32] [--settings 1x8,2x8,2x16] [--seed-runs 100000]
 *                 [--only e2e,floor,floor_r3,limit,peer,peer_aof,batch,reads,cold_start,auth,memory,abuse,fairness]
 *                 [--out bench/results/latest.json]
 * deno task bench --quick     # N=2000, 2x16: e2e, floor, BullMQ off and AOF, in under a minute
 * deno task bench --smoke     # tiny: N=50, 2 clients, one setting, 500 seeded runs
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { measureAbuse } from "./abuse.ts";
import { measureAuth } from "./auth.ts";
import { measureE2e } from "./e2e.ts";
import { measureFloor, measureLimit } from "./limit.ts";
import { measureBatch } from "./batch.ts";
import { measurePeer } from "./peer_bullmq.ts";
import { measureReads } from "./reads.ts";
import { measureColdStart } from "./cold_start.ts";
import { type FairnessOutcome, measureFairness, renderFairness } from "./fairness.ts";
import { round2 } from "./_stats.ts";
import { best, parseSettings, progress, type Setting } from "./_types.ts";
import { type BenchReport, type PeerSection, renderMarkdown } from "./_report.ts";
import { benchGoals, benchRatios } from "./_goals.ts";

const _PARTS = [
  "e2e",
  "floor",
  "floor_r3",
  "limit",
  "peer",
  "peer_aof",
  "batch",
  "reads",
  "cold_start",
  "auth",
  "memory",
  "abuse",
  "fairness",
] as const;
const _QUICK_PARTS = "e2e,floor,peer,peer_aof";
/** Parts a smoke run leaves out unless asked for (a 3-node cluster is slow to start). */
const _SMOKE_PARTS = _PARTS.filter((p) => p !== "floor_r3" && p !== "fairness").join(",");
type _Part = typeof _PARTS[number];

const _USAGE = `Usage: deno task bench [options]

  --n N              runs per throughput measurement (default 5000; quick 2000; smoke 50)
  --clients N        concurrent HTTP clients / producers (default 32; smoke 2)
  --settings LIST    worker settings WxC, comma-separated (default 1x8,2x8,2x16; quick 2x16;
                     smoke 1x2)
  --seed-runs N      runs stored for the read paths (default 100000; smoke 500)
  --cold-runs N      runs stored for the gateway cold start (default 1000000; smoke 2000)
  --only LIST        parts: ${_PARTS.join(",")}
                     (default all; quick ${_QUICK_PARTS}; smoke all but floor_r3, fairness)
  --out PATH         JSON results (default bench/results/latest.json)
  --quick            N=2000 on 2x16: e2e, floor and both BullMQ rows, in under a minute
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

function _peerSection(p: Awaited<ReturnType<typeof measurePeer>>): PeerSection {
  return {
    skipped: p.skipped,
    redis_version: p.redis_version,
    results: p.results,
    best: best(p.results),
  };
}

/** The parsed command line. */
interface _Options {
  n: number;
  clients: number;
  settings: Setting[];
  seedRuns: number;
  coldRuns: number;
  only: Set<_Part>;
  out: string;
  smoke: boolean;
  quick: boolean;
  warmup: number;
}

/** Runs one part, recording its failure instead of stopping the benchmark. */
type _PartRunner = (name: string, fn: () => Promise<void>) => Promise<void>;

function _parseOptions(args: string[]): _Options | null {
  const { values } = parseArgs({
    args,
    options: {
      n: { type: "string" },
      clients: { type: "string" },
      settings: { type: "string" },
      "seed-runs": { type: "string" },
      "cold-runs": { type: "string" },
      only: { type: "string" },
      out: { type: "string" },
      smoke: { type: "boolean", default: false },
      quick: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) return null;
  const smoke = values.smoke ?? false;
  const quick = !smoke && (values.quick ?? false);
  const int = (text: string | undefined, def: number, name: string) => {
    const v = text === undefined ? def : Number(text);
    if (!Number.isInteger(v) || v < 1) {
      throw new Error(`Invalid --${name} ${text}: expected a positive integer`);
    }
    return v;
  };
  const n = int(values.n, smoke ? 50 : quick ? 2000 : 5000, "n");
  const only = new Set<_Part>(
    (values.only ?? (quick ? _QUICK_PARTS : smoke ? _SMOKE_PARTS : _PARTS.join(","))).split(",")
      .map((s) => s.trim())
      .filter(Boolean).map((s) => {
        if (!(_PARTS as readonly string[]).includes(s)) {
          throw new Error(`Invalid --only part "${s}": expected one of ${_PARTS.join(", ")}`);
        }
        return s as _Part;
      }),
  );
  return {
    n,
    clients: int(values.clients, smoke ? 2 : 32, "clients"),
    settings: parseSettings(values.settings ?? (smoke ? "1x2" : quick ? "2x16" : "1x8,2x8,2x16")),
    seedRuns: int(values["seed-runs"], smoke ? 500 : 100_000, "seed-runs"),
    coldRuns: int(values["cold-runs"], smoke ? 2000 : 1_000_000, "cold-runs"),
    only,
    out: values.out ?? new URL("./results/latest.json", import.meta.url).pathname,
    smoke,
    quick,
    warmup: smoke ? 10 : quick ? 200 : Math.min(500, Math.max(50, Math.round(n / 10))),
  };
}

async function _emptyReport(o: _Options): Promise<BenchReport> {
  return {
    generated_at: new Date().toISOString(),
    machine: await _machine(),
    params: {
      n: o.n,
      clients: o.clients,
      settings: o.settings.map((s) => s.label),
      seed_runs: o.seedRuns,
      smoke: o.smoke,
      quick: o.quick,
      warmup: o.warmup,
    },
    e2e: null,
    floor: null,
    floor_r3: null,
    limit: null,
    peer: null,
    peer_aof: null,
    batch: null,
    peer_bulk: null,
    nats_msgs_per_run: { e2e: null, floor: null },
    ratios: benchRatios({} as BenchReport),
    reads: null,
    cold_start: null,
    auth: null,
    memory: null,
    abuse: null,
    goals: [],
  };
}

/** The throughput rows: e2e, the floor, the limit, BullMQ without and with AOF. */
async function _throughputParts(o: _Options, report: BenchReport, part: _PartRunner) {
  const { n, clients, settings, warmup, only } = o;
  if (only.has("e2e") || only.has("memory")) {
    await part("e2e", async () => {
      progress(`e2e: ${n} runs × ${settings.length} settings, ${clients} clients`);
      const pacedRuns = o.smoke ? 20 : o.quick ? 0 : 2000;
      const e2e = await measureE2e({ n, clients, settings, warmup, pacedRuns });
      report.e2e = e2e;
      report.memory = {
        setting: e2e.best.setting,
        gateway_peak_rss_mb: e2e.best.gateway_peak_rss_mb ?? null,
        worker_peak_rss_mb: e2e.best.worker_peak_rss_mb ?? null,
      };
    });
  }
  if (only.has("floor")) {
    await part("floor", async () => {
      progress(`floor: ${n} runs × ${settings.length} settings, raw nats.js (SPEC §10)`);
      const results = await measureFloor({ n, clients, settings, warmup });
      report.floor = { results, best: best(results)! };
    });
  }
  if (only.has("floor_r3")) {
    // One setting (the best floor setting, else the last): CPU and messages per run of the
    // replicated floor are what matter here; the three nodes share this machine's cores.
    const label = report.floor?.best.setting;
    const setting = settings.find((s) => s.label === label) ?? settings[settings.length - 1]!;
    await part("floor_r3", async () => {
      progress(`floor_r3: ${n} runs on ${setting.label}, 3-node cluster, R3`);
      const results = await measureFloor({ n, clients, settings: [setting], warmup, nodes: 3 });
      report.floor_r3 = { results, best: best(results)! };
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
      report.peer = _peerSection(await measurePeer({ n, clients, settings, warmup }));
    });
  }
  if (only.has("peer_aof")) {
    await part("peer_aof", async () => {
      progress(`peer_aof: ${n} BullMQ jobs × ${settings.length} settings, Redis AOF everysec`);
      const aof = await measurePeer({ n, clients, settings, warmup, aof: true });
      report.peer_aof = { ..._peerSection(aof), aof: true };
    });
  }
}

/**
 * Batch submit beside BullMQ addBulk: on the best e2e setting when known, else the last one; 100
 * runs a request, at most 8 requests at once (800 runs in flight), addBulk likewise.
 */
async function _batchParts(o: _Options, report: BenchReport, part: _PartRunner) {
  if (!o.only.has("batch")) return;
  const { n, warmup, settings } = o;
  const label = report.e2e?.best.setting;
  const setting = settings.find((s) => s.label === label) ?? settings[settings.length - 1]!;
  const clients = Math.min(o.clients, 8);
  await part("batch", async () => {
    progress(`batch: ${n} runs on ${setting.label}, POST /runs/batch ×100, ${clients} clients`);
    report.batch = await measureBatch({ n, clients, setting, warmup, size: 100 });
  });
  await part("peer_bulk", async () => {
    progress(`peer_bulk: ${n} BullMQ jobs on ${setting.label}, addBulk ×100, AOF everysec`);
    const settings = [setting];
    const bulk = await measurePeer({ n, clients, settings, warmup, aof: true, bulk: 100 });
    report.peer_bulk = { ..._peerSection(bulk), aof: true, bulk: 100 };
  });
}

/** The state parts: read paths at scale, auth, memory under abuse. */
async function _stateParts(o: _Options, report: BenchReport, part: _PartRunner) {
  const { smoke, only } = o;
  if (only.has("reads")) {
    await part("reads", async () => {
      const sizes = [Math.max(1, Math.round(o.seedRuns / 10)), o.seedRuns];
      progress(`reads: ${sizes.join(" then ")} runs`);
      report.reads = { sizes: await measureReads({ sizes, requests: smoke ? 20 : 200 }) };
    });
  }
  if (only.has("cold_start")) {
    await part("cold_start", async () => {
      progress(`cold_start: a gateway against ${o.coldRuns} stored runs`);
      report.cold_start = await measureColdStart({ runs: o.coldRuns });
    });
  }
  if (only.has("auth")) {
    await part("auth", async () => {
      progress("auth: GET /runs/{id} with auth off vs on");
      report.auth = await measureAuth({
        requests: smoke ? 200 : 4000,
        clients: smoke ? o.clients : 32,
        runs: smoke ? 100 : 1000,
        rounds: smoke ? 1 : 3,
      });
    });
  }
  if (only.has("abuse")) {
    await part("abuse", async () => {
      const rounds = { rounds: 8, repeat: smoke ? 2 : 10, concurrency: smoke ? o.clients : 32 };
      progress(`abuse: ${rounds.rounds} rounds of bad input, gateway RSS after each`);
      const plain = await measureAbuse(rounds);
      const small = smoke
        ? null
        : await measureAbuse({ ...rounds, v8Flags: "--optimize-for-size" });
      report.abuse = { ...plain, optimize_for_size: small };
    });
  }
}

async function _main(): Promise<number> {
  const o = _parseOptions(Deno.args);
  if (o === null) {
    console.log(_USAGE);
    return 0;
  }
  const report = await _emptyReport(o);
  const started = performance.now();
  const errors: Record<string, string> = {};
  const part: _PartRunner = async (name, fn) => {
    try {
      await fn();
    } catch (err) {
      errors[name] = (err as Error).message;
      progress(`${name} FAILED: ${(err as Error).stack ?? err}`);
    }
  };
  await _throughputParts(o, report, part);
  await _batchParts(o, report, part);
  await _stateParts(o, report, part);
  // SPEC §13 (bench/fairness.ts): B's waits behind A's backlog, throughput namespaced vs shared.
  let fairness: FairnessOutcome | null = null;
  if (o.only.has("fairness")) {
    await part("fairness", async () => {
      fairness = await measureFairness(
        o.quick ? { backlog: 500, late: 10, throughputRuns: 1000 } : {},
      );
    });
  }

  const msgs = (t: { in: number; out: number } | undefined) => t ? { in: t.in, out: t.out } : null;
  report.nats_msgs_per_run = {
    e2e: msgs(report.e2e?.best.nats_msgs_per_run),
    floor: msgs(report.floor?.best.nats_msgs_per_run),
  };
  report.ratios = benchRatios(report);
  report.goals = benchGoals(report);
  if (Object.keys(errors).length > 0) report.errors = errors;
  report.duration_sec = round2((performance.now() - started) / 1000);

  const slash = o.out.lastIndexOf("/");
  if (slash > 0) await Deno.mkdir(o.out.slice(0, slash), { recursive: true });
  await Deno.writeTextFile(o.out, JSON.stringify({ ...report, fairness }, null, 2) + "\n");
  console.log(renderMarkdown(report));
  if (fairness) console.log(renderFairness(fairness).join("\n"));
  progress(`wrote ${o.out} (${report.duration_sec} s)`);
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
