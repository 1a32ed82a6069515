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
import { type Config, consumerName, secondsToMs, secondsToNanos, workSubject } from "../config.ts";

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
    subjects: [`${config.workSubjectPrefix}.>`],
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
  await _ensureStream(jsm, workStreamConfig(config));
  await _ensureStream(jsm, {
    name: config.dlqStream,
    subjects: [`${config.dlqSubjectPrefix}.>`],
    retention: RetentionPolicy.Limits,
    storage,
    num_replicas: replicas,
    max_age: secondsToNanos(config.dlqMaxAgeSec),
    max_msgs: config.dlqMaxMsgs,
    max_bytes: config.dlqMaxBytes,
  });
  await _ensureStream(jsm, {
    name: config.eventsStream,
    subjects: [`${config.eventsSubjectPrefix}.>`],
    retention: RetentionPolicy.Limits,
    storage,
    num_replicas: replicas,
    max_age: secondsToNanos(config.eventsMaxAgeSec),
    max_bytes: config.eventsMaxBytes,
  });
  const kvm = new Kvm(nc);
  const [runs, workers, auth, idempotency, flows, leases, schedules, history] = await Promise.all([
    kvm.create(config.runsKvBucket, { history: 1, storage, replicas }),
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
  ]);
  return { runs, workers, auth, idempotency, flows, leases, schedules, history };
}

/**
 * Create (when missing) the durable pull consumer of a tag: `<prefix>_<tag>` filtered on
 * `<work prefix>.<tag>`, explicit ack, AckWait / MaxDeliver / MaxAckPending from the config.
 *
 * @param jsm A JetStream manager.
 * @param config The configuration.
 * @param tag The tag.
 * @returns The durable name.
 */
export async function ensureConsumer(
  jsm: JetStreamManager,
  config: Config,
  tag: string,
): Promise<string> {
  const durable = consumerName(config, tag);
  try {
    await jsm.consumers.info(config.workStream, durable);
    return durable;
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  try {
    await jsm.consumers.add(config.workStream, {
      durable_name: durable,
      filter_subject: workSubject(config, tag),
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: secondsToNanos(config.consumerAckWaitSec),
      max_deliver: config.consumerMaxDeliver,
      max_ack_pending: config.consumerMaxAckPending,
    });
  } catch (err) {
    // Created concurrently by another worker: theirs stands.
    await jsm.consumers.info(config.workStream, durable).catch(() => {
      throw err;
    });
  }
  return durable;
}
