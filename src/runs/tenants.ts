/**
 * Per-tenant limits (SPEC §13): how many of a tenant's runs may run at once across all workers,
 * and its weight in the workers' round-robin. One record per tenant in bucket `pyoco_tenants`
 * (`PYOCO_TENANTS_KV_BUCKET`, history 1), key `<tenant_id>` (the tenant `_` holds the limit of
 * runs without an API key):
 * `{tenant_id, max_running (null = PYOCO_TENANT_MAX_RUNNING; 0 = unlimited), weight, updated_at}`.
 *
 * Enforcement: in namespaced mode the limit is the `max_ack_pending` of the tenant's consumers
 * (JetStream then hands out no more than that many unacknowledged jobs of the tenant, whichever
 * worker asks); {@linkcode applyTenantLimit} changes it live on every consumer of the tenant.
 * In shared mode all tenants share one consumer per tag, so a limit is best effort (a worker
 * may skip or delay a tenant's job; nothing stops another worker).
 *
 * @module
 */

import type { JetStreamManager } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { type Config, parseWorkSubject } from "../config.ts";
import { TENANT_PATTERN } from "../contract/tenancy.ts";
import { nowSec } from "../contract/wire.ts";
import { encodeJson } from "../nats/kv.ts";
import { type FieldError, InvalidRequestError } from "./errors.ts";

/** A tenant's limits as stored. */
export interface TenantLimits {
  /** The tenant. */
  tenant_id: string;
  /** Runs at once across all workers; `null` = `PYOCO_TENANT_MAX_RUNNING`, `0` = unlimited. */
  max_running: number | null;
  /** Share of the workers' pulls against other tenants (1..100). @default {1} */
  weight: number;
  /** When it was last set (unix seconds). */
  updated_at: number;
}

/** What `tenant set` may change. */
export interface TenantLimitsInput {
  /** The tenant. */
  tenant: string;
  /** New `max_running` (0 = unlimited); unchanged when absent. */
  maxRunning?: number;
  /** New weight; unchanged when absent. */
  weight?: number;
}

/** The highest limit and weight accepted. */
export const TENANT_LIMITS = { maxRunning: 1_000_000, weight: 100 } as const;

/**
 * Check a `tenant set` input.
 *
 * @param input Tenant, limit and weight.
 * @returns The input.
 * @throws {InvalidRequestError} ERR-PYOCO-0002 naming every bad field.
 *
 * @example
 * ```ts
 * import { validateTenantLimits } from "./tenants.ts";
 * import assert from "node:assert/strict";
 * assert.throws(() => validateTenantLimits({ tenant: "a.b", maxRunning: -1 }));
 * assert.equal(validateTenantLimits({ tenant: "acme", maxRunning: 2 }).maxRunning, 2);
 * ```
 */
export function validateTenantLimits(input: TenantLimitsInput): TenantLimitsInput {
  const errors: FieldError[] = [];
  if (!TENANT_PATTERN.test(input.tenant)) {
    errors.push({
      path: "tenant",
      message: `${JSON.stringify(input.tenant)} is not a tenant id: use 1 to 64 letters, ` +
        "digits, _ or -",
    });
  }
  const m = input.maxRunning;
  if (m !== undefined && !(Number.isInteger(m) && m >= 0 && m <= TENANT_LIMITS.maxRunning)) {
    errors.push({
      path: "max_running",
      message: `must be a whole number from 0 (unlimited) to ${TENANT_LIMITS.maxRunning}`,
    });
  }
  const w = input.weight;
  if (w !== undefined && !(Number.isInteger(w) && w >= 1 && w <= TENANT_LIMITS.weight)) {
    errors.push({ path: "weight", message: `must be a whole number from 1 to 100` });
  }
  if (errors.length > 0) throw new InvalidRequestError(errors);
  return input;
}

/**
 * Read one tenant's limits.
 *
 * @param kv The tenants bucket.
 * @param tenant The tenant.
 * @returns The record, or `null` when none was set.
 * @throws {Error} The nats.js error when the bucket does not answer.
 */
export async function readTenantLimits(kv: KV, tenant: string): Promise<TenantLimits | null> {
  if (!TENANT_PATTERN.test(tenant)) return null;
  const entry = await kv.get(tenant);
  if (entry === null || entry.operation !== "PUT" || entry.length === 0) return null;
  return _normalise(tenant, entry.json<Partial<TenantLimits>>());
}

/**
 * Every tenant with limits set, by id.
 *
 * @param kv The tenants bucket.
 * @returns The records, sorted by tenant.
 * @throws {Error} The nats.js error when the bucket does not answer.
 */
