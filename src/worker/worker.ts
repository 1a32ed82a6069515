/**
 * `PyocoWorker`: the lifecycle of a worker and its pull slots (SPEC §4.2). It connects (waiting
 * for NATS when asked), keeps its work queues (`queues.ts`: one durable pull consumer per tag
 * and priority — and per tenant in namespaced mode, SPEC §13; several tags = OR), runs up to
 * `concurrency` jobs at once fed by batched, fair pulls (`dispatcher.ts`), heartbeats its
 * liveness record, forwards the gateway's cancel notifications, and drains gracefully. Each
 * pulled message is handed to a {@linkcode JobRunner} (`job_runner.ts`), which decides
 * everything about that job.
 *
 * @module
 */

import { type JetStreamClient, jetstreamManager, type JsMsg } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { cancelFilter, type Config } from "../config.ts";
import { ErrId } from "../contract/errors.ts";
import { TENANT_PATTERN } from "../contract/tenancy.ts";
import { TAG_PATTERN } from "../contract/wire.ts";
import { Logger } from "../log.ts";
import { connectNats } from "../nats/connection.ts";
import { ensureWorkerResources } from "../nats/resources.ts";
import { abortableSleep } from "../contract/_util.ts";
import { isTransientNatsError } from "../nats/retry.ts";
import { WorkerCatalog } from "./catalog.ts";
import type { WorkerRegistry } from "./flow_lookup.ts";
import { WorkerHeartbeat } from "./heartbeat.ts";
import type { JobResult } from "./job.ts";
import { JobRunner, type JobRunnerContext } from "./job_runner.ts";
import { Dispatcher } from "./dispatcher.ts";
import { type WorkQueue, WorkQueues } from "./queues.ts";

export type { WorkerRegistry } from "./flow_lookup.ts";
export type { JobOutcome, JobResult } from "./job.ts";

/** Options of {@linkcode PyocoWorker}. */
export interface PyocoWorkerOptions {
  /** The configuration (`loadConfig()`). */
  config: Config;
  /** Flows and tasks this worker exposes. */
  registry: WorkerRegistry;
  /** Tags to consume (each matches `[A-Za-z0-9_-]{1,64}`); at least one. */
  tags: string[];
  /**
   * Tenants to serve in namespaced mode (SPEC §13): ids, or `"*"` for every tenant, including
   * tenants that appear after the start. Ignored in shared mode.
   * @default {"*"}
   */
  tenants?: string[] | "*";
  /** Worker id, the key of its liveness record. @default {`worker-<random>`} */
  workerId?: string;
  /** Runs at once. @default {config.workerConcurrency} */
  concurrency?: number;
  /** Logger. @default {a JSON logger for "pyoco-server:worker" per config} */
  logger?: Logger;
  /**
   * How long one pull request waits for the jobs it asked for, in milliseconds (≥ 1000).
   * Bounds how long a drain waits for pulls in flight.
   * @default {2000 for one tag, 1000 for several}
   */
  pullExpiresMs?: number;
  /**
   * How often an idle worker looks at its queues' counts again, in milliseconds (the "pull
   * interval" of SPEC §13's fairness goal).
   * @default {250}
   */
  pollMs?: number;
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

/** Options of {@linkcode PyocoWorker.connect}. */
export interface ConnectOptions {
  /**
   * Keep trying, with backoff (0.25 s doubling to 5 s) and a warning per attempt, while NATS
   * cannot be reached or is not ready, instead of failing at once.
   * @default {false}
   */
  waitForNats?: boolean;
  /** Ends the waiting: `connect()` then rejects with the signal's reason. */
  signal?: AbortSignal;
}

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
 * await worker.connect({ waitForNats: true });
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
  readonly #pollMs: number;
  readonly #tenants: string[] | "*";

