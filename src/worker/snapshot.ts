/**
 * Run snapshots on the worker side (SPEC §4, §4.1): building them from a job, compacting them
 * below `PYOCO_MAX_RUN_SNAPSHOT_BYTES`, and mirroring a run's progress to KV — coalesced, with
 * heartbeats, and always compare-and-set on the revision so that a terminal snapshot is never
 * overwritten and a `CANCELLING` written by someone else is never lost.
 *
 * @module
 */

import type { KV, KvEntry } from "@nats-io/kv";
import { isTerminal, type Job, nowSec, type RunSnapshot } from "../contract/wire.ts";
import type { JsonValue, RunProgress, TaskRecord, TaskState } from "../flow/types.ts";

export type { RunProgress };
import { ErrId } from "../contract/errors.ts";
import { casUpdate, createJson, getJson, updateJson, type Versioned } from "../nats/kv.ts";
import type { Logger } from "../log.ts";

const _encoder = new TextEncoder();

/** Size of a value as UTF-8 JSON, in bytes. */
export function jsonBytes(value: unknown): number {
  return _encoder.encode(JSON.stringify(value) ?? "null").byteLength;
}

/** The outcome of {@linkcode compactSnapshot}. */
export interface CompactResult {
  /** The snapshot, compacted when it was too large (a new object; the input is not changed). */
  snapshot: RunSnapshot;
  /** Whether anything was removed. */
  truncated: boolean;
  /** Size before compaction, in bytes. */
  originalBytes: number;
  /** Size after compaction, in bytes (may still exceed the limit when even `tasks` is larger). */
  bytes: number;
}

/** What a removed value is replaced with. */
function _placeholder(bytes: number): string {
  return `<truncated: ${bytes} bytes>`;
}

/** Fields of a task record that can be shrunk, large values first. */
const _RECORD_FIELDS = ["output", "inputs", "artifacts", "traceback", "error"] as const;
/** Values smaller than this are not worth replacing by a placeholder. */
const _MIN_SHRINK_BYTES = 64;

/**
 * Shrink a snapshot until its JSON fits in `maxBytes`: first the largest `output`, `inputs`,
 * `artifacts`, `traceback` and `error` values of `task_records` (and the matching `outputs`
 * values) are replaced by a `"<truncated: N bytes>"` placeholder, then whole task records are
 * dropped, largest first. `tasks` always stays. When anything was removed,
 * `task_records_truncated` is `true`. Pure: the input is not modified.
 *
 * @param snapshot The snapshot to write.
 * @param maxBytes The size limit in bytes.
 * @returns The (possibly) compacted snapshot and its sizes.
 *
 * @example A huge output is replaced
 * ```ts
 * import { compactSnapshot } from "./snapshot.ts";
 * import assert from "node:assert/strict";
 * const record = {
 *   state: "SUCCEEDED" as const, started_at: 1, ended_at: 2, duration_ms: 1000, attempts: 1,
 *   error: null, traceback: null, inputs: null, output: "x".repeat(10_000), artifacts: {},
 * };
 * const { snapshot, truncated } = compactSnapshot({
 *   run_id: "r", flow_name: "f", status: "COMPLETED", params: {}, tasks: { a: "SUCCEEDED" },
 *   heartbeat_at: 1, updated_at: 1, task_records: { a: record },
 * }, 4096);
 * assert.ok(truncated);
 * assert.equal(snapshot.task_records_truncated, true);
 * assert.equal(snapshot.tasks.a, "SUCCEEDED");
 * ```
 */
