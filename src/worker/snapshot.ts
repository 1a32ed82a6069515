/**
 * The one-shot snapshot writes of the worker (SPEC §4, §4.1), each compare-and-set on the KV
 * revision: the `PENDING` snapshot of a job that has none, the move to `RUNNING`, and a
 * `FAILED`/`CANCELLED` written outside a run (invalid job, unknown flow, max deliveries). The
 * writes during a run are `RunMirror`'s (`run_mirror.ts`).
 *
 * @module
 */

import type { KV } from "@nats-io/kv";
import { isTerminal, type Job, nowSec, type RunSnapshot } from "../contract/wire.ts";
import type { Flow, TaskState } from "../flow/types.ts";
import { casUpdate, createJson, getJson, updateJson, type Versioned } from "../nats/kv.ts";

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
 * another system than the gateway).
 *
 * @param kv The runs bucket.
 * @param job The job.
 * @returns The snapshot and its revision.
 * @throws {Error} On NATS errors, or when the key keeps appearing and vanishing.
 */
export async function readOrCreateSnapshot(kv: KV, job: Job): Promise<Versioned<RunSnapshot>> {
  for (let i = 0; i < 10; i++) {
    const current = await getJson<RunSnapshot>(kv, job.run_id);
    if (current) return current;
    const value = pendingSnapshotFromJob(job);
    const revision = await createJson(kv, job.run_id, value);
    if (revision !== null) return { value, revision };
  }
  throw new Error(`Cannot read or create the snapshot of run "${job.run_id}"`);
}

/** Options of {@linkcode writeRunning}. */
export interface WriteRunningOptions {
  /** The snapshot as read, and its revision. */
  current: Versioned<RunSnapshot>;
  /** The job. */
  job: Job;
  /** The flow about to run (its task order and graph). */
  flow: Flow;
  /** The worker running it. */
  workerId: string;
  /** The delivery count. */
  attempt: number;
}

/**
 * Move a run to `RUNNING` (a `CANCELLING` stays `CANCELLING`) with compare-and-set, re-reading
 * on conflicts: every task `PENDING`, no records, this worker and attempt, the flow's graph.
 *
 * @param kv The runs bucket.
 * @param options The snapshot read, the job, the flow, the worker and the attempt.
 * @returns The snapshot written, or `null` when it turned terminal meanwhile.
 * @throws {Error} On NATS errors, or when the snapshot kept changing.
 */
export async function writeRunning(
  kv: KV,
  options: WriteRunningOptions,
): Promise<Versioned<RunSnapshot> | null> {
  const { job, flow } = options;
  let cur = options.current;
  const tasks: Record<string, TaskState> = {};
  for (const name of flow.order) tasks[name] = "PENDING";
  for (let i = 0; i < 20; i++) {
    if (isTerminal(cur.value.status)) return null;
    const now = nowSec();
    const value: RunSnapshot = {
      ...cur.value,
      status: cur.value.status === "CANCELLING" ? "CANCELLING" : "RUNNING",
      tag: cur.value.tag ?? job.tag,
      tags: cur.value.tags ?? job.tags,
      // A DLQ replay: kept from the job when the snapshot does not say it already.
      ...(cur.value.replayed_from == null && job.replayed_from != null
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
    const revision = await updateJson(kv, job.run_id, value, cur.revision);
    if (revision !== null) return { value, revision };
    const again = await getJson<RunSnapshot>(kv, job.run_id);
    if (again === null) {
      const created = await createJson(kv, job.run_id, value);
      if (created !== null) return { value, revision: created };
      continue;
    }
    cur = again;
  }
  throw new Error(`Cannot mark run "${job.run_id}" RUNNING: its snapshot kept changing`);
}
