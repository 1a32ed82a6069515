/**
 * The NATS side of the run store (used by the gateway): connection, JetStream handles, the buckets (opened with short
 * request timeouts so that no route hangs) and the run index.
 *
 * @module
 */

import {
  jetstream,
  type JetStreamClient,
  type JetStreamManager,
  jetstreamManager,
} from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { type Config, parseRunKey } from "../config.ts";
import type { Logger } from "../log.ts";
import { ConnectionState } from "../nats/connection.ts";
import { ensureResources } from "../nats/resources.ts";
import { FlowCatalog } from "./catalog.ts";
import { NatsUnavailableError } from "./errors.ts";
import { RunIndex } from "./run_index.ts";
import { WorkerHistory } from "./worker_history.ts";

/**
 * Everything the NATS-backed routes need.
 *
 * A NATS-level building block (it takes nats.js handles), left out of the published docs.
 * @ignore
 */
export interface RunsBackend {
  /** The connection. */
  nc: NatsConnection;
  /** Whether the connection is up now. */
  state: ConnectionState;
  /** JetStream client (request timeout `timeoutMs`). */
  js: JetStreamClient;
  /** JetStream manager (request timeout `timeoutMs`). */
  jsm: JetStreamManager;
  /** The configuration (tenant mode: run keys, see `run_keys.ts`). */
  config: Config;
  /** Runs bucket (keys from `runKey()`: `<run_id>` shared, `<tenant>.<run_id>` namespaced). */
  runs: KV;
  /** Workers bucket (TTL). */
  workers: KV;
  /** Auth bucket. */
  auth: KV;
  /** Idempotency-Key claims (TTL). */
  idempotency: KV;
  /** Run summaries kept current by a watch. */
  index: RunIndex;
  /** The flow catalog bucket (SPEC §12). */
  flows: KV;
  /** The flow catalog and worker liveness, kept current by watches. */
  catalog: FlowCatalog;
  /** DLQ replay marks and dead workers' last records (SPEC §15, `PYOCO_HISTORY_KV_BUCKET`). */
  history: KV;
  /** Keeps recently dead workers visible as `LOST` (`PYOCO_WORKERS_HISTORY_SEC`). */
  workerHistory: WorkerHistory;
  /** Deadline of one NATS operation, in milliseconds. */
  timeoutMs: number;
  /** Stop the run index (the connection is the caller's). */
  close(): Promise<void>;
}

/** Options of {@linkcode openBackend}. */
export interface OpenBackendOptions {
  /** Where the run index logs. */
  logger?: Logger;
  /** Deadline of one NATS operation. @default {3000} */
  timeoutMs?: number;
  /** A tracker already following `nc` (one is made otherwise). */
  state?: ConnectionState;
  /** Wait this long for the run index's initial load. @default {10000} */
  indexLoadTimeoutMs?: number;
}

/**
 * Create the JetStream resources when missing (existing ones are respected), open the buckets
 * and start the run index.
 *
 * @param nc A NATS connection.
 * @param config The configuration.
 * @param options Logger, timeouts and connection tracker.
 * @returns The backend.
 * @throws {Error} When NATS does not answer or JetStream refuses (the caller retries).
 *
 * A NATS-level building block (it takes nats.js handles), left out of the published docs.
 * @ignore
 */
export async function openBackend(
  nc: NatsConnection,
  config: Config,
  options: OpenBackendOptions = {},
): Promise<RunsBackend> {
  const timeoutMs = options.timeoutMs ?? 3000;
  await ensureResources(nc, config);
  const js = jetstream(nc, { timeout: timeoutMs });
  const jsm = await jetstreamManager(nc, { timeout: timeoutMs });
  const kvm = new Kvm(js);
  const [runs, workers, auth, idempotency, flows, history] = await Promise.all([
    kvm.open(config.runsKvBucket),
    kvm.open(config.workersKvBucket),
    kvm.open(config.authKvBucket),
    kvm.open(config.idempotencyKvBucket),
    kvm.open(config.flowsKvBucket),
    kvm.open(config.historyKvBucket),
  ]);
  const workerHistory = new WorkerHistory({ workers, history, config, logger: options.logger });
  workerHistory.start();
  const index = new RunIndex(runs, {
    logger: options.logger,
    connection: nc,
    parseKey: (key) => parseRunKey(config, key),
  });
  index.start();
  const catalog = new FlowCatalog({
    flows,
    workers,
    config,
    logger: options.logger,
    connection: nc,
  });
  catalog.start();
  const loadMs = options.indexLoadTimeoutMs ?? 10_000;
  await Promise.all([index.whenReady(loadMs), catalog.whenReady(loadMs)]);
  return {
    nc,
    config,
    state: options.state ?? new ConnectionState(nc),
    js,
    jsm,
    runs,
    workers,
    auth,
    idempotency,
    index,
    flows,
    catalog,
    history,
    workerHistory,
    timeoutMs,
    close: async () => {
      await Promise.all([index.close(), catalog.close(), workerHistory.close()]);
    },
  };
}

/**
 * Await a NATS operation with a deadline; any failure becomes a 503 ERR-PYOCO-0003.
 * Use it only where an unknown outcome is harmless (reads).
 *
 * @param op The operation.
 * @param what What it does, for the error detail (e.g. `Cannot read run abc`).
 * @param timeoutMs The deadline.
 * @returns The operation's result.
 * @throws {NatsUnavailableError} when it fails or takes longer than `timeoutMs`.
 */
export async function natsCall<T>(
  op: () => Promise<T>,
  what: string,
  timeoutMs: number,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([op(), deadline]);
  } catch (err) {
    throw new NatsUnavailableError(what, { cause: err });
  } finally {
    clearTimeout(timer);
  }
}
