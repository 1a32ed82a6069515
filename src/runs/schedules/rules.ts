/**
 * Slot arithmetic of schedules: which instants a rule makes (cron through the `croner` library,
 * intervals, one-shots), and, given the clock, which due slots run and which are skipped. Pure
 * functions of their arguments (the clock is a parameter), so every rule — time zones, DST,
 * catch-up windows — is testable without waiting.
 *
 * Rules (also in `docs/schedules.md`):
 * - Slots are whole unix seconds. An interval's slots are `anchor + k × interval_seconds`, the
 *   anchor being `start_at`, else the creation time plus one interval (pyoco-server 0.7).
 * - A slot is on time while `now - slot ≤ ON_TIME_GRACE_SEC`; an older one is missed. Missed
 *   slots run only inside `catchup_window_sec` (newest {@linkcode MAX_CATCHUP_SLOTS}, run oldest
 *   first); the others are skipped and counted. A one-shot slot always runs, however late.
 * - Work per pass is bounded: at most {@linkcode MAX_SLOTS_PER_PASS} cron slots are looked at;
 *   the cursor moves past them and the next pass goes on, so counts stay exact.
 *
 * @module
 */

import { Cron } from "croner";
import type { ScheduleRecord, ScheduleRule } from "./types.ts";

/** A slot this late (seconds) still counts as on time. */
export const ON_TIME_GRACE_SEC = 2;

/** At most this many missed slots run in one catch-up (SPEC §14). */
export const MAX_CATCHUP_SLOTS = 10;

/** At most this many cron slots are enumerated in one pass. */
export const MAX_SLOTS_PER_PASS = 10_000;

const _ISO = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/i;

/**
 * Parse a time given as unix seconds (a number or a numeric string) or as ISO 8601 with a
 * time zone offset (`2026-03-08T02:30:00-05:00`, `…Z`).
 *
 * @param value The value.
 * @returns Unix seconds, or an error message naming what is wrong.
 *
 * @example Usage
 * ```ts
 * import { parseTime } from "./rules.ts";
 * import assert from "node:assert/strict";
 * assert.equal(parseTime("2026-01-01T00:00:00Z"), 1767225600);
 * assert.equal(parseTime(1767225600), 1767225600);
 * assert.equal(typeof parseTime("2026-01-01T00:00:00"), "object");
 * ```
 */
export function parseTime(value: unknown): number | { error: string } {
  if (typeof value === "number") {
    if (Number.isFinite(value) && value >= 0 && value < 1e11) return value;
    return { error: "must be unix seconds between 0 and 1e11" };
  }
  if (typeof value !== "string") return { error: "must be unix seconds or an ISO 8601 string" };
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return parseTime(Number(text));
  if (!_ISO.test(text)) {
    return {
      error: "must be unix seconds or ISO 8601 with a time zone offset " +
        "(e.g. 2026-03-08T02:30:00Z or 2026-03-08T02:30:00-05:00)",
    };
  }
  const ms = Date.parse(text.replace(" ", "T"));
  if (!Number.isFinite(ms)) return { error: "is not a valid date and time" };
  return ms / 1000;
}

/**
 * Check a cron expression and time zone: 5 or 6 fields, an IANA zone, at least one future slot.
 *
 * @param cron The expression.
 * @param timezone The IANA time zone.
 * @returns `null`, or an error message.
 */
export function cronError(cron: string, timezone: string): string | null {
  const fields = cron.trim().split(/\s+/);
  if (fields.length !== 5 && fields.length !== 6) {
    return `must have 5 fields (minute hour day month weekday) or 6 (second first), got ${fields.length}`;
  }
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: timezone });
  } catch {
    return `time zone ${JSON.stringify(timezone)} is not an IANA time zone name`;
  }
  try {
    const next = _cron(cron, timezone).nextRun(new Date());
    if (next === null) return "never matches a future time";
  } catch (err) {
    return `is not a valid cron expression: ${(err as Error).message}`;
  }
  return null;
}

const _CRONS = new Map<string, Cron>();

function _cron(cron: string, timezone: string): Cron {
  const key = `${timezone}\u0000${cron}`;
  let c = _CRONS.get(key);
  if (c === undefined) {
    c = new Cron(cron.trim(), { timezone, paused: true });
    if (_CRONS.size > 1000) _CRONS.clear();
    _CRONS.set(key, c);
  }
  return c;
}

