/**
 * The ratios and the goals of the benchmark (issue 13's Goals, SPEC §10–§11's budget), computed
 * from one report: every ratio is between figures measured in the same run on the same machine.
 *
 * @module
 */

import { round2 } from "./_stats.ts";
import type { BenchReport, Goal } from "./_report.ts";
import type { ThroughputResult } from "./_types.ts";

/** Best-setting runs/s ratios of one run. */
export interface BenchRatios {
  /** e2e over the first design's raw-NATS work ("limit"). */
  e2e_vs_limit: number | null;
  /** e2e over SPEC §10's floor. */
  e2e_vs_floor: number | null;
  /** e2e over BullMQ with persistence off. */
  e2e_vs_peer: number | null;
  /** e2e over BullMQ with AOF (`appendfsync everysec`). */
  e2e_vs_peer_aof: number | null;
  /** `POST /runs/batch` over BullMQ `addBulk`. */
  batch_vs_peer_bulk: number | null;
}

function _ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  return typeof a === "number" && typeof b === "number" && b > 0 ? round2(a / b) : null;
}

/**
 * The ratios of a report's best results.
 *
 * @param r The report (throughput parts filled in).
 * @returns Each ratio, `null` when a side was not measured.
 */
export function benchRatios(r: BenchReport): BenchRatios {
  const e2e = r.e2e?.best.runs_per_sec;
  return {
    e2e_vs_limit: _ratio(e2e, r.limit?.best.runs_per_sec),
    e2e_vs_floor: _ratio(e2e, r.floor?.best.runs_per_sec),
    e2e_vs_peer: _ratio(e2e, r.peer?.best?.runs_per_sec),
    e2e_vs_peer_aof: _ratio(e2e, r.peer_aof?.best?.runs_per_sec),
    batch_vs_peer_bulk: _ratio(r.batch?.runs_per_sec, r.peer_bulk?.best?.runs_per_sec),
  };
}

/**
 * CPU ms per run of a result, summed over the named process groups (all when none are named).
 *
 * @param res A throughput result.
 * @param groups Process groups to count.
 * @returns The sum, or `null` when CPU was not measured.
 */
export function cpuTotal(
  res: ThroughputResult | null | undefined,
  groups?: string[],
): number | null {
  const c = res?.cpu_ms_per_run;
  if (!c) return null;
  const keys = groups ?? Object.keys(c);
  return Math.round(keys.reduce((a, k) => a + (c[k] ?? 0), 0) * 1000) / 1000;
}

/** What the cold-start part writes (read loosely: another part of the harness owns it). */
interface _ColdStart {
  runs?: number;
  ready_ms?: number;
  rss_mib?: number | null;
}

/**
 * The goals of issue 13 (and the still-standing auth goal), measured.
 *
 * @param r The report, ratios filled in.
 * @returns One row per goal; `measured`/`met` are `null` when the part did not run.
 */
export function benchGoals(r: BenchReport): Goal[] {
  const goals: Goal[] = [];
  const add = (goal: string, target: string, measured: number | null, ok: (x: number) => boolean) =>
    goals.push({ goal, target, measured, met: measured === null ? null : ok(measured) });
  const x = r.ratios;
  add("e2e runs/s vs the floor (SPEC §10)", "≥ 0.6×", x.e2e_vs_floor, (v) => v >= 0.6);
  const msgsIn = r.nats_msgs_per_run?.e2e?.in ?? null;
  add("NATS messages into nats-server per e2e run", "≤ 6", msgsIn, (v) => v <= 6);
  const best = r.e2e?.best;
  add(
    "CPU ms per e2e run, gateway + workers + nats",
    "≤ 0.6",
    cpuTotal(best, [
      "gateway",
      "workers",
      "nats",
    ]),
    (v) => v <= 0.6,
  );
  add("CPU ms per e2e run, harness included", "≤ 0.6", cpuTotal(best), (v) => v <= 0.6);
  add("e2e runs/s vs BullMQ with AOF", "≥ 0.5×", x.e2e_vs_peer_aof, (v) => v >= 0.5);
  add("batch submit runs/s vs BullMQ addBulk", "≥ 1.0×", x.batch_vs_peer_bulk, (v) => v >= 1.0);
  const half = r.e2e?.half_rate?.latency_ms.p99 ?? null;
  add("p99 submit→terminal at half the peak rate (ms)", "< 100", half, (v) => v < 100);
  const sizes = r.reads?.sizes ?? [];
  const large = sizes[sizes.length - 1];
  const at = large ? ` at ${large.runs} runs` : "";
  add(`GET /runs?limit=50 p50${at} (ms)`, "< 5", large?.list.p50 ?? null, (v) => v < 5);
  add(
    `GET /runs?status=FAILED&flow=etl&limit=50 p50${at} (ms)`,
    "< 5",
    large?.list_filtered.p50 ?? null,
    (v) => v < 5,
  );
  const cold = (r as unknown as { cold_start?: _ColdStart | null }).cold_start ?? null;
  const runs = typeof cold?.runs === "number" ? cold.runs : null;
  const ready = typeof cold?.ready_ms === "number" ? round2(cold.ready_ms / 1000) : null;
  add(
    `gateway cold start at ${runs ?? "?"} runs, ready (s)`,
    "≤ 15 at 1,000,000",
    ready,
    (v) => v <= 15,
  );
  const rss = typeof cold?.rss_mib === "number" ? cold.rss_mib : null;
  const budget = runs === null ? null : round2((0.5 * runs) / 1024 + 120);
  add(
    `gateway RSS after the cold start (MiB; budget 0.5 KiB × runs + 120 = ${budget ?? "?"})`,
    "≤ budget",
    rss,
    (v) => budget !== null && v <= budget,
  );
  const cost = r.auth?.cost_pct ?? null;
  add("auth on: throughput cost of GET /runs/{id} (%)", "< 10", cost, (v) => v < 10);
  const abuse = r.abuse ?? null;
  add(
    "gateway RSS after 8 rounds of bad input / after round 1 (issue 12)",
    "≤ 1.5×",
    abuse?.ratio_8_vs_1 ?? null,
    (v) => v <= 1.5,
  );
  add(
    "same, with --optimize-for-size added",
    "≤ 1.5×",
    abuse?.optimize_for_size?.ratio_8_vs_1 ?? null,
    (v) => v <= 1.5,
  );
  return goals;
}
