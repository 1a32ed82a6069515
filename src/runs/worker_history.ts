/**
 * Recently dead workers (SPEC §15 / issue 14 item 10): the workers bucket forgets a worker
 * `PYOCO_WORKERS_KV_TTL_SEC` (15 s) after its last heartbeat, and NATS says nothing when a TTL
 * removes a key. So the gateway follows the bucket with a KV watch, and when it sees a worker go
 * silent (`DISCONNECTED` by the one liveness rule of `src/contract/workers.ts`) or stop
 * (`STOPPED`), it writes that worker's last record once to the history bucket
 * (`PYOCO_HISTORY_KV_BUCKET`) at `workers.<worker_id>`, with `lost_at`. `GET /workers?scope=all`
 * adds those records — for workers no longer in the TTL bucket — as `state: "LOST"` (or
 * `STOPPED` for a clean stop) for `PYOCO_WORKERS_HISTORY_SEC` after their last heartbeat (0 turns
 * the history off). Because the record is in KV, a restarted gateway (or another one) shows them
 * too. A worker that heartbeats again is live again and its history record is removed.
 *
 * Cost: one KV watch per gateway and at most one history write per worker death, whatever the
 * number of gateways that list.
 *
 * @module
 */

import type { KV, KvWatchEntry } from "@nats-io/kv";
import type { QueuedIterator } from "@nats-io/nats-core";
import { type Config, workerDisconnectedAfterSec } from "../config.ts";
import type { WorkerRecord } from "../contract/wire.ts";
import { nowSec } from "../contract/wire.ts";
import { workerState, type WorkerView } from "../contract/workers.ts";
import type { Logger } from "../log.ts";

/** A history record at `workers.<worker_id>`: the worker's last record and when it was lost. */
export interface LostWorkerRecord extends WorkerRecord {
  /** When the gateway noticed it went silent or stopped (unix seconds). */
  lost_at: number;
}

/** Options of {@linkcode WorkerHistory}. */
export interface WorkerHistoryOptions {
  /** The workers bucket (TTL). */
  workers: KV;
  /** The history bucket. */
  history: KV;
  /** The configuration (liveness threshold, `PYOCO_WORKERS_HISTORY_SEC`). */
  config: Config;
  /** Where watch failures are logged. */
  logger?: Logger;
}

const _PREFIX = "workers.";

/**
 * Follows the workers bucket and keeps the last record of workers that died or stopped.
 *
 * @example
 * ```ts ignore
 * const history = new WorkerHistory({ workers, history: historyKv, config });
 * history.start();
 * const lost = await history.list(); // [{ worker_id, state: "LOST", heartbeat_at, lost_at, … }]
 * ```
 *
 * A NATS-level building block (it takes nats.js handles), left out of the published docs.
 * @ignore
 */
export class WorkerHistory {
  readonly #workers: KV;
  readonly #history: KV;
  readonly #config: Config;
  readonly #logger: Logger | undefined;
  readonly #seen = new Map<string, WorkerRecord>();
  /** worker id → the record (instance, heartbeat, state) already written to history. */
  readonly #written = new Map<string, { mark: string; heartbeatAt: number }>();
  #watch: QueuedIterator<KvWatchEntry> | null = null;
  #timer: ReturnType<typeof setInterval> | undefined;
  #loop: Promise<void> = Promise.resolve();
  #closed = false;

  /**
   * Prepare the history (nothing runs before {@linkcode WorkerHistory.start}).
   *
   * @param options The buckets, configuration and logger.
   */
  constructor(options: WorkerHistoryOptions) {
    this.#workers = options.workers;
    this.#history = options.history;
    this.#config = options.config;
    this.#logger = options.logger;
  }

  /** Whether the history is on (`PYOCO_WORKERS_HISTORY_SEC` > 0). */
  get enabled(): boolean {
    return this.#config.workersHistorySec > 0;
  }

