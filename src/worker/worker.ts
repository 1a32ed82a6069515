/**
 * `PyocoWorker`: pulls jobs for its tags from JetStream (one durable pull consumer per tag,
 * several tags = OR), runs each flow with the engine, mirrors progress to the run snapshot
 * (compare-and-set), keeps the job alive with `in_progress` ACKs, heartbeats its liveness
 * record, dead-letters what cannot run, and drains gracefully (SPEC §4.1, §4.2).
 *
 * @module
 */

import {
  type Consumer,
  type JetStreamClient,
  type JetStreamManager,
  jetstreamManager,
  type JsMsg,
} from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { type Config, eventsSubject } from "../config.ts";
import { ErrId } from "../contract/errors.ts";
import {
  CANCELLED_BY_REQUEST,
  type DlqReason,
  isTerminal,
  type Job,
  nowSec,
  type RunSnapshot,
  TAG_PATTERN,
} from "../contract/wire.ts";
import { runFlow } from "../flow/engine.ts";
import { TaskNotFoundError } from "../flow/errors.ts";
import type { Flow, FlowEvent, RunResult, Task, TaskState } from "../flow/types.ts";
import { flowFromYaml, parseWorkflowYaml } from "../flow/yaml.ts";
import { Logger, registerSecret } from "../log.ts";
import { connectNats } from "../nats/connection.ts";
import { createJson, getJson, updateJson, type Versioned } from "../nats/kv.ts";
import { ensureConsumer, ensureResources } from "../nats/resources.ts";
import { type DlqFields, publishDlq } from "./dead_letter.ts";
import { RunEventPublisher } from "./events.ts";
import { WorkerHeartbeat } from "./heartbeat.ts";
import { type InvalidJob, parseJob } from "./job.ts";
import {
  pendingSnapshotFromJob,
  RunMirror,
  type RunProgress,
  writeFailedSnapshot,
} from "./snapshot.ts";

/** The flows and tasks a worker can run (see `loadRegistry()`). */
export interface WorkerRegistry {
  /** Flow name → flow. */
  flows: ReadonlyMap<string, Flow>;
  /** `"module:export"` and bare task names → task (for flow.yaml jobs). */
  tasks: ReadonlyMap<string, Task>;
}

/** Options of {@linkcode PyocoWorker}. */
export interface PyocoWorkerOptions {
  /** The configuration (`loadConfig()`). */
  config: Config;
  /** Flows and tasks this worker exposes. */
  registry: WorkerRegistry;
  /** Tags to consume (each matches `[A-Za-z0-9_-]{1,64}`); at least one. */
  tags: string[];
  /** Worker id, the key of its liveness record. @default {`worker-<random>`} */
  workerId?: string;
  /** Runs at once. @default {config.workerConcurrency} */
  concurrency?: number;
  /** Logger. @default {a JSON logger for "pyoco-server:worker" per config} */
  logger?: Logger;
  /**
   * How long one pull request waits for a job, in milliseconds (≥ 1000). Bounds how long a
   * drain waits for pulls in flight and how often an idle worker alternates between tags.
   * @default {2000 for one tag, 1000 for several}
   */
  pullExpiresMs?: number;
}

/** What happened to one job. */
export type JobOutcome =
  /** Ran; snapshot `COMPLETED`; ACK. */
  | "completed"
  /** Ran; snapshot `FAILED`; ACK (and `execution_error` dead letter when enabled). */
  | "failed"
  /** Cancelled (a `CANCELLING` was seen); snapshot `CANCELLED`; ACK. */
  | "cancelled"
  /** The snapshot was already terminal: ACK without running. */
  | "already_terminal"
  /** Someone else made the snapshot terminal while it ran: not overwritten; ACK. */
  | "superseded"
  /** Not JSON / missing or invalid fields: TERM, `invalid_job` dead letter. */
  | "invalid_job"
  /** Flow or callable not registered: snapshot `FAILED`, ACK, `flow_not_found` dead letter. */
  | "flow_not_found"
  /** Transient NATS/KV error or drain: NAK (redelivered later). */
  | "requeued"
  /** Failing on the last delivery: snapshot `FAILED`, TERM, `execution_error` dead letter. */
  | "max_deliveries";

/** The result of processing one job. */
export interface JobResult {
  /** What happened. */
  outcome: JobOutcome;
  /** What the message got. */
  action: "ack" | "nak" | "term";
  /** The run id, when known. */
  runId: string | null;
  /** The tag whose consumer delivered it. */
  tag: string;
  /** Delivery count of the message. */
  deliveryCount: number;
  /** The error recorded, if any. */
  error: string | null;
}

/** Options of {@linkcode PyocoWorker.runOnce}. */
export interface RunOnceOptions {
  /** How long each tag's pull waits, in milliseconds (≥ 1000). @default {the worker's} */
  expiresMs?: number;
}

/** A worker option is invalid. */
export class WorkerOptionError extends Error {
  /** The option at fault. */
  readonly option: string;

