/**
 * The sweeper (SPEC §11): one gateway at a time — whoever holds the `sweeper` lease — deletes
 * finished runs older than `PYOCO_RUNS_RETENTION_SEC` and repairs orphans, every
 * `PYOCO_SWEEP_INTERVAL_SEC`. A holder that dies loses the lease after twice that interval.
 *
 * Retention walks the runs bucket's stream from its oldest message: with history 1 the stream
 * holds each run's latest snapshot in the order they were last written, so every run not
 * written since the cutoff sits at the front, and the walk stops at the first newer one — its
 * cost follows what has expired, not the number of runs. A run is deleted when it is terminal
 * and its `end_time` (else `updated_at`) is older than the cutoff; anything else is left alone.
 *
 * Orphans: a `PENDING` run older than `PYOCO_ORPHAN_AFTER_SEC` whose job is not in the work
 * stream (its gateway died between the KV create and the publish). Whether the job is there is
 * read from the stream itself: the tag's queued messages are read (at most
 * `QUEUE_SCAN_MAX` of them, `work_queue.ts`) for the `Nats-Msg-Id` equal to the run id — only when
 * there is such an old `PENDING` run on the tag at all. A job that is
 * delivered but not yet acknowledged is still in a work-queue stream, so a running job is never
 * taken for an orphan. The job is rebuilt from the snapshot and re-published with the original
 * `Nats-Msg-Id`; a YAML run (whose YAML is never stored) ends `FAILED` with `submission
 * interrupted` instead. Both writes are checked against the snapshot's revision first.
 *
 * @module
 */

import { DeliverPolicy, type JsMsg } from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import { type Config, workSubject } from "../config.ts";
import { PRIORITIES, tenantOf } from "../contract/tenancy.ts";
import { abortableSleep } from "../contract/_util.ts";
import { ErrId } from "../contract/errors.ts";
import { isTerminal, type Job, nowSec, type RunSnapshot } from "../contract/wire.ts";
import type { Logger } from "../log.ts";
import { encodeJson } from "../nats/kv.ts";
import { KvLease } from "../nats/lease.ts";
import type { RunsBackend } from "./backend.ts";
import { purgeRun } from "./delete.ts";
import { snapshotKey, snapshotMatchesKey } from "./run_keys.ts";
import { scanQueued } from "./work_queue.ts";
import { publishJob } from "./submit.ts";

/** At most this many expired runs are deleted in one pass (the next pass goes on). */
export const RETENTION_BATCH_MAX = 10_000;

/** The error of a YAML run whose job was never queued. */
export const SUBMISSION_INTERRUPTED = "submission interrupted";

/** What one pass did. */
export interface SweepReport {
  /** Whether this process held the lease (nothing is done otherwise). */
  held: boolean;
  /** Finished runs deleted for age. */
  expired: number;
  /** Orphans whose job was published again. */
  republished: number;
  /** Orphaned YAML runs marked FAILED. */
  interrupted: number;
}

/** Options of {@linkcode Sweeper}. */
export interface SweeperOptions {
  /** The NATS side. */
  backend: RunsBackend;
  /** The configuration (retention, orphan age, interval, bucket names). */
  config: Config;
  /** Where passes are logged. */
  logger: Logger;
  /** This process's name in the lease. */
  holder: string;
  /** Told what each pass removed or repaired (for `/metrics`). */
  onReport?: (report: SweepReport) => void;
  /** The clock, in unix seconds. @default {nowSec} */
  now?: () => number;
}

/**
 * The run sweeper of one gateway.
 *
 * @example Usage
 * ```ts ignore
 * const sweeper = new Sweeper({ backend, config, logger, holder: "gw-1" });
 * sweeper.start();
 * // …
 * await sweeper.stop();
 * ```
 */
export class Sweeper {
  readonly #o: SweeperOptions;
  readonly #now: () => number;
  readonly #stop = new AbortController();
  #loop: Promise<void> | null = null;
  #lease: KvLease | null = null;

  /**
   * Make the sweeper (nothing runs until {@linkcode Sweeper.start}).
   *
   * @param options Backend, config, logger, holder name, report hook and clock.
   */
  constructor(options: SweeperOptions) {
    this.#o = options;
    this.#now = options.now ?? nowSec;
  }