export function compactSnapshot(snapshot: RunSnapshot, maxBytes: number): CompactResult {
  const originalBytes = jsonBytes(snapshot);
  if (originalBytes <= maxBytes) {
    return { snapshot, truncated: false, originalBytes, bytes: originalBytes };
  }
  const records: Record<string, TaskRecord> = {};
  for (const [name, record] of Object.entries(snapshot.task_records ?? {})) {
    records[name] = { ...record, artifacts: record.artifacts };
  }
  const outputs: Record<string, JsonValue> | null | undefined = snapshot.outputs
    ? { ...snapshot.outputs }
    : snapshot.outputs;
  const out: RunSnapshot = {
    ...snapshot,
    task_records: records,
    outputs,
    task_records_truncated: true,
  };
  let total = jsonBytes(out);

  // 1. Large values inside records and outputs, largest first.
  type Candidate = { size: number; shrink: () => number };
  const candidates: Candidate[] = [];
  for (const record of Object.values(records)) {
    for (const field of _RECORD_FIELDS) {
      const value = record[field];
      if (value === null || value === undefined) continue;
      const size = jsonBytes(value);
      if (size < _MIN_SHRINK_BYTES) continue;
      candidates.push({
        size,
        shrink: () => {
          if (field === "artifacts") {
            record.artifacts = {};
            return size - 2;
          }
          const text = _placeholder(size);
          (record as unknown as Record<string, JsonValue>)[field] = text;
          return size - jsonBytes(text);
        },
      });
    }
  }
  if (outputs) {
    for (const [name, value] of Object.entries(outputs)) {
      const size = jsonBytes(value);
      if (size < _MIN_SHRINK_BYTES) continue;
      candidates.push({
        size,
        shrink: () => {
          const text = _placeholder(size);
          outputs[name] = text;
          return size - jsonBytes(text);
        },
      });
    }
  }
  candidates.sort((a, b) => b.size - a.size);
  for (const candidate of candidates) {
    if (total <= maxBytes) break;
    total -= candidate.shrink();
  }
  total = jsonBytes(out);

  // 2. Whole records, largest first.
  if (total > maxBytes) {
    const bySize = Object.entries(records)
      .map(([name, record]) => ({ name, size: jsonBytes(record) + jsonBytes(name) + 2 }))
      .sort((a, b) => b.size - a.size);
    for (const { name, size } of bySize) {
      if (total <= maxBytes) break;
      delete records[name];
      total -= size;
    }
    total = jsonBytes(out);
  }
  return { snapshot: out, truncated: true, originalBytes, bytes: total };
}

/**
 * The `PENDING` snapshot of a job, for a job whose snapshot is missing (e.g. published by
 * another system than the gateway).
 *
 * @param job The job.
 * @returns A `PENDING` snapshot.
 */
export function pendingSnapshotFromJob(job: Job): RunSnapshot {
  const now = nowSec();
  return {
    run_id: job.run_id,
    flow_name: job.flow_name,
    status: "PENDING",
    params: job.params,
    tasks: {},
    task_records: {},
    task_records_truncated: false,
    heartbeat_at: now,
    updated_at: now,
    tag: job.tag,
    tags: job.tags,
    worker_id: null,
    start_time: null,
    end_time: null,
    error: null,
    tenant_id: job.tenant_id ?? null,
    api_key_id: job.api_key_id ?? null,
    workflow_yaml_sha256: job.workflow_yaml_sha256 ?? null,
    workflow_yaml_bytes: job.workflow_yaml_bytes ?? null,
    outputs: null,
    attempt: 0,
    submitted_at: job.submitted_at,
    ...(job.replayed_from != null ? { replayed_from: job.replayed_from } : {}),
  };
}

/** Fields a `FAILED` snapshot written outside a run carries. */
export interface FailSnapshotOptions {
  /** Why the run failed. */
  error: string;
  /** The worker writing it. */
  workerId: string;
  /** The job, when it was valid (used when the snapshot is missing). */
  job?: Job | null;
  /** The run id (when the job was invalid). */
  runId: string;
  /** The flow name, when known. */
  flowName?: string | null;
  /** The delivery count. */
  attempt: number;
  /** Terminal status to write. @default {"FAILED"} */
  status?: "FAILED" | "CANCELLED";
}

/**
 * Move a run to `FAILED` (or `CANCELLED`) outside of an execution — invalid job, unknown flow,
 * max deliveries exceeded — with compare-and-set: a terminal snapshot is left as it is; a
 * missing one is created.
 *
 * @param kv The runs bucket.
 * @param options The error and context.
 * @returns The snapshot written, or `null` when the run was already terminal.
 * @throws {Error} On NATS errors (the caller decides whether to NAK).
 */
