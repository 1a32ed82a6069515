/**
 * Configuration from environment variables, optionally from a `.env` file (`PYOCO_ENV_FILE`,
 * default `.env`; the process environment wins). Every variable of pyoco-server 0.4 keeps its
 * name and default. An invalid value fails fast with a {@linkcode ConfigError} naming the
 * variable, the value and what is allowed.
 *
 * @module
 */

import { parseEnv } from "node:util";
import { TAG_PATTERN } from "./contract/wire.ts";

/** The resolved configuration shared by gateway, worker and CLIs. */
export interface Config {
  natsUrl: string[];
  natsToken: string | null;
  natsUser: string | null;
  natsPassword: string | null;
  natsCredsFile: string | null;
  natsTlsCaFile: string | null;
  natsName: string | null;

  workStream: string;
  workSubjectPrefix: string;
  defaultTag: string;
  consumerPrefix: string;
  duplicateWindowSec: number;
  runsKvBucket: string;
  workersKvBucket: string;
  workersKvTtlSec: number;
  authKvBucket: string;
  idempotencyKvBucket: string;
  idempotencyTtlSec: number;
  eventsStream: string;
  cancelSubjectPrefix: string;
  eventsPublish: boolean;
  eventsSubjectPrefix: string;
  eventsMaxAgeSec: number;
  eventsMaxBytes: number;
  jsReplicas: number;
  jsStorage: "file" | "memory";

  httpHost: string;
  httpPort: number;
  httpMaxBodyBytes: number;
  httpAuthMode: "none" | "api_key";
  httpApiKeyHeader: string;
  authPepper: string;
  sseHeartbeatSec: number;

  runHeartbeatIntervalSec: number;
  workerHeartbeatIntervalSec: number;
  /** `null`: derived (2 × worker heartbeat interval, below the workers TTL). */
  workerDisconnectedAfterSec: number | null;
  consumerAckWaitSec: number;
  consumerMaxDeliver: number;
  consumerMaxAckPending: number;
  ackProgressIntervalSec: number;
  nakDelaySec: number;
  workerConcurrency: number;
  workerDrainTimeoutSec: number;
  cancelGracePeriodSec: number;
  snapshotMinIntervalMs: number;

  dlqStream: string;
  dlqSubjectPrefix: string;
  dlqPublishExecutionError: boolean;
  dlqMaxAgeSec: number;
  dlqMaxMsgs: number;
  dlqMaxBytes: number;

  maxRunSnapshotBytes: number;
  workflowYamlMaxBytes: number;

  logLevel: "DEBUG" | "INFO" | "WARNING" | "ERROR";
  logFormat: "json" | "text";
  logUtc: boolean;
  logIncludeTraceback: boolean;

  natsRetrySec: number;
  runningWriteAfterMs: number;
  batchMaxRuns: number;
  runsRetentionSec: number;
  orphanAfterSec: number;
  submitFlowCheck: "catalog" | "off";
  workersHistorySec: number;
  flowsKvBucket: string;
  tenantIsolation: "shared" | "namespaced";
  tenantMaxRunning: number;
  scheduler: "on" | "off";
  schedulesKvBucket: string;
}

/**
 * A configuration value is invalid. The message names the variable, the value and what is
 * allowed (secrets are never echoed).
 */
export class ConfigError extends Error {
  /** The environment variable at fault. */
  readonly variable: string;

  /**
   * @param variable The environment variable at fault.
   * @param message What is wrong and what is allowed.
   * @param options Keeps `cause`.
   */
  constructor(variable: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ConfigError";
    this.variable = variable;
  }
}

type _Parser<T> = (raw: string, name: string) => T;

function _fail(name: string, raw: string, allowed: string, secret = false): never {
  const shown = secret ? "<hidden>" : JSON.stringify(raw);
  throw new ConfigError(name, `Invalid ${name}=${shown}: expected ${allowed}`);
}

function _int(min: number, max = Number.MAX_SAFE_INTEGER): _Parser<number> {
  return (raw, name) => {
    const n = Number(raw.trim());
    if (!/^-?\d+$/.test(raw.trim()) || n < min || n > max) {
      _fail(name, raw, `an integer from ${min} to ${max}`);
    }
    return n;
  };
}

function _seconds(min: number, max = 31_536_000): _Parser<number> {
  return (raw, name) => {
    const n = Number(raw.trim());
    if (raw.trim() === "" || !Number.isFinite(n) || n < min || n > max) {
      _fail(name, raw, `a number of seconds from ${min} to ${max}`);
    }
    return n;
  };
}

const _bool: _Parser<boolean> = (raw, name) => {
  const v = raw.trim().toLowerCase();
  if (["1", "true", "yes", "on"].includes(v)) return true;
  if (["0", "false", "no", "off"].includes(v)) return false;
  return _fail(name, raw, "one of true, false, 1, 0, yes, no, on, off");
};

