/**
 * The mirror of a live run (SPEC §4.1): a run's progress written to its snapshot — coalesced,
 * with heartbeats, compacted below `PYOCO_MAX_RUN_SNAPSHOT_BYTES` (`compact.ts`), always
 * compare-and-set on the revision so that a terminal snapshot is never overwritten and a
 * `CANCELLING` written by someone else is never lost — and its terminal write, retried through
 * a short NATS outage.
 *
 * @module
 */

import type { KV, KvEntry } from "@nats-io/kv";
import { ErrId } from "../contract/errors.ts";
import { isTerminal, nowSec, type RunSnapshot } from "../contract/wire.ts";
import type { JsonValue, RunProgress } from "../flow/types.ts";
import type { Logger } from "../log.ts";
import { createJson, getJson, updateBytes, updateJson, type Versioned } from "../nats/kv.ts";
import { isTransientNatsError, withNatsRetry } from "../nats/retry.ts";
import { compactSnapshot } from "./compact.ts";

export type { RunProgress };

/** The terminal part of a run, from the engine result. */
export interface TerminalFields extends RunProgress {
  /** The terminal status. */
  status: "COMPLETED" | "FAILED" | "CANCELLED";
  /** Outputs of the sink tasks. */
  outputs: Record<string, JsonValue> | null;
  /** Why it failed or was cancelled. */
  error: string | null;
  /** Unix seconds. */
  end_time: number;
}

/** What {@linkcode RunMirror.finish} did. */
export type FinishResult =
  | { written: true; snapshot: RunSnapshot; revision: number; truncated: boolean }
  | { written: false; existing: RunSnapshot | null };

/** The terminal snapshot could not be written (ERR-PYOCO-0008); `cause` is the NATS error. */
export class TerminalWriteError extends Error {
  /**
   * Create the error.
   *
   * @param cause The last error of the write.
   */
  constructor(cause: unknown) {
    super(`Cannot write the terminal snapshot: ${(cause as Error)?.message ?? cause}`, { cause });
    this.name = "TerminalWriteError";
  }
}

/** Options of {@linkcode RunMirror.finish}. */
export interface FinishOptions {
  /** How long transient NATS errors are retried, in milliseconds. @default {0} */
  retryForMs?: number;
  /** Checked before each retry: `true` ends the retrying (the worker stops at once). */
  shouldStop?: () => boolean;
}

/**
 * Options of {@linkcode RunMirror}.
 *
 * A NATS-level building block (it takes nats.js handles), left out of the published docs.
 * @ignore
 */
export interface RunMirrorOptions {
  /** The runs bucket. */
  kv: KV;
  /**
   * The snapshot's key in the runs bucket (`runKey()`: `<tenant>.<run_id>` in namespaced mode).
   * @default {the run id}
   */
  key?: string;
  /**
   * The `RUNNING` snapshot and its revision: just written, or — lazy `RUNNING` (SPEC §10) —
   * built but not written yet, with the revision of the `PENDING` snapshot it will replace.
   */
  initial: Versioned<RunSnapshot>;
  /** Minimum gap between two progress writes, in milliseconds. */
  minIntervalMs: number;
  /** `heartbeat_at` is refreshed at least this often, in milliseconds. */
  heartbeatIntervalMs: number;
  /**
   * Lazy `RUNNING`: `initial` is not written yet; write it (with the progress so far) after this
   * many milliseconds unless the run has ended by then. @default {undefined: already written}
   */
  firstWriteAfterMs?: number;
  /** Snapshots above are compacted. */
  maxBytes: number;
  /** Logger with the run's context. */
  logger: Logger;
  /** Called (once) when a re-read shows `CANCELLING`. */
  onCancelRequested?: () => void;
  /** Called (once) when a re-read shows the run terminal (or deleted): stop it. */
  onSuperseded?: (existing: RunSnapshot | null) => void;
  /**
   * Whether a snapshot found by a conflicting first write belongs to another worker that is
   * alive (SPEC §11: a duplicate job never runs twice). Consulted only while this mirror has
   * written nothing yet; `true` makes this run superseded instead of adopting the snapshot.
   */
  heldElsewhere?: (snapshot: RunSnapshot) => Promise<boolean>;
  /**
   * A snapshot the gateway created was there (the job carries `pending_revision`): if the key is
   * gone when a write conflicts, the run was withdrawn or deleted — it is superseded, never
   * created again. @default {false}
   */
  gatewayCreated?: boolean;
}

const _MAX_CONFLICTS = 20;

