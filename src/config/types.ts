/**
 * {@linkcode Config}: the resolved configuration every part reads, one field per variable of the
 * table in `variables.ts` (which says how each is read from the environment).
 *
 * @module
 */

/** The resolved configuration shared by gateway, worker and CLIs. */
export interface Config {
  /** `PYOCO_NATS_URL` (default `nats://127.0.0.1:4222`): NATS server URL(s), comma-separated. */
  natsUrl: string[];
  /** `PYOCO_NATS_TOKEN` (default empty): NATS token auth. */
  natsToken: string | null;
  /** `PYOCO_NATS_USER` (default empty): NATS user (with PYOCO_NATS_PASSWORD). */
  natsUser: string | null;
  /** `PYOCO_NATS_PASSWORD` (default empty): NATS password. */
  natsPassword: string | null;
  /** `PYOCO_NATS_CREDS_FILE` (default empty): NATS .creds file (JWT + nkey). */
  natsCredsFile: string | null;
  /** `PYOCO_NATS_TLS_CA_FILE` (default empty): CA certificate (PEM) for TLS to NATS. */
  natsTlsCaFile: string | null;
  /** `PYOCO_NATS_NAME` (default empty): Connection name shown by NATS monitoring. */
  natsName: string | null;
  /**
   * `PYOCO_NATS_INBOX_PREFIX` (default empty): Prefix of reply subjects (default _INBOX); a
   * tenant's workers get their own, e.g. _INBOX_acme, so NATS permissions can keep other
   * tenants' replies away (docs/tenancy.md).
   */
  natsInboxPrefix: string | null;

  /** `PYOCO_WORK_STREAM` (default `PYOCO_WORK`): Work-queue stream name. */
  workStream: string;
  /** `PYOCO_WORK_SUBJECT_PREFIX` (default `pyoco.work`): Job subjects are <prefix>.<tag>. */
  workSubjectPrefix: string;
  /** `PYOCO_DEFAULT_TAG` (default `default`): Tag used when a submit names none. */
  defaultTag: string;
  /**
   * `PYOCO_CONSUMER_PREFIX` (default `pyoco_workers`): Durable consumer names are <prefix>_<tag>.
   */
  consumerPrefix: string;
  /** `PYOCO_DUPLICATE_WINDOW_SEC` (default `120`): Work stream duplicate window (≥ 120 s). */
  duplicateWindowSec: number;
  /** `PYOCO_RUNS_KV_BUCKET` (default `pyoco_runs`): KV bucket of run snapshots. */
  runsKvBucket: string;
  /** `PYOCO_WORKERS_KV_BUCKET` (default `pyoco_workers`): KV bucket of worker liveness records. */
  workersKvBucket: string;
  /** `PYOCO_WORKERS_KV_TTL_SEC` (default `15`): TTL of worker records. */
  workersKvTtlSec: number;
  /** `PYOCO_AUTH_KV_BUCKET` (default `pyoco_auth`): KV bucket of API-key records. */
  authKvBucket: string;
  /**
   * `PYOCO_IDEMPOTENCY_KV_BUCKET` (default `pyoco_idempotency`): KV bucket of Idempotency-Key
   * claims.
   */
  idempotencyKvBucket: string;
  /** `PYOCO_IDEMPOTENCY_TTL_SEC` (default `86400`): How long an Idempotency-Key is remembered. */
  idempotencyTtlSec: number;
  /** `PYOCO_EVENTS_STREAM` (default `PYOCO_EVENTS`): Stream of run/task events and task logs. */
  eventsStream: string;
  /**
   * `PYOCO_CANCEL_SUBJECT_PREFIX` (default `pyoco.cancel`): Core NATS subject <prefix>.<run_id>
   * telling workers a run was cancelled (no stream).
   */
  cancelSubjectPrefix: string;
  /**
   * `PYOCO_EVENTS_PUBLISH` (default `true`): Workers publish run events and task log lines (about
   * 15% of throughput on one-task runs).
   */
  eventsPublish: boolean;
  /**
   * `PYOCO_EVENTS_SUBJECT_PREFIX` (default `pyoco.events`): Event subjects are <prefix>.<run_id>.
   */
  eventsSubjectPrefix: string;
  /** `PYOCO_EVENTS_MAX_AGE_SEC` (default `604800`): How long events are kept. */
  eventsMaxAgeSec: number;
  /** `PYOCO_EVENTS_MAX_BYTES` (default `1073741824`): Size cap of the events stream (-1 = none). */
  eventsMaxBytes: number;
  /** `PYOCO_JS_REPLICAS` (default `1`): Replicas of every stream/bucket created. */
  jsReplicas: number;
  /** `PYOCO_JS_STORAGE` (default `file`): Storage of every stream/bucket created. */
  jsStorage: "file" | "memory";