  /** Run a pass every `PYOCO_SWEEP_INTERVAL_SEC` until {@linkcode Sweeper.stop}. */
  start(): void {
    this.#loop ??= (async () => {
      const signal = this.#stop.signal;
      while (!signal.aborted) {
        try {
          await this.sweepOnce();
        } catch (err) {
          this.#o.logger.warn("Sweep pass failed; the next pass tries again", {}, err);
        }
        await abortableSleep(this.#o.config.sweepIntervalSec * 1000, signal).catch(() => {});
      }
    })();
  }

  /** Stop passing and give the lease up. */
  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#loop;
    await this.#lease?.release();
  }

  /**
   * One pass: take or renew the lease; if held, delete expired runs and repair orphans.
   *
   * @returns What was done.
   * @throws {Error} The nats.js error when the lease cannot be read.
   */
  async sweepOnce(): Promise<SweepReport> {
    const report: SweepReport = { held: false, expired: 0, republished: 0, interrupted: 0 };
    if (!(await (await this.#leaseOf()).tryHold())) return report;
    report.held = true;
    const { config } = this.#o;
    if (config.runsRetentionSec > 0) report.expired = await this.#expire();
    const repaired = await this.#repairOrphans();
    report.republished = repaired.republished;
    report.interrupted = repaired.interrupted;
    if (report.expired + report.republished + report.interrupted > 0) {
      this.#o.logger.info("Sweep pass", { ...report });
      this.#o.onReport?.(report);
    }
    return report;
  }

  async #leaseOf(): Promise<KvLease> {
    if (this.#lease !== null) return this.#lease;
    const { backend, config } = this.#o;
    const kv: KV = await new Kvm(backend.js).open(config.leasesKvBucket);
    this.#lease = new KvLease(kv, {
      key: "sweeper",
      holder: this.#o.holder,
      ttlSec: 2 * config.sweepIntervalSec,
      now: this.#now,
    });
    return this.#lease;
  }

  /** Walk the runs stream from its oldest message; delete finished runs past retention. */
  async #expire(): Promise<number> {
    const { backend, config } = this.#o;
    const cutoff = this.#now() - config.runsRetentionSec;
    const stream = `KV_${config.runsKvBucket}`;
    const { state } = await backend.jsm.streams.info(stream);
    // Nothing was last written before the cutoff: nothing can have expired.
    if (state.messages === 0 || Date.parse(state.first_ts) / 1000 >= cutoff) return 0;
    const consumer = await backend.js.consumers.get(stream, {
      deliver_policy: DeliverPolicy.All,
    });
    let expired = 0;
    let walked = 0;
    while (walked < RETENTION_BATCH_MAX) {
      // Ask for no more than the stream holds, so the last fetch does not wait out its expiry.
      const want = Math.min(256, state.messages - walked);
      if (want <= 0) break;
      const batch = await consumer.fetch({ max_messages: want, expires: 2000 });
      let last: JsMsg | null = null;
      let stop = false;
      for await (const m of batch) {
        last = m;
        walked++;
        if (m.info.timestampNanos / 1e9 >= cutoff) {
          stop = true; // everything from here on was written after the cutoff
          break;
        }
        if (await this.#expireOne(m, cutoff)) expired++;
      }
      if (stop || last === null || last.info.pending === 0) break;
    }
    await consumer.delete().catch(() => {});
    return expired;
  }

  async #expireOne(m: JsMsg, cutoff: number): Promise<boolean> {
    const op = m.headers?.get("KV-Operation");
    if ((op !== undefined && op !== "" && op !== "PUT") || m.data.length === 0) {
      // A delete/purge marker older than the cutoff: every watcher has long seen it. Remove it,
      // or markers would pile up at the stream's front and stall this walk for good.
      const { backend, config } = this.#o;
      await backend.jsm.streams.deleteMessage(
        `KV_${config.runsKvBucket}`,
        m.info.streamSequence,
        false,
      )
        .catch(() => {});
      return false;
    }
    let snapshot: RunSnapshot;
    try {
      snapshot = m.json<RunSnapshot>();
    } catch {
      return false;
    }
    if (typeof snapshot?.run_id !== "string" || !isTerminal(snapshot.status)) return false;
    const endedAt = typeof snapshot.end_time === "number" ? snapshot.end_time : snapshot.updated_at;
    if (!(endedAt < cutoff)) return false;
    // The key is the subject's tail (`$KV.<bucket>.<key>`): `<tenant>.<run_id>` when namespaced.
    const key = m.subject.slice(`$KV.${this.#o.config.runsKvBucket}.`.length);
    // A body that names another run or tenant is not trusted to say what to delete.
    if (!snapshotMatchesKey(this.#o.config, key, snapshot)) return false;
    return await purgeRun(this.#o.backend, this.#o.config, {
      snapshot,
      revision: m.info.streamSequence,
      key,
    });
  }

  async #repairOrphans(): Promise<{ republished: number; interrupted: number }> {
    const { backend, config } = this.#o;
    // Until the run index has loaded, which runs are PENDING is not known cheaply: next pass.
    if (!backend.index.ready) return { republished: 0, interrupted: 0 };
    const before = this.#now() - config.orphanAfterSec;
    const pending = backend.index.list({ statuses: new Set(["PENDING"]), limit: Infinity })
      .filter((r) => r.updated_at < before);
    const out = { republished: 0, interrupted: 0 };
    if (pending.length === 0) return out;
    // One queue per tag (shared) or per tenant and tag (namespaced); its priorities are scanned
    // together, since the index does not keep a run's priority.
    const byQueue = Map.groupBy(
      pending,
      (r) => `${tenantOf(r.tenant_id)}\u0000${r.tag ?? config.defaultTag}`,
    );
    // Inside JetStream's duplicate window a re-publish with the run id as Nats-Msg-Id is dropped
    // if the job was ever published, so young orphans need no scan of the queue (10 s margin).
    const youngAfter = this.#now() - (config.duplicateWindowSec - 10);
    const count = (outcome: string) => {
      if (outcome === "republished") out.republished++;
      if (outcome === "interrupted") out.interrupted++;
    };
    for (const [queue, runs] of byQueue) {
      const old = runs.filter((r) => r.updated_at <= youngAfter);
      for (const run of runs) {
        if (run.updated_at > youngAfter) count(await this.#repair(run, { young: true }));
      }
      if (old.length === 0) continue;
      const [tenant, tag] = queue.split("\u0000") as [string, string];
      const queued = await this.#queuedRunIds({ tenant, tag });
      if (queued === null) continue; // too many queued to be sure: the next pass tries again
      for (const run of old) {
        if (!queued.has(run.run_id)) count(await this.#repair(run, { young: false }));
      }
    }
    return out;
  }

  /**
   * The run ids of the jobs queued (or delivered, unacknowledged) on a queue (every priority), or
   * `null` if too many.
   */
  async #queuedRunIds(queue: { tenant: string; tag: string }): Promise<Set<string> | null> {
    const ids = new Set<string>();
    for (const priority of PRIORITIES) {
      const some = await this.#queuedOn(workSubject(this.#o.config, { ...queue, priority }));
      if (some === null) return null;
      for (const id of some) ids.add(id);
    }
    return ids;
  }

  /** The run ids of the jobs queued on one subject, or `null` if too many to read. */
  async #queuedOn(subject: string): Promise<Set<string> | null> {
    const ids = new Set<string>();
    const read = await scanQueued(this.#o.backend, this.#o.config, {
      subject,
      visit: (m) => {
        const id = m.header?.get("Nats-Msg-Id");
        if (id) ids.add(id);
      },
    });
    return read ? ids : null;
  }

  async #repair(
    run: { run_id: string; tenant_id: string | null },
    at: { young: boolean },
  ): Promise<"republished" | "interrupted" | "none"> {
    const { backend, config, logger } = this.#o;
    const runId = run.run_id;
    const key = snapshotKey(config, run);
    const entry = await backend.runs.get(key);
    if (entry === null || entry.operation !== "PUT" || entry.length === 0) return "none";
    const snapshot = entry.json<RunSnapshot>();
    if (snapshot.status !== "PENDING") return "none";
    const fields = { run_id: runId, flow_name: snapshot.flow_name, tag: snapshot.tag };
    if (typeof snapshot.workflow_yaml_sha256 === "string") {
      // Without a scan its job may well be queued: only an old one, proven missing, fails.
      if (at.young) return "none";
      const now = this.#now();
      const failed: RunSnapshot = {
        ...snapshot,
        status: "FAILED",
        error: SUBMISSION_INTERRUPTED,
        end_time: now,
        updated_at: now,
      };
      try {
        const revision = await backend.runs.update(key, encodeJson(failed), entry.revision);
        backend.index.upsert(failed, revision);
      } catch {
        return "none"; // it changed meanwhile: not an orphan any more
      }
      logger.warn("Orphaned YAML run marked FAILED (its YAML was never queued)", {
        ...fields,
        err_id: ErrId.orphanRepublished,
      });
      return "interrupted";
    }
    const duplicate = await publishJob(
      backend,
      config,
      _jobOf(snapshot, {
        revision: entry.revision,
        defaultTag: config.defaultTag,
      }),
    );
    if (duplicate) return "none"; // the job had been published: JetStream dropped the copy
    logger.warn("Orphaned run: its job was published again", {
      ...fields,
      err_id: ErrId.orphanRepublished,
    });
    return "republished";
  }
}

