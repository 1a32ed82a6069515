/**
 * The one-shot snapshot writes of the worker (SPEC §4, §4.1), each compare-and-set on the KV
 * revision: the `PENDING` snapshot of a job that has none, the move to `RUNNING`, and a
 * `FAILED`/`CANCELLED` written outside a run (invalid job, unknown flow, max deliveries). The
 * writes during a run are `RunMirror`'s (`run_mirror.ts`).
 *
 * @module
 */

import type { KV } from "@nats-io/kv";
import { type Config, parseWorkSubject, runKey } from "../config.ts";
import { NO_TENANT } from "../contract/tenancy.ts";
import { isTerminal, type Job, nowSec, type RunSnapshot } from "../contract/wire.ts";
import type { Flow, TaskState } from "../flow/types.ts";
import { casUpdate, createJson, getJson, updateJson, type Versioned } from "../nats/kv.ts";

/**
 * The `PENDING` snapshot of a job: for a job whose snapshot is missing (e.g. published by
 * another system than the gateway), and, for a job carrying `pending_revision`, the snapshot
 * the gateway created at that revision (the same fields, built without reading it: SPEC §10).
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
    cancel_requested_at: null,
    submitted_at: job.submitted_at,
    ...(job.replayed_from != null ? { replayed_from: job.replayed_from } : {}),
    ...(job.schedule_id != null ? { schedule_id: job.schedule_id } : {}),
    ...(job.scheduled_for != null ? { scheduled_for: job.scheduled_for } : {}),
    ...(job.retry_of != null ? { retry_of: job.retry_of } : {}),
    ...(job.priority != null && job.priority !== "normal" ? { priority: job.priority } : {}),
    ...(job.idempotency_claim != null ? { idempotency_claim: job.idempotency_claim } : {}),
  };
}

/**
 * The key of a job's snapshot in the runs bucket (`runKey()`): in namespaced mode the tenant is
 * the one of the work subject the job came from (what the worker's NATS user may write), else
 * the job's `tenant_id`.
 *
 * @param config The configuration (mode).
 * @param job The run id, the job's tenant (when known) and the subject it arrived on.
 * @returns The key.
 */
export function jobRunKey(
  config: Config,
  job: { runId: string; tenantId?: string | null; subject: string },
): string {
  const tenant = parseWorkSubject(config, job.subject)?.tenant ?? job.tenantId;
  return runKey(config, job.runId, { tenant });
}

/**
 * Namespaced mode: the tenant of a job is the tenant of the work subject it came from (the
 * queue this worker was allowed to pull), `null` for `_`; the job's `tenant_id` is set to it, so
 * that its snapshot, events and dead letters all stay in that tenant's space (a job published
 * without `tenant_id` by another system, or with another tenant's, included). Shared mode leaves
 * the job as it is.
 *
 * @param config The configuration (mode).
 * @param job The parsed job (its `tenant_id` may be changed).
 * @param subject The subject it arrived on.
 * @returns The key of its snapshot ({@linkcode jobRunKey}).
 */
export function settleJobTenant(config: Config, job: Job, subject: string): string {
  const tenant = parseWorkSubject(config, subject)?.tenant;
  if (tenant != null) job.tenant_id = tenant === NO_TENANT ? null : tenant;
  return jobRunKey(config, { runId: job.run_id, tenantId: job.tenant_id, subject });
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
  /** The snapshot's key in the runs bucket (`runKey()`). @default {the run id} */
  key?: string;
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
 *
 * A NATS-level building block (it takes nats.js handles), left out of the published docs.
 * @ignore
 */
export async function writeFailedSnapshot(
  kv: KV,
  options: FailSnapshotOptions,
): Promise<Versioned<RunSnapshot> | null> {
  return await casUpdate<RunSnapshot>(kv, options.key ?? options.runId, (current) => {
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
      tasks: closeUnfinished(base.tasks ?? {}),
    };
  });
}

/**
 * Task states with every unfinished task (`PENDING`, `RUNNING`) closed as `CANCELLED`: how a
 * snapshot written outside the engine (or after an engine crash) records them.
 *
 * @param tasks Task name → state.
 * @returns A new map with no unfinished task.
 */
