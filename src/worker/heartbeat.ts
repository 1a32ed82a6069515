/**
 * The worker's liveness record at `pyoco_workers/<worker_id>` (SPEC §4 "Worker"): written every
 * `PYOCO_WORKER_HEARTBEAT_INTERVAL_SEC` and after state changes (coalesced: at most one write per
 * {@linkcode STATE_WRITE_GAP_MS}, so a busy worker does not pay a KV write per run start and end);
 * the bucket's TTL removes the record of a worker that died. The last write of a clean stop says
 * `STOPPED`.
 *
 * Every write is compare-and-set on the record's revision and keeps `hidden` as stored: the
 * gateway's `PATCH /workers/{id}` sets it with its own compare-and-set update, and a heartbeat
 * never undoes it (the last value seen is kept even when the record expired meanwhile).
 *
 * @module
 */

import type { KV } from "@nats-io/kv";
import { nowSec, type WorkerRecord } from "../contract/wire.ts";
import { createJson, updateJson } from "../nats/kv.ts";
import type { Logger } from "../log.ts";

/** Version reported in worker records. */
export const WORKER_VERSION = "0.1.0";

/** Minimum gap between two writes caused by state changes (runs starting and ending). */
export const STATE_WRITE_GAP_MS = 250;

/**
 * Options of {@linkcode WorkerHeartbeat}.
 *
 * A NATS-level building block (it takes nats.js handles), left out of the published docs.
 * @ignore
 */
export interface WorkerHeartbeatOptions {
  /** The workers bucket. */
  kv: KV;
  /** The worker id (the key). */
  workerId: string;
  /** Tags the worker consumes. */
  tags: string[];
  /** Runs at once. */
  concurrency: number;
  /** Seconds between two writes. */
  intervalSec: number;
  /** Where write failures go. */
  logger: Logger;
}

/** Keeps a worker's liveness record fresh. */
export class WorkerHeartbeat {
  readonly #opts: WorkerHeartbeatOptions;
  readonly #instanceId = crypto.randomUUID();
  readonly #startedAt = nowSec();
  #runIds: string[] = [];
  #state: "IDLE" | "RUNNING" | "STOPPED" = "IDLE";
  /** `hidden` as last read from the stored record (set by the gateway, never by the worker). */
  #hidden = false;
  #timer: ReturnType<typeof setInterval> | null = null;
  #chain: Promise<void> = Promise.resolve();
  /** Revision of our last write: the next write tries it first and reads only on a conflict. */
  #revision: number | null = null;
  #lastWriteAt = 0;
  #scheduled: Promise<void> | null = null;
  /** Runs the coalesced state write now (`stop()` does, so it is not left for later). */
  #releaseScheduled: (() => void) | null = null;
  /** The `STOPPED` record is written: it is the last write (the connection closes next). */
  #final = false;

  /**
   * Prepare the record (nothing is written before {@linkcode WorkerHeartbeat.start}).
   *
   * @param options Bucket, identity and interval.
   */
  constructor(options: WorkerHeartbeatOptions) {
    this.#opts = options;
  }

  /** Random id of this process (tells two processes with the same worker id apart). */
  get instanceId(): string {
    return this.#instanceId;
  }