function _oneOf<T extends string>(values: readonly T[], upper = false): _Parser<T> {
  return (raw, name) => {
    const v = upper ? raw.trim().toUpperCase() : raw.trim().toLowerCase();
    if (!(values as readonly string[]).includes(v)) _fail(name, raw, `one of ${values.join(", ")}`);
    return v as T;
  };
}

function _optionalSeconds(min: number): _Parser<number | null> {
  const parse = _seconds(min);
  return (raw, name) => raw.trim() === "" ? null : parse(raw, name);
}

const _str: _Parser<string> = (raw) => raw;
const _optional: _Parser<string | null> = (raw) => raw === "" ? null : raw;

const _NAME = /^[A-Za-z0-9_-]{1,128}$/;
const _name: _Parser<string> = (raw, name) => {
  if (!_NAME.test(raw)) {
    _fail(name, raw, "a name of letters, digits, _ and - (1 to 128 characters)");
  }
  return raw;
};

const _SUBJECT_PREFIX = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
const _subjectPrefix: _Parser<string> = (raw, name) => {
  if (!_SUBJECT_PREFIX.test(raw)) {
    _fail(name, raw, "dot-separated tokens of letters, digits, _ and - (no *, > or spaces)");
  }
  return raw;
};

const _tag: _Parser<string> = (raw, name) => {
  if (!TAG_PATTERN.test(raw)) _fail(name, raw, "a tag of 1 to 64 letters, digits, _ or -");
  return raw;
};

const _urls: _Parser<string[]> = (raw, name) => {
  const urls = raw.split(",").map((s) => s.trim()).filter((s) => s !== "");
  if (urls.length === 0) _fail(name, raw, "one or more comma-separated NATS URLs");
  for (const url of urls) {
    if (!/^(nats|tls|ws|wss):\/\/[^\s]+$|^[^\s:/]+(:\d+)?$/.test(url)) {
      // Never echo credentials that may be embedded in the URL.
      _fail(name, url.replace(/\/\/[^@/]*@/, "//<credentials>@"), "nats://host:port[,…]");
    }
  }
  return urls;
};

const _header: _Parser<string> = (raw, name) => {
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(raw)) _fail(name, raw, "an HTTP header name");
  return raw;
};

interface _Spec<K extends keyof Config> {
  key: K;
  env: string;
  def: string;
  parse: _Parser<Config[K]>;
  doc: string;
  secret?: boolean;
}

function _spec<K extends keyof Config>(
  key: K,
  env: string,
  def: string,
  parse: _Parser<Config[K]>,
  doc: string,
  secret = false,
): _Spec<K> {
  return { key, env, def, parse, doc, secret };
}

/**
 * Every variable: its config key, environment name, default (as text) and meaning. Drives
 * {@linkcode loadConfig}, `.env.example` and `docs/config.md`.
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
  _spec("workersKvTtlSec", "PYOCO_WORKERS_KV_TTL_SEC", "15", _seconds(1), "TTL of worker records"),
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
    _seconds(1),
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
    _seconds(1),
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
    "Appended to API-key secrets before hashing",
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
  _spec("consumerAckWaitSec", "PYOCO_CONSUMER_ACK_WAIT_SEC", "30", _seconds(1), "Consumer AckWait"),
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
    "in_progress ACK interval (< AckWait)",
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
  _spec("dlqMaxAgeSec", "PYOCO_DLQ_MAX_AGE_SEC", "604800", _seconds(1), "DLQ max age"),
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

/** Options of {@linkcode loadConfig}. */
export interface LoadConfigOptions {
  /**
   * Environment to read. By default each variable is read with `Deno.env.get`, so a process
   * allowed only `--allow-env=PYOCO_*,NATS_*` can load its configuration.
   */
  env?: Record<string, string | undefined>;
  /** Read `.env` (or `PYOCO_ENV_FILE`). @default {true} */
  envFile?: boolean;
  /**
   * Variables that win over the environment, validated the same way (for CLI flags, e.g.
   * `{ PYOCO_NATS_URL: "--nats-url value" }`).
   */
  envOverrides?: Record<string, string | undefined>;
  /** Values that win over everything, unvalidated (for tests and embedding). */
  overrides?: Partial<Config>;
}

/**
 * Build the configuration from the environment (and `.env`), validating every value.
 *
 * @param options Environment source and overrides.
 * @returns The configuration.
 * @throws {ConfigError} When a value is invalid or the env file named by `PYOCO_ENV_FILE` is missing.
 *
 * @example Defaults
 * ```ts
 * import { loadConfig } from "./config.ts";
 * import assert from "node:assert/strict";
 * const config = loadConfig({ env: {}, envFile: false });
 * assert.equal(config.workersKvTtlSec, 15);
 * ```
 */
