/**
 * Run snapshots and jobs shaped like the ones the gateway and worker write (SPEC §4), for the
 * "limit" measurement and for seeding the runs bucket directly.
 *
 * @module
 */

import type { Job, RunSnapshot, RunStatus } from "../src/contract/wire.ts";

/** Options of {@linkcode benchSnapshot}. */
export interface BenchSnapshotOptions {
  /** Flow name. @default {"noop"} */
  flowName?: string;
  /** Tag. @default {"default"} */
  tag?: string;
  /** Worker id for RUNNING and terminal snapshots. @default {"bench-worker"} */
  workerId?: string;
  /** Tenant of the run. @default {null} */
  tenantId?: string | null;
  /** `updated_at`, unix seconds. @default now */
  updatedAt?: number;
}

/**
 * A run snapshot of a one-task run in the given status.
 *
 * @param runId The run id.
 * @param status The status.
 * @param options Flow, tag, worker, tenant and time.
 * @returns The snapshot.
 */
export function benchSnapshot(
  runId: string,
  status: RunStatus,
  options: BenchSnapshotOptions = {},
): RunSnapshot {
  const now = options.updatedAt ?? Date.now() / 1000;
  const tag = options.tag ?? "default";
  const pending = status === "PENDING";
  const terminal = status === "COMPLETED" || status === "FAILED" || status === "CANCELLED";
  const taskState = status === "COMPLETED"
    ? "SUCCEEDED"
    : status === "FAILED"
    ? "FAILED"
    : status === "RUNNING"
    ? "RUNNING"
    : "PENDING";
  return {
    run_id: runId,
    flow_name: options.flowName ?? "noop",
    status,
    params: {},
    tasks: { noop_task: taskState },
    heartbeat_at: now,
    updated_at: now,
    tag,
    tags: [tag],
    worker_id: pending ? null : options.workerId ?? "bench-worker",
    task_records: terminal
      ? {
        noop_task: {
          state: taskState,
          started_at: now,
          ended_at: now,
          duration_ms: 0.1,
          attempts: 1,
          error: status === "FAILED" ? "Error: boom" : null,
          output: status === "COMPLETED" ? true : null,
        },
      } as unknown as RunSnapshot["task_records"]
      : {},
    task_records_truncated: false,
    start_time: pending ? null : now,
    end_time: terminal ? now : null,
    error: status === "FAILED" ? "Task noop_task failed: Error: boom" : null,
    tenant_id: options.tenantId ?? null,
    api_key_id: null,
    outputs: status === "COMPLETED" ? { noop_task: true } : null,
    attempt: pending ? 0 : 1,
    submitted_at: now,
  };
}

/**
 * The job the gateway publishes for a `noop` run.
 *
 * @param runId The run id.
 * @param tag The tag.
 * @returns The job.
 */
export function benchJob(runId: string, tag = "default"): Job {
  return {
    run_id: runId,
    flow_name: "noop",
    tag,
    tags: [tag],
    params: {},
    submitted_at: Date.now() / 1000,
    tenant_id: null,
    api_key_id: null,
  };
}
