/**
 * Shared setup of the worker tests: a real nats-server, the resources, a producer that writes
 * the PENDING snapshot (KV create) and publishes the job like the gateway does, and polling
 * helpers.
 *
 * @module
 */

import { connect } from "@nats-io/transport-node";
import {
  type ConsumerInfo,
  type JetStreamClient,
  type JetStreamManager,
  jetstreamManager,
} from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import {
  type Config,
  consumerName,
  eventsSubject,
  loadConfig,
  workSubject,
} from "../../src/config.ts";
import type { DlqMessage, Job, RunSnapshot, WorkerRecord } from "../../src/contract/wire.ts";
import { expandEventMessage } from "../../src/contract/events.ts";
import { Logger } from "../../src/log.ts";
import { createJson, getJson } from "../../src/nats/kv.ts";
import { ensureConsumer, ensureResources } from "../../src/nats/resources.ts";
import { type NatsServerHandle, startNatsServer } from "../_helpers/nats_server.ts";
import type { Flow } from "../../src/flow/types.ts";
import type { WorkerRegistry } from "../../src/worker/worker.ts";
import type { WorkerEvent } from "../../src/worker/events.ts";
import { pendingSnapshotFromJob } from "../../src/worker/snapshot.ts";

/** Everything a worker test needs. */
export interface WorkerTestEnv {
  srv: NatsServerHandle;
  config: Config;
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  runs: KV;
  workers: KV;
  /** Log lines written by loggers from {@linkcode WorkerTestEnv.logger}. */
  lines: string[];
  /** A logger that records its lines in `lines`. */
  logger: Logger;
  /** Write PENDING and publish a job; returns the job. */
  submit(flowName: string, params?: Record<string, unknown>, extra?: Partial<Job>): Promise<Job>;
  /**
   * Like `submit`, but the job carries `pending_revision` (the revision of the PENDING create),
   * as the gateway's jobs do (SPEC §10).
   */
  submitLive(flowName: string, params?: Record<string, unknown>): Promise<Job>;
  /** Publish raw bytes on the work subject of `tag`. */
  publishRaw(data: string, tag?: string): Promise<void>;
  snapshot(runId: string): Promise<RunSnapshot | null>;
  workerRecord(workerId: string): Promise<WorkerRecord | null>;
  consumerInfo(tag?: string): Promise<ConsumerInfo>;
  /** Every dead letter so far, oldest first. */
  deadLetters(): Promise<DlqMessage[]>;
  /** Every event of a run in the events stream, in stream order. */
  events(runId: string): Promise<WorkerEvent[]>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Start a nats-server and create the resources.
 *
 * @param env Extra PYOCO_* variables.
 * @param tags Tags whose consumers to create.
 */
export async function setupWorkerTest(
  env: Record<string, string> = {},
  tags: string[] = ["default"],
): Promise<WorkerTestEnv> {
  const srv = await startNatsServer();
  const config = loadConfig({ env: { PYOCO_NATS_URL: srv.url, ...env }, envFile: false });
  const nc = await connect({ servers: srv.url });
  const buckets = await ensureResources(nc, config);
  const jsm = await jetstreamManager(nc);
  const js = jsm.jetstream();
  for (const tag of tags) await ensureConsumer(jsm, config, tag);
  const lines: string[] = [];
  const logger = new Logger({
    service: "pyoco-server:worker",
    level: "DEBUG",
    write: (line) => lines.push(line),
  });
  const t: WorkerTestEnv = {
    srv,
    config,
    nc,
    js,
    jsm,
    runs: buckets.runs,
    workers: buckets.workers,
    lines,
    logger,
    async submit(flowName, params = {}, extra = {}) {
      const tag = extra.tag ?? "default";
      const job: Job = {
        run_id: crypto.randomUUID(),
        flow_name: flowName,
        tag,
        tags: [tag],
        params,
        submitted_at: Date.now() / 1000,
        ...extra,
      };
      const now = Date.now() / 1000;
      const snapshot: RunSnapshot = {
        run_id: job.run_id,
        flow_name: flowName,
        status: "PENDING",
        params,
        tasks: {},
        heartbeat_at: now,
        updated_at: now,
        tag,
        tags: job.tags,
        worker_id: null,
      };
      const rev = await createJson(buckets.runs, job.run_id, snapshot);
      if (rev === null) throw new Error("run id clash");
      await js.publish(workSubject(config, tag), JSON.stringify(job), { msgID: job.run_id });
      return job;
    },
    async submitLive(flowName, params = {}) {
      const job: Job = {
        run_id: crypto.randomUUID(),
        flow_name: flowName,
        tag: "default",
        tags: ["default"],
        params,
        submitted_at: Date.now() / 1000,
      };
      const revision = await createJson(buckets.runs, job.run_id, pendingSnapshotFromJob(job));
      if (revision === null) throw new Error("run id clash");
      job.pending_revision = revision;
      await js.publish(workSubject(config, "default"), JSON.stringify(job), { msgID: job.run_id });
      return job;
    },
    async publishRaw(data, tag = "default") {
      await js.publish(workSubject(config, tag), data);
    },
    async snapshot(runId) {
      return (await getJson<RunSnapshot>(buckets.runs, runId))?.value ?? null;
    },
    async workerRecord(workerId) {
      return (await getJson<WorkerRecord>(buckets.workers, workerId))?.value ?? null;
    },
    consumerInfo(tag = "default") {
      return jsm.consumers.info(config.workStream, consumerName(config, tag));
    },
    async deadLetters() {
      const info = await jsm.streams.info(config.dlqStream);
      const out: DlqMessage[] = [];
      for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
        if (info.state.messages === 0) break;
        const m = await jsm.streams.getMessage(config.dlqStream, { seq });
        if (m) out.push(m.json<DlqMessage>());
      }
      return out;
    },
    async events(runId) {
      const subject = eventsSubject(config, runId);
      const info = await jsm.streams.info(config.eventsStream, { subjects_filter: subject });
      let left = info.state.subjects?.[subject] ?? 0;
      const out: WorkerEvent[] = [];
      if (left === 0) return out;
      const consumer = await js.consumers.get(config.eventsStream, { filter_subjects: subject });
      while (left > 0) {
        const batch = await consumer.fetch({ max_messages: Math.min(left, 5000), expires: 5000 });
        let n = 0;
        for await (const m of batch) {
          // A batch message holds several events (SPEC §10): expanded as the gateway does.
          out.push(...expandEventMessage(m.seq, m.data) as unknown as WorkerEvent[]);
          n++;
        }
        if (n === 0) throw new Error(`Cannot read the events of run ${runId}: ${left} missing`);
        left -= n;
      }
      await consumer.delete().catch(() => {});
      return out;
    },
    async [Symbol.asyncDispose]() {
      await nc.close().catch(() => {});
      await srv.stop();
    },
  };
  return t;
}