export function loadConfig(options: LoadConfigOptions = {}): Config {
  const given = options.env;
  const fromProcess = (name: string) => given ? given[name] : Deno.env.get(name);
  const fromFile = options.envFile === false ? {} : _readEnvFile(fromProcess("PYOCO_ENV_FILE"));
  const config: Record<string, unknown> = {};
  for (const spec of CONFIG_VARIABLES) {
    const raw = options.envOverrides?.[spec.env] ?? fromProcess(spec.env) ?? fromFile[spec.env];
    const value = raw === undefined ? spec.def : raw;
    try {
      config[spec.key] = (spec.parse as _Parser<unknown>)(value, spec.env);
    } catch (err) {
      if (err instanceof ConfigError && spec.secret) {
        throw new ConfigError(spec.env, `Invalid ${spec.env}: ${err.message.split(": ").pop()}`);
      }
      throw err;
    }
  }
  const result = { ...config, ...options.overrides } as Config;
  if (result.ackProgressIntervalSec >= result.consumerAckWaitSec) {
    throw new ConfigError(
      "PYOCO_ACK_PROGRESS_INTERVAL_SEC",
      `Invalid PYOCO_ACK_PROGRESS_INTERVAL_SEC=${result.ackProgressIntervalSec}: expected less than PYOCO_CONSUMER_ACK_WAIT_SEC (${result.consumerAckWaitSec})`,
    );
  }
  if (
    result.workerDisconnectedAfterSec !== null &&
    result.workerDisconnectedAfterSec >= result.workersKvTtlSec
  ) {
    throw new ConfigError(
      "PYOCO_WORKER_DISCONNECTED_AFTER_SEC",
      `Invalid PYOCO_WORKER_DISCONNECTED_AFTER_SEC=${result.workerDisconnectedAfterSec}: expected less than PYOCO_WORKERS_KV_TTL_SEC (${result.workersKvTtlSec})`,
    );
  }
  if (result.orphanAfterSec * 2 > result.duplicateWindowSec) {
    throw new ConfigError(
      "PYOCO_ORPHAN_AFTER_SEC",
      `Invalid PYOCO_ORPHAN_AFTER_SEC=${result.orphanAfterSec}: expected at most half of PYOCO_DUPLICATE_WINDOW_SEC (${result.duplicateWindowSec})`,
    );
  }
  if ((result.natsUser === null) !== (result.natsPassword === null)) {
    throw new ConfigError(
      "PYOCO_NATS_USER",
      "Invalid NATS credentials: PYOCO_NATS_USER and PYOCO_NATS_PASSWORD must be set together",
    );
  }
  return result;
}

function _readEnvFile(explicit: string | undefined): Record<string, string> {
  const path = explicit ?? ".env";
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (err) {
    if (
      explicit === undefined &&
      (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotCapable ||
        err instanceof Deno.errors.PermissionDenied)
    ) {
      return {};
    }
    throw new ConfigError(
      "PYOCO_ENV_FILE",
      `Cannot read PYOCO_ENV_FILE=${JSON.stringify(path)}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  return { ...parseEnv(text) } as Record<string, string>;
}

/** Work subject of a tag: `<prefix>.<tag>`. */
export function workSubject(config: Config, tag: string): string {
  return `${config.workSubjectPrefix}.${tag}`;
}

/** Durable consumer name of a tag: `<prefix>_<tag>`. */
export function consumerName(config: Config, tag: string): string {
  return `${config.consumerPrefix}_${tag}`;
}

/** DLQ subject of a tag: `<prefix>.<tag>`. */
export function dlqSubject(config: Config, tag: string): string {
  return `${config.dlqSubjectPrefix}.${tag}`;
}

/** Cancel notification subject of a run: `<prefix>.<run_id>` (core NATS, not stored). */
export function cancelSubject(config: Config, runId: string): string {
  return `${config.cancelSubjectPrefix}.${runId}`;
}

/** Events subject of a run: `<prefix>.<run_id>`. */
export function eventsSubject(config: Config, runId: string): string {
  return `${config.eventsSubjectPrefix}.${runId}`;
}

/**
 * How long a worker may stay silent before it shows as `DISCONNECTED`:
 * `PYOCO_WORKER_DISCONNECTED_AFTER_SEC`, or by default twice the worker heartbeat interval, kept
 * below the workers bucket TTL (at most 3/4 of it) so the state is visible before the record
 * expires.
 *
 * @param config The configuration.
 * @returns Seconds.
 */
export function workerDisconnectedAfterSec(config: Config): number {
  if (config.workerDisconnectedAfterSec !== null) return config.workerDisconnectedAfterSec;
  return Math.min(2 * config.workerHeartbeatIntervalSec, 0.75 * config.workersKvTtlSec);
}