  #nc: NatsConnection | null = null;
  #js: JetStreamClient | null = null;
  #runs: KV | null = null;
  #workersKv: KV | null = null;
  #queues: WorkQueues | null = null;
  #heartbeat: WorkerHeartbeat | null = null;
  #catalog: WorkerCatalog | null = null;
  /** Run id → the runner of its job, while the job is being handled. */
  readonly #active = new Map<string, JobRunner>();
  /** Aborted by `forceStop()`: stop at once. */
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
    const tenants = options.tenants ?? "*";
    if (tenants !== "*") {
      const bad = Array.isArray(tenants)
        ? tenants.find((t) => typeof t !== "string" || !TENANT_PATTERN.test(t))
        : tenants;
      if (bad !== undefined || (tenants as string[]).length === 0) {
        throw new WorkerOptionError(
          "tenants",
          `Invalid option tenants: ${
            JSON.stringify(bad ?? tenants)
          } is not "*" or a list of tenant ids (1 to 64 letters, digits, _ or -)`,
        );
      }
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
    this.#pollMs = Math.max(10, options.pollMs ?? 250);
    this.#tenants = tenants === "*" ? "*" : [...new Set(tenants)];
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
   * first liveness record (`IDLE`). With `waitForNats`, a NATS that cannot be reached (or is
   * not ready yet) is waited for, with backoff, logging each attempt.
   *
   * @param options Whether to wait for NATS, and what ends the waiting.
   * @returns When the worker is ready to pull.
   * @throws {NatsUnavailableError} When NATS cannot be reached (and `waitForNats` is off).
   * @throws {unknown} The signal's reason when `signal` aborts while waiting.
   */
  async connect(options: ConnectOptions = {}): Promise<void> {
    let delay = 250;
    for (let attempt = 1;; attempt++) {
      try {
        return await this.#connectOnce();
      } catch (err) {
        if (options.signal?.aborted) throw options.signal.reason;
        if (!options.waitForNats || !isTransientNatsError(err)) throw err;
        this.#log.warn(
          `Waiting for NATS: cannot start yet (${(err as Error)?.message ?? err}); retrying in ${
            delay / 1000
          } s`,
          { err_id: ErrId.natsUnavailable, attempt, retry_in_ms: delay },
        );
        await abortableSleep(delay, options.signal).catch(() => {});
        if (options.signal?.aborted) throw options.signal.reason;
        delay = Math.min(delay * 2, 5000);
      }
    }
  }