  /**
   * Create the error.
   *
   * @param option The option at fault.
   * @param message What is wrong.
   * @param options Keeps `cause`.
   */
  constructor(option: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "WorkerOptionError";
    this.option = option;
  }
}

/** A run executing on this worker. */
interface _ActiveRun {
  runId: string;
  controller: AbortController;
  /** Set while the run executes: re-reads the snapshot when a cancel notification arrives. */
  mirror: RunMirror | null;
  /** Why the run's signal was aborted. */
  abortReason: "cancel" | "drain" | "superseded" | null;
}

/** A flow could not be resolved on this worker (ERR-PYOCO-0006). */
class _FlowNotFound extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "FlowNotFoundError";
  }
}

/** The workflow YAML of a job is invalid (treated as an invalid job). */
class _InvalidWorkflow extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "InvalidWorkflowError";
  }
}

const _sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });

/**
 * A worker: consumes jobs of its tags and runs them.
 *
 * @example Run until SIGTERM
 * ```ts ignore
 * import { loadConfig } from "../config.ts";
 * import { loadRegistry } from "../host/registry.ts";
 * import { PyocoWorker } from "./worker.ts";
 * const worker = new PyocoWorker({
 *   config: loadConfig(),
 *   registry: await loadRegistry(["./examples/flows.ts"]),
 *   tags: ["default"],
 * });
 * await worker.connect();
 * const stop = new AbortController();
 * Deno.addSignalListener("SIGTERM", () => stop.abort());
 * await worker.run(stop.signal);
 * await worker.close();
 * ```
 */
export class PyocoWorker {
  readonly #config: Config;
  readonly #registry: WorkerRegistry;
  readonly #tags: string[];
  readonly #workerId: string;
  readonly #concurrency: number;
  readonly #log: Logger;
  readonly #expiresMs: number;

  #nc: NatsConnection | null = null;
  #js: JetStreamClient | null = null;
  #runs: KV | null = null;
  #consumers = new Map<string, Consumer>();
  #maxDeliver = new Map<string, number>();
  #heartbeat: WorkerHeartbeat | null = null;
  readonly #active = new Map<string, _ActiveRun>();
  #tagCursor = 0;
  #stopping = false;
  #forced = false;
  readonly #forceController = new AbortController();
  #running = false;
  #closed = false;

