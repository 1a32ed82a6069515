/**
 * Wire types: the JSON that crosses NATS and HTTP. Field names are snake_case and times are unix
 * seconds as numbers, wire-compatible with pyoco-server 0.4. Web APIs only.
 *
 * @module
 */

import type { JsonValue, RunStatus, TaskRecord, TaskState } from "../flow/types.ts";

export type { JsonValue, RunStatus, TaskRecord, TaskState };

/** Run statuses after which nothing changes. */
export const TERMINAL_STATUSES: ReadonlySet<RunStatus> = new Set<RunStatus>([
  "COMPLETED",
  "FAILED",
  "CANCELLED",
]);

/** Every run status, in lifecycle order. */
export const RUN_STATUSES: readonly RunStatus[] = [
  "PENDING",
  "RUNNING",
  "COMPLETED",
  "FAILED",
  "CANCELLING",
  "CANCELLED",
];

/** Whether `status` is terminal (`COMPLETED`, `FAILED`, `CANCELLED`). */
export function isTerminal(status: string): boolean {
  return TERMINAL_STATUSES.has(status as RunStatus);
}

/** A tag names a work queue: `[A-Za-z0-9_-]{1,64}`, never `.`, `*` or `>`. */
export const TAG_PATTERN: RegExp = /^[A-Za-z0-9_-]{1,64}$/;

/** A job on `pyoco.work.<tag>` (header `Nats-Msg-Id: <run_id>`). */
export interface Job {
  run_id: string;
  flow_name: string;
  tag: string;
  tags: string[];
  params: Record<string, unknown>;
  submitted_at: number;
  tenant_id?: string | null;
  api_key_id?: string | null;
  /** YAML text of a `POST /runs/yaml` run (travels in the job, never stored in KV). */
  workflow_yaml?: string | null;
  workflow_yaml_sha256?: string | null;
  workflow_yaml_bytes?: number | null;
  /** DLQ sequence this job was replayed from. */
  replayed_from?: number | null;
}

/** The run snapshot at `pyoco_runs/<run_id>`. */
export interface RunSnapshot {
  run_id: string;
  flow_name: string;
  status: RunStatus;
  params: Record<string, unknown>;
  tasks: Record<string, TaskState>;
  heartbeat_at: number;
  updated_at: number;
  tag?: string | null;
  tags?: string[];
  worker_id?: string | null;
  task_records?: Record<string, TaskRecord>;
  task_records_truncated?: boolean;
  start_time?: number | null;
  end_time?: number | null;
  error?: string | null;
  tenant_id?: string | null;
  api_key_id?: string | null;
  workflow_yaml_sha256?: string | null;
  workflow_yaml_bytes?: number | null;
  outputs?: Record<string, JsonValue> | null;
  /** How many times the job has been delivered to a worker. */
  attempt?: number | null;
  cancel_requested_at?: number | null;
  submitted_at?: number | null;
  replayed_from?: number | null;
}

/** A worker's liveness record at `pyoco_workers/<worker_id>`. */
export interface WorkerRecord {
  worker_id: string;
  heartbeat_at: number;
  tags: string[];
  instance_id?: string;
  state?: "IDLE" | "RUNNING" | "STOPPED";
  current_run_id?: string | null;
  /** Ids of every run this worker is executing now. */
  current_run_ids?: string[];
  concurrency?: number;
  version?: string;
  hidden?: boolean;
  started_at?: number;
}

/** Why a job went to the dead-letter queue. */
export type DlqReason = "invalid_job" | "flow_not_found" | "execution_error";

/** A dead letter on `pyoco.dlq.<tag>`. */
export interface DlqMessage {
  timestamp: number;
  reason: DlqReason;
  error: string;
  run_id: string | null;
  flow_name: string | null;
  tag: string | null;
  tags: string[];
  worker_id: string;
  num_delivered: number;
  subject: string;
  /** The original job payload (parsed when it was JSON, else the raw text). */
  job: Job | string | null;
}

/** One row of `GET /runs`. */
export interface RunSummary {
  run_id: string;
  flow_name: string;
  tag: string | null;
  tags: string[];
  status: RunStatus;
  updated_at: number;
  heartbeat_at: number;
  worker_id: string | null;
  error: string | null;
}

/** `GET /runs/{id}`: the snapshot plus what the gateway knows of its worker. */
export interface RunView extends RunSnapshot {
  worker_alive: boolean | null;
  worker_heartbeat_at: number | null;
  worker_tags: string[] | null;
}

/** `GET /runs/{id}/tasks`. */
export interface RunTasksView {
  run_id: string;
  flow_name: string;
  status: RunStatus;
  tasks: Record<string, TaskState>;
  task_records: Record<string, TaskRecord>;
  task_records_truncated: boolean;
}

/** `POST /runs` and `POST /runs/yaml` answer. */
export interface SubmitResponse {
  run_id: string;
  status: RunStatus;
}

/** The JSON error body of every non-2xx gateway answer. */
export interface ErrorBody {
  detail: string;
  err_id: string;
  msg_id: string;
  errors?: { path: string; message: string }[];
}

/** Current unix time in seconds (float). */
export function nowSec(): number {
  return Date.now() / 1000;
}
