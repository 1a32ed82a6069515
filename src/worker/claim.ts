/**
 * Whether a delivered job should run, decided from its run's snapshot before anything is
 * written: the snapshot the gateway created (assumed from the job on a first delivery, SPEC §10),
 * and the verdict — already terminal, cancelled before it started, running on another live worker
 * (a duplicate, SPEC §11), or free to run.
 *
 * @module
 */

import type { KV } from "@nats-io/kv";
import { type Config, workerDisconnectedAfterSec } from "../config.ts";
import {
  isTerminal,
  type Job,
  nowSec,
  type RunSnapshot,
  type WorkerRecord,
} from "../contract/wire.ts";
import { isWorkerAlive } from "../contract/workers.ts";
import type { Versioned } from "../nats/kv.ts";
import { pendingSnapshotFromJob } from "./snapshot.ts";

/** What a snapshot says about a delivery. */
export type ClaimVerdict = "terminal" | "cancelling" | "held_elsewhere" | "run";

/** What {@linkcode claimVerdict} needs. */
export interface ClaimContext {
  /** The message's delivery count. */
  delivery: number;
  /** The workers bucket. */
  workers: KV;
  /** This worker's id. */
  workerId: string;
  /** The configuration (the liveness threshold). */
  config: Config;
}

/**
 * The `PENDING` snapshot the gateway created at the job's `pending_revision`, built from the job
 * without reading it — on a first delivery only: a redelivery reads, so a run made terminal before
 * a lost ACK is not run again.
 *
 * @param job The job.
 * @param delivery The message's delivery count.
 * @returns The assumed snapshot and revision, or `null` when the snapshot must be read.
 */
export function assumedPending(job: Job, delivery: number): Versioned<RunSnapshot> | null {
  const revision = job.pending_revision;
  if (typeof revision !== "number" || delivery > 1) return null;
  return { value: pendingSnapshotFromJob(job), revision };
}

/**
 * Decide a delivery from its run's snapshot. On a first delivery, a `RUNNING` snapshot of another
 * worker that is alive (by the one liveness rule of `src/contract/workers.ts`) means this message
 * is a second copy of the job and must not run; a dead worker's run is taken over. A redelivery is
 * always taken over: the worker that held this very message stopped answering it (a crashed
 * worker still looks alive for a few seconds, until its heartbeat ages).
 *
 * @param snapshot The snapshot as read (or assumed).
 * @param ctx The workers bucket, this worker's id and the configuration.
 * @returns The verdict.
 */
export async function claimVerdict(
  snapshot: RunSnapshot,
  ctx: ClaimContext,
): Promise<ClaimVerdict> {
  if (isTerminal(snapshot.status)) return "terminal";
  if (snapshot.status === "CANCELLING") return "cancelling";
  const other = snapshot.worker_id;
  if (
    ctx.delivery > 1 || snapshot.status !== "RUNNING" || typeof other !== "string" ||
    other === ctx.workerId
  ) {
    return "run";
  }
  const entry = await ctx.workers.get(other).catch(() => null);
  if (!entry || entry.operation !== "PUT" || entry.length === 0) return "run";
  let record: Partial<WorkerRecord>;
  try {
    record = entry.json<Partial<WorkerRecord>>();
  } catch {
    return "run";
  }
  const alive = isWorkerAlive(record, {
    disconnectedAfterSec: workerDisconnectedAfterSec(ctx.config),
    now: nowSec(),
  });
  return alive ? "held_elsewhere" : "run";
}

/**
 * The check a run's mirror makes when its first write conflicts: is the snapshot another live
 * worker's (then this run yields instead of adopting it)?
 *
 * @param ctx The workers bucket, this worker's id, the configuration and the delivery count.
 * @returns The check.
 */
export function heldElsewhereCheck(ctx: ClaimContext): (snapshot: RunSnapshot) => Promise<boolean> {
  return async (snapshot) => (await claimVerdict(snapshot, ctx)) === "held_elsewhere";
}