  async #connectOnce(): Promise<void> {
    if (this.#nc) return;
    const nc = await connectNats(this.#config, { name: `pyoco-worker ${this.#workerId}` });
    try {
      const buckets = await ensureWorkerResources(nc, this.#config);
      const jsm = await jetstreamManager(nc);
      const js = jsm.jetstream();
      const queues = new WorkQueues({
        config: this.#config,
        tags: this.#tags,
        tenants: this.#tenants,
        jsm,
        js,
        tenantsKv: buckets.tenants,
        log: this.#log,
      });
      await queues.start();
      this.#queues = queues;
      this.#nc = nc;
      this.#js = js;
      this.#runs = buckets.runs;
      this.#workersKv = buckets.workers;
      // The gateway's cancel notifications (core NATS): re-read that run's snapshot at once.
      // Namespaced: only the tenants served (a tenant's NATS user may subscribe to no other).
      const named = this.#config.tenantIsolation === "namespaced" && this.#tenants !== "*";
      for (const filter of named ? this.#tenants : ["*"]) {
        nc.subscribe(cancelFilter(this.#config, filter), {
          callback: (err, msg) => {
            if (err) return;
            const runId = msg.subject.slice(msg.subject.lastIndexOf(".") + 1);
            void this.#active.get(runId)?.recheck();
          },
        });
      }
      this.#heartbeat = new WorkerHeartbeat({
        kv: buckets.workers,
        workerId: this.#workerId,
        tags: this.#tags,
        concurrency: this.#concurrency,
        intervalSec: this.#config.workerHeartbeatIntervalSec,
        logger: this.#log,
      });
      await this.#heartbeat.start();
      // SPEC §12: the flows this worker offers, refreshed with the heartbeat.
      this.#catalog = new WorkerCatalog({
        flows: buckets.flows,
        workers: buckets.workers,
        registry: this.#registry,
        workerId: this.#workerId,
        tags: this.#tags,
        config: this.#config,
        logger: this.#log,
      });
      await this.#catalog.start();
    } catch (err) {
      this.#queues = null;
      this.#nc = null;
      await nc.close().catch(() => {});
      throw err;
    }
  }

  /**
   * Pull at most one job (from the queue the fair plan picks when some queue is known to have
   * work; else each normal-priority queue in turn, waiting up to `expiresMs` on each) and
   * process it fully.
   *
   * @param options Pull wait.
   * @returns What happened, or `null` when no job came.
   * @throws {Error} When not connected.
   */
  async runOnce(options: RunOnceOptions = {}): Promise<JobResult | null> {
    this.#requireConnected();
    const expires = Math.max(1000, options.expiresMs ?? this.#expiresMs);
    const queues = this.#queues!;
    await queues.discover();
    await queues.refresh();
    const [pull] = queues.plan(1);
    const order = pull ? [pull.queue] : [];
    order.push(...queues.queues.filter((q) => q.priority === "normal" && q !== pull?.queue));
    for (const queue of order) {
      const msg = await queue.consumer.next({ expires });
      if (msg) return await this.#handle(msg, queue);
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
    const stop = AbortSignal.any([
      signal ?? new AbortController().signal,
      this.#forceController.signal,
    ]);
    const dispatcher = new Dispatcher({
      queues: this.#queues!,
      concurrency: this.#concurrency,
      expiresMs: this.#expiresMs,
      pollMs: this.#pollMs,
      handle: (msg, queue) => this.#handle(msg, queue),
      log: this.#log,
    });
    const slots = dispatcher.run(stop);
    await new Promise<void>((resolve) => {
      if (stop.aborted) resolve();
      stop.addEventListener("abort", () => resolve(), { once: true });
    });
    await this.#drain(slots);
    await this.#catalog?.stop();
    await this.#heartbeat!.stop();
    this.#running = false;
    this.#log.info("Worker stopped");
  }

  /** Let the slots finish for up to the drain timeout, then abort what is still running. */
  async #drain(slots: Promise<unknown>): Promise<void> {
    this.#log.info("Worker draining", {
      active_runs: this.activeRunIds,
      drain_timeout_sec: this.#config.workerDrainTimeoutSec,
    });
    // The drain timer must not outlive a drain that finished early (it would keep an embedding
    // program alive for the whole drain timeout).
    const drainTimer = new AbortController();
    const timedOut = await Promise.race([
      slots.then(() => false),
      abortableSleep(
        this.#config.workerDrainTimeoutSec * 1000,
        AbortSignal.any([this.#forceController.signal, drainTimer.signal]),
      ).then(() => true, () => true),
    ]);
    drainTimer.abort();
    if (timedOut && this.#active.size > 0) {
      this.#log.warn("Drain timeout: aborting active runs; their jobs are NAKed", {
        active_runs: this.activeRunIds,
      });
      this.#abortAll(new Error("Worker stopping: drain timeout"));
    }
    await slots;
  }

  /**
   * Stop at once (e.g. on a second SIGTERM): abort active runs, NAK their jobs, end the drain.
   */
  forceStop(): void {
    this.#abortAll(new Error("Worker stopping now"));
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
      while (this.#active.size > 0 && Date.now() < deadline) await abortableSleep(20);
    }
    await this.#catalog?.stop();
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

  #abortAll(error: Error): void {
    for (const runner of this.#active.values()) runner.abort("drain", error);
  }

  /** Hand one message to a runner made for it (never throws). */
  #handle(msg: JsMsg, queue: WorkQueue): Promise<JobResult> {
    return new JobRunner(this.#context(), { msg, tag: queue.tag }).run();
  }

  /** MaxDeliver of a tag's consumers (an existing consumer's settings are respected). */
  #maxDeliverOf(tag: string): number {
    const q = this.#queues?.queues.find((q) => q.tag === tag && q.priority === "normal");
    return q?.maxDeliver ?? this.#config.consumerMaxDeliver;
  }

  /** The narrow view of this worker a {@linkcode JobRunner} gets. */
  #context(): JobRunnerContext {
    const force = this.#forceController.signal;
    return {
      config: this.#config,
      workerId: this.#workerId,
      registry: this.#registry,
      runs: this.#runs!,
      workers: this.#workersKv!,
      js: this.#js!,
      log: this.#log,
      get stoppingNow() {
        return force.aborted;
      },
      maxDeliver: (tag) => this.#maxDeliverOf(tag),
      handBackDelayMs: (job, at) =>
        this.#catalog?.handBackDelayMs(job, {
          ...at,
          maxDeliver: this.#maxDeliverOf(at.tag),
        }) ?? Promise.resolve(null),
      runStarted: (runner) => {
        this.#active.set(runner.runId!, runner);
        void this.#heartbeat?.setRuns(this.activeRunIds);
      },
      runEnded: (runner) => {
        this.#active.delete(runner.runId!);
        if (!this.#closed) void this.#heartbeat?.setRuns(this.activeRunIds);
      },
    };
  }
}
