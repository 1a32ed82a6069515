/**
 * The query of the run lists (`GET /runs`, its delta form, `GET /runs/watch`): `status`, `flow`,
 * `tag`, `limit` and `include`, parsed once for every list route.
 *
 * @module
 */

import { RUN_STATUSES, TAG_PATTERN } from "../contract/wire.ts";
import { type FieldError, HttpError, invalidRequest } from "./errors.ts";

/** Default and maximum of `GET /runs?limit=`. */
export const LIST_LIMIT = { default: 50, max: 200 } as const;

/**
 * The `include` query values (repeatable, comma-separated, case-insensitive).
 *
 * @param url The request URL.
 * @param allowed The accepted values.
 * @returns The values given.
 * @throws {HttpError} 422 ERR-PYOCO-0002 naming the first unknown value.
 */
export function parseIncludes(url: URL, allowed: readonly string[]): Set<string> {
  const values = url.searchParams.getAll("include")
    .flatMap((v) => v.split(","))
    .map((v) => v.trim().toLowerCase())
    .filter((v) => v !== "");
  const bad = values.filter((v) => !allowed.includes(v));
  if (bad.length > 0) {
    throw invalidRequest([{
      path: "include",
      message: `unknown value ${JSON.stringify(bad[0])} (allowed: ${allowed.join(", ")})`,
    }]);
  }
  return new Set(values);
}

/** The list filters of `GET /runs` (and `GET /runs/watch`). */
export interface RunFilters {
  /** Only these statuses (`null`: every status). */
  statuses: Set<string> | null;
  /** Only this flow. */
  flow: string | null;
  /** Only this tag. */
  tag: string | null;
  /** Page size. */
  limit: number;
  /** `include` values (`full`/`all`: whole snapshots). */
  include: Set<string>;
}

/**
 * Parse `status` (repeatable, comma-separated), `flow`, `tag`, `limit` and `include`.
 *
 * @param url The request URL.
 * @param errors Problems are appended here (the caller throws them together).
 * @returns The filters (defaults where a value is bad).
 */
export function parseRunFilters(url: URL, errors: FieldError[]): RunFilters {
  const q = url.searchParams;
  const statuses = q.getAll("status").flatMap((v) => v.split(","))
    .map((v) => v.trim().toUpperCase()).filter((v) => v !== "");
  for (const s of statuses) {
    if (!(RUN_STATUSES as readonly string[]).includes(s)) {
      errors.push({
        path: "status",
        message: `unknown status ${JSON.stringify(s)} (allowed: ${RUN_STATUSES.join(", ")})`,
      });
    }
  }
  const limitText = q.get("limit");
  let limit: number = LIST_LIMIT.default;
  if (limitText !== null) {
    const n = Number(limitText.trim());
    if (!/^\d+$/.test(limitText.trim()) || n < 1 || n > LIST_LIMIT.max) {
      errors.push({ path: "limit", message: `must be an integer from 1 to ${LIST_LIMIT.max}` });
    } else {
      limit = n;
    }
  }
  const tag = q.get("tag") || null;
  if (tag !== null && !TAG_PATTERN.test(tag)) {
    errors.push({ path: "tag", message: "must be 1 to 64 letters, digits, _ or -" });
  }
  const flow = q.get("flow") || null;
  let include = new Set<string>();
  try {
    include = parseIncludes(url, ["full", "all"]);
  } catch (err) {
    if (err instanceof HttpError) errors.push(...err.errors);
    else throw err;
  }
  return {
    statuses: statuses.length > 0 ? new Set(statuses) : null,
    flow,
    tag,
    limit,
    include,
  };
}