/** The job of a `PENDING` snapshot, as its gateway would have published it. */
function _jobOf(snapshot: RunSnapshot, at: { revision: number; defaultTag: string }): Job {
  const { revision, defaultTag } = at;
  return {
    run_id: snapshot.run_id,
    flow_name: snapshot.flow_name,
    tag: snapshot.tag ?? defaultTag,
    tags: snapshot.tags ?? [snapshot.tag ?? defaultTag],
    params: snapshot.params ?? {},
    submitted_at: snapshot.submitted_at ?? snapshot.updated_at,
    tenant_id: snapshot.tenant_id ?? null,
    api_key_id: snapshot.api_key_id ?? null,
    workflow_yaml: null,
    workflow_yaml_sha256: null,
    workflow_yaml_bytes: null,
    ...(snapshot.priority != null && snapshot.priority !== "normal"
      ? { priority: snapshot.priority }
      : {}),
    ...(snapshot.replayed_from != null ? { replayed_from: snapshot.replayed_from } : {}),
    ...(snapshot.retry_of != null ? { retry_of: snapshot.retry_of } : {}),
    ...(snapshot.idempotency_claim != null
      ? { idempotency_claim: snapshot.idempotency_claim }
      : {}),
    ...(snapshot.schedule_id != null
      ? { schedule_id: snapshot.schedule_id, scheduled_for: snapshot.scheduled_for }
      : {}),
    pending_revision: revision,
  };
}
