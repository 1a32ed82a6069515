/**
 * Reading runs as a caller may see them: one snapshot by id, whole snapshots of indexed runs,
 * and the wait for the run index's first load. Tenant scoping lives here, once: another
 * tenant's run reads exactly like a missing one.
 *
 * @module
 */

import { RUN_ID_PATTERN, type RunSnapshot } from "../contract/wire.ts";
import { natsCall, type RunsBackend } from "./backend.ts";
import { NatsUnavailableError, NotFoundError } from "./errors.ts";
import { expandRunIdPrefix } from "./prefix.ts";
import { findRunKey, snapshotKey } from "./run_keys.ts";
import type { IndexedRun, RunIndex } from "./run_index.ts";

export { RUN_ID_PATTERN };

/** Options of the reads: whose runs the caller may see. */
export interface ReadScope {
  /** Only this tenant's runs (`undefined`: every run, auth is off). */
  tenantId?: string;
}

/**
 * The error of a run that does not exist or that the caller may not see.
 *
 * @param id The run id asked for.
 * @returns A {@linkcode NotFoundError} (ERR-PYOCO-0005).
 */
export function runNotFoundError(id: string): NotFoundError {
  return new NotFoundError(`Run ${JSON.stringify(id)} not found`);
}

/**
 * Read one run's snapshot, by its id or (with the run index) a unique prefix of it (SPEC §15).
 *
 * @param backend The NATS side.
 * @param id The run id.
 * @param scope The caller's tenant.
 * @returns The snapshot, its KV revision and its KV key (`runKey()`).
 * @throws {NotFoundError} When it is missing, its id is impossible or it belongs to another tenant.
 * @throws {AmbiguousRunIdError} 409 ERR-PYOCO-0029 when `id` is no run's id and the prefix of
 *   several.
 * @throws {NatsUnavailableError} When NATS does not answer.
 */
export async function readRunSnapshot(
  backend: _ReadBackend,
  id: string,
  scope: ReadScope = {},
): Promise<{ snapshot: RunSnapshot; revision: number; key: string }> {
  if (!RUN_ID_PATTERN.test(id)) throw runNotFoundError(id);
  const found = await _readVisible(backend, id, scope);
  if (found !== null) return found;
  // SPEC §15: not an exact id of a visible run; maybe a unique prefix of one.
  const full = expandRunIdPrefix(backend.index, id, scope.tenantId);
  if (full === null || full === id) throw runNotFoundError(id);
  return (await _readVisible(backend, full, scope)) ?? _throw(runNotFoundError(id));
}

/**
 * The full id of the run `id` names for this caller: `id` itself when such a run exists, else
 * the one run whose id starts with it (SPEC §15, at least 8 characters).
 *
 * @param backend The NATS side (with the run index for prefixes).
 * @param id An id or a prefix.
 * @param scope The caller's tenant.
 * @returns The full run id.
 * @throws {NotFoundError} When no run the caller may see has that id or prefix.
 * @throws {AmbiguousRunIdError} 409 ERR-PYOCO-0029 when several runs start with it.
 * @throws {NatsUnavailableError} When NATS does not answer.
 */
export async function resolveRunId(
  backend: _ReadBackend,
  id: string,
  scope: ReadScope = {},
): Promise<string> {
  return (await readRunSnapshot(backend, id, scope)).snapshot.run_id;
}

/** What a read by id needs: the bucket, the mode, and the run index (tenants and prefixes). */
type _ReadBackend = Pick<RunsBackend, "runs" | "timeoutMs" | "config"> & {
  index?: Pick<RunIndex, "idsWithPrefix" | "get">;
};

function _throw(err: Error): never {
  throw err;
}

async function _readVisible(
  backend: _ReadBackend,
  id: string,
  scope: ReadScope,
): Promise<{ snapshot: RunSnapshot; revision: number; key: string } | null> {
  const { key, entry } = await natsCall(
    async () => {
      const key = await findRunKey(backend, id, scope);
      return { key, entry: await backend.runs.get(key) };
    },
    `Cannot read run ${id}`,
    backend.timeoutMs,
  );
  if (!entry || entry.operation !== "PUT" || entry.length === 0) return null;
  const snapshot = entry.json<RunSnapshot>();
  if (scope.tenantId !== undefined && snapshot.tenant_id !== scope.tenantId) return null;
  return { snapshot, revision: entry.revision, key };
}

/**
 * Read whole snapshots of indexed runs (for `include=full`), keeping the caller's tenant only.
 *
 * @param backend The NATS side.
 * @param runs The runs to read.
 * @param scope The caller's tenant.
 * @returns Their snapshots, in the same order (missing ones left out).
 * @throws {NatsUnavailableError} When NATS does not answer.
 */
export async function readSnapshots(
  backend: RunsBackend,
  runs: readonly IndexedRun[],
  scope: ReadScope = {},
): Promise<RunSnapshot[]> {
  const entries = await natsCall(
    () =>
      Promise.all(
        runs.map((r) => backend.runs.get(snapshotKey(backend.config, r))),
      ),
    "Cannot read run snapshots",
    backend.timeoutMs,
  );
  const full: RunSnapshot[] = [];
  for (const entry of entries) {
    if (!entry || entry.operation !== "PUT" || entry.length === 0) continue;
    const snapshot = entry.json<RunSnapshot>();
    if (scope.tenantId !== undefined && snapshot.tenant_id !== scope.tenantId) continue;
    full.push(snapshot);
  }
  return full;
}

/**
 * Wait for the run index's initial load.
 *
 * @param backend The NATS side.
 * @throws {NatsUnavailableError} When it is not loaded within the NATS deadline.
 */
export async function requireIndex(backend: RunsBackend): Promise<void> {
  if (!backend.index.ready && !(await backend.index.whenReady(backend.timeoutMs))) {
    throw new NatsUnavailableError("Cannot list runs: the run index is still loading");
  }
}
