/**
 * Wire types: the JSON that crosses NATS and HTTP. Field names are snake_case and times are unix
 * seconds as numbers, wire-compatible with pyoco-server 0.4. Web APIs only.
 *
 * @module
 */

import type { JsonValue, RunStatus, TaskRecord, TaskState } from "../flow/types.ts";
import type { Priority } from "./tenancy.ts";

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

/** Run ids: 1–128 letters, digits, `_` or `-` (anything else cannot exist; never a dot). */
export const RUN_ID_PATTERN: RegExp = /^[A-Za-z0-9_-]{1,128}$/;

/** A tag names a work queue: `[A-Za-z0-9_-]{1,64}`, never `.`, `*` or `>`. */
export const TAG_PATTERN: RegExp = /^[A-Za-z0-9_-]{1,64}$/;

/** A job on `pyoco.work.<tag>` (header `Nats-Msg-Id: <run_id>`). */
export interface Job {
  /** Run id (also the `Nats-Msg-Id` header, so a duplicate publish is dropped). */
  run_id: string;
  /** Name of the flow to run. */
  flow_name: string;
  /** The tag (work queue) the job was published to. */
  tag: string;
  /** Every tag of the run (the first is `tag`). */
  tags: string[];
  /** Flow parameters, as submitted. */
  params: Record<string, unknown>;
  /** When the gateway accepted the run (unix seconds). */
  submitted_at: number;
  /** Tenant of the API key that submitted the run, when auth is on. */
  tenant_id?: string | null;
  /** Id of the API key that submitted the run, when auth is on. */
  api_key_id?: string | null;
  /** YAML text of a `POST /runs/yaml` run (travels in the job, never stored in KV). */
  workflow_yaml?: string | null;
  /** SHA-256 (hex) of `workflow_yaml`. */
  workflow_yaml_sha256?: string | null;
  /** Size of `workflow_yaml` in UTF-8 bytes. */
  workflow_yaml_bytes?: number | null;
  /** DLQ sequence this job was replayed from. */
  replayed_from?: number | null;
  /**
   * KV revision of the `PENDING` snapshot the gateway created (SPEC §10): the worker's first
   * write is a compare-and-set against it, with no read before it.
   */
  pending_revision?: number | null;
  /** KV key of the Idempotency-Key claim of the run (a hash, never the key), kept in its snapshot. */
  idempotency_claim?: string | null;
  /** Id of the schedule that submitted this run (SPEC §14). */
  schedule_id?: string | null;
  /** The schedule slot this run is for (unix seconds; the trigger time for a manual trigger). */
  scheduled_for?: number | null;
  /** Id of the run this one retries (`POST /runs/{id}/retry`, SPEC §15). */
  retry_of?: string | null;
  /**
   * Retry from failed (SPEC §15): task name → the output it recorded in the retried run. These
   * tasks do not run again; the worker passes them to the engine as `runFlow(…, { resume })`.
   */
  resume?: Record<string, JsonValue> | null;
  /**
   * How urgent the run is (SPEC §13); absent means `normal`. It also picks the subject (`.high`
   * / `.low` after the work subject), so a worker need not read it to order its pulls.
   */
  priority?: Priority | null;
}

/** The run snapshot at `pyoco_runs/<run_id>`. */
export interface RunSnapshot {
  /** Run id (the KV key). */
  run_id: string;
  /** Name of the flow. */
  flow_name: string;
  /** Run status. */
  status: RunStatus;
  /** Flow parameters, as submitted. */
  params: Record<string, unknown>;
  /** State of every task of the flow, by task name. */
  tasks: Record<string, TaskState>;
  /** Last liveness refresh by the worker running it (unix seconds). */
  heartbeat_at: number;
  /** Last write of this snapshot (unix seconds). */
  updated_at: number;
  /** The tag (work queue) the run was submitted to. */
  tag?: string | null;
  /** Every tag of the run. */
  tags?: string[];
  /** Worker running (or that ran) it; `null` while pending. */
  worker_id?: string | null;
  /** Per-task records: inputs, output, timings, attempts, error. */
  task_records?: Record<string, TaskRecord>;
  /** `true` when records were shrunk to fit `PYOCO_MAX_RUN_SNAPSHOT_BYTES`. */
  task_records_truncated?: boolean;
  /** When a worker started it (unix seconds). */
  start_time?: number | null;
  /** When it reached a terminal status (unix seconds). */
  end_time?: number | null;
  /** Why it failed, when it did. */
  error?: string | null;
  /** Tenant of the API key that submitted it, when auth is on. */
  tenant_id?: string | null;
  /** Id of the API key that submitted it, when auth is on. */
  api_key_id?: string | null;
  /** SHA-256 (hex) of the flow.yaml of a `POST /runs/yaml` run. */
  workflow_yaml_sha256?: string | null;
  /** Size of that flow.yaml in bytes. */
  workflow_yaml_bytes?: number | null;
  /** Outputs of the flow's terminal tasks, by task name. */
  outputs?: Record<string, JsonValue> | null;
  /** How many times the job has been delivered to a worker. */
  attempt?: number | null;
  /** When `POST /runs/{id}/cancel` was received (unix seconds). */
  cancel_requested_at?: number | null;
  /** When the gateway accepted it (unix seconds). */
  submitted_at?: number | null;
  /** DLQ sequence this run was replayed from. */
  replayed_from?: number | null;
  /** The flow's graph DSL text (written by the worker with `RUNNING`), for drawing the DAG. */
  graph?: string | null;
  /** How urgent the run is (SPEC §13); absent means `normal`. */
  priority?: Priority | null;
  /** Id of the schedule that submitted this run (SPEC §14). */
  schedule_id?: string | null;
  /** The schedule slot this run is for (unix seconds; the trigger time for a manual trigger). */
  scheduled_for?: number | null;
  /**
   * KV key of the Idempotency-Key claim that created this run (`<tenant>.<sha256 of the key>`,
   * never the key itself), so deleting the run deletes its claim too.
   */
  idempotency_claim?: string | null;
  /** Id of the run this one retries (`POST /runs/{id}/retry`, SPEC §15). */
  retry_of?: string | null;
}