/**
 * The first slot of a rule strictly after `after` (within `start_at`/`end_at`).
 *
 * @param rule The rule.
 * @param after Unix seconds.
 * @returns The slot (whole unix seconds), or `null` when the rule makes no more.
 *
 * @example Cron in a time zone
 * ```ts
 * import { nextSlot } from "./rules.ts";
 * import assert from "node:assert/strict";
 * const rule = {
 *   cron: "0 9 * * *", timezone: "Europe/Berlin", interval_seconds: null, run_at: null,
 *   start_at: null, end_at: null,
 * };
 * // 2026-01-01T08:00:00Z is 09:00 in Berlin (UTC+1 in winter).
 * assert.equal(nextSlot(rule, Date.parse("2026-01-01T00:00:00Z") / 1000), 1767254400);
 * ```
 */
export function nextSlot(rule: ScheduleRule, after: number): number | null {
  const from = rule.start_at !== null ? Math.max(after, Math.ceil(rule.start_at) - 1) : after;
  let slot: number | null = null;
  if (rule.run_at !== null) {
    const at = Math.ceil(rule.run_at);
    slot = at > after ? at : null;
  } else if (rule.interval_seconds !== null) {
    const anchor = Math.ceil(rule.start_at ?? 0);
    const step = rule.interval_seconds;
    slot = from < anchor ? anchor : anchor + (Math.floor((from - anchor) / step) + 1) * step;
  } else if (rule.cron !== null) {
    const next = _cron(rule.cron, rule.timezone ?? "UTC").nextRun(
      new Date(Math.floor(from) * 1000),
    );
    slot = next === null ? null : Math.round(next.getTime() / 1000);
  }
  if (slot !== null && rule.end_at !== null && slot > rule.end_at) return null;
  return slot;
}

/** The decision of one pass over a schedule's due slots (see {@linkcode planDue}). */
export interface DuePlan {
  /** Slots to run, oldest first (before the overlap policy). */
  run: number[];
  /** How many due slots are skipped as missed. */
  skipped: number;
  /** The new cursor: the next slot not decided (`null`: none left). */
  next: number | null;
}

/**
 * Which due slots run and which are missed, by the catch-up window (the overlap policy is the
 * dispatcher's, applied on top). Nothing is due when the cursor is in the future.
 *
 * @param rec The schedule (its rule, `next_run_at` cursor, `catchup_window_sec`).
 * @param now Unix seconds.
 * @returns The plan, or `null` when nothing is due.
 *
 * @example Gateways were down for 10 s; a 1-second interval with a 5-second window
 * ```ts
 * import { planDue } from "./rules.ts";
 * import assert from "node:assert/strict";
 * const rec = {
 *   cron: null, timezone: null, interval_seconds: 1, run_at: null, start_at: 1000,
 *   end_at: null, next_run_at: 1001, catchup_window_sec: 5,
 * };
 * const plan = planDue(rec, 1010.5);
 * assert.deepEqual(plan?.run, [1006, 1007, 1008, 1009, 1010]);
 * assert.equal(plan?.skipped, 5);
 * assert.equal(plan?.next, 1011);
 * ```
 */
export function planDue(
  rec: ScheduleRule & Pick<ScheduleRecord, "next_run_at" | "catchup_window_sec">,
  now: number,
): DuePlan | null {
  const cursor = rec.next_run_at;
  if (cursor === null || cursor > now) return null;
  if (rec.run_at !== null) return { run: [cursor], skipped: 0, next: null };
  const window = Math.max(ON_TIME_GRACE_SEC, rec.catchup_window_sec);
  const oldest = now - window;
  if (rec.interval_seconds !== null) return _planInterval(rec, cursor, now, oldest);
  const due: number[] = [];
  let slot: number | null = cursor;
  while (slot !== null && slot <= now && due.length < MAX_SLOTS_PER_PASS) {
    due.push(slot);
    slot = nextSlot(rec, slot);
  }
  const inWindow = due.filter((s) => s >= oldest).slice(-MAX_CATCHUP_SLOTS);
  return { run: inWindow, skipped: due.length - inWindow.length, next: slot };
}

function _planInterval(rec: ScheduleRule, cursor: number, now: number, oldest: number): DuePlan {
  const step = rec.interval_seconds!;
  let last = cursor + Math.floor((now - cursor) / step) * step;
  // The cursor never passes end_at (nextSlot stops there); slots after it are not slots at all.
  if (rec.end_at !== null && last > rec.end_at) {
    last = cursor + Math.floor((rec.end_at - cursor) / step) * step;
  }
  const total = (last - cursor) / step + 1;
  const first = Math.max(
    cursor,
    cursor + Math.ceil((oldest - cursor) / step) * step,
    last - (MAX_CATCHUP_SLOTS - 1) * step,
  );
  const run: number[] = [];
  for (let s = first; s <= last; s += step) run.push(s);
  return { run, skipped: total - run.length, next: nextSlot(rec, last) };
}