  /**
   * Create a worker (not connected yet: call {@linkcode PyocoWorker.connect}).
   *
   * @param options Configuration, registry, tags and limits.
   * @throws {WorkerOptionError} When an option is invalid (the message names it).
   */
  constructor(options: PyocoWorkerOptions) {
    if (!options || typeof options !== "object") {
      throw new WorkerOptionError("options", "Invalid worker options: expected an object");
    }
    if (!options.config || typeof options.config !== "object") {
      throw new WorkerOptionError("config", "Invalid option config: expected a Config");
    }
    const reg = options.registry;
    if (!reg || !(reg.flows instanceof Map) || !(reg.tasks instanceof Map)) {
      throw new WorkerOptionError(
        "registry",
        "Invalid option registry: expected { flows: Map, tasks: Map } (see loadRegistry())",
      );
    }
    if (!Array.isArray(options.tags) || options.tags.length === 0) {
      throw new WorkerOptionError("tags", "Invalid option tags: expected at least one tag");
    }
    for (const tag of options.tags) {
      if (typeof tag !== "string" || !TAG_PATTERN.test(tag)) {
        throw new WorkerOptionError(
          "tags",
          `Invalid option tags: ${
            JSON.stringify(tag)
          } is not a tag (1 to 64 letters, digits, _ or -)`,
        );
      }
    }
    const workerId = options.workerId ?? `worker-${crypto.randomUUID().slice(0, 8)}`;
    if (typeof workerId !== "string" || !/^[-_=a-zA-Z0-9]{1,128}$/.test(workerId)) {
      throw new WorkerOptionError(
        "workerId",
        `Invalid option workerId: ${
          JSON.stringify(workerId)
        } must be 1 to 128 letters, digits, -, _ or =`,
      );
    }
    const concurrency = options.concurrency ?? options.config.workerConcurrency;
    if (!Number.isSafeInteger(concurrency) || concurrency < 1 || concurrency > 1024) {
      throw new WorkerOptionError(
        "concurrency",
        `Invalid option concurrency: ${concurrency} is not an integer from 1 to 1024`,
      );
    }
    const tags = [...new Set(options.tags)];
    const expiresMs = options.pullExpiresMs ?? (tags.length > 1 ? 1000 : 2000);
    if (!Number.isFinite(expiresMs) || expiresMs < 1000) {
      throw new WorkerOptionError(
        "pullExpiresMs",
        `Invalid option pullExpiresMs: ${expiresMs} must be at least 1000`,
      );
    }
    this.#config = options.config;
    this.#registry = reg;
    this.#tags = tags;
    this.#workerId = workerId;
    this.#concurrency = concurrency;
    this.#expiresMs = expiresMs;
    this.#log = (options.logger ?? new Logger({
      service: "pyoco-server:worker",
      logger: "pyoco.worker",
      level: options.config.logLevel,
      format: options.config.logFormat,
      utc: options.config.logUtc,
      includeTraceback: options.config.logIncludeTraceback,
    })).child({ worker_id: workerId });
  }

  /** The worker id. */
  get workerId(): string {
    return this.#workerId;
  }

  /** The tags consumed. */
  get tags(): readonly string[] {
    return this.#tags;
  }

  /** Runs at once. */
  get concurrency(): number {
    return this.#concurrency;
  }

  /** Ids of the runs executing now. */
  get activeRunIds(): string[] {
    return [...this.#active.keys()];
  }

  /**
   * Connect to NATS, create missing resources and one durable consumer per tag, and write the
   * first liveness record (`IDLE`).
   *
   * @returns When the worker is ready to pull.
   * @throws {NatsUnavailableError} When NATS cannot be reached.
   */
  async connect(): Promise<void> {
    if (this.#nc) return;
    const nc = await connectNats(this.#config, { name: `pyoco-worker ${this.#workerId}` });
    try {
      const buckets = await ensureResources(nc, this.#config);
      const jsm: JetStreamManager = await jetstreamManager(nc);
      const js = jsm.jetstream();
      for (const tag of this.#tags) {
        const durable = await ensureConsumer(jsm, this.#config, tag);
        const consumer = await js.consumers.get(this.#config.workStream, durable);
        const info = await consumer.info(true);
        this.#consumers.set(tag, consumer);
        // An existing consumer's settings are respected: use its MaxDeliver.
        this.#maxDeliver.set(tag, info.config.max_deliver ?? this.#config.consumerMaxDeliver);
      }
      this.#nc = nc;
      this.#js = js;
      this.#runs = buckets.runs;
      // The gateway's cancel notifications (core NATS): re-read that run's snapshot at once.
      nc.subscribe(`${this.#config.cancelSubjectPrefix}.*`, {
        callback: (err, msg) => {
          if (err) return;
          const runId = msg.subject.slice(this.#config.cancelSubjectPrefix.length + 1);
          void this.#active.get(runId)?.mirror?.recheck();
        },
      });
      this.#heartbeat = new WorkerHeartbeat({
        kv: buckets.workers,
        workerId: this.#workerId,
        tags: this.#tags,
        concurrency: this.#concurrency,
        intervalSec: this.#config.workerHeartbeatIntervalSec,
        logger: this.#log,
      });
      await this.#heartbeat.start();
    } catch (err) {
      await nc.close().catch(() => {});
      throw err;
    }
  }

  /**
   * Pull at most one job across the tags (each tag's consumer in turn, waiting up to
   * `expiresMs` on each) and process it fully.
   *
   * @param options Pull wait.
   * @returns What happened, or `null` when no job came.
   * @throws {Error} When not connected.
   */
  async runOnce(options: RunOnceOptions = {}): Promise<JobResult | null> {
    this.#requireConnected();
    const expires = Math.max(1000, options.expiresMs ?? this.#expiresMs);
    for (let i = 0; i < this.#tags.length; i++) {
      const tag = this.#nextTag();
      const msg = await this.#consumers.get(tag)!.next({ expires });
      if (msg) return await this.#handle(msg, tag);
    }
    return null;
  }

  /**
   * Consume until `signal` is aborted, running up to `concurrency` jobs at once; then drain:
   * stop pulling, let active runs finish for up to `PYOCO_WORKER_DRAIN_TIMEOUT_SEC`, abort and
   * NAK what is left, mark the worker `STOPPED`. {@linkcode PyocoWorker.forceStop} ends the
   * drain at once.
   *
   * @param signal Stops the worker (graceful drain).
   * @returns When the worker has drained and is marked `STOPPED`.
   * @throws {Error} When not connected or already running.
   */
  async run(signal?: AbortSignal): Promise<void> {
    this.#requireConnected();
    if (this.#running) throw new Error("Cannot run the worker: it is already running");
    this.#running = true;
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    if (signal?.aborted) stop.abort();
    signal?.addEventListener("abort", onAbort, { once: true });
    this.#forceController.signal.addEventListener("abort", onAbort, { once: true });

    const slots: Promise<void>[] = [];
    for (let i = 0; i < this.#concurrency; i++) slots.push(this.#slot(i, stop.signal));
    await new Promise<void>((resolve) => {
      if (stop.signal.aborted) resolve();
      stop.signal.addEventListener("abort", () => resolve(), { once: true });
    });
    this.#stopping = true;
    const drainMs = this.#config.workerDrainTimeoutSec * 1000;
    this.#log.info("Worker draining", {
      active_runs: this.activeRunIds,
      drain_timeout_sec: this.#config.workerDrainTimeoutSec,
    });
    const all = Promise.all(slots);
    // The drain timer must not outlive a drain that finished early (it would keep an embedding
    // program alive for the whole drain timeout).
    const drainTimer = new AbortController();
    const timedOut = await Promise.race([
      all.then(() => false),
      _sleep(drainMs, AbortSignal.any([this.#forceController.signal, drainTimer.signal]))
        .then(() => true),
    ]);
    drainTimer.abort();
    if (timedOut && this.#active.size > 0) {
      this.#log.warn("Drain timeout: aborting active runs; their jobs are NAKed", {
        active_runs: this.activeRunIds,
      });
      for (const run of this.#active.values()) {
        run.abortReason ??= "drain";
        run.controller.abort(new Error("Worker stopping: drain timeout"));
      }
    }
    await all;
    signal?.removeEventListener("abort", onAbort);
    await this.#heartbeat!.stop();
    this.#running = false;
    this.#log.info("Worker stopped");
  }

  /**
   * Stop at once (e.g. on a second SIGTERM): abort active runs, NAK their jobs, end the drain.
   */
  forceStop(): void {
    this.#forced = true;
    this.#stopping = true;
    for (const run of this.#active.values()) {
      run.abortReason ??= "drain";
      run.controller.abort(new Error("Worker stopping now"));
    }
    this.#forceController.abort();
  }

  /**
   * Mark the worker `STOPPED` and close the connection. Active runs (outside of
   * {@linkcode PyocoWorker.run}) are aborted and NAKed first.
   *
   * @returns When closed.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#active.size > 0) {
      this.forceStop();
      const deadline = Date.now() + this.#config.cancelGracePeriodSec * 1000 + 2000;
      while (this.#active.size > 0 && Date.now() < deadline) await _sleep(20);
    }
    await this.#heartbeat?.stop();
    if (this.#nc) {
      await this.#nc.drain().catch(() => this.#nc?.close());
    }
    this.#nc = null;
  }

  /** `await using worker = …` closes it. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ---------------------------------------------------------------------------------------------

  #requireConnected(): void {
    if (!this.#nc || this.#closed) {
      throw new Error("Cannot use the worker: call connect() first (or it was closed)");
    }
  }

  #nextTag(): string {
    const tag = this.#tags[this.#tagCursor % this.#tags.length]!;
    this.#tagCursor++;
    return tag;
  }

  /** One slot: pull a job (rotating over the tags), process it, repeat until stopped. */
  async #slot(index: number, stop: AbortSignal): Promise<void> {
    let cursor = index;
    while (!stop.aborted) {
      const tag = this.#tags[cursor % this.#tags.length]!;
      cursor++;
      let msg: JsMsg | null;
      try {
        msg = await this.#consumers.get(tag)!.next({ expires: this.#expiresMs });
      } catch (err) {
        if (stop.aborted) break;
        this.#log.warn("Cannot pull jobs; retrying", { tag }, err);
        await _sleep(1000, stop);
        continue;
      }
      if (!msg) continue;
      if (stop.aborted) {
        // Pulled while stopping: hand it back at once.
        msg.nak();
        break;
      }
      await this.#handle(msg, tag);
    }
  }

  /** Process one message, never throwing. */
  async #handle(msg: JsMsg, tag: string): Promise<JobResult> {
    try {
      return await this.#process(msg, tag);
    } catch (err) {
      // Programming error: leave the message to be redelivered (at a calm pace).
      this.#log.error("Unexpected error while processing a job", { tag }, err);
      this.#safe(() => msg.nak(this.#config.nakDelaySec * 1000));
      return {
        outcome: "requeued",
        action: "nak",
        runId: null,
        tag,
        deliveryCount: msg.info.deliveryCount,
        error: (err as Error).message,
      };
    }
  }

  async #process(msg: JsMsg, tag: string): Promise<JobResult> {
    const delivery = msg.info.deliveryCount;
    const parsed = parseJob(msg.data, tag);
    if (!parsed.ok) return await this.#rejectInvalid(msg, tag, parsed, delivery);
    const job = parsed.job;
    const log = this.#log.child({ run_id: job.run_id, flow_name: job.flow_name, tag: job.tag });
    const result = (
      outcome: JobOutcome,
      action: JobResult["action"],
      error: string | null = null,
    ): JobResult => ({ outcome, action, runId: job.run_id, tag, deliveryCount: delivery, error });
    const run: _ActiveRun = {
      runId: job.run_id,
      controller: new AbortController(),
      abortReason: null,
      mirror: null,
    };
    const keepAlive = this.#keepAlive(msg, log);
    this.#active.set(job.run_id, run);
    void this.#heartbeat?.setRuns(this.activeRunIds);
    let mirror: RunMirror | null = null;
    try {
      // 1. The snapshot: terminal → ACK without running; missing → create it.
      const current = await this.#readOrCreate(job);
      if (isTerminal(current.value.status)) {
        log.info("Run already terminal; acknowledging without running", {
          status: current.value.status,
        });
        await this.#ack(msg, log);
        return result("already_terminal", "ack");
      }
      if (current.value.status === "CANCELLING") {
        await writeFailedSnapshot(this.#runs!, {
          runId: job.run_id,
          job,
          workerId: this.#workerId,
          attempt: delivery,
          error: "Run cancelled before it started",
          status: "CANCELLED",
        });
        await this.#ack(msg, log);
        return result("cancelled", "ack", "Run cancelled before it started");
      }

      // 2. The flow.
      let flow: Flow;
      try {
        flow = await this.#resolveFlow(job);
      } catch (err) {
        if (err instanceof _InvalidWorkflow) {
          return await this.#rejectInvalid(msg, tag, {
            ok: false,
            error: err.message,
            runId: job.run_id,
            flowName: job.flow_name,
            payload: parsed.payload,
          }, delivery);
        }
        if (err instanceof _FlowNotFound) {
          return await this.#flowNotFound(msg, tag, job, parsed.payload, delivery, err, log);
        }
        throw err;
      }

      // 3. RUNNING (compare-and-set).
      const running = await this.#markRunning(current, job, flow, delivery);
      if (running === null) {
        log.info("Run turned terminal before it started; acknowledging");
        await this.#ack(msg, log);
        return result("already_terminal", "ack");
      }
      log.info("Run started", { attempt: delivery });

      // 4. Execute, mirroring progress (re-read on a cancel notification) and publishing
      //    the engine's events.
      const events = new RunEventPublisher({
        js: this.#js!,
        subject: eventsSubject(this.#config, job.run_id),
        runId: job.run_id,
        workerId: this.#workerId,
        logger: log,
        enabled: this.#config.eventsPublish,
      });
      mirror = new RunMirror({
        kv: this.#runs!,
        initial: running,
        minIntervalMs: this.#config.snapshotMinIntervalMs,
        heartbeatIntervalMs: this.#config.runHeartbeatIntervalSec * 1000,
        maxBytes: this.#config.maxRunSnapshotBytes,
        logger: log,
        onCancelRequested: () => {
          log.info("Cancel requested; aborting the run");
          run.abortReason ??= "cancel";
          run.controller.abort(new DOMException(CANCELLED_BY_REQUEST, "AbortError"));
        },
        onSuperseded: (existing) => {
          log.warn("Snapshot turned terminal under this worker; aborting the run", {
            status: existing?.status ?? null,
          });
          run.abortReason ??= "superseded";
          run.controller.abort(new Error("Run finished elsewhere"));
        },
      });
      if (this.#forced || (run.controller.signal.aborted && run.abortReason === null)) {
        run.abortReason ??= "drain";
        run.controller.abort(new Error("Worker stopping"));
      }
      run.mirror = mirror;
      const m = mirror;
      let latest: RunProgress = running.value.task_records
        ? { tasks: running.value.tasks, task_records: running.value.task_records }
        : { tasks: running.value.tasks, task_records: {} };
      /** The engine's last event (run.completed|failed|cancelled), published after the run. */
      let finalEvent: FlowEvent | null = null;
      let outcome: RunResult;
      try {
        outcome = await runFlow(flow, {
          // A flow.yaml run's params are its flow.defaults (no override at submit, as 0.4).
          params: typeof job.workflow_yaml === "string" ? {} : job.params,
          runId: job.run_id,
          signal: run.controller.signal,
          env: this.#exposedEnv(flow, log),
          abortGraceMs: this.#config.cancelGracePeriodSec * 1000,
          onProgress: (p: RunProgress) => {
            latest = p;
            m.progress(p);
          },
          onEvent: (event: FlowEvent) => {
            if (event.type.startsWith("run.") && event.type !== "run.started") {
              finalEvent = event;
            } else {
              events.push(event);
            }
          },
        });
      } catch (err) {
        log.error("Engine error", { err_id: ErrId.executionFailed }, err);
        const now = nowSec();
        outcome = {
          status: "FAILED",
          tasks: _closeStates(latest.tasks),
          task_records: latest.task_records,
          outputs: {},
          error: `Engine error: ${(err as Error)?.message ?? String(err)}`,
          start_time: running.value.start_time ?? now,
          end_time: now,
        };
        finalEvent = { type: "run.failed", run_id: job.run_id, error: outcome.error!, ts: now };
      }
      // Cancel rule: the engine's outcome decides. A run the engine finished COMPLETED (or
      // FAILED) before the abort took effect keeps that status even if a CANCELLING arrived
      // meanwhile (the cancel came too late); a run that ended CANCELLED while a CANCELLING
      // was seen is recorded "Run cancelled by request" (also when a task ignored its signal
      // and was given up after PYOCO_CANCEL_GRACE_PERIOD_SEC: its late result is discarded).
      if (outcome.status === "CANCELLED" && m.cancelRequested) {
        outcome = { ...outcome, error: CANCELLED_BY_REQUEST };
        finalEvent = {
          type: "run.cancelled",
          run_id: job.run_id,
          error: CANCELLED_BY_REQUEST,
          ts: outcome.end_time,
        };
      }

      // 5. Dispositions. Events are flushed before any snapshot write.
      if (m.superseded || run.abortReason === "superseded") {
        m.stop();
        await events.flush();
        await this.#ack(msg, log);
        return result("superseded", "ack");
      }
      if (run.abortReason === "drain" && !m.cancelRequested && outcome.status === "CANCELLED") {
        const max = this.#maxDeliver.get(tag) ?? this.#config.consumerMaxDeliver;
        if (delivery >= max) {
          m.stop();
          events.push({
            type: "run.failed",
            run_id: job.run_id,
            error: _maxDeliveriesError(delivery, max, "worker stopped"),
            ts: nowSec(),
          });
          await events.flush();
          return await this.#giveUp(msg, tag, job, parsed.payload, delivery, "worker stopped");
        }
        events.push({
          type: "run.requeued",
          run_id: job.run_id,
          reason: "worker stopped",
          ts: nowSec(),
        });
        await events.flush();
        await m.requeue().catch((err) => {
          log.warn("Cannot put the drained run back to PENDING", {}, err);
        });
        this.#safe(() => msg.nak());
        log.info("Run aborted by drain; job NAKed for redelivery");
        return result("requeued", "nak", "worker stopped");
      }
      if (finalEvent) events.push(finalEvent);
      await events.flush();
      const written = await m.finish({
        status: outcome.status,
        tasks: outcome.tasks,
        task_records: outcome.task_records,
        outputs: outcome.outputs,
        error: outcome.error,
        end_time: outcome.end_time,
      }).catch((err) => {
        throw new _TerminalWriteFailed(err);
      });
      if (!written.written) {
        log.info("Snapshot turned terminal meanwhile; not overwritten", {
          status: written.existing?.status ?? null,
        });
        await this.#ack(msg, log);
        return result("superseded", "ack");
      }
      if (outcome.status === "FAILED") {
        log.warn("Run failed", { err_id: ErrId.executionFailed, error: outcome.error });
        if (this.#config.dlqPublishExecutionError) {
          await this.#deadLetterJob("execution_error", outcome.error ?? "Run failed", {
            job,
            msg,
            delivery,
            payload: parsed.payload,
          }, log);
        }
      } else {
        log.info(`Run ${outcome.status.toLowerCase()}`);
      }
      await this.#ack(msg, log);
      const kind = outcome.status === "COMPLETED"
        ? "completed"
        : outcome.status === "FAILED"
        ? "failed"
        : "cancelled";
      return result(kind, "ack", outcome.error);
    } catch (err) {
      // NATS/KV trouble: leave the snapshot, NAK with a delay (TERM on the last delivery).
      mirror?.stop();
      const terminalWrite = err instanceof _TerminalWriteFailed;
      const cause = terminalWrite ? err.cause : err;
      log.error(
        terminalWrite
          ? "Cannot write the terminal snapshot; NAK for redelivery"
          : "NATS error while processing the job; NAK for redelivery",
        terminalWrite ? { err_id: ErrId.terminalWriteFailed } : {},
        cause,
      );
      const max = this.#maxDeliver.get(tag) ?? this.#config.consumerMaxDeliver;
      if (delivery >= max) {
        return await this.#giveUp(msg, tag, job, parsed.payload, delivery, _message(cause));
      }
      this.#safe(() => msg.nak(this.#config.nakDelaySec * 1000));
      return result("requeued", "nak", _message(cause));
    } finally {
      mirror?.stop();
      clearInterval(keepAlive);
      this.#active.delete(job.run_id);
      if (!this.#closed) void this.#heartbeat?.setRuns(this.activeRunIds);
    }
  }

  /** `in_progress` ACK every `ackProgressIntervalSec` while the job is being processed. */
  #keepAlive(msg: JsMsg, log: Logger): ReturnType<typeof setInterval> {
    return setInterval(() => {
      try {
        msg.working();
      } catch (err) {
        log.warn("Cannot send in_progress ACK", { err_id: ErrId.inProgressFailed }, err);
      }
    }, this.#config.ackProgressIntervalSec * 1000);
  }

  async #readOrCreate(job: Job): Promise<Versioned<RunSnapshot>> {
    const kv = this.#runs!;
    for (let i = 0; i < 10; i++) {
      const current = await getJson<RunSnapshot>(kv, job.run_id);
      if (current) return current;
      const value = pendingSnapshotFromJob(job);
      const revision = await createJson(kv, job.run_id, value);
      if (revision !== null) return { value, revision };
    }
    throw new Error(`Cannot read or create the snapshot of run "${job.run_id}"`);
  }

  async #resolveFlow(job: Job): Promise<Flow> {
    if (typeof job.workflow_yaml === "string") {
      let parsed;
      try {
        parsed = await parseWorkflowYaml(job.workflow_yaml, {
          maxBytes: this.#config.workflowYamlMaxBytes,
        });
      } catch (err) {
        throw new _InvalidWorkflow(`Invalid job: workflow_yaml is invalid: ${_message(err)}`, {
          cause: err,
        });
      }
      if (job.workflow_yaml_sha256 && job.workflow_yaml_sha256 !== parsed.sha256) {
        throw new _InvalidWorkflow(
          `Invalid job: workflow_yaml does not match workflow_yaml_sha256 (${job.workflow_yaml_sha256})`,
        );
      }
      try {
        return flowFromYaml(parsed, { flowName: job.flow_name, tasks: this.#registry.tasks });
      } catch (err) {
        if (err instanceof TaskNotFoundError) {
          throw new _FlowNotFound(
            `Cannot run flow "${job.flow_name}": task "${err.callable}" is not registered on worker ${this.#workerId}`,
            { cause: err },
          );
        }
        throw new _InvalidWorkflow(`Invalid job: workflow_yaml is invalid: ${_message(err)}`, {
          cause: err,
        });
      }
    }
    const flow = this.#registry.flows.get(job.flow_name);
    if (!flow) {
      throw new _FlowNotFound(
        `Cannot run flow "${job.flow_name}": it is not registered on worker ${this.#workerId}`,
      );
    }
    return flow;
  }

  /** CAS-write RUNNING; `null` when the snapshot turned terminal meanwhile. */
  async #markRunning(
    current: Versioned<RunSnapshot>,
    job: Job,
    flow: Flow,
    delivery: number,
  ): Promise<Versioned<RunSnapshot> | null> {
    const kv = this.#runs!;
    let cur = current;
    const tasks: Record<string, TaskState> = {};
    for (const name of flow.order) tasks[name] = "PENDING";
    for (let i = 0; i < 20; i++) {
      if (isTerminal(cur.value.status)) return null;
      const now = nowSec();
      const value: RunSnapshot = {
        ...cur.value,
        status: cur.value.status === "CANCELLING" ? "CANCELLING" : "RUNNING",
        tag: cur.value.tag ?? job.tag,
        tags: cur.value.tags ?? job.tags,
        // A DLQ replay: kept from the job when the snapshot does not say it already.
        ...(cur.value.replayed_from == null && job.replayed_from != null
          ? { replayed_from: job.replayed_from }
          : {}),
        worker_id: this.#workerId,
        // The flow's graph DSL, so viewers (the dashboard) can draw the DAG.
        graph: flow.graph,
        start_time: now,
        end_time: null,
        error: null,
        attempt: delivery,
        heartbeat_at: now,
        updated_at: now,
        tasks,
        task_records: {},
        task_records_truncated: false,
        outputs: null,
      };
      const revision = await updateJson(kv, job.run_id, value, cur.revision);
      if (revision !== null) return { value, revision };
      const again = await getJson<RunSnapshot>(kv, job.run_id);
      if (again === null) {
        const created = await createJson(kv, job.run_id, value);
        if (created !== null) return { value, revision: created };
        continue;
      }
      cur = again;
    }
    throw new Error(`Cannot mark run "${job.run_id}" RUNNING: its snapshot kept changing`);
  }

  /** Values of the flow's `exposeEnv` names that this process may read (secrets registered). */
  #exposedEnv(flow: Flow, log: Logger): Record<string, string> {
    const env: Record<string, string> = {};
    for (const name of flow.exposeEnv) {
      let granted = false;
      try {
        granted = Deno.permissions.querySync({ name: "env", variable: name }).state === "granted";
      } catch { /* invalid name */ }
      if (!granted) {
        log.warn(
          `Environment variable ${name} is exposed by the flow but this worker may not read it; add it to --allow-env`,
          { variable: name },
        );
        continue;
      }
      const value = Deno.env.get(name);
      if (value === undefined) continue;
      registerSecret(value);
      env[name] = value;
    }
    return env;
  }

  async #rejectInvalid(
    msg: JsMsg,
    tag: string,
    invalid: InvalidJob,
    delivery: number,
  ): Promise<JobResult> {
    const log = this.#log.child({
      run_id: invalid.runId,
      flow_name: invalid.flowName,
      tag,
    });
    log.error("Invalid job; terminating it", {
      err_id: ErrId.invalidJob,
      reason: "invalid_job",
      error: invalid.error,
    });
    if (invalid.runId !== null) {
      try {
        await writeFailedSnapshot(this.#runs!, {
          runId: invalid.runId,
          flowName: invalid.flowName,
          workerId: this.#workerId,
          attempt: delivery,
          error: invalid.error,
        });
      } catch (err) {
        log.error("Cannot write the FAILED snapshot of an invalid job", {
          err_id: ErrId.terminalWriteFailed,
        }, err);
      }
    }
    const payload = invalid.payload;
    const tags = typeof payload === "object" && Array.isArray(payload.tags) &&
        payload.tags.every((t) => typeof t === "string")
      ? payload.tags as string[]
      : [tag];
    await this.#dlq({
      reason: "invalid_job",
      error: invalid.error,
      runId: invalid.runId,
      flowName: invalid.flowName,
      tag,
      tags,
      workerId: this.#workerId,
      numDelivered: delivery,
      subject: msg.subject,
      job: payload,
    }, log);
    this.#safe(() => msg.term());
    return {
      outcome: "invalid_job",
      action: "term",
      runId: invalid.runId,
      tag,
      deliveryCount: delivery,
      error: invalid.error,
    };
  }

  async #flowNotFound(
    msg: JsMsg,
    tag: string,
    job: Job,
    payload: Record<string, unknown>,
    delivery: number,
    err: Error,
    log: Logger,
  ): Promise<JobResult> {
    log.error("Flow not found", { err_id: ErrId.flowNotFound, reason: "flow_not_found" }, err);
    // A NATS error here propagates: the caller NAKs (the snapshot must say why it failed).
    await writeFailedSnapshot(this.#runs!, {
      runId: job.run_id,
      job,
      workerId: this.#workerId,
      attempt: delivery,
      error: err.message,
    });
    await this.#deadLetterJob("flow_not_found", err.message, {
      job,
      msg,
      delivery,
      payload: payload,
    }, log);
    await this.#ack(msg, log);
    return {
      outcome: "flow_not_found",
      action: "ack",
      runId: job.run_id,
      tag,
      deliveryCount: delivery,
      error: err.message,
    };
  }

  /** Last delivery still failing: FAILED "max deliveries exceeded", TERM, dead letter. */
  async #giveUp(
    msg: JsMsg,
    tag: string,
    job: Job,
    payload: Record<string, unknown>,
    delivery: number,
    cause: string,
  ): Promise<JobResult> {
    const max = this.#maxDeliver.get(tag) ?? this.#config.consumerMaxDeliver;
    const error = _maxDeliveriesError(delivery, max, cause);
    const log = this.#log.child({ run_id: job.run_id, flow_name: job.flow_name, tag: job.tag });
    log.error("Giving up on the job: max deliveries exceeded", {
      err_id: ErrId.executionFailed,
      reason: "execution_error",
    });
    try {
      await writeFailedSnapshot(this.#runs!, {
        runId: job.run_id,
        job,
        workerId: this.#workerId,
        attempt: delivery,
        error,
      });
    } catch (err) {
      log.error("Cannot write the FAILED snapshot", { err_id: ErrId.terminalWriteFailed }, err);
    }
    await this.#deadLetterJob("execution_error", error, { job, msg, delivery, payload }, log);
    this.#safe(() => msg.term());
    return {
      outcome: "max_deliveries",
      action: "term",
      runId: job.run_id,
      tag,
      deliveryCount: delivery,
      error,
    };
  }

  /** Dead-letter a valid job (its run id, flow, tags and the original payload). */
  #deadLetterJob(
    reason: DlqReason,
    error: string,
    at: { job: Job; msg: JsMsg; delivery: number; payload: Record<string, unknown> },
    log: Logger,
  ): Promise<void> {
    return this.#dlq({
      reason,
      error,
      runId: at.job.run_id,
      flowName: at.job.flow_name,
      tag: at.job.tag,
      tags: at.job.tags,
      workerId: this.#workerId,
      numDelivered: at.delivery,
      subject: at.msg.subject,
      job: at.payload,
    }, log);
  }

  async #dlq(fields: DlqFields, log: Logger): Promise<void> {
    if (!this.#js) return;
    await publishDlq(this.#js, this.#config, fields, log);
  }

  /** ACK and wait for the server to confirm; a lost ACK only means a no-op redelivery. */
  async #ack(msg: JsMsg, log: Logger): Promise<void> {
    try {
      await msg.ackAck({ timeout: 5000 });
    } catch (err) {
      log.warn("ACK not confirmed; a redelivery will find the run terminal", {}, err);
    }
  }

  #safe(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#log.warn("Cannot answer the message", {}, err);
    }
  }
}

/** The terminal snapshot write failed for a NATS reason (ERR-PYOCO-0008). */
class _TerminalWriteFailed extends Error {
  constructor(cause: unknown) {
    super(`Cannot write the terminal snapshot: ${_message(cause)}`, { cause });
    this.name = "TerminalWriteFailedError";
  }
}

function _maxDeliveriesError(delivery: number, max: number, cause: string): string {
  return `Max deliveries exceeded (${delivery} of ${max}): ${cause}`;
}

function _message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function _closeStates(tasks: Record<string, TaskState>): Record<string, TaskState> {
  const out: Record<string, TaskState> = {};
  for (const [name, state] of Object.entries(tasks)) {
    out[name] = state === "PENDING" || state === "RUNNING" ? "CANCELLED" : state;
  }
  return out;
}