/** A worker's liveness record at `pyoco_workers/<worker_id>`. */
export interface WorkerRecord {
  /** Worker id (the KV key). */
  worker_id: string;
  /** Last liveness write (unix seconds); the record expires after the bucket TTL. */
  heartbeat_at: number;
  /** Tags it consumes. */
  tags: string[];
  /** Random per process, so a restart under the same id is visible. */
  instance_id?: string;
  /** `IDLE`, `RUNNING` (at least one run active) or `STOPPED` (drained). */
  state?: "IDLE" | "RUNNING" | "STOPPED";
  /** One run it is executing now (the first), or `null`. */
  current_run_id?: string | null;
  /** Ids of every run this worker is executing now. */
  current_run_ids?: string[];
  /** How many runs it executes at once. */
  concurrency?: number;
  /** Version of the worker software. */
  version?: string;
  /** Hidden workers are listed only with `GET /workers?include_hidden=true`. */
  hidden?: boolean;
  /** When the process started (unix seconds). */
  started_at?: number;
}

/** Why a job went to the dead-letter queue. */
export type DlqReason = "invalid_job" | "flow_not_found" | "execution_error";

/** A dead letter on `pyoco.dlq.<tag>`. */
export interface DlqMessage {
  /** When the dead letter was written (unix seconds). */
  timestamp: number;
  /** Why the job was dead-lettered. */
  reason: DlqReason;
  /** Human message of the failure. */
  error: string;
  /** Run id, when the job had one. */
  run_id: string | null;
  /** Flow name, when the job had one. */
  flow_name: string | null;
  /** Tag of the job, when known. */
  tag: string | null;
  /** Every tag of the job. */
  tags: string[];
  /** Worker that dead-lettered it. */
  worker_id: string;
  /** How many times the job had been delivered. */
  num_delivered: number;
  /** Subject the job was consumed from (`pyoco.work.<tag>`). */
  subject: string;
  /** The original job payload (parsed when it was JSON, else the raw text). */
  job: Job | string | null;
  /** The job's tenant (SPEC §16: on every entry, null when unknown; older entries lack it). */
  tenant_id?: string | null;
  /** The job's API key id (SPEC §16: on every entry, null when unknown). */
  api_key_id?: string | null;
  /** `invalid_job` entries: the raw message text, first 4096 characters (SPEC §16). */
  payload?: string;
}

/** One row of `GET /runs`. */
export interface RunSummary {
  /** Run id. */
  run_id: string;
  /** Name of the flow. */
  flow_name: string;
  /** The tag it was submitted to. */
  tag: string | null;
  /** Every tag of the run. */
  tags: string[];
  /** Run status. */
  status: RunStatus;
  /** Last snapshot write (unix seconds). */
  updated_at: number;
  /** Last liveness refresh (unix seconds). */
  heartbeat_at: number;
  /** Worker running (or that ran) it. */
  worker_id: string | null;
  /** Why it failed, when it did. */
  error: string | null;
}

/** `GET /runs/{id}`: the snapshot plus what the gateway knows of its worker. */
export interface RunView extends RunSnapshot {
  /** Whether its worker is alive (fresh heartbeat, not `STOPPED`); `null` for a run without a worker. */
  worker_alive: boolean | null;
  /** Its worker's last liveness write (unix seconds), when known. */
  worker_heartbeat_at: number | null;
  /** Its worker's tags, when known. */
  worker_tags: string[] | null;
  /**
   * For a `PENDING` run (SPEC §12): why it does not start (`"no live worker serves tag gpu"`), or
   * `null`; absent for other states and from older gateways.
   */
  waiting_reason?: string | null;
}

/** `GET /runs/{id}/tasks`. */
export interface RunTasksView {
  /** Run id. */
  run_id: string;
  /** Name of the flow. */
  flow_name: string;
  /** Run status. */
  status: RunStatus;
  /** State of every task, by task name. */
  tasks: Record<string, TaskState>;
  /** Per-task records (empty when none were written). */
  task_records: Record<string, TaskRecord>;
  /** `true` when records were shrunk to fit the snapshot limit. */
  task_records_truncated: boolean;
}

/** `POST /runs` and `POST /runs/yaml` answer. */
export interface SubmitResponse {
  /** Id of the new (or, with the same `Idempotency-Key`, the existing) run. */
  run_id: string;
  /** `PENDING` for a new run. */
  status: RunStatus;
}

/** The JSON error body of every non-2xx gateway answer. */
export interface ErrorBody {
  /** Human message. */
  detail: string;
  /** Error id, `ERR-PYOCO-00NN`. */
  err_id: string;
  /** Message id, `MSG-PYOCO-00NN` (same number). */
  msg_id: string;
  /** Validation errors: the offending field's `path` and what is wrong with it. */
  errors?: { path: string; message: string }[];
}

/** The `error` of a run cancelled through the API (by the gateway while PENDING, else by the worker). */
export const CANCELLED_BY_REQUEST = "Run cancelled by request";

/** Current unix time in seconds (float). */
export function nowSec(): number {
  return Date.now() / 1000;
}