  /** The record as it would be written now. */
  record(): WorkerRecord {
    return {
      worker_id: this.#opts.workerId,
      heartbeat_at: nowSec(),
      tags: [...this.#opts.tags],
      instance_id: this.#instanceId,
      state: this.#state,
      current_run_id: this.#runIds[0] ?? null,
      current_run_ids: [...this.#runIds],
      concurrency: this.#opts.concurrency,
      version: WORKER_VERSION,
      hidden: this.#hidden,
      started_at: this.#startedAt,
    };
  }

  /**
   * Write the record now and then every interval.
   *
   * @returns When the first write is done.
   */
  async start(): Promise<void> {
    if (this.#timer === null) {
      this.#timer = setInterval(() => void this.beat(), this.#opts.intervalSec * 1000);
    }
    await this.beat();
  }

  /**
   * Record the runs in progress (and so the state) and write the record.
   *
   * @param runIds Ids of the runs executing now.
   * @returns When the write is done.
   */
  setRuns(runIds: string[]): Promise<void> {
    if (this.#state === "STOPPED") return Promise.resolve();
    this.#runIds = [...runIds];
    this.#state = runIds.length > 0 ? "RUNNING" : "IDLE";
    // Coalesce: one write carries every change made before it runs.
    if (this.#scheduled) return this.#scheduled;
    const waitMs = Math.max(0, this.#lastWriteAt + STATE_WRITE_GAP_MS - Date.now());
    this.#scheduled = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, waitMs);
      this.#releaseScheduled = () => {
        clearTimeout(timer);
        resolve();
      };
    }).then(() => {
      this.#scheduled = null;
      this.#releaseScheduled = null;
      return this.beat();
    });
    return this.#scheduled;
  }

  /**
   * Write the record once: read it, keep its `hidden`, and compare-and-set (retried on a
   * conflict). Writes are serialised; failures are logged, never thrown.
   *
   * @returns When the write is done.
   */
  beat(): Promise<void> {
    this.#chain = this.#chain.then(async () => {
      // After the STOPPED record nothing is written: the connection is closing (issue 14 #7).
      if (this.#final) return;
      const stopping = this.#state === "STOPPED";
      try {
        await this.#write();
      } catch (err) {
        if (stopping) {
          // Stopping while NATS goes away too (e.g. Ctrl-C on `deno task dev`): expected, and
          // harmless — the record expires with the bucket's TTL and the gateway sees no beat.
          this.#opts.logger.debug(
            "Cannot write the STOPPED worker record; it expires with its TTL",
            {
              worker_id: this.#opts.workerId,
              error: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
            },
          );
        } else {
          this.#opts.logger.warn("Cannot write worker heartbeat", {
            worker_id: this.#opts.workerId,
          }, err);
        }
      } finally {
        // One try at the STOPPED record; after it nothing is written (the connection closes).
        if (stopping) this.#final = true;
      }
    });
    return this.#chain;
  }

  async #write(): Promise<void> {
    const kv = this.#opts.kv;
    const key = this.#opts.workerId;
    this.#lastWriteAt = Date.now();
    if (this.#revision !== null) {
      // Nobody else wrote since our last write (the usual case): one round trip.
      const revision = await updateJson(kv, key, this.record(), this.#revision);
      if (revision !== null) {
        this.#revision = revision;
        return;
      }
    }
    for (let i = 0; i < 10; i++) {
      const entry = await kv.get(key);
      const exists = entry !== null && entry.operation === "PUT" && entry.length > 0;
      if (exists) {
        let stored: Partial<WorkerRecord> | null = null;
        try {
          stored = entry.json<Partial<WorkerRecord>>();
        } catch { /* not JSON: overwritten below */ }
        if (typeof stored?.hidden === "boolean") this.#hidden = stored.hidden;
      }
      const record = this.record();
      const revision = exists
        ? await updateJson(kv, key, record, entry.revision)
        : await createJson(kv, key, record);
      if (revision !== null) {
        this.#revision = revision;
        return;
      }
    }
    this.#revision = null;
    throw new Error(`Cannot write worker record "${key}": it kept changing (10 conflicts)`);
  }

  /**
   * Stop the timer and write a last record with state `STOPPED`.
   *
   * @returns When the write is done.
   */
  async stop(): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    this.#state = "STOPPED";
    this.#runIds = [];
    const final = this.beat();
    // A coalesced write still waiting would land after the connection closed; released now,
    // it queues behind the STOPPED write above, which carries everything, and is skipped.
    this.#releaseScheduled?.();
    await final;
  }
}
