/**
 * JetStream resources of SPEC §3: created when missing; an existing resource's settings are
 * respected, never overwritten. Replicas and storage come from the configuration.
 *
 * @module
 */

import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamManager,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
  type StreamInfo,
} from "@nats-io/jetstream";
import { type KV, Kvm, type KvOptions } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import {
  type Config,
  consumerName,
  dlqFilter,
  eventsFilter,
  secondsToMs,
  secondsToNanos,
  workFilter,
  type WorkRoute,
  workSubject,
} from "../config.ts";

/** The KV buckets every component uses. */
export interface PyocoBuckets {
  runs: KV;
  workers: KV;
  auth: KV;
  /** Idempotency-Key claims (TTL `PYOCO_IDEMPOTENCY_TTL_SEC`). */
  idempotency: KV;
  /** Leases of cluster-wide chores (`PYOCO_LEASES_KV_BUCKET`). */
  leases: KV;
  /** The flow catalog (SPEC §12): `<tag>.<flow_name>` entries, TTL {@linkcode FLOWS_KV_TTL_SEC}. */
  flows: KV;
  /** Schedules and their slot claims (SPEC §14; `PYOCO_SCHEDULES_KV_BUCKET`, history 1). */
  schedules: KV;
  /**
   * DLQ replay marks and the last records of dead workers (SPEC §15; `PYOCO_HISTORY_KV_BUCKET`,
   * history 1, TTL {@linkcode historyTtlSec}).
   */
  history: KV;
  /** Per-tenant limits (SPEC §13; `PYOCO_TENANTS_KV_BUCKET`, history 1, key `<tenant_id>`). */
  tenants: KV;
}

/**
 * TTL of the history bucket: long enough for a replay mark to outlive its dead letter
 * (`PYOCO_DLQ_MAX_AGE_SEC`) and a dead worker's record its `PYOCO_WORKERS_HISTORY_SEC`.
 *
 * @param config The configuration.
 * @returns Seconds (at least one hour).
 */
export function historyTtlSec(config: Config): number {
  return Math.max(3600, config.dlqMaxAgeSec, config.workersHistorySec);
}

/** How long a flow catalog entry lives without a refresh (SPEC §12: 24 h). */
export const FLOWS_KV_TTL_SEC = 86_400;

function _storage(config: Config): StorageType {
  return config.jsStorage === "memory" ? StorageType.Memory : StorageType.File;
}

/** Whether `err` says a stream or consumer does not exist. */
export function isNotFound(err: unknown): boolean {
  return err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamNotFound ||
      err.code === JetStreamApiCodes.ConsumerNotFound);
}

async function _ensureStream(
  jsm: JetStreamManager,
  config: Partial<StreamConfig> & { name: string },
): Promise<StreamInfo> {
  try {
    return await jsm.streams.info(config.name);
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  try {
    return await jsm.streams.add(config);
  } catch (err) {
    // Another process created it between our info and add: respect theirs.
    try {
      return await jsm.streams.info(config.name);
    } catch {
      throw err;
    }
  }
}

/** The work stream's configuration as we would create it. */
export function workStreamConfig(config: Config): Partial<StreamConfig> & { name: string } {
  return {
    name: config.workStream,
    subjects: [workFilter(config)],
    retention: RetentionPolicy.Workqueue,
    storage: _storage(config),
    num_replicas: config.jsReplicas,
    duplicate_window: secondsToNanos(config.duplicateWindowSec),
  };
}

/** The buckets a worker uses (all a tenant's worker user may open, docs/tenancy.md). */
export type WorkerBuckets = Pick<PyocoBuckets, "runs" | "workers" | "flows" | "tenants">;

/**
 * Create (when missing) every stream and bucket of SPEC §3 and open the buckets.
 *
 * @param nc A NATS connection.
 * @param config The configuration.
 * @returns The KV bucket handles.
 */
export async function ensureResources(nc: NatsConnection, config: Config): Promise<PyocoBuckets> {
  await _ensureStreams(nc, config);
  const specs = _bucketSpecs(config);
  const kvm = new Kvm(nc);
  const names = Object.keys(specs) as (keyof PyocoBuckets)[];
  const opened = await Promise.all(
    names.map((b) => kvm.create(specs[b].name, specs[b].options)),
  );
  return Object.fromEntries(names.map((b, i) => [b, opened[i]!])) as unknown as PyocoBuckets;
}

/**
 * What a worker opens at start: the three streams and only the four buckets it uses (runs,
 * workers, flows, tenants), each created when missing. When they all exist, only their
 * `STREAM.INFO` is asked, which is what a tenant's worker user may do (docs/tenancy.md).
 *
 * @param nc A NATS connection.
 * @param config The configuration.
 * @returns The worker's bucket handles.
 */
export async function ensureWorkerResources(
  nc: NatsConnection,
  config: Config,
): Promise<WorkerBuckets> {
  await _ensureStreams(nc, config);
  const specs = _bucketSpecs(config);
  const kvm = new Kvm(nc);
  const [runs, workers, flows, tenants] = await Promise.all(
    (["runs", "workers", "flows", "tenants"] as const).map((b) =>
      kvm.create(specs[b].name, specs[b].options)
    ),
  );
  return { runs: runs!, workers: workers!, flows: flows!, tenants: tenants! };
}

async function _ensureStreams(nc: NatsConnection, config: Config): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const storage = _storage(config);
  const replicas = config.jsReplicas;
  _checkSubjects(config, await _ensureStream(jsm, workStreamConfig(config)), workFilter(config));
  const dlq = await _ensureStream(jsm, {
    name: config.dlqStream,
    subjects: [dlqFilter(config)],
    retention: RetentionPolicy.Limits,
    storage,
    num_replicas: replicas,
    max_age: secondsToNanos(config.dlqMaxAgeSec),
    max_msgs: config.dlqMaxMsgs,
    max_bytes: config.dlqMaxBytes,
  });
  _checkSubjects(config, dlq, dlqFilter(config));
  const events = await _ensureStream(jsm, {
    name: config.eventsStream,
    subjects: [eventsFilter(config)],
    retention: RetentionPolicy.Limits,
    storage,
    num_replicas: replicas,
    max_age: secondsToNanos(config.eventsMaxAgeSec),
    max_bytes: config.eventsMaxBytes,
  });
  _checkSubjects(config, events, eventsFilter(config));
}

