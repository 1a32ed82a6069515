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
import { type KV, Kvm } from "@nats-io/kv";
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

/**
 * Create (when missing) every stream and bucket of SPEC §3 and open the buckets.
 *
 * @param nc A NATS connection.
 * @param config The configuration.
 * @returns The KV bucket handles.
 */
export async function ensureResources(nc: NatsConnection, config: Config): Promise<PyocoBuckets> {
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
  const kvm = new Kvm(nc);
  const direct = config.tenantIsolation === "namespaced" ? true : undefined;
  const [runs, workers, auth, idempotency, flows, leases, schedules, history, tenants] =
    await Promise
      .all([
        // Namespaced mode reads runs with direct gets that name the key in the subject, so NATS
        // permissions can limit a tenant's workers to their keys (docs/tenancy.md).
        kvm.create(config.runsKvBucket, { history: 1, storage, replicas, allow_direct: direct }),
        kvm.create(config.workersKvBucket, {
          history: 1,
          storage,
          replicas,
          ttl: secondsToMs(config.workersKvTtlSec),
        }),
        kvm.create(config.authKvBucket, { history: 1, storage, replicas }),
        kvm.create(config.idempotencyKvBucket, {
          history: 1,
          storage,
          replicas,
          ttl: secondsToMs(config.idempotencyTtlSec),
        }),
        kvm.create(config.flowsKvBucket, {
          history: 1,
          storage,
          replicas,
          ttl: secondsToMs(FLOWS_KV_TTL_SEC),
        }),
        // A lease carries its own expiry; the bucket's TTL only clears leases nobody holds any more.
        kvm.create(config.leasesKvBucket, { history: 1, storage, replicas, ttl: 86_400_000 }),
        kvm.create(config.schedulesKvBucket, { history: 1, storage, replicas }),
        kvm.create(config.historyKvBucket, {
          history: 1,
          storage,
          replicas,
          ttl: secondsToMs(historyTtlSec(config)),
        }),
        kvm.create(config.tenantsKvBucket, { history: 1, storage, replicas, allow_direct: direct }),
      ]);
  return { runs, workers, auth, idempotency, flows, leases, schedules, history, tenants };
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
