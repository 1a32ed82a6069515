/**
 * The configuration table: every variable's config key, environment name, default (as text),
 * parser and meaning. It drives `loadConfig()`, `.env.example` and `docs/config.md`
 * (`deno task docs:config`), so the three cannot drift apart.
 *
 * @module
 */

import {
  _bool,
  _header,
  _int,
  _name,
  _oneOf,
  _optional,
  _optionalSeconds,
  type _Parser,
  _seconds,
  _str,
  _subjectPrefix,
  _tag,
  _urls,
} from "./_parse.ts";

import type { Config } from "./types.ts";

/** One row of {@linkcode CONFIG_VARIABLES}. */
export interface ConfigVariable<K extends keyof Config = keyof Config> {
  /** Key in {@linkcode Config}. */
  key: K;
  /** Environment variable name. */
  env: string;
  /** Default, as the text an environment would hold (`""` = unset). */
  def: string;
  /** Turns the raw text into the value; throws a `ConfigError` naming the variable. */
  parse: (raw: string, name: string) => Config[K];
  /** What the variable does (one line, for `.env.example` and `docs/config.md`). */
  doc: string;
  /** Never echo the value (in errors or logs). */
  secret?: boolean;
}

function _spec<K extends keyof Config>(
  key: K,
  env: string,
  def: string,
  parse: _Parser<Config[K]>,
  doc: string,
  secret = false,
): ConfigVariable<K> {
  return { key, env, def, parse, doc, secret };
}

/**
 * Every variable: its config key, environment name, default (as text) and meaning. Drives
 * `loadConfig()`, `.env.example` and `docs/config.md`.
 */
