/**
 * Delta listing of `GET /runs` **[beyond]**: with `cursor` and/or `updated_after` the answer is
 * `{items, next_cursor, has_more}` instead of the plain array, for clients that keep a local
 * copy of the runs and only want what changed.
 *
 * Semantics (also in `docs/spec.md`):
 * - Items are run summaries (whole snapshots with `include=full`) in ascending KV-revision order
 *   — the order in which the runs bucket stored their latest writes. Each run appears at the
 *   position of its latest revision only.
 * - `cursor` is opaque: base64url of `{"v":1,"rev":N}` (plus `"ua":T` when the listing started
 *   from `updated_after=T`, so later pages keep that filter). Anything else → 422.
 * - `updated_after=T` (unix seconds) starts at the first run whose `updated_at` is greater than
 *   T and only returns such runs. When both are given, the cursor wins (the `updated_after` it
 *   carries applies, the parameter is ignored).
 * - `next_cursor` is always returned: pass it back to get what follows, or to poll later for
 *   new changes (an empty page returns a cursor that is still valid). `has_more` says whether
 *   more is already known (ask again at once).
 * - Guarantee: following `next_cursor` from a starting point, every run updated after that
 *   point appears exactly once in its current state, even while runs keep changing. A run that
 *   is updated again after it was paged appears again later, at its new position: that is a new
 *   update, not a duplicate.
 * - A page may hold fewer than `limit` items while `has_more` is true: one page looks at no
 *   more than 10 000 index entries (filters that match few runs are paged through), so its cost
 *   never grows with the total number of stored runs.
 * - The filters (`status`, `flow`, `tag`, the caller's tenant) apply to every page.
 *
 * @module
 */

import { decodeBase64Url, encodeBase64Url } from "./_base64url.ts";
import { json, requireBackend, type RouteContext, scopeOf } from "./context.ts";
import { type FieldError, invalidRequest } from "./errors.ts";
import { toSummary } from "../runs/run_index.ts";
import { readSnapshots, requireIndex } from "../runs/reads.ts";
import type { RunFilters } from "./run_filters.ts";

/** A decoded delta cursor. */
export interface DeltaCursor {
  /** Format version (1). */
  v: 1;
  /** Continue after this KV revision. */
  rev: number;
  /** The `updated_after` the listing started from, if any. */
  ua?: number;
}

/** Entries one delta page looks at, at most. */
export const DELTA_MAX_SCAN = 10_000;

/**
 * Encode a cursor.
 *
 * @param cursor The position.
 * @returns The opaque cursor text.
 *
 * @example Round trip
 * ```ts
 * import { decodeCursor, encodeCursor } from "./delta.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(decodeCursor(encodeCursor({ v: 1, rev: 42 })), { v: 1, rev: 42 });
 * ```
 */
export function encodeCursor(cursor: DeltaCursor): string {
  const body: Record<string, number> = { v: 1, rev: cursor.rev };
  if (cursor.ua !== undefined) body.ua = cursor.ua;
  return encodeBase64Url(new TextEncoder().encode(JSON.stringify(body)));
}

/**
 * Decode and strictly validate a cursor.
 *
 * @param text The cursor text from the query.
 * @returns The position, or `null` when the text is not a cursor this gateway issued.
 */
export function decodeCursor(text: string): DeltaCursor | null {
  if (text.length === 0 || text.length > 200 || !/^[A-Za-z0-9_-]+$/.test(text)) return null;
  let value: unknown;
  try {
    const bytes = decodeBase64Url(text);
    if (bytes === null) return null;
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    return null;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return null;
  const v = value as Record<string, unknown>;
  const keys = Object.keys(v);
  if (keys.some((k) => !["v", "rev", "ua"].includes(k))) return null;
  if (v.v !== 1) return null;
  if (typeof v.rev !== "number" || !Number.isSafeInteger(v.rev) || v.rev < 0) return null;
  if (v.ua !== undefined && (typeof v.ua !== "number" || !Number.isFinite(v.ua) || v.ua < 0)) {
    return null;
  }
  return v.ua === undefined ? { v: 1, rev: v.rev } : { v: 1, rev: v.rev, ua: v.ua };
}

/**
 * The delta branch of `GET /runs` (called by `listRuns` when `cursor` or `updated_after` is
 * present).
 *
 * @param ctx The route context.
 * @param filters The list filters already parsed.
 * @param errors Problems found so far (thrown together with the cursor's).
 * @returns `{items, next_cursor, has_more}`.
 * @throws {HttpError} 422 ERR-PYOCO-0002 for a bad cursor, `updated_after` or filter; 503.
 */
export async function listRunsDelta(
  ctx: RouteContext,
  filters: RunFilters,
  errors: FieldError[],
): Promise<Response> {
  const q = ctx.url.searchParams;
  const cursorText = q.get("cursor");
  const updatedText = q.get("updated_after");
  let start: DeltaCursor = { v: 1, rev: 0 };
  if (cursorText !== null) {
    const cursor = decodeCursor(cursorText.trim());
    if (cursor === null) {
      errors.push({ path: "cursor", message: "is not a cursor returned by this API" });
    } else {
      start = cursor;
    }
  } else if (updatedText !== null) {
    const n = Number(updatedText.trim());
    if (updatedText.trim() === "" || !Number.isFinite(n) || n < 0) {
      errors.push({ path: "updated_after", message: "must be unix seconds (a number ≥ 0)" });
    } else {
      start = { v: 1, rev: 0, ua: n };
    }
  }
  if (errors.length > 0) throw invalidRequest(errors);
  const backend = requireBackend(ctx, "Cannot list runs");
  await requireIndex(backend);
  const page = backend.index.listDelta({
    statuses: filters.statuses,
    flow: filters.flow,
    tag: filters.tag,
    tenantId: ctx.principal === null ? undefined : ctx.principal.tenantId,
    afterRevision: start.rev,
    updatedAfter: start.ua ?? null,
    limit: filters.limit,
    maxScan: DELTA_MAX_SCAN,
  });
  const next: DeltaCursor = { v: 1, rev: page.nextRevision };
  if (start.ua !== undefined) next.ua = start.ua;
  const items = filters.include.size === 0
    ? page.runs.map(toSummary)
    : await readSnapshots(backend, page.runs, scopeOf(ctx));
  return json({ items, next_cursor: encodeCursor(next), has_more: page.hasMore });
}
