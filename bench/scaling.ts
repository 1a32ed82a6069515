/**
 * The arithmetic of `docs/scaling.md`: reads a benchmark result (`bench/results/latest.json` by
 * default) and prints, as markdown, the measured per-run costs (NATS messages, bytes, stored
 * bytes, CPU by process) and what they imply for one node, a 3-node cluster and a super-cluster —
 * so the doc's figures can be recomputed after every benchmark run instead of being retyped.
 *
 * ```
 * deno run --allow-read bench/scaling.ts [bench/results/latest.json]
 * ```
 *
 * The model is deliberately simple (stated in the output): CPU scales linearly with runs; a
 * stream's writes are handled by its leader, so one stream's write rate is bounded by what one
 * core does; the figures were measured on a shared 2-core machine and are per core.
 *
 * @module
 */

import type { BenchReport } from "./_report.ts";
import type { ThroughputResult } from "./_types.ts";

/** Per-run costs of one measured system. */
interface _Costs {
  name: string;
  msgsIn: number;
  msgsOut: number;
  bytesIn: number;
  bytesOut: number;
  stored: Record<string, number>;
  cpu: Record<string, number>;
}

function _costs(name: string, r: ThroughputResult | null | undefined): _Costs | null {
  const t = r?.nats_msgs_per_run;
  if (!r || !t) return null;
  return {
    name,
    msgsIn: t.in,
    msgsOut: t.out,
    bytesIn: t.in_bytes,
    bytesOut: t.out_bytes,
    stored: t.stored_bytes_per_run ?? {},
    cpu: r.cpu_ms_per_run ?? {},
  };
}

const _f = (x: number, digits = 0) =>
  x.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** Round a rate down to two significant figures (estimates, not measurements). */
function _rate(x: number): string {
  if (!Number.isFinite(x) || x <= 0) return "—";
  const p = 10 ** Math.max(0, Math.floor(Math.log10(x)) - 1);
  return _f(Math.floor(x / p) * p);
}

function _costTable(list: _Costs[]): string[] {
  const rows = list.map((c) => {
    const stored = Object.values(c.stored).reduce((a, b) => a + b, 0);
    const cpu = Object.entries(c.cpu).map(([k, v]) => `${k} ${v}`).join(", ");
    return `| ${c.name} | ${c.msgsIn} | ${c.msgsOut} | ${_f(c.bytesIn)} | ${_f(c.bytesOut)} | ${
      _f(stored)
    } | ${cpu} |`;
  });
  return [
    "| per run | msgs in | msgs out | bytes in | bytes out | bytes stored | CPU ms by process |",
    "|---|---:|---:|---:|---:|---:|---|",
    ...rows,
  ];
}

/**
 * The markdown of the scaling arithmetic for one report.
 *
 * @param r The benchmark report.
 * @returns Markdown lines.
 */
export function scalingMarkdown(r: BenchReport): string[] {
  const e2e = _costs("e2e (today's main)", r.e2e?.best);
  const floor = _costs("floor, one server R1", r.floor?.best);
  const r3 = _costs("floor, 3-node cluster R3", r.floor_r3?.best);
  const list = [e2e, floor, r3].filter((c): c is _Costs => c !== null);
  const out: string[] = [
    `Measured ${r.generated_at} (${r.machine.nproc} CPUs, load average at start ${
      r.machine.loadavg_at_start.join(" / ")
    }).`,
    "",
    ..._costTable(list),
    "",
  ];
  if (!e2e || !floor) return out;
  const natsE2e = e2e.cpu.nats ?? NaN;
  const natsFloor = floor.cpu.nats ?? NaN;
  const natsR3 = r3?.cpu.nats ?? NaN;
  const gw = e2e.cpu.gateway ?? NaN;
  const wk = e2e.cpu.workers ?? NaN;
  const perCore = (ms: number) => 1000 / ms;
  const kvBytes = e2e.stored[`KV_pyoco_runs`] ?? NaN;
  out.push(
    "| capacity per core (runs/s, CPU-bound, 100% busy) | today's e2e | at the floor |",
    "|---|---:|---:|",
    `| nats-server, one node R1 | ${_rate(perCore(natsE2e))} | ${_rate(perCore(natsFloor))} |`,
    `| nats-server, 3-node cluster R3 (all three nodes' CPU) | ${
      _rate(perCore(natsE2e * (natsR3 / natsFloor)))
    } | ${_rate(perCore(natsR3))} |`,
    `| gateway (HTTP submit + index) | ${_rate(perCore(gw))} | — |`,
    `| worker (one-task run, engine included) | ${_rate(perCore(wk))} | — |`,
    "",
    `R3 costs ${_f(natsR3 / natsFloor, 1)}× the nats-server CPU of R1 per run at the floor ` +
      `(the e2e R3 row scales today's e2e by that factor). Runs KV bytes stored per run: ` +
      `${_f(kvBytes)} (R1).`,
    "",
    ..._stateTables(r, e2e),
  );
  return out;
}