  /** `PYOCO_HTTP_HOST` (default `127.0.0.1`): Gateway listen address. */
  httpHost: string;
  /** `PYOCO_HTTP_PORT` (default `8000`): Gateway listen port (0 = any free port). */
  httpPort: number;
  /** `PYOCO_HTTP_MAX_BODY_BYTES` (default `1048576`): Request body cap (413 above). */
  httpMaxBodyBytes: number;
  /** `PYOCO_HTTP_AUTH_MODE` (default `none`): none | api_key. */
  httpAuthMode: "none" | "api_key";
  /** `PYOCO_HTTP_API_KEY_HEADER` (default `X-API-Key`): Header carrying the API key. */
  httpApiKeyHeader: string;
  /**
   * `PYOCO_AUTH_PEPPER` (default empty): Appended to API-key secrets before hashing; the same on
   * every gateway and admin CLI (checked at start against the auth bucket's pepper fingerprint).
   */
  authPepper: string;
  /**
   * `PYOCO_SSE_HEARTBEAT_SEC` (default `15`): Heartbeat interval of idle watch streams (server-sent
   * events).
   */
  sseHeartbeatSec: number;

  /**
   * `PYOCO_RUN_HEARTBEAT_INTERVAL_SEC` (default `1`): How often a running snapshot's heartbeat_at
   * is refreshed.
   */
  runHeartbeatIntervalSec: number;
  /**
   * `PYOCO_WORKER_HEARTBEAT_INTERVAL_SEC` (default `5`): How often a worker refreshes its record.
   */
  workerHeartbeatIntervalSec: number;
  /** `null`: derived (2 × worker heartbeat interval, below the workers TTL). */
  workerDisconnectedAfterSec: number | null;
  /**
   * `PYOCO_CONSUMER_ACK_WAIT_SEC` (default `30`): Consumer AckWait: a job not acknowledged (or
   * marked in progress) this long is redelivered.
   */
  consumerAckWaitSec: number;
  /** `PYOCO_CONSUMER_MAX_DELIVER` (default `20`): Consumer MaxDeliver. */
  consumerMaxDeliver: number;
  /** `PYOCO_CONSUMER_MAX_ACK_PENDING` (default `200`): Consumer MaxAckPending. */
  consumerMaxAckPending: number;
  /**
   * `PYOCO_ACK_PROGRESS_INTERVAL_SEC` (default `10`): in_progress ACK interval (< AckWait; when
   * unset, 10 or a third of a shorter AckWait).
   */
  ackProgressIntervalSec: number;
  /** `PYOCO_NAK_DELAY_SEC` (default `2`): NAK delay after a transient NATS error. */
  nakDelaySec: number;
  /** `PYOCO_WORKER_CONCURRENCY` (default `1`): Runs one worker executes at once. */
  workerConcurrency: number;
  /** `PYOCO_WORKER_DRAIN_TIMEOUT_SEC` (default `30`): Graceful drain limit on SIGINT/SIGTERM. */
  workerDrainTimeoutSec: number;
  /**
   * `PYOCO_CANCEL_GRACE_PERIOD_SEC` (default `5`): How long a cancelled task may ignore its signal.
   */
  cancelGracePeriodSec: number;
  /**
   * `PYOCO_SNAPSHOT_MIN_INTERVAL_MS` (default `250`): Minimum gap between progress writes of one
   * run (250 = ≤ 4/s).
   */
  snapshotMinIntervalMs: number;

  /** `PYOCO_DLQ_STREAM` (default `PYOCO_DLQ`): Dead-letter stream name. */
  dlqStream: string;
  /** `PYOCO_DLQ_SUBJECT_PREFIX` (default `pyoco.dlq`): Dead letters go to <prefix>.<tag>. */
  dlqSubjectPrefix: string;
  /**
   * `PYOCO_DLQ_PUBLISH_EXECUTION_ERROR` (default `true`): Dead-letter runs that failed executing.
   */
  dlqPublishExecutionError: boolean;
  /** `PYOCO_DLQ_MAX_AGE_SEC` (default `604800`): DLQ max age. */
  dlqMaxAgeSec: number;
  /** `PYOCO_DLQ_MAX_MSGS` (default `100000`): DLQ max messages (-1 = none). */
  dlqMaxMsgs: number;
  /** `PYOCO_DLQ_MAX_BYTES` (default `536870912`): DLQ max bytes (-1 = none). */
  dlqMaxBytes: number;

  /** `PYOCO_MAX_RUN_SNAPSHOT_BYTES` (default `262144`): Snapshots above are compacted. */
  maxRunSnapshotBytes: number;
  /** `PYOCO_WORKFLOW_YAML_MAX_BYTES` (default `262144`): flow.yaml size cap (413 above). */
  workflowYamlMaxBytes: number;