/** A registry of the given flows (no YAML tasks unless given). */
export function registryOf(flows: Flow[], tasks: Flow[] = []): WorkerRegistry {
  const taskMap = new Map();
  for (const f of tasks) for (const [name, t] of f.tasks) taskMap.set(name, t);
  return { flows: new Map(flows.map((f) => [f.name, f])), tasks: taskMap };
}

/** The exact field list of a dead letter (SPEC §4, and §16's top-level tenant_id, api_key_id). */
export const DLQ_FIELDS: string[] = [
  "api_key_id",
  "error",
  "flow_name",
  "job",
  "num_delivered",
  "reason",
  "run_id",
  "subject",
  "tag",
  "tags",
  "tenant_id",
  "timestamp",
  "worker_id",
];

/** The exact field list of an `invalid_job` dead letter: also the raw `payload` (SPEC §16). */
export const INVALID_JOB_DLQ_FIELDS: string[] = [...DLQ_FIELDS, "payload"].sort();

/** Collect every value written to a run's key (a KV watch on that key) until `stop()`. */
export async function watchRun(t: WorkerTestEnv, runId: string): Promise<{
  seen: { snapshot: RunSnapshot; revision: number }[];
  stop(): Promise<void>;
}> {
  const seen: { snapshot: RunSnapshot; revision: number }[] = [];
  const iter = await t.runs.watch({ key: runId });
  const done = (async () => {
    for await (const e of iter) {
      if (e.operation === "PUT") {
        seen.push({ snapshot: e.json<RunSnapshot>(), revision: e.revision });
      }
    }
  })();
  return {
    seen,
    async stop() {
      iter.stop();
      await done;
    },
  };
}