/** Retained runs (index memory, cold start) and the KV-watch fan-out, from the measured costs. */
function _stateTables(r: BenchReport, e2e: _Costs): string[] {
  const cold = (r as unknown as {
    cold_start?: { runs?: number; ready_ms?: number; rss_bytes_per_run?: number | null } | null;
  }).cold_start;
  const bytesPerRun = cold?.rss_bytes_per_run ?? 512;
  const msPerRun = cold?.ready_ms && cold.runs ? cold.ready_ms / cold.runs : 15_000 / 1_000_000;
  const src = cold?.rss_bytes_per_run
    ? `measured: ${_f(bytesPerRun)} B per run, ready after ${
      _f(msPerRun * 1e6 / 1000, 1)
    } s per million runs`
    : "budget of SPEC §11: 512 B per run, 15 s per million runs";
  const kv = e2e.stored["KV_pyoco_runs"] ?? 900;
  const lines = [
    `Runs kept = rate × retention; every gateway indexes all of them (${src}); the runs bucket ` +
    `stores ${_f(kv)} B per run (R1; ×3 on disk at R3).`,
    "",
    "| sustained rate | retention | runs kept | index per gateway | gateway cold start | runs KV on disk (R1) |",
    "|---:|---:|---:|---:|---:|---:|",
  ];
  for (const rate of [1, 10, 100, 1000]) {
    for (
      const [label, sec] of [["1 day", 86_400], ["7 days", 604_800], [
        "30 days",
        2_592_000,
      ]] as const
    ) {
      const runs = rate * sec;
      lines.push(
        `| ${rate}/s | ${label} | ${_f(runs / 1e6, 1)} M | ${
          _f((runs * bytesPerRun) / 2 ** 30, 1)
        } GiB | ${_f((runs * msPerRun) / 1000)} s | ${_f((runs * kv) / 2 ** 30, 0)} GiB |`,
      );
    }
  }
  // The harness's completion watch is a KV watch like a gateway's: its messages per run.
  const watch = r.e2e?.best.nats_msgs_per_run?.by_client?.harness?.out ?? 2;
  const snap = kv;
  lines.push(
    "",
    `KV-watch fan-out: each gateway receives every runs-KV write (${watch} messages per run, ` +
      `≈ ${_f(watch * snap)} B), all served by the runs bucket's stream.`,
    "",
    "| runs/s | gateways | watch messages/s out of NATS | watch MB/s |",
    "|---:|---:|---:|---:|",
  );
  for (const rate of [1000, 10_000]) {
    for (const g of [2, 10]) {
      lines.push(
        `| ${_f(rate)} | ${g} | ${_f(rate * g * watch)} | ${
          _f((rate * g * watch * snap) / 1e6, 0)
        } |`,
      );
    }
  }
  lines.push("");
  return lines;
}

if (import.meta.main) {
  const path = Deno.args[0] ?? new URL("./results/latest.json", import.meta.url).pathname;
  const report = JSON.parse(await Deno.readTextFile(path)) as BenchReport;
  console.log(scalingMarkdown(report).join("\n"));
}