  /** `PYOCO_LOG_LEVEL` (default `INFO`): DEBUG | INFO | WARNING | ERROR. */
  logLevel: "DEBUG" | "INFO" | "WARNING" | "ERROR";
  /** `PYOCO_LOG_FORMAT` (default `json`): json | text. */
  logFormat: "json" | "text";
  /** `PYOCO_LOG_UTC` (default `true`): Timestamps in UTC (else local time). */
  logUtc: boolean;
  /** `PYOCO_LOG_INCLUDE_TRACEBACK` (default `true`): Include exc_traceback in error logs. */
  logIncludeTraceback: boolean;

  /**
   * `PYOCO_NATS_RETRY_SEC` (default `10`): How long the gateway retries a KV create or publish, and
   * a worker a terminal write, while NATS is briefly unavailable (e.g. a cluster leader election)
   * before giving up (503 / NAK); a worker that cannot reach NATS at start keeps retrying with
   * backoff.
   */
  natsRetrySec: number;
  /**
   * `PYOCO_RUNNING_WRITE_AFTER_MS` (default `50`): A worker writes RUNNING only if the run is still
   * going after this many ms; shorter runs go PENDING → terminal in one write (0 = always write
   * RUNNING first, as pyoco-server).
   */
  runningWriteAfterMs: number;
  /** `PYOCO_BATCH_MAX_RUNS` (default `500`): Most runs one POST /runs/batch may submit. */
  batchMaxRuns: number;
  /**
   * `PYOCO_RUNS_RETENTION_SEC` (default `2592000`): Terminal runs older than this (by end_time) are
   * deleted by the sweeper (0 = keep forever).
   */
  runsRetentionSec: number;
  /**
   * `PYOCO_ORPHAN_AFTER_SEC` (default `30`): A PENDING run whose job is not in the work stream is
   * re-published after this long (below half of PYOCO_DUPLICATE_WINDOW_SEC).
   */
  orphanAfterSec: number;
  /**
   * `PYOCO_SWEEP_INTERVAL_SEC` (default `10`): How often the gateway holding the sweeper lease
   * deletes expired runs and re-publishes orphans; a dead holder's lease lapses after twice this.
   */
  sweepIntervalSec: number;
  /**
   * `PYOCO_LEASES_KV_BUCKET` (default `pyoco_leases`): KV bucket of the leases that let one
   * gateway at a time do cluster-wide chores (the sweeper).
   */
  leasesKvBucket: string;
  /**
   * `PYOCO_SUBMIT_FLOW_CHECK` (default `catalog`): catalog: a submit of a flow the tag's catalog
   * lacks answers 422 with suggestions; off: accept any flow name.
   */
  submitFlowCheck: "catalog" | "off";
  /**
   * `PYOCO_WORKERS_HISTORY_SEC` (default `3600`): How long a worker that stopped heartbeating stays
   * listed as LOST (0 = not at all).
   */
  workersHistorySec: number;
  /**
   * `PYOCO_HISTORY_KV_BUCKET` (default `pyoco_history`): KV bucket of what outlives its source:
   * dead-letter replay marks (dlq.<seq>) and workers that died or stopped (workers.<worker_id>,
   * shown as LOST for PYOCO_WORKERS_HISTORY_SEC).
   */
  historyKvBucket: string;
  /**
   * `PYOCO_FLOWS_KV_BUCKET` (default `pyoco_flows`): KV bucket of the flow catalog (the flows each
   * worker offers, per tag).
   */
  flowsKvBucket: string;
  /**
   * `PYOCO_TENANT_ISOLATION` (default `shared`): shared: one set of subjects for all tenants
   * (pyoco-server 0.4 wire); namespaced: subjects, consumers, DLQ and events per tenant
   * (pyoco.<tenant>.work.<tag>, …).
   */
  tenantIsolation: "shared" | "namespaced";
  /**
   * `PYOCO_TENANT_MAX_RUNNING` (default `0`): Default limit of one tenant's runs running at once
   * across all workers (0 = unlimited).
   */
  tenantMaxRunning: number;
  /**
   * `PYOCO_TENANTS_KV_BUCKET` (default `pyoco_tenants`): KV bucket of per-tenant limits (key
   * <tenant_id>: max_running, weight), set with pyoco-admin tenant set.
   */
  tenantsKvBucket: string;
  /**
   * `PYOCO_SCHEDULER` (default `on`): on: this gateway dispatches due schedule slots (exactly once
   * across gateways); off: it only serves the schedule API.
   */
  scheduler: "on" | "off";
  /**
   * `PYOCO_SCHEDULES_KV_BUCKET` (default `pyoco_schedules`): KV bucket of schedules and their
   * dispatched slots.
   */
  schedulesKvBucket: string;
}