/**
 * Mirrors one run's progress to its snapshot: at most one write per `minIntervalMs`, always the
 * latest state, never two writes in flight, `heartbeat_at` refreshed every
 * `heartbeatIntervalMs`, every write compare-and-set on the revision. A `CANCELLING` written by the
 * gateway calls `onCancelRequested` (and is kept in every later non-terminal write); a terminal
 * snapshot written by someone else calls `onSuperseded`. Both are seen at once through
 * {@linkcode RunMirror.recheck} (the worker calls it when the gateway's cancel notification
 * arrives) and otherwise at the next compare-and-set conflict, within one heartbeat interval.
 * (A KV watch per run would see them too, but creating a consumer per run cut throughput by 4x.)
 */
export class RunMirror {
  readonly #kv: KV;
  readonly #key: string;
  readonly #opts: RunMirrorOptions;
  readonly #log: Logger;
  /** The snapshot as we last wrote or read it (carries fields others wrote). */
  #base: RunSnapshot;
  #revision: number;
  /** Our own fields, re-applied over whatever a re-read returns. */
  readonly #own: Pick<RunSnapshot, "worker_id" | "start_time" | "attempt">;
  #progress: RunProgress | null = null;
  #dirty = false;
  #stopped = false;
  #writing: Promise<void> | null = null;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #heartbeat: ReturnType<typeof setInterval> | null = null;
  #lastWriteAt = 0;
  #writes = 0;
  #cancelSeen = false;
  #superseded = false;
  #rechecking: Promise<void> | null = null;
  /** Lazy RUNNING: nothing of this run written yet (the snapshot is still the `PENDING` one). */
  #unwritten = false;

  /**
   * Start mirroring (the heartbeat starts now, or at a lazy `RUNNING`'s first write).
   *
   * @param options Bucket, initial snapshot, intervals and callbacks.
   */
  constructor(options: RunMirrorOptions) {
    this.#opts = options;
    this.#kv = options.kv;
    this.#key = options.key ?? options.initial.value.run_id;
    this.#base = options.initial.value;
    this.#revision = options.initial.revision;
    this.#log = options.logger;
    this.#own = {
      worker_id: this.#base.worker_id,
      start_time: this.#base.start_time,
      attempt: this.#base.attempt,
    };
    this.#lastWriteAt = Date.now();
    if (options.firstWriteAfterMs !== undefined) {
      this.#unwritten = true;
      // Not written yet: the first write is due once the lazy window has passed.
      this.#lastWriteAt += options.firstWriteAfterMs - options.minIntervalMs;
      this.#dirty = true;
      this.#schedule();
    }
    if (this.#base.status === "CANCELLING") this.#cancel();
    // Lazy RUNNING: the heartbeat starts with the first write (a run that ends inside the lazy
    // window never needs it, and most runs do: one timer fewer per run).
    if (!this.#unwritten) this.#startHeartbeat();
  }

  #startHeartbeat(): void {
    if (this.#heartbeat !== null || this.#stopped) return;
    this.#heartbeat = setInterval(() => {
      this.#dirty = true;
      this.#schedule();
    }, this.#opts.heartbeatIntervalMs);
  }