  /** Start the watch and the check (a few times per liveness threshold). No-op when off. */
  start(): void {
    if (!this.enabled || this.#closed) return;
    this.#loop = this.#run();
    const everyMs = Math.min(5000, Math.max(100, workerDisconnectedAfterSec(this.#config) * 250));
    this.#timer = setInterval(() => void this.check().catch(() => {}), everyMs);
  }

  /** Stop the watch and the check. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#watch?.stop();
    await this.#loop;
  }

  /**
   * Write the workers seen going silent or stopping since the last check (called on a timer;
   * public for tests).
   *
   * @returns When the writes are done (failures are logged and retried at the next check).
   */
  async check(): Promise<void> {
    const now = nowSec();
    const liveness = { disconnectedAfterSec: workerDisconnectedAfterSec(this.#config), now };
    const horizon = now - this.#config.workersHistorySec;
    for (const [id, record] of this.#seen) {
      if ((record.heartbeat_at ?? 0) < horizon) {
        this.#seen.delete(id);
        this.#written.delete(id);
        continue;
      }
      const state = workerState(record, liveness);
      if (state !== "DISCONNECTED" && state !== "STOPPED") continue;
      const mark = `${record.instance_id ?? ""}@${record.heartbeat_at}@${state}`;
      if (this.#written.get(id)?.mark === mark) continue;
      try {
        const lost: LostWorkerRecord = { ...record, lost_at: now };
        await this.#history.put(_PREFIX + id, JSON.stringify(lost));
        this.#written.set(id, { mark, heartbeatAt: record.heartbeat_at });
      } catch (err) {
        this.#logger?.warn("Cannot record a lost worker; retrying", { worker_id: id }, err);
      }
    }
  }

  /**
   * Workers in the history whose last heartbeat is within `PYOCO_WORKERS_HISTORY_SEC`, as shown:
   * `state` `LOST` (or `STOPPED` after a clean stop), `lost_at` set. The caller leaves out those
   * still in the workers bucket.
   *
   * @returns The views, sorted by `worker_id` (empty when the history is off).
   * @throws {Error} The nats.js error when KV does not answer.
   */
  async list(): Promise<WorkerView[]> {
    if (!this.enabled) return [];
    const keys: string[] = [];
    for await (const k of await this.#history.keys(`${_PREFIX}>`)) keys.push(k);
    const entries = await Promise.all(keys.map((k) => this.#history.get(k)));
    const horizon = nowSec() - this.#config.workersHistorySec;
    const out: WorkerView[] = [];
    for (const e of entries) {
      if (!e || e.operation !== "PUT" || e.length === 0) continue;
      let record: LostWorkerRecord;
      try {
        record = e.json<LostWorkerRecord>();
      } catch {
        continue;
      }
      if (typeof record?.worker_id !== "string" || !(record.heartbeat_at >= horizon)) continue;
      out.push({ ...record, state: record.state === "STOPPED" ? "STOPPED" : "LOST" });
    }
    return out.sort((a, b) => a.worker_id < b.worker_id ? -1 : 1);
  }

  #apply(entry: KvWatchEntry): void {
    if (entry.operation !== "PUT" || entry.length === 0) {
      this.#seen.delete(entry.key); // deleted on purpose: not a death
      return;
    }
    let record: WorkerRecord;
    try {
      record = entry.json<WorkerRecord>();
    } catch {
      return;
    }
    if (typeof record !== "object" || record === null || typeof record.worker_id !== "string") {
      return;
    }
    const before = this.#written.get(entry.key);
    this.#seen.set(entry.key, record);
    // A re-opened watch delivers the last record again: only a newer heartbeat is a revival.
    if (
      before !== undefined && record.heartbeat_at > before.heartbeatAt && record.state !== "STOPPED"
    ) {
      // Back to life (or restarted under the same id): no longer lost.
      this.#written.delete(entry.key);
      this.#history.purge(_PREFIX + entry.key).catch(() => {});
    }
  }

  async #run(): Promise<void> {
    while (!this.#closed) {
      try {
        const watch = await this.#workers.watch();
        this.#watch = watch;
        if (this.#closed) watch.stop();
        for await (const entry of watch) this.#apply(entry);
      } catch (err) {
        if (!this.#closed) {
          this.#logger?.warn("Workers history watch failed; re-opening it", {}, err);
        }
      } finally {
        this.#watch = null;
      }
      if (this.#closed) break;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}