export async function listTenantLimits(kv: KV): Promise<TenantLimits[]> {
  const out: TenantLimits[] = [];
  for await (const key of await kv.keys()) {
    const rec = await readTenantLimits(kv, key);
    if (rec !== null) out.push(rec);
  }
  return out.sort((a, b) => a.tenant_id < b.tenant_id ? -1 : 1);
}

/**
 * Set a tenant's limit and/or weight (a field not given keeps its value).
 *
 * @param kv The tenants bucket.
 * @param input Tenant, limit, weight (checked here).
 * @returns The stored record.
 * @throws {InvalidRequestError} When the input is invalid.
 * @throws {Error} The nats.js error when the bucket does not answer.
 */
export async function setTenantLimits(kv: KV, input: TenantLimitsInput): Promise<TenantLimits> {
  validateTenantLimits(input);
  const old = await readTenantLimits(kv, input.tenant);
  const rec: TenantLimits = {
    tenant_id: input.tenant,
    max_running: input.maxRunning ?? old?.max_running ?? null,
    weight: input.weight ?? old?.weight ?? 1,
    updated_at: nowSec(),
  };
  await kv.put(input.tenant, encodeJson(rec));
  return rec;
}

/**
 * The limit that holds for a tenant: its record's `max_running`, else
 * `PYOCO_TENANT_MAX_RUNNING`; `0` means unlimited.
 *
 * @param config The configuration.
 * @param limits The tenant's record (`null` when none).
 * @returns Runs at once (0 = unlimited).
 *
 * @example
 * ```ts
 * import { effectiveMaxRunning } from "./tenants.ts";
 * import { loadConfig } from "../config.ts";
 * import assert from "node:assert/strict";
 * const config = loadConfig({ env: { PYOCO_TENANT_MAX_RUNNING: "5" }, envFile: false });
 * assert.equal(effectiveMaxRunning(config, null), 5);
 * assert.equal(effectiveMaxRunning(config, { tenant_id: "a", max_running: 0, weight: 1, updated_at: 0 }), 0);
 * ```
 */
export function effectiveMaxRunning(config: Config, limits: TenantLimits | null): number {
  return limits?.max_running ?? config.tenantMaxRunning;
}

/**
 * The `max_ack_pending` of a tenant's consumers: its limit, or `PYOCO_CONSUMER_MAX_ACK_PENDING`
 * when unlimited.
 *
 * @param config The configuration.
 * @param limits The tenant's record (`null` when none).
 * @returns A positive number.
 */
export function tenantMaxAckPending(config: Config, limits: TenantLimits | null): number {
  const n = effectiveMaxRunning(config, limits);
  return n > 0 ? n : config.consumerMaxAckPending;
}

/**
 * Apply a tenant's limit live (namespaced mode): set `max_ack_pending` on every consumer of the
 * work stream whose filter is one of the tenant's work subjects (every tag and priority). A
 * consumer already at that value is left alone. Nothing happens in shared mode.
 *
 * @param jsm A JetStream manager.
 * @param config The configuration.
 * @param options The tenant and its `max_ack_pending` ({@linkcode tenantMaxAckPending}).
 * @returns The names of the consumers changed.
 * @throws {Error} The nats.js error when JetStream does not answer.
 */
export async function applyTenantLimit(
  jsm: JetStreamManager,
  config: Config,
  options: { tenant: string; maxAckPending: number },
): Promise<string[]> {
  if (config.tenantIsolation !== "namespaced") return [];
  const changed: string[] = [];
  for await (const c of jsm.consumers.list(config.workStream)) {
    const filter = c.config.filter_subject;
    if (filter === undefined || parseWorkSubject(config, filter)?.tenant !== options.tenant) {
      continue;
    }
    if (c.config.max_ack_pending === options.maxAckPending) continue;
    await jsm.consumers.update(config.workStream, c.name, {
      max_ack_pending: options.maxAckPending,
    });
    changed.push(c.name);
  }
  return changed;
}

function _normalise(tenant: string, raw: Partial<TenantLimits>): TenantLimits {
  const m = raw.max_running;
  const w = raw.weight;
  return {
    tenant_id: tenant,
    max_running: typeof m === "number" && Number.isInteger(m) && m >= 0 ? m : null,
    weight: typeof w === "number" && Number.isInteger(w) && w >= 1 ? Math.min(w, 100) : 1,
    updated_at: typeof raw.updated_at === "number" ? raw.updated_at : 0,
  };
}
