/**
 * Layout of a run's timeline (Gantt) for the run page: one row per task, a bar from the task's
 * `started_at` to its `ended_at` (to "now" while it runs), placed as fractions of the span from
 * the first start to the last end, with tick marks at round intervals. Pure and web-only, so it
 * is unit-tested without a browser.
 *
 * @module
 */

import type { TaskRecord } from "../../flow/types.ts";

/** One row of the timeline. */
export interface GanttRow {
  /** Task name. */
  name: string;
  /** Task state (`PENDING` when unknown). */
  state: string;
  /** Left edge as a fraction of the span (0..1); `null` when the task never started. */
  left: number | null;
  /** Width as a fraction of the span (0..1); `null` when the task never started. */
  width: number | null;
  /** Seconds from the timeline's origin to the start. */
  offsetSec: number | null;
  /** How long it ran (or has been running), in seconds. */
  durationSec: number | null;
  /** Still running: the bar ends at "now". */
  open: boolean;
  /** Its output was reused from the run it retries (SPEC §15): it did not run. */
  reused: boolean;
}

/** One tick of the time axis. */
export interface GanttTick {
  /** Position as a fraction of the span. */
  at: number;
  /** Seconds from the origin. */
  sec: number;
}

/** The laid-out timeline. */
export interface GanttLayout {
  /** Rows in the given order, then the tasks not in it. */
  rows: GanttRow[];
  /** The first start (unix seconds), `null` when no task started. */
  origin: number | null;
  /** Seconds from the first start to the last end (at least a small minimum). */
  spanSec: number;
  /** Axis ticks at round steps. */
  ticks: GanttTick[];
}

/** Options of {@linkcode layoutGantt}. */
export interface GanttOptions {
  /** Task name → state (the snapshot's `tasks`). */
  states?: Record<string, string>;
  /** Row order (task names); tasks not in it follow in start order. */
  order?: readonly string[];
  /** The current time in unix seconds, where the bars of running tasks end. */
  nowSec: number;
}

const _STEPS = [0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200];
const _MIN_SPAN_SEC = 0.05;
const _MAX_TICKS = 6;

/**
 * Lay out the timeline of a run's tasks.
 *
 * @param records Task name → record (`started_at`, `ended_at` in unix seconds).
 * @param options States, row order and the current time.
 * @returns Rows with bar positions, and the axis.
 *
 * @example Two tasks one after the other
 * ```ts
 * import assert from "node:assert/strict";
 * import { layoutGantt } from "./gantt.ts";
 * const rec = (started_at: number, ended_at: number) =>
 *   ({ started_at, ended_at } as Parameters<typeof layoutGantt>[0][string]);
 * const g = layoutGantt({ a: rec(100, 101), b: rec(101, 104) }, { nowSec: 200 });
 * assert.equal(g.spanSec, 4);
 * assert.deepEqual(g.rows.map((r) => [r.left, r.width]), [[0, 0.25], [0.25, 0.75]]);
 * ```
 */
export function layoutGantt(
  records: Record<string, Pick<TaskRecord, "started_at" | "ended_at"> & Partial<TaskRecord>>,
  options: GanttOptions,
): GanttLayout {
  const states = options.states ?? {};
  const names = [...new Set([...(options.order ?? []), ...Object.keys(states)])];
  const started = Object.entries(records)
    .filter(([, r]) => typeof r.started_at === "number")
    .sort((a, b) => a[1].started_at! - b[1].started_at!)
    .map(([n]) => n);
  for (const n of started) if (!names.includes(n)) names.push(n);
  const starts = started.map((n) => records[n]!.started_at!);
  const origin = starts.length > 0 ? Math.min(...starts) : null;
  const endOf = (r: { started_at: number | null; ended_at: number | null }) =>
    r.ended_at ?? Math.max(r.started_at ?? 0, options.nowSec);
  const last = origin === null ? 0 : Math.max(...started.map((n) => endOf(records[n]!)));
  const spanSec = Math.max(_MIN_SPAN_SEC, origin === null ? 0 : last - origin);
  const rows = names.map((name): GanttRow => {
    const r = records[name];
    const state = states[name] ?? r?.state ?? "PENDING";
    const reused = r?.reused === true;
    if (!r || typeof r.started_at !== "number" || origin === null) {
      return {
        name,
        state,
        left: null,
        width: null,
        offsetSec: null,
        durationSec: null,
        open: false,
        reused,
      };
    }
    const end = endOf(r);
    return {
      name,
      state,
      left: (r.started_at - origin) / spanSec,
      width: Math.max(0, end - r.started_at) / spanSec,
      offsetSec: r.started_at - origin,
      durationSec: Math.max(0, end - r.started_at),
      open: r.ended_at == null,
      reused,
    };
  });
  return { rows, origin, spanSec, ticks: ganttTicks(spanSec) };
}

/**
 * Round tick marks for a span: the smallest step from a fixed list that gives at most six ticks.
 *
 * @param spanSec The span in seconds.
 * @returns Ticks from 0 up to the span.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ganttTicks } from "./gantt.ts";
 * assert.deepEqual(ganttTicks(10).map((t) => t.sec), [0, 2, 4, 6, 8, 10]);
 * ```
 */
export function ganttTicks(spanSec: number): GanttTick[] {
  const step = _STEPS.find((s) => spanSec / s <= _MAX_TICKS - 1) ??
    Math.ceil(spanSec / (_MAX_TICKS - 1) / 3600) * 3600;
  const ticks: GanttTick[] = [];
  for (let i = 0; i * step <= spanSec + 1e-9 && i < 100; i++) {
    const sec = Math.round(i * step * 1000) / 1000;
    ticks.push({ at: sec / spanSec, sec });
  }
  return ticks;
}
