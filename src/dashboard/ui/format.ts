/**
 * Formatting of times, durations, ids and priorities for the dashboard. Web APIs only.
 *
 * @module
 */

import { DEFAULT_PRIORITY, isPriority, type Priority } from "../../contract/tenancy.ts";

/**
 * The priority a page shows or sends (SPEC §13): `high` or `low`. A `normal` run names none (its
 * snapshot and its submit body carry no `priority`), so `normal`, absent and unknown values give
 * `null`.
 *
 * @param value A `priority` field, a query value or a form value.
 * @returns `"high"`, `"low"` or `null`.
 */
export function namedPriority(value: unknown): Priority | null {
  return isPriority(value) && value !== DEFAULT_PRIORITY ? value : null;
}

/**
 * How long ago a unix time was, short (`4s`, `12m`, `3h`, `2d`).
 *
 * @param ts Unix seconds (`null`: unknown).
 * @param nowMs Current time in milliseconds.
 * @returns The age, or an em dash when unknown.
 */
export function age(ts: number | null | undefined, nowMs: number): string {
  if (typeof ts !== "number" || !Number.isFinite(ts) || ts <= 0) return "—";
  const s = Math.max(0, Math.round(nowMs / 1000 - ts));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

/**
 * A duration in milliseconds, short (`850 ms`, `2.4 s`, `3m 05s`).
 *
 * @param ms Milliseconds (`null`: unknown).
 * @returns The text.
 */
export function duration(ms: number | null | undefined): string {
  if (typeof ms !== "number" || !Number.isFinite(ms)) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const m = Math.floor(ms / 60_000);
  const s = Math.round((ms % 60_000) / 1000);
  return `${m}m ${String(s).padStart(2, "0")}s`;
}

/**
 * A unix time as local date and time.
 *
 * @param ts Unix seconds.
 * @returns `2024-05-01 12:34:56`, or an em dash.
 */
export function clock(ts: number | null | undefined): string {
  if (typeof ts !== "number" || !Number.isFinite(ts) || ts <= 0) return "—";
  const d = new Date(ts * 1000);
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ` +
    `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/**
 * The first characters of an id.
 *
 * @param id The id.
 * @returns At most 8 characters.
 */
export function shortId(id: string | null | undefined): string {
  if (!id) return "—";
  return id.length > 10 ? id.slice(0, 8) : id;
}

/**
 * JSON for display.
 *
 * @param value Any value.
 * @returns Indented JSON.
 */
export function pretty(value: unknown): string {
  if (value === undefined) return "—";
  try {
    return JSON.stringify(value, null, 2) ?? String(value);
  } catch {
    return String(value);
  }
}

/**
 * Quote a string for a POSIX shell.
 *
 * @param text The text.
 * @returns It in single quotes.
 */
export function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}
