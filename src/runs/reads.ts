/**
 * Reading runs as a caller may see them: one snapshot by id, whole snapshots of indexed runs,
 * and the wait for the run index's first load. Tenant scoping lives here, once: another
 * tenant's run reads exactly like a missing one.
 *
 * @module
 */

import type { RunSnapshot } from "../contract/wire.ts";
import { natsCall, type RunsBackend } from "./backend.ts";
import { NatsUnavailableError, NotFoundError } from "./errors.ts";
import { expandRunIdPrefix } from "./prefix.ts";
import type { IndexedRun, RunIndex } from "./run_index.ts";

/** Run ids: 1–128 letters, digits, `_` or `-` (anything else cannot exist). */
export const RUN_ID_PATTERN: RegExp = /^[A-Za-z0-9_-]{1,128}$/;

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
 * @returns The snapshot and its KV revision.
 * @throws {NotFoundError} When it is missing, its id is impossible or it belongs to another tenant.
 * @throws {AmbiguousRunIdError} 409 ERR-PYOCO-0029 when `id` is no run's id and the prefix of
 *   several.
 * @throws {NatsUnavailableError} When NATS does not answer.
 */
export async function readRunSnapshot(
  backend: Pick<RunsBackend, "runs" | "timeoutMs"> & { index?: Pick<RunIndex, "idsWithPrefix"> },
  id: string,
  scope: ReadScope = {},
): Promise<{ snapshot: RunSnapshot; revision: number }> {
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
  backend: Pick<RunsBackend, "runs" | "timeoutMs"> & { index?: Pick<RunIndex, "idsWithPrefix"> },
  id: string,
  scope: ReadScope = {},
): Promise<string> {
  return (await readRunSnapshot(backend, id, scope)).snapshot.run_id;
}

function _throw(err: Error): never {
  throw err;
}

async function _readVisible(
  backend: Pick<RunsBackend, "runs" | "timeoutMs">,
  id: string,
  scope: ReadScope,
): Promise<{ snapshot: RunSnapshot; revision: number } | null> {
  const entry = await natsCall(
    () => backend.runs.get(id),
    `Cannot read run ${id}`,
    backend.timeoutMs,
  );
  if (!entry || entry.operation !== "PUT" || entry.length === 0) return null;
  const snapshot = entry.json<RunSnapshot>();
  if (scope.tenantId !== undefined && snapshot.tenant_id !== scope.tenantId) return null;
  return { snapshot, revision: entry.revision };
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
    () => Promise.all(runs.map((r) => backend.runs.get(r.run_id))),
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