export const CONFIG_VARIABLES = [
  _spec(
    "natsUrl",
    "PYOCO_NATS_URL",
    "nats://127.0.0.1:4222",
    _urls,
    "NATS server URL(s), comma-separated",
  ),
  _spec("natsToken", "PYOCO_NATS_TOKEN", "", _optional, "NATS token auth", true),
  _spec("natsUser", "PYOCO_NATS_USER", "", _optional, "NATS user (with PYOCO_NATS_PASSWORD)"),
  _spec("natsPassword", "PYOCO_NATS_PASSWORD", "", _optional, "NATS password", true),
  _spec("natsCredsFile", "PYOCO_NATS_CREDS_FILE", "", _optional, "NATS .creds file (JWT + nkey)"),
  _spec(
    "natsTlsCaFile",
    "PYOCO_NATS_TLS_CA_FILE",
    "",
    _optional,
    "CA certificate (PEM) for TLS to NATS",
  ),
  _spec("natsName", "PYOCO_NATS_NAME", "", _optional, "Connection name shown by NATS monitoring"),
  _spec(
    "natsInboxPrefix",
    "PYOCO_NATS_INBOX_PREFIX",
    "",
    _optional,
    "Prefix of reply subjects (default _INBOX); a tenant's workers get their own, e.g. " +
      "_INBOX_acme, so NATS permissions can keep other tenants' replies away (docs/tenancy.md)",
  ),
  _spec("workStream", "PYOCO_WORK_STREAM", "PYOCO_WORK", _name, "Work-queue stream name"),
  _spec(
    "workSubjectPrefix",
    "PYOCO_WORK_SUBJECT_PREFIX",
    "pyoco.work",
    _subjectPrefix,
    "Job subjects are <prefix>.<tag>",
  ),
  _spec("defaultTag", "PYOCO_DEFAULT_TAG", "default", _tag, "Tag used when a submit names none"),
  _spec(
    "consumerPrefix",
    "PYOCO_CONSUMER_PREFIX",
    "pyoco_workers",
    _name,
    "Durable consumer names are <prefix>_<tag>",
  ),
  _spec(
    "duplicateWindowSec",
    "PYOCO_DUPLICATE_WINDOW_SEC",
    "120",
    _seconds(120),
    "Work stream duplicate window (≥ 120 s)",
  ),
  _spec("runsKvBucket", "PYOCO_RUNS_KV_BUCKET", "pyoco_runs", _name, "KV bucket of run snapshots"),
  _spec(
    "workersKvBucket",
    "PYOCO_WORKERS_KV_BUCKET",
    "pyoco_workers",
    _name,
    "KV bucket of worker liveness records",
  ),
  _spec(
    "workersKvTtlSec",
    "PYOCO_WORKERS_KV_TTL_SEC",
    "15",
    _seconds(0.1),
    "TTL of worker records",
  ),
  _spec(
    "authKvBucket",
    "PYOCO_AUTH_KV_BUCKET",
    "pyoco_auth",
    _name,
    "KV bucket of API-key records",
  ),
  _spec(
    "idempotencyKvBucket",
    "PYOCO_IDEMPOTENCY_KV_BUCKET",
    "pyoco_idempotency",
    _name,
    "KV bucket of Idempotency-Key claims",
  ),
  _spec(
    "idempotencyTtlSec",
    "PYOCO_IDEMPOTENCY_TTL_SEC",
    "86400",
    _seconds(0.1),
    "How long an Idempotency-Key is remembered",
  ),
  _spec(
    "cancelSubjectPrefix",
    "PYOCO_CANCEL_SUBJECT_PREFIX",
    "pyoco.cancel",
    _subjectPrefix,
    "Core NATS subject <prefix>.<run_id> telling workers a run was cancelled (no stream)",
  ),
  _spec(
    "eventsPublish",
    "PYOCO_EVENTS_PUBLISH",
    "true",
    _bool,
    "Workers publish run events and task log lines (about 15% of throughput on one-task runs)",
  ),
  _spec(
    "eventsStream",
    "PYOCO_EVENTS_STREAM",
    "PYOCO_EVENTS",
    _name,
    "Stream of run/task events and task logs",
  ),
  _spec(
    "eventsSubjectPrefix",
    "PYOCO_EVENTS_SUBJECT_PREFIX",
    "pyoco.events",
    _subjectPrefix,
    "Event subjects are <prefix>.<run_id>",
  ),
  _spec(
    "eventsMaxAgeSec",
    "PYOCO_EVENTS_MAX_AGE_SEC",
    "604800",
    _seconds(0.1),
    "How long events are kept",
  ),
  _spec(
    "eventsMaxBytes",
    "PYOCO_EVENTS_MAX_BYTES",
    "1073741824",
    _int(-1),
    "Size cap of the events stream (-1 = none)",
  ),
  _spec(
    "jsReplicas",
    "PYOCO_JS_REPLICAS",
    "1",
    _int(1, 5),
    "Replicas of every stream/bucket created",
  ),
  _spec(
    "jsStorage",
    "PYOCO_JS_STORAGE",
    "file",
    _oneOf(["file", "memory"] as const),
    "Storage of every stream/bucket created",
  ),
  _spec("httpHost", "PYOCO_HTTP_HOST", "127.0.0.1", _str, "Gateway listen address"),
  _spec(
    "httpPort",
    "PYOCO_HTTP_PORT",
    "8000",
    _int(0, 65535),
    "Gateway listen port (0 = any free port)",
  ),
  _spec(
    "httpMaxBodyBytes",
    "PYOCO_HTTP_MAX_BODY_BYTES",
    "1048576",
    _int(1024),
    "Request body cap (413 above)",
  ),
  _spec(
    "httpAuthMode",
    "PYOCO_HTTP_AUTH_MODE",
    "none",
    _oneOf(["none", "api_key"] as const),
    "none | api_key",
  ),
  _spec(
    "httpApiKeyHeader",
    "PYOCO_HTTP_API_KEY_HEADER",
    "X-API-Key",
    _header,
    "Header carrying the API key",
  ),
  _spec(
    "authPepper",
    "PYOCO_AUTH_PEPPER",
    "",
    _str,
    "Appended to API-key secrets before hashing; the same on every gateway and admin CLI " +
      "(checked at start against the auth bucket's pepper fingerprint, docs/auth.md)",
    true,
  ),
  _spec(
    "sseHeartbeatSec",
    "PYOCO_SSE_HEARTBEAT_SEC",
    "15",
    _seconds(0.05, 3600),
    "Heartbeat interval of idle watch streams (server-sent events)",
  ),
  _spec(
    "runHeartbeatIntervalSec",
    "PYOCO_RUN_HEARTBEAT_INTERVAL_SEC",
    "1",
    _seconds(0.05),
    "How often a running snapshot's heartbeat_at is refreshed",
  ),
  _spec(
    "workerHeartbeatIntervalSec",
    "PYOCO_WORKER_HEARTBEAT_INTERVAL_SEC",
    "5",
    _seconds(0.05),
    "How often a worker refreshes its record",
  ),
  _spec(
    "workerDisconnectedAfterSec",
    "PYOCO_WORKER_DISCONNECTED_AFTER_SEC",
    "",
    _optionalSeconds(0.05),
    "A worker silent this long shows as DISCONNECTED (empty = 2 × heartbeat interval; < TTL)",
  ),
  _spec(
    "consumerAckWaitSec",
    "PYOCO_CONSUMER_ACK_WAIT_SEC",
    "30",
    _seconds(0.05),
    "Consumer AckWait: a job not acknowledged (or marked in progress) this long is redelivered",
  ),
  _spec(
    "consumerMaxDeliver",
    "PYOCO_CONSUMER_MAX_DELIVER",
    "20",
    _int(1, 10_000),
    "Consumer MaxDeliver",
  ),
  _spec(
    "consumerMaxAckPending",
    "PYOCO_CONSUMER_MAX_ACK_PENDING",
    "200",
    _int(1, 1_000_000),
    "Consumer MaxAckPending",
  ),
  _spec(
    "ackProgressIntervalSec",
    "PYOCO_ACK_PROGRESS_INTERVAL_SEC",
    "10",
    _seconds(0.05),
    "in_progress ACK interval (< AckWait; when unset, 10 or a third of a shorter AckWait)",
  ),
  _spec(
    "nakDelaySec",
    "PYOCO_NAK_DELAY_SEC",
    "2",
    _seconds(0),
    "NAK delay after a transient NATS error",
  ),
  _spec(
    "workerConcurrency",
    "PYOCO_WORKER_CONCURRENCY",
    "1",
    _int(1, 1024),
    "Runs one worker executes at once",
  ),
  _spec(
    "workerDrainTimeoutSec",
    "PYOCO_WORKER_DRAIN_TIMEOUT_SEC",
    "30",
    _seconds(0),
    "Graceful drain limit on SIGINT/SIGTERM",
  ),
  _spec(
    "cancelGracePeriodSec",
    "PYOCO_CANCEL_GRACE_PERIOD_SEC",
    "5",
    _seconds(0),
    "How long a cancelled task may ignore its signal",
  ),
  _spec(
    "snapshotMinIntervalMs",
    "PYOCO_SNAPSHOT_MIN_INTERVAL_MS",
    "250",
    _int(0, 60_000),
    "Minimum gap between progress writes of one run (250 = ≤ 4/s)",
  ),
  _spec("dlqStream", "PYOCO_DLQ_STREAM", "PYOCO_DLQ", _name, "Dead-letter stream name"),
  _spec(
    "dlqSubjectPrefix",
    "PYOCO_DLQ_SUBJECT_PREFIX",
    "pyoco.dlq",
    _subjectPrefix,
    "Dead letters go to <prefix>.<tag>",
  ),
  _spec(
    "dlqPublishExecutionError",
    "PYOCO_DLQ_PUBLISH_EXECUTION_ERROR",
    "true",
    _bool,
    "Dead-letter runs that failed executing",
  ),
  _spec("dlqMaxAgeSec", "PYOCO_DLQ_MAX_AGE_SEC", "604800", _seconds(0.1), "DLQ max age"),
  _spec("dlqMaxMsgs", "PYOCO_DLQ_MAX_MSGS", "100000", _int(-1), "DLQ max messages (-1 = none)"),
  _spec("dlqMaxBytes", "PYOCO_DLQ_MAX_BYTES", "536870912", _int(-1), "DLQ max bytes (-1 = none)"),
  _spec(
    "maxRunSnapshotBytes",
    "PYOCO_MAX_RUN_SNAPSHOT_BYTES",
    "262144",
    _int(4096),
    "Snapshots above are compacted",
  ),
  _spec(
    "workflowYamlMaxBytes",
    "PYOCO_WORKFLOW_YAML_MAX_BYTES",
    "262144",
    _int(1),
    "flow.yaml size cap (413 above)",
  ),
  _spec(
    "logLevel",
    "PYOCO_LOG_LEVEL",
    "INFO",
    _oneOf(["DEBUG", "INFO", "WARNING", "ERROR"] as const, true),
    "DEBUG | INFO | WARNING | ERROR",
  ),
  _spec("logFormat", "PYOCO_LOG_FORMAT", "json", _oneOf(["json", "text"] as const), "json | text"),
  _spec("logUtc", "PYOCO_LOG_UTC", "true", _bool, "Timestamps in UTC (else local time)"),
  _spec(
    "logIncludeTraceback",
    "PYOCO_LOG_INCLUDE_TRACEBACK",
    "true",
    _bool,
    "Include exc_traceback in error logs",
  ),
  _spec(
    "natsRetrySec",
    "PYOCO_NATS_RETRY_SEC",
    "10",
    _seconds(0, 3600),
    "How long the gateway retries a KV create or publish, and a worker a terminal write, " +
      "while NATS is briefly unavailable (e.g. a cluster leader election) before giving up " +
      "(503 / NAK); a worker that cannot reach NATS at start keeps retrying with backoff",
  ),
  _spec(
    "runningWriteAfterMs",
    "PYOCO_RUNNING_WRITE_AFTER_MS",
    "50",
    _int(0, 3_600_000),
    "A worker writes RUNNING only if the run is still going after this many ms; shorter runs " +
      "go PENDING → terminal in one write (0 = always write RUNNING first, as pyoco-server)",
  ),
  _spec(
    "batchMaxRuns",
    "PYOCO_BATCH_MAX_RUNS",
    "500",
    _int(1, 100_000),
    "Most runs one POST /runs/batch may submit",
  ),
  _spec(
    "runsRetentionSec",
    "PYOCO_RUNS_RETENTION_SEC",
    "2592000",
    _seconds(0, 3_153_600_000),
    "Terminal runs older than this (by end_time) are deleted by the sweeper (0 = keep forever)",
  ),
  _spec(
    "orphanAfterSec",
    "PYOCO_ORPHAN_AFTER_SEC",
    "30",
    _seconds(0.05),
    "A PENDING run whose job is not in the work stream is re-published after this long " +
      "(below half of PYOCO_DUPLICATE_WINDOW_SEC)",
  ),
  _spec(
    "sweepIntervalSec",
    "PYOCO_SWEEP_INTERVAL_SEC",
    "10",
    _seconds(0.05, 3600),
    "How often the gateway holding the sweeper lease deletes expired runs and re-publishes " +
      "orphans; a dead holder's lease lapses after twice this",
  ),
  _spec(
    "leasesKvBucket",
    "PYOCO_LEASES_KV_BUCKET",
    "pyoco_leases",
    _name,
    "KV bucket of the leases that let one gateway at a time do cluster-wide chores (the sweeper)",
  ),
  _spec(
    "submitFlowCheck",
    "PYOCO_SUBMIT_FLOW_CHECK",
    "catalog",
    _oneOf(["catalog", "off"] as const),
    "catalog: a submit of a flow the tag's catalog lacks answers 422 with suggestions; " +
      "off: accept any flow name",
  ),
  _spec(
    "workersHistorySec",
    "PYOCO_WORKERS_HISTORY_SEC",
    "3600",
    _seconds(0),
    "How long a worker that stopped heartbeating stays listed as LOST (0 = not at all)",
  ),
  _spec(
    "historyKvBucket",
    "PYOCO_HISTORY_KV_BUCKET",
    "pyoco_history",
    _name,
    "KV bucket of what outlives its source: dead-letter replay marks (dlq.<seq>) and workers " +
      "that died or stopped (workers.<worker_id>, shown as LOST for PYOCO_WORKERS_HISTORY_SEC)",
  ),
  _spec(
    "flowsKvBucket",
    "PYOCO_FLOWS_KV_BUCKET",
    "pyoco_flows",
    _name,
    "KV bucket of the flow catalog (the flows each worker offers, per tag)",
  ),
  _spec(
    "tenantIsolation",
    "PYOCO_TENANT_ISOLATION",
    "shared",
    _oneOf(["shared", "namespaced"] as const),
    "shared: one set of subjects for all tenants (pyoco-server 0.4 wire); namespaced: " +
      "subjects, consumers, DLQ and events per tenant (pyoco.<tenant>.work.<tag>, …)",
  ),
  _spec(
    "tenantsKvBucket",
    "PYOCO_TENANTS_KV_BUCKET",
    "pyoco_tenants",
    _name,
    "KV bucket of per-tenant limits (key <tenant_id>: max_running, weight), set with " +
      "pyoco-admin tenant set",
  ),
  _spec(
    "tenantMaxRunning",
    "PYOCO_TENANT_MAX_RUNNING",
    "0",
    _int(0, 1_000_000),
    "Default limit of one tenant's runs running at once across all workers (0 = unlimited)",
  ),
  _spec(
    "scheduler",
    "PYOCO_SCHEDULER",
    "on",
    _oneOf(["on", "off"] as const),
    "on: this gateway dispatches due schedule slots (exactly once across gateways); off: it " +
      "only serves the schedule API",
  ),
  _spec(
    "schedulesKvBucket",
    "PYOCO_SCHEDULES_KV_BUCKET",
    "pyoco_schedules",
    _name,
    "KV bucket of schedules and their dispatched slots",
  ),
] as const;