  /**
   * Re-read the snapshot now (one KV read, coalesced with a re-read in flight) and react: a
   * `CANCELLING` calls `onCancelRequested`, a foreign terminal snapshot or a deleted key calls
   * `onSuperseded`. Errors are logged; the next write re-reads anyway.
   *
   * @returns When the re-read is done.
   */
  recheck(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    this.#rechecking ??= (async () => {
      try {
        const entry = await this.#kv.get(this.#key);
        if (!this.#stopped) this.#onEntry(entry);
      } catch (err) {
        this.#log.warn("Cannot re-read the run snapshot", { run_id: this.#key }, err);
      } finally {
        this.#rechecking = null;
      }
    })();
    return this.#rechecking;
  }

  /** Progress writes done so far (not counting the terminal one). */
  get writes(): number {
    return this.#writes;
  }

  /** Whether a `CANCELLING` has been seen. */
  get cancelRequested(): boolean {
    return this.#cancelSeen;
  }

  /** Whether the snapshot turned terminal under us (someone else finished the run). */
  get superseded(): boolean {
    return this.#superseded;
  }

  /**
   * Record the latest progress; it is written soon (coalesced).
   *
   * @param progress Task states and records.
   */
  progress(progress: RunProgress): void {
    if (this.#stopped) return;
    this.#progress = progress;
    this.#dirty = true;
    this.#schedule();
  }

  /**
   * Stop mirroring, wait for a write in flight, and write the terminal snapshot (compacted)
   * with compare-and-set. A snapshot that turned terminal meanwhile is not overwritten. A
   * transient NATS error (a cluster electing a leader, a restart) is retried with backoff
   * (0.1 s doubling to 2 s) for up to `retryForMs`, so that a computed result is not thrown
   * away; each retry is logged with ERR-PYOCO-0008.
   *
   * @param terminal The terminal status, tasks, records, outputs and error.
   * @param options The retry window, and what ends it early.
   * @returns What was written, or the existing terminal snapshot.
   * @throws {TerminalWriteError} On a NATS error that is not transient or outlasts the window
   *   (the caller NAKs, ERR-PYOCO-0008).
   */
  async finish(terminal: TerminalFields, options: FinishOptions = {}): Promise<FinishResult> {
    this.stop();
    await this.#writing;
    try {
      return await withNatsRetry(() => this.#finishOnce(terminal), {
        windowSec: (options.retryForMs ?? 0) / 1000,
        firstDelayMs: 100,
        maxDelayMs: 2000,
        retryable: (err) => isTransientNatsError(err) && !(options.shouldStop?.() ?? false),
        onRetry: (err, attempt) =>
          this.#log.warn("Cannot write the terminal snapshot yet; retrying", {
            run_id: this.#key,
            err_id: ErrId.terminalWriteFailed,
            attempt,
          }, err),
      });
    } catch (err) {
      throw new TerminalWriteError(err);
    }
  }

  async #finishOnce(terminal: TerminalFields): Promise<FinishResult> {
    for (let i = 0; i < _MAX_CONFLICTS; i++) {
      const now = nowSec();
      const { snapshot, truncated, originalBytes, bytes, encoded } = compactSnapshot({
        ...this.#base,
        ...this.#own,
        status: terminal.status,
        tasks: terminal.tasks,
        task_records: terminal.task_records,
        task_records_truncated: false,
        outputs: terminal.outputs,
        error: terminal.error,
        end_time: terminal.end_time,
        heartbeat_at: now,
        updated_at: now,
      }, this.#opts.maxBytes);
      if (truncated) this.#logCompaction(originalBytes, bytes);
      const revision = await updateBytes(this.#kv, this.#key, {
        bytes: encoded,
        revision: this.#revision,
      });
      if (revision !== null) {
        this.#base = snapshot;
        this.#revision = revision;
        return { written: true, snapshot, revision, truncated };
      }
      const current = await getJson<RunSnapshot>(this.#kv, this.#key);
      if (current === null) {
        // Withdrawn (a submit that answered 503) or deleted: never bring the run back.
        if (this.#opts.gatewayCreated === true) return { written: false, existing: null };
        const created = await createJson(this.#kv, this.#key, snapshot);
        if (created !== null) return { written: true, snapshot, revision: created, truncated };
        continue;
      }
      if (await this.#isHeldElsewhere(current.value)) {
        return { written: false, existing: current.value };
      }
      if (isTerminal(current.value.status)) {
        // Our own write, whose answer was lost (a timeout, a leader change): it is written.
        if (this.#isOurs(current.value, terminal)) {
          return { written: true, snapshot: current.value, revision: current.revision, truncated };
        }
        return { written: false, existing: current.value };
      }
      this.#adopt(current);
    }
    throw new Error(
      `Cannot write the terminal snapshot of run "${this.#key}": it kept changing (${_MAX_CONFLICTS} conflicts)`,
    );
  }

  /** Stop timers and the watch; no more progress writes. */
  stop(): void {
    this.#stopped = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    if (this.#heartbeat !== null) clearInterval(this.#heartbeat);
    this.#timer = null;
    this.#heartbeat = null;
  }

  /**
   * Put the run back to `PENDING` (it will be redelivered): used when a drain aborted it.
   * Not written when the snapshot turned terminal or `CANCELLING` meanwhile.
   *
   * @returns Whether it was written.
   * @throws {Error} On NATS errors.
   */
  async requeue(): Promise<boolean> {
    this.stop();
    await this.#writing;
    // Lazy RUNNING never written: the snapshot is still PENDING; nothing to put back.
    if (this.#unwritten) return false;
    for (let i = 0; i < _MAX_CONFLICTS; i++) {
      const now = nowSec();
      const next: RunSnapshot = {
        ...this.#base,
        status: "PENDING",
        worker_id: null,
        heartbeat_at: now,
        updated_at: now,
      };
      if (this.#base.status !== "RUNNING") return false;
      const revision = await updateJson(this.#kv, this.#key, next, this.#revision);
      if (revision !== null) return true;
      const current = await getJson<RunSnapshot>(this.#kv, this.#key);
      if (current === null || current.value.status !== "RUNNING") return false;
      this.#adopt(current);
    }
    return false;
  }

  /** Whether a terminal snapshot is the one this mirror wrote for `terminal`. */
  #isOurs(value: RunSnapshot, terminal: TerminalFields): boolean {
    return value.status === terminal.status && value.end_time === terminal.end_time &&
      value.worker_id === this.#own.worker_id && value.attempt === this.#own.attempt &&
      value.start_time === this.#own.start_time;
  }

  #schedule(): void {
    if (this.#stopped || this.#timer !== null || this.#writing !== null) return;
    const wait = this.#lastWriteAt + this.#opts.minIntervalMs - Date.now();
    if (wait <= 0) {
      this.#flush();
    } else {
      this.#timer = setTimeout(() => {
        this.#timer = null;
        this.#flush();
      }, wait);
    }
  }

  #flush(): void {
    if (this.#stopped || !this.#dirty) return;
    this.#dirty = false;
    this.#writing = this.#writeProgress()
      .catch((err) => {
        this.#log.warn("Cannot write run progress; will retry", { run_id: this.#key }, err);
        this.#dirty = true;
      })
      .finally(() => {
        this.#writing = null;
        this.#lastWriteAt = Date.now();
        if (this.#dirty) this.#schedule();
      });
  }

  async #writeProgress(): Promise<void> {
    for (let i = 0; i < _MAX_CONFLICTS && !this.#stopped; i++) {
      const now = nowSec();
      const { snapshot, truncated, originalBytes, bytes, encoded } = compactSnapshot({
        ...this.#base,
        ...this.#own,
        status: this.#cancelSeen ? "CANCELLING" : "RUNNING",
        ...(this.#progress
          ? {
            tasks: this.#progress.tasks,
            task_records: this.#progress.task_records,
            task_records_truncated: false,
          }
          : {}),
        heartbeat_at: now,
        updated_at: now,
      }, this.#opts.maxBytes);
      if (truncated && !this.#base.task_records_truncated) {
        this.#logCompaction(originalBytes, bytes);
      }
      const revision = await updateBytes(this.#kv, this.#key, {
        bytes: encoded,
        revision: this.#revision,
      });
      if (revision !== null) {
        // The watch may already have delivered a newer foreign write: keep the newest.
        if (revision > this.#revision) {
          this.#base = snapshot;
          this.#revision = revision;
        }
        this.#writes++;
        this.#unwritten = false;
        this.#startHeartbeat();
        return;
      }
      const current = await getJson<RunSnapshot>(this.#kv, this.#key);
      if (
        current === null || isTerminal(current.value.status) ||
        await this.#isHeldElsewhere(current.value)
      ) {
        this.#supersede(current?.value ?? null);
        return;
      }
      this.#adopt(current);
    }
  }

  /** Only before this mirror's first write: is the run another live worker's? */
  async #isHeldElsewhere(snapshot: RunSnapshot): Promise<boolean> {
    if (this.#writes > 0 || this.#opts.heldElsewhere === undefined) return false;
    return await this.#opts.heldElsewhere(snapshot);
  }

  #onEntry(entry: KvEntry | null): void {
    if (entry === null || entry.operation !== "PUT" || entry.length === 0) {
      this.#supersede(null);
      return;
    }
    if (entry.revision <= this.#revision) return; // our own write, or older
    let value: RunSnapshot;
    try {
      value = entry.json<RunSnapshot>();
    } catch {
      return; // not JSON: the next CAS write conflicts and re-reads
    }
    if (isTerminal(value.status)) {
      this.#supersede(value);
      return;
    }
    this.#adopt({ value, revision: entry.revision });
  }

  #supersede(existing: RunSnapshot | null): void {
    // Finished (or removed) by someone else: never overwrite it.
    this.stop();
    if (this.#superseded) return;
    this.#superseded = true;
    this.#opts.onSuperseded?.(existing);
  }

  /** Take a re-read snapshot as the new base, keeping a `CANCELLING` and our own fields. */
  #adopt(current: Versioned<RunSnapshot>): void {
    this.#base = current.value;
    this.#revision = current.revision;
    if (current.value.status === "CANCELLING") this.#cancel();
  }

  #cancel(): void {
    if (this.#cancelSeen) return;
    this.#cancelSeen = true;
    this.#opts.onCancelRequested?.();
  }

  #logCompaction(originalBytes: number, bytes: number): void {
    this.#log.warn("Run snapshot too large; task records compacted", {
      run_id: this.#key,
      err_id: ErrId.snapshotTooLarge,
      snapshot_bytes: originalBytes,
      compacted_bytes: bytes,
      max_bytes: this.#opts.maxBytes,
    });
  }
}
