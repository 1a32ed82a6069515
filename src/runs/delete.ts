/**
 * Deleting a run and what belongs to it: its snapshot (KV purge, compare-and-set on the revision
 * read, so a run that changed meanwhile is not deleted), its Idempotency-Key claim and its events.
 * Used by `DELETE /runs/{id}` and by the retention sweeper. Only terminal runs are deleted.
 *
 * @module
 */

import { type Config, eventsSubject } from "../config.ts";
import { ErrId } from "../contract/errors.ts";
import { tenantOf } from "../contract/tenancy.ts";
import { isTerminal, type RunSnapshot } from "../contract/wire.ts";
import type { RunsBackend } from "./backend.ts";
import { ConflictError, NatsUnavailableError } from "./errors.ts";
import { readRunSnapshot, type ReadScope } from "./reads.ts";
import { snapshotKey } from "./run_keys.ts";

/** The part of the NATS side a delete needs. */
export type DeleteBackend = Pick<
  RunsBackend,
  "runs" | "idempotency" | "jsm" | "index" | "timeoutMs" | "config"
>;

/** What a delete removed. */
export interface DeletedRun {
  /** The run id. */
  run_id: string;
  /** Its status when it was deleted. */
  status: RunSnapshot["status"];
  /** Whether `true`: it is gone. */
  deleted: true;
}

/**
 * Remove a terminal run read at `revision`: the snapshot (purge, compare-and-set), then — best
 * effort, the run is already gone — its idempotency claim and its events.
 *
 * @param backend The NATS side.
 * @param config The configuration (events stream and subject).
 * @param run The snapshot, the revision it was read at and its key (from the snapshot when absent).
 * @returns Whether the snapshot was purged (`false` when it changed since it was read).
 * @throws {Error} The nats.js error when the purge fails for another reason.
 */
export async function purgeRun(
  backend: DeleteBackend,
  config: Config,
  run: { snapshot: RunSnapshot; revision: number; key?: string },
): Promise<boolean> {
  const id = run.snapshot.run_id;
  const key = run.key ?? snapshotKey(config, run.snapshot);
  try {
    await backend.runs.purge(key, { previousSeq: run.revision });
  } catch (err) {
    const entry = await backend.runs.get(key);
    if (entry === null || entry.operation !== "PUT") return true; // deleted meanwhile: gone
    if (entry.revision !== run.revision) return false; // changed meanwhile
    throw err;
  }
  backend.index.remove(id);
  // Claims are `<tenant or _>.<sha256>` (idempotency.ts): never purge another tenant's.
  const claim = run.snapshot.idempotency_claim;
  const ownClaim = typeof claim === "string" &&
    claim.startsWith(`${tenantOf(run.snapshot.tenant_id)}.`);
  await Promise.allSettled([
    ownClaim ? backend.idempotency.purge(claim) : Promise.resolve(),
    backend.jsm.streams.purge(config.eventsStream, {
      filter: eventsSubject(config, id, { tenant: run.snapshot.tenant_id }),
    }),
  ]);
  return true;
}

/**
 * `DELETE /runs/{id}`: delete a terminal run as the caller may see it.
 *
 * @param backend The NATS side.
 * @param config The configuration.
 * @param options The run id and the caller's tenant.
 * @returns What was deleted.
 * @throws {NotFoundError} When the run does not exist for this caller.
 * @throws {ConflictError} ERR-PYOCO-0025 when it is not terminal (cancel it first), or it changed
 *   while being deleted.
 * @throws {NatsUnavailableError} When NATS does not answer.
 */
export async function deleteRun(
  backend: DeleteBackend,
  config: Config,
  options: { runId: string } & ReadScope,
): Promise<DeletedRun> {
  const run = await readRunSnapshot(backend, options.runId, options);
  const { status } = run.snapshot;
  if (!isTerminal(status)) {
    throw new ConflictError(
      `Run ${JSON.stringify(options.runId)} is ${status}: only a finished run (COMPLETED, ` +
        "FAILED, CANCELLED) can be deleted; cancel it first",
      ErrId.runNotTerminal,
    );
  }
  let purged: boolean;
  try {
    purged = await purgeRun(backend, config, run);
  } catch (err) {
    throw new NatsUnavailableError(`Cannot delete run ${options.runId}`, { cause: err });
  }
  if (!purged) {
    throw new ConflictError(
      `Run ${JSON.stringify(options.runId)} changed while it was being deleted; try again`,
      ErrId.runNotTerminal,
    );
  }
  return { run_id: run.snapshot.run_id, status, deleted: true };
}
