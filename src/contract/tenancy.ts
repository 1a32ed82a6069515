/**
 * Tenants and priorities on the wire (SPEC §13): what a tenant id may be, the tenant of runs
 * submitted without an API key, and the three run priorities. Web APIs only.
 *
 * @module
 */

/** A tenant id: `[A-Za-z0-9_-]{1,64}` (never `.`, `*` or `>`, so it is one subject token). */
export const TENANT_PATTERN: RegExp = /^[A-Za-z0-9_-]{1,64}$/;

/** The tenant of runs submitted without an API key (authentication off): `_`. */
export const NO_TENANT = "_";

/** How urgent a run is: a worker with a free slot takes `high` before `normal` before `low`. */
export type Priority = "high" | "normal" | "low";

/** Every priority, most urgent first. */
export const PRIORITIES: readonly Priority[] = ["high", "normal", "low"];

/** The priority of a run that names none. */
export const DEFAULT_PRIORITY: Priority = "normal";

/**
 * Whether a value is a priority name.
 *
 * @param value Anything.
 * @returns `true` for `"high"`, `"normal"` and `"low"`.
 *
 * @example
 * ```ts
 * import { isPriority } from "./tenancy.ts";
 * import assert from "node:assert/strict";
 * assert.equal(isPriority("high"), true);
 * assert.equal(isPriority("urgent"), false);
 * ```
 */
export function isPriority(value: unknown): value is Priority {
  return value === "high" || value === "normal" || value === "low";
}

/**
 * The tenant a run belongs to in subject and consumer names: its `tenant_id`, or
 * {@linkcode NO_TENANT} (`_`) for a run without one.
 *
 * @param tenantId The run's `tenant_id` (`null`/absent without auth).
 * @returns The tenant token.
 *
 * @example
 * ```ts
 * import { tenantOf } from "./tenancy.ts";
 * import assert from "node:assert/strict";
 * assert.equal(tenantOf(null), "_");
 * assert.equal(tenantOf("acme"), "acme");
 * ```
 */
export function tenantOf(tenantId: string | null | undefined): string {
  return tenantId ? tenantId : NO_TENANT;
}
