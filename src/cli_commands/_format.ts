/**
 * Plain-text formatting for the `pyoco` CLI: aligned tables, relative times, durations.
 *
 * @module
 */

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