/** Each bucket's name and creation options. */
function _bucketSpecs(
  config: Config,
): Record<keyof PyocoBuckets, { name: string; options: Partial<KvOptions> }> {
  const storage = _storage(config);
  const replicas = config.jsReplicas;
  // Namespaced mode reads runs with direct gets that name the key in the subject, so NATS
  // permissions can limit a tenant's workers to their keys (docs/tenancy.md).
  const direct = config.tenantIsolation === "namespaced" ? true : undefined;
  const base = { history: 1, storage, replicas };
  return {
    runs: { name: config.runsKvBucket, options: { ...base, allow_direct: direct } },
    workers: {
      name: config.workersKvBucket,
      options: { ...base, ttl: secondsToMs(config.workersKvTtlSec) },
    },
    auth: { name: config.authKvBucket, options: base },
    idempotency: {
      name: config.idempotencyKvBucket,
      options: { ...base, ttl: secondsToMs(config.idempotencyTtlSec) },
    },
    flows: { name: config.flowsKvBucket, options: { ...base, ttl: secondsToMs(FLOWS_KV_TTL_SEC) } },
    // A lease carries its own expiry; the bucket's TTL only clears leases nobody holds any more.
    leases: { name: config.leasesKvBucket, options: { ...base, ttl: 86_400_000 } },
    schedules: { name: config.schedulesKvBucket, options: base },
    history: {
      name: config.historyKvBucket,
      options: { ...base, ttl: secondsToMs(historyTtlSec(config)) },
    },
    tenants: { name: config.tenantsKvBucket, options: { ...base, allow_direct: direct } },
  };
}

/** The consumer {@linkcode ensureConsumer} makes: a route plus its in-flight cap. */
export interface ConsumerSpec extends WorkRoute {
  /**
   * `max_ack_pending` of a consumer created now (a tenant's limit, SPEC §13).
   * @default {config.consumerMaxAckPending}
   */
  maxAckPending?: number;
}

/**
 * Create (when missing) the durable pull consumer of a tag — in namespaced mode of a tenant's
 * tag, and of a priority: {@linkcode consumerName} filtered on {@linkcode workSubject}, explicit
 * ack, AckWait / MaxDeliver / MaxAckPending from the config (or the spec's `maxAckPending`).
 *
 * @param jsm A JetStream manager.
 * @param config The configuration.
 * @param spec The tag, or `{tag, tenant, priority, maxAckPending}`.
 * @returns The durable name.
 */
export async function ensureConsumer(
  jsm: JetStreamManager,
  config: Config,
  spec: string | ConsumerSpec,
): Promise<string> {
  const durable = consumerName(config, spec);
  try {
    await jsm.consumers.info(config.workStream, durable);
    return durable;
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  const maxAckPending = typeof spec === "string" ? undefined : spec.maxAckPending;
  try {
    await jsm.consumers.add(config.workStream, {
      durable_name: durable,
      filter_subject: workSubject(config, spec),
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: secondsToNanos(config.consumerAckWaitSec),
      max_deliver: config.consumerMaxDeliver,
      max_ack_pending: maxAckPending ?? config.consumerMaxAckPending,
    });
  } catch (err) {
    // Created concurrently by another worker: theirs stands.
    await jsm.consumers.info(config.workStream, durable).catch(() => {
      throw err;
    });
  }
  return durable;
}

/**
 * In namespaced mode an existing stream must take the namespaced subjects: a stream created in
 * shared mode has `pyoco.work.>` only, and every namespaced publish would find no stream. Its
 * settings are not changed for the operator (docs/tenancy.md says how to switch).
 */
function _checkSubjects(config: Config, info: StreamInfo, filter: string): void {
  if (config.tenantIsolation !== "namespaced") return;
  const subjects = info.config.subjects ?? [];
  if (subjects.some((s) => _covers(s, filter))) return;
  throw new Error(
    `Cannot use stream ${info.config.name} in namespaced mode: its subjects ` +
      `${JSON.stringify(subjects)} do not take ${filter}; add ${filter} to the stream ` +
      "(nats stream edit, see docs/tenancy.md) or set PYOCO_TENANT_ISOLATION=shared",
  );
}

/** Whether every subject matching `b` matches `a` (NATS wildcards `*` and `>`). */
function _covers(a: string, b: string): boolean {
  const at = a.split(".");
  const bt = b.split(".");
  for (let i = 0; i < at.length; i++) {
    const x = at[i];
    const y = bt[i];
    if (x === ">") return true;
    if (y === undefined || y === ">") return false;
    if (x !== "*" && x !== y) return false;
  }
  return at.length === bt.length;
}
