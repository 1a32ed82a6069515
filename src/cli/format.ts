/**
 * Plain-text formatting for the `pyoco` CLI: aligned tables, relative times, durations, and the
 * one wording of run events (local `pyoco run` progress and events read from the gateway).
 *
 * @module
 */

import type { RunEvent, RunSnapshot } from "../client/mod.ts";
import type { FlowEvent } from "../flow/mod.ts";

/**
 * An aligned table: a header row, then one row per entry, columns padded to the widest cell.
 *
 * @param headers Column titles.
 * @param rows Cells, one array per row.
 * @returns The table, one line per row, ending with a newline.
 */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)).join("  ")
      .trimEnd();
  return [line(headers), ...rows.map(line)].join("\n") + "\n";
}

/**
 * How long ago a unix time (seconds) was: `5s ago`, `3m ago`, `2h ago`, `4d ago`.
 *
 * @param unixSec A time in unix seconds, or `null`.
 * @param nowMs The current time in milliseconds.
 * @returns The relative time, or `-` when unknown.
 */
export function ago(unixSec: number | null | undefined, nowMs: number = Date.now()): string {
  if (typeof unixSec !== "number" || !Number.isFinite(unixSec)) return "-";
  const s = Math.max(0, Math.round(nowMs / 1000 - unixSec));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

/**
 * A duration for people: `850 ms`, `3.2 s`, `4m 05s`.
 *
 * @param ms Milliseconds, or `null`.
 * @returns The duration, or `-` when unknown.
 */
export function duration(ms: number | null | undefined): string {
  if (typeof ms !== "number" || !Number.isFinite(ms)) return "-";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const m = Math.floor(ms / 60_000);
  const s = Math.round((ms % 60_000) / 1000);
  return `${m}m ${String(s).padStart(2, "0")}s`;
}

/**
 * A unix time (seconds) as a local ISO-like timestamp, or `-`.
 *
 * @param unixSec A time in unix seconds, or `null`.
 * @returns `2025-01-31 12:00:05` or `-`.
 */
export function timestamp(unixSec: number | null | undefined): string {
  if (typeof unixSec !== "number" || !Number.isFinite(unixSec)) return "-";
  const d = new Date(unixSec * 1000);
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${
    p(d.getMinutes())
  }:${p(d.getSeconds())}`;
}

/**
 * A JSON value on one line, cut to `max` characters.
 *
 * @param value Any JSON-able value.
 * @param max The longest result.
 * @returns The compact JSON.
 */
export function compactJson(value: unknown, max = 200): string {
  const text = JSON.stringify(value) ?? "null";
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/**
 * An event as the formatters read it: a flow engine event of a local run ({@linkcode FlowEvent})
 * or a stored run event from the gateway ({@linkcode RunEvent}).
 */
export type AnyRunEvent = FlowEvent | RunEvent;

/**
 * What happened in one event, in words, without a time: `fetch: succeeded (attempt 1)`. The one
 * wording of events in every pyoco output (`pyoco run`, `watch --events`, `logs`, `submit --wait`).
 *
 * @example
 * ```ts
 * import { eventText } from "./format.ts";
 * import assert from "node:assert/strict";
 * const e = { type: "task.log", run_id: "r1", task: "a", attempt: 1, message: "hi", ts: 1 } as const;
 * assert.equal(eventText(e), "a: log: hi");
 * ```
 *
 * @param event The event.
 * @param tookMs How long the attempt took, shown after the attempt of `task.succeeded` /
 *   `task.failed` when known.
 * @returns The text, without a trailing newline.
 */
export function eventText(event: AnyRunEvent, tookMs?: number): string {
  const e = event as RunEvent;
  const task = e.task ?? "?";
  const took = tookMs === undefined ? "" : `, ${Math.round(tookMs)} ms`;
  switch (e.type) {
    case "run.started":
      return `run ${e.run_id} started (flow ${e.flow_name})`;
    case "task.started":
      return `${task}: started (attempt ${e.attempt})`;
    case "task.succeeded":
      return `${task}: succeeded (attempt ${e.attempt}${took})`;
    case "task.failed":
      return e.attempt === 0
        ? `${task}: failed without running: ${e.error}`
        : `${task}: failed (attempt ${e.attempt}${took}): ${e.error}`;
    case "task.retrying":
      return `${task}: attempt ${e.attempt} failed: ${e.error}; retrying in ${e.delay_sec} s`;
    case "task.log":
      return `${task}: log: ${e.message}`;
    case "run.completed":
      return `run ${e.run_id} COMPLETED`;
    case "run.failed":
      return `run ${e.run_id} FAILED: ${e.error}`;
    case "run.cancelled":
      return `run ${e.run_id} CANCELLED${e.error ? `: ${e.error}` : ""}`;
    case "events.dropped":
      return `(${e.dropped_logs} log lines of this run were dropped: too many)`;
    default: {
      const { seq: _seq, type, run_id: _run, ts: _ts, ...rest } = e;
      return `${type} ${compactJson(rest)}`;
    }
  }
}

/**
 * One run event as a line for people: local wall-clock time with milliseconds, then
 * {@linkcode eventText}. Used for events read from the gateway (`pyoco logs`, `watch --events`).
 *
 * @param event The event.
 * @returns The line, without a trailing newline.
 */
export function eventLine(event: AnyRunEvent): string {
  const at = typeof event.ts === "number" ? _clock(event.ts) : "--:--:--.---";
  return `${at}  ${eventText(event)}`;
}

/**
 * A formatter of the events of one run as they happen, one line each, with the time since the
 * run's first event and each finished attempt's duration:
 * `[+0.012s] fetch_data: succeeded (attempt 1, 3 ms)`. Used by `pyoco run`.
 *
 * @example Format a few events
 * ```ts
 * import { createEventFormatter } from "./format.ts";
 * import assert from "node:assert/strict";
 * const format = createEventFormatter();
 * format({ type: "run.started", run_id: "r1", flow_name: "hello", ts: 100 });
 * const line = format({ type: "task.started", run_id: "r1", task: "a", attempt: 1, ts: 100.5 });
 * assert.equal(line, "[+0.500s] a: started (attempt 1)");
 * ```
 *
 * @returns A function from event to line (no trailing newline).
 */
export function createEventFormatter(): (event: AnyRunEvent) => string {
  let t0: number | null = null;
  const startedAt = new Map<string, number>();
  return (event) => {
    const ts = typeof event.ts === "number" ? event.ts : (t0 ?? 0);
    t0 ??= ts;
    const e = event as RunEvent;
    let took: number | undefined;
    if (e.type === "task.started" && e.task !== undefined) startedAt.set(e.task, ts);
    if ((e.type === "task.succeeded" || e.type === "task.failed") && e.task !== undefined) {
      const start = startedAt.get(e.task);
      if (start !== undefined && e.attempt !== 0) took = (ts - start) * 1000;
    }
    return `[+${Math.max(0, ts - t0).toFixed(3)}s] ${eventText(event, took)}`;
  };
}

function _clock(unixSec: number): string {
  const d = new Date(unixSec * 1000);
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${
    p(d.getMilliseconds(), 3)
  }`;
}

/**
 * The result of a run in one line (plus its outputs): `Run <id> COMPLETED in 1.2 s`.
 *
 * @param s The terminal snapshot.
 * @returns The text, ending with a newline.
 */
export function resultText(s: RunSnapshot): string {
  const took = typeof s.start_time === "number" && typeof s.end_time === "number"
    ? ` in ${duration((s.end_time - s.start_time) * 1000)}`
    : "";
  let text = `Run ${s.run_id} ${s.status}${took}`;
  if (s.error) text += `: ${s.error}`;
  text += "\n";
  if (s.outputs && Object.keys(s.outputs).length > 0) {
    text += `outputs: ${compactJson(s.outputs, 500)}\n`;
  }
  return text;
}