export async function writeFailedSnapshot(
  kv: KV,
  options: FailSnapshotOptions,
): Promise<Versioned<RunSnapshot> | null> {
  return await casUpdate<RunSnapshot>(kv, options.runId, (current) => {
    if (current && isTerminal(current.value.status)) return undefined;
    const now = nowSec();
    const base: RunSnapshot = current?.value ??
      (options.job ? pendingSnapshotFromJob(options.job) : {
        run_id: options.runId,
        flow_name: options.flowName ?? "",
        status: "PENDING",
        params: {},
        tasks: {},
        heartbeat_at: now,
        updated_at: now,
      });
    return {
      ...base,
      status: options.status ?? "FAILED",
      error: options.error,
      worker_id: options.workerId,
      attempt: options.attempt,
      start_time: base.start_time ?? null,
      end_time: now,
      heartbeat_at: now,
      updated_at: now,
      tasks: _closeTasks(base.tasks ?? {}),
    };
  });
}

/** Tasks that never finished end `CANCELLED` in a snapshot written outside the engine. */
function _closeTasks(tasks: Record<string, TaskState>): Record<string, TaskState> {
  const out: Record<string, TaskState> = {};
  for (const [name, state] of Object.entries(tasks)) {
    out[name] = state === "PENDING" || state === "RUNNING" ? "CANCELLED" : state;
  }
  return out;
}

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

/** Options of {@linkcode RunMirror}. */
export interface RunMirrorOptions {
  /** The runs bucket. */
  kv: KV;
  /** The `RUNNING` snapshot just written and its revision. */
  initial: Versioned<RunSnapshot>;
  /** Minimum gap between two progress writes, in milliseconds. */
  minIntervalMs: number;
  /** `heartbeat_at` is refreshed at least this often, in milliseconds. */
  heartbeatIntervalMs: number;
  /** Snapshots above are compacted. */
  maxBytes: number;
  /** Logger with the run's context. */
  logger: Logger;
  /** Called (once) when a re-read shows `CANCELLING`. */
  onCancelRequested?: () => void;
  /** Called (once) when a re-read shows the run terminal (or deleted): stop it. */
  onSuperseded?: (existing: RunSnapshot | null) => void;
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

  /**
   * Start mirroring (the heartbeat timer starts now).
   *
   * @param options Bucket, initial snapshot, intervals and callbacks.
   */
  constructor(options: RunMirrorOptions) {
    this.#opts = options;
    this.#kv = options.kv;
    this.#key = options.initial.value.run_id;
    this.#base = options.initial.value;
    this.#revision = options.initial.revision;
    this.#log = options.logger;
    this.#own = {
      worker_id: this.#base.worker_id,
      start_time: this.#base.start_time,
      attempt: this.#base.attempt,
    };
    this.#lastWriteAt = Date.now();
    if (this.#base.status === "CANCELLING") this.#cancel();
    this.#heartbeat = setInterval(() => {
      this.#dirty = true;
      this.#schedule();
    }, options.heartbeatIntervalMs);
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
   * with compare-and-set. A snapshot that turned terminal meanwhile is not overwritten.
   *
   * @param terminal The terminal status, tasks, records, outputs and error.
   * @returns What was written, or the existing terminal snapshot.
   * @throws {Error} On NATS errors (the caller NAKs, ERR-PYOCO-0008).
   */
  async finish(terminal: TerminalFields): Promise<FinishResult> {
    this.stop();
    await this.#writing;
    for (let i = 0; i < _MAX_CONFLICTS; i++) {
      const now = nowSec();
      const { snapshot, truncated, originalBytes, bytes } = compactSnapshot({
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
      const revision = await updateJson(this.#kv, this.#key, snapshot, this.#revision);
      if (revision !== null) {
        this.#base = snapshot;
        this.#revision = revision;
        return { written: true, snapshot, revision, truncated };
      }
      const current = await getJson<RunSnapshot>(this.#kv, this.#key);
      if (current === null) {
        const created = await createJson(this.#kv, this.#key, snapshot);
        if (created !== null) return { written: true, snapshot, revision: created, truncated };
        continue;
      }
      if (isTerminal(current.value.status)) return { written: false, existing: current.value };
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
      const { snapshot, truncated, originalBytes, bytes } = compactSnapshot({
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
      const revision = await updateJson(this.#kv, this.#key, snapshot, this.#revision);
      if (revision !== null) {
        // The watch may already have delivered a newer foreign write: keep the newest.
        if (revision > this.#revision) {
          this.#base = snapshot;
          this.#revision = revision;
        }
        this.#writes++;
        return;
      }
      const current = await getJson<RunSnapshot>(this.#kv, this.#key);
      if (current === null || isTerminal(current.value.status)) {
        this.#supersede(current?.value ?? null);
        return;
      }
      this.#adopt(current);
    }
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