export function closeUnfinished(tasks: Record<string, TaskState>): Record<string, TaskState> {
  const out: Record<string, TaskState> = {};
  for (const [name, state] of Object.entries(tasks)) {
    out[name] = state === "PENDING" || state === "RUNNING" ? "CANCELLED" : state;
  }
  return out;
}

/**
 * The run's snapshot, created `PENDING` from the job when it is missing (a job published by
 * another system than the gateway). A job that carries `pending_revision` had its snapshot
 * created by our gateway: if it is missing now, the run was withdrawn (a submit that answered
 * 503) or deleted, and `null` says so — it is never created again.
 *
 * @param kv The runs bucket.
 * @param job The job.
 * @param key The snapshot's key (`runKey()`). @default {the run id}
 * @returns The snapshot and its revision, or `null` for a withdrawn or deleted run.
 * @throws {Error} On NATS errors, or when the key keeps appearing and vanishing.
 */
export async function readOrCreateSnapshot(
  kv: KV,
  job: Job,
  key: string = job.run_id,
): Promise<Versioned<RunSnapshot> | null> {
  for (let i = 0; i < 10; i++) {
    const current = await getJson<RunSnapshot>(kv, key);
    if (current) return current;
    if (typeof job.pending_revision === "number") return null;
    const value = pendingSnapshotFromJob(job);
    const revision = await createJson(kv, key, value);
    if (revision !== null) return { value, revision };
  }
  throw new Error(`Cannot read or create the snapshot of run "${job.run_id}"`);
}

/** Options of {@linkcode runningSnapshot} and {@linkcode writeRunning}. */
export interface RunningOptions {
  /** The job. */
  job: Job;
  /** The flow about to run (its task order and graph). */
  flow: Flow;
  /** The worker running it. */
  workerId: string;
  /** The delivery count. */
  attempt: number;
  /** The snapshot's key in the runs bucket (`runKey()`). @default {the run id} */
  key?: string;
}

/**
 * The `RUNNING` snapshot over `base` (a `CANCELLING` stays `CANCELLING`): every task `PENDING`,
 * no records, this worker and attempt, `start_time` now, the flow's graph. Pure.
 *
 * @param base The snapshot as read (or as the gateway created it).
 * @param options The job, the flow, the worker and the attempt.
 * @returns The snapshot to write.
 */
export function runningSnapshot(base: RunSnapshot, options: RunningOptions): RunSnapshot {
  const { job, flow } = options;
  const tasks: Record<string, TaskState> = {};
  for (const name of flow.order) tasks[name] = "PENDING";
  const now = nowSec();
  return {
    ...base,
    status: base.status === "CANCELLING" ? "CANCELLING" : "RUNNING",
    tag: base.tag ?? job.tag,
    tags: base.tags ?? job.tags,
    // A DLQ replay: kept from the job when the snapshot does not say it already.
    ...(base.replayed_from == null && job.replayed_from != null
      ? { replayed_from: job.replayed_from }
      : {}),
    worker_id: options.workerId,
    // The flow's graph DSL, so viewers (the dashboard) can draw the DAG.
    graph: flow.graph,
    start_time: now,
    end_time: null,
    error: null,
    attempt: options.attempt,
    heartbeat_at: now,
    updated_at: now,
    tasks,
    task_records: {},
    task_records_truncated: false,
    outputs: null,
  };
}

/**
 * Move a run to `RUNNING` ({@linkcode runningSnapshot}) with compare-and-set against
 * `current`'s revision. Nothing is decided here: on a conflict the caller re-reads and decides.
 *
 * @param kv The runs bucket.
 * @param current The snapshot as read (or assumed at the job's `pending_revision`).
 * @param options The job, the flow, the worker and the attempt.
 * @returns The snapshot written, or `null` when the revision did not match.
 * @throws {Error} On NATS errors.
 */
export async function writeRunning(
  kv: KV,
  current: Versioned<RunSnapshot>,
  options: RunningOptions,
): Promise<Versioned<RunSnapshot> | null> {
  const value = runningSnapshot(current.value, options);
  const revision = await updateJson(
    kv,
    options.key ?? options.job.run_id,
    value,
    current.revision,
  );
  return revision === null ? null : { value, revision };
}
