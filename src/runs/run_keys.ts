/**
 * Where a run's snapshot lives in the runs bucket, seen from the gateway and the admin CLI: the
 * one place that turns a run id (and what the caller knows of its tenant) into its KV key. The
 * key rule itself is {@linkcode runKey} (`src/config/subjects.ts`): the run id in shared mode,
 * `<tenant>.<run_id>` in namespaced mode.
 *
 * A run read by id finds its tenant, in this order: the caller's scope (auth on: the API key's
 * tenant — another tenant's run is then simply not at that key), the run index row, the tenant
 * `_`; and when that key holds nothing and the caller has no scope, a key lookup with the filter
 * `*.<run_id>` (a run the index has not seen yet, e.g. written a moment ago by another gateway).
 *
 * @module
 */

import type { KV } from "@nats-io/kv";
import { type Config, type ParsedRunKey, parseRunKey, runKey, runKeyFilter } from "../config.ts";
import { tenantOf } from "../contract/tenancy.ts";
import type { RunSnapshot } from "../contract/wire.ts";

/** What {@linkcode findRunKey} reads: the bucket, the mode and (optionally) the run index. */
export interface RunKeyBackend {
  /** The runs bucket. */
  runs: KV;
  /** The configuration (tenant mode). */
  config: Config;
  /** The run index (its rows carry `tenant_id`). */
  index?: { get(runId: string): { tenant_id: string | null } | undefined };
}

/** Options of {@linkcode findRunKey}. */
export interface FindRunKeyOptions {
  /** The caller's tenant (auth on); `undefined` when the caller may see every run. */
  tenantId?: string;
}

/**
 * The key of a snapshot already read (its `run_id` and `tenant_id`).
 *
 * @param config The configuration (mode).
 * @param snapshot The snapshot.
 * @returns Its key in the runs bucket.
 */
export function snapshotKey(
  config: Config,
  snapshot: Pick<RunSnapshot, "run_id" | "tenant_id">,
): string {
  return runKey(config, snapshot.run_id, { tenant: snapshot.tenant_id });
}

/**
 * The key of the run `runId` for this caller (see the module documentation for the order).
 * Nothing is read in shared mode, or when the scope or the run index names the tenant.
 *
 * @param backend The runs bucket, the configuration and the run index.
 * @param runId A run id (not a prefix).
 * @param options The caller's tenant.
 * @returns The key: where the run is, or (when it is nowhere) the key it would have.
 * @throws {Error} The nats.js error when a lookup fails (callers wrap it as NATS trouble).
 */
export async function findRunKey(
  backend: RunKeyBackend,
  runId: string,
  options: FindRunKeyOptions = {},
): Promise<string> {
  const { config } = backend;
  if (options.tenantId !== undefined) return runKey(config, runId, { tenant: options.tenantId });
  const row = backend.index?.get(runId);
  if (row !== undefined) return runKey(config, runId, { tenant: row.tenant_id });
  const fallback = runKey(config, runId);
  if (fallback === runId) return fallback; // shared mode: the key is the id
  const entry = await backend.runs.get(fallback);
  if (entry !== null && entry.operation === "PUT") return fallback;
  const found: string[] = [];
  for await (const key of await backend.runs.keys(runKeyFilter(config, runId))) found.push(key);
  return found.sort()[0] ?? fallback;
}

/**
 * Whether a snapshot read at `key` is the run that key names: its `run_id` is the key's and (in
 * namespaced mode) its `tenant_id` the key's tenant. NATS permissions fence a tenant's workers
 * to their own keys, not to what they write there: a body that claims another run or tenant is
 * not trusted by the run index, the retention walk or anything that deletes by it.
 *
 * @param config The configuration (mode).
 * @param key The runs-bucket key.
 * @param snapshot The snapshot read there.
 * @returns `true` when the key and the body agree.
 */
export function snapshotMatchesKey(
  config: Config,
  key: string,
  snapshot: Partial<Pick<RunSnapshot, "run_id" | "tenant_id">>,
): boolean {
  const parsed = parseRunKey(config, key);
  return parsed !== null && runMatchesKey(parsed, snapshot);
}

/**
 * {@linkcode snapshotMatchesKey} for a key already taken apart (the run index's watch).
 *
 * @param key The key's run id and tenant (`null` in shared mode: not checked).
 * @param run The run's id and tenant as the snapshot (or an index row) names them.
 * @returns `true` when they agree.
 */
export function runMatchesKey(
  key: ParsedRunKey,
  run: Partial<Pick<RunSnapshot, "run_id" | "tenant_id">>,
): boolean {
  return run.run_id === key.runId &&
    (key.tenant === null || tenantOf(run.tenant_id) === key.tenant);
}
