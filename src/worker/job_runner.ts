/**
 * One job's handling on a worker (SPEC §4.1, §4.2): a {@linkcode JobRunner} is made per pulled
 * message and decides everything about it — run it, reject it (`invalid_job`), fail it
 * (`flow_not_found`), give up on it (max deliveries), dead-letter it — while its
 * {@linkcode JobLease} keeps the message alive with `in_progress` ACKs and answers it once. It
 * meets the worker only through the narrow {@linkcode JobRunnerContext} (connection handles,
 * limits, and where to register itself as active), as bullmq's `LockManager` meets its
 * `Worker`.
 *
 * @module
 */

import type { JetStreamClient, JsMsg } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { type Config, eventsSubject } from "../config.ts";
import { ErrId } from "../contract/errors.ts";
import {
  CANCELLED_BY_REQUEST,
  type DlqReason,
  type Job,
  nowSec,
  type RunSnapshot,
} from "../contract/wire.ts";
import type { Flow } from "../flow/types.ts";
import type { Logger } from "../log.ts";
import type { Versioned } from "../nats/kv.ts";
import type { HandBackDelay } from "./catalog.ts";
import { assumedPending, type ClaimContext, claimVerdict, heldElsewhereCheck } from "./claim.ts";
import { jobDlqFields, leaveInvalidJob, publishDlq } from "./dead_letter.ts";
import { RunEventPublisher } from "./events.ts";
import {
  FlowNotFoundError,
  InvalidWorkflowError,
  resolveFlow,
  type WorkerRegistry,
} from "./flow_lookup.ts";
import {
  actionOf,
  type InvalidJob,
  type JobOutcome,
  type JobResult,
  maxDeliveriesError,
  parseJob,
} from "./job.ts";
import { JobLease } from "./job_lease.ts";
import { executeRun, type Execution } from "./run_execution.ts";
import { RunMirror, TerminalWriteError } from "./run_mirror.ts";
import {
  readOrCreateSnapshot,
  runningSnapshot,
  settleJobTenant,
  writeFailedSnapshot,
  writeRunning,
} from "./snapshot.ts";

/** What a {@linkcode JobRunner} needs from its worker, and nothing more. */
export interface JobRunnerContext {
  /** The configuration. */
  readonly config: Config;
  /** The worker's id (written into snapshots and dead letters). */
  readonly workerId: string;
  /** The flows and tasks the worker runs. */
  readonly registry: WorkerRegistry;
  /** The runs bucket. */
  readonly runs: KV;
  /** The workers bucket (whether the worker named in a snapshot is alive). */
  readonly workers: KV;
  /** JetStream, for events and dead letters. */
  readonly js: JetStreamClient;
  /** The worker's logger. */
  readonly log: Logger;
  /** Whether the worker is stopping at once (`forceStop()`): a run about to start is aborted. */
  readonly stoppingNow: boolean;
  /** SPEC §12: the NAK delay when a live worker of the tag has the flow this one lacks, else null. */
  readonly handBackDelayMs?: HandBackDelay;
  /**
   * MaxDeliver of the consumer of `tag`.
   *
   * @param tag The tag the job came from.
   * @returns The consumer's MaxDeliver.
   */
  maxDeliver(tag: string): number;
  /**
   * A valid job is being handled: the worker lists it as active (cancel notifications, drain).
   *
   * @param runner The runner (its `runId` is set).
   */
  runStarted(runner: JobRunner): void;
  /**
   * The job has been answered: no longer active.
   *
   * @param runner The runner.
   */
  runEnded(runner: JobRunner): void;
}

/** Why a run's signal was aborted. */
export type AbortReason = "cancel" | "drain" | "superseded";

/** Options of {@linkcode JobRunner}. */
export interface JobRunnerOptions {
  /** The pulled message. */
  msg: JsMsg;
  /** The tag whose consumer delivered it. */
  tag: string;
}

/**
 * Handles one pulled message from start to answer. Made per message; {@linkcode JobRunner.run}
 * is called once and never throws.
 */
export class JobRunner {
  readonly #ctx: JobRunnerContext;
  readonly #lease: JobLease;
  readonly #tag: string;
  readonly #delivery: number;
  readonly #controller = new AbortController();
  #abortReason: AbortReason | null = null;
  #job: Job | null = null;
  #payload: Record<string, unknown> = {};
  #log: Logger;
  #mirror: RunMirror | null = null;
  /** The snapshot's key in the runs bucket, once the job is known to be valid. */
  #key = "";

  /**
   * Create the runner of one message.
   *
   * @param ctx The worker, seen through its narrow context.
   * @param options The message and its tag.
   */
  constructor(ctx: JobRunnerContext, options: JobRunnerOptions) {
    this.#ctx = ctx;
    this.#tag = options.tag;
    this.#delivery = options.msg.info.deliveryCount;
    this.#log = ctx.log;
    this.#lease = new JobLease(options.msg, {
      logger: ctx.log,
      progressIntervalMs: ctx.config.ackProgressIntervalSec * 1000,
    });
  }

  /** The run id, once the job is known to be valid. */
  get runId(): string | null {
    return this.#job?.run_id ?? null;
  }

  /**
   * Abort the run (cancel, drain or superseded); the first reason given is kept.
   *
   * @param reason Why.
   * @param error The abort reason handed to the engine.
   */
  abort(reason: AbortReason, error: unknown): void {
    this.#abortReason ??= reason;
    this.#controller.abort(error);
  }

  /**
   * Re-read the run's snapshot now (a cancel notification arrived).
   *
   * @returns When the re-read is done (at once when the run is not executing).
   */
  recheck(): Promise<void> {
    return this.#mirror?.recheck() ?? Promise.resolve();
  }

  /**
   * Handle the message: parse, run or reject, write the snapshot, answer the message.
   *
   * @returns What happened (a programming error NAKs the message and reads `requeued`).
   */
  async run(): Promise<JobResult> {
    try {
      return await this.#process();
    } catch (err) {
      // Programming error: leave the message to be redelivered (at a calm pace).
      this.#ctx.log.error("Unexpected error while processing a job", { tag: this.#tag }, err);
      this.#lease.nak(this.#ctx.config.nakDelaySec * 1000);
      return { ...this.#result("requeued", _message(err)), runId: null };
    }
  }

  async #process(): Promise<JobResult> {
    const parsed = parseJob(this.#lease.data, this.#tag);
    if (!parsed.ok) return await this.#rejectInvalid(parsed);
    const job = parsed.job;
    this.#job = job;
    this.#key = settleJobTenant(this.#ctx.config, job, this.#lease.subject);
    this.#payload = parsed.payload;
    this.#log = this.#ctx.log.child({ run_id: job.run_id, flow_name: job.flow_name, tag: job.tag });
    this.#lease.useLogger(this.#log);
    this.#lease.keepAlive();
    this.#ctx.runStarted(this);
    try {
      return await this.#start(job);
    } catch (err) {
      return await this.#requeue(err);
    } finally {
      this.#mirror?.stop();
      this.#lease.release();
      this.#ctx.runEnded(this);
    }
  }

  /**
   * The snapshot decides (terminal, cancelled), then the flow, then `RUNNING` and the run. The
   * first write is a compare-and-set against the job's `pending_revision` when it has one (SPEC
   * §10): no read before it; only on a mismatch is the snapshot read and decided again. With
   * `PYOCO_RUNNING_WRITE_AFTER_MS` > 0 the first write is the mirror's: `RUNNING` after that
   * long, or the terminal snapshot of a run that ended sooner.
   */
  async #start(job: Job): Promise<JobResult> {
    const kv = this.#ctx.runs;
    const key = this.#key;
    let current = assumedPending(job, this.#delivery) ?? await readOrCreateSnapshot(kv, job, key);
    if (current === null) return this.#withdrawn();
    const decided = await this.#decide(job, current);
    if (decided) return decided;
    const flow = await this.#resolve(job);
    if ("outcome" in flow) return flow;
    const options = { job, flow, workerId: this.#ctx.workerId, attempt: this.#delivery, key };
    const lazyMs = this.#ctx.config.runningWriteAfterMs;
    if (lazyMs > 0) {
      // Lazy RUNNING: written by the mirror only if the run still goes after lazyMs; a shorter
      // run goes PENDING → terminal in one write (whose CAS decides a race, as any write).
      const running = {
        value: runningSnapshot(current.value, options),
        revision: current.revision,
      };
      return await this.#execute(job, { flow, running, firstWriteAfterMs: lazyMs });
    }
    for (let i = 0; i < 20; i++) {
      const running = await writeRunning(kv, current, options);
      if (running) return await this.#execute(job, { flow, running });
      // The revision did not match: read the snapshot and decide again.
      current = await readOrCreateSnapshot(kv, job, key);
      if (current === null) return this.#withdrawn();
      const decided = await this.#decide(job, current);
      if (decided) return decided;
    }
    throw new Error(`Cannot mark run "${job.run_id}" RUNNING: its snapshot kept changing`);
  }

  /** What a claim decision reads (four fields, not a copy of the whole context per run). */
  #claimContext(): ClaimContext {
    const { workers, workerId, config } = this.#ctx;
    return { workers, workerId, config, delivery: this.#delivery };
  }

  /** The run's snapshot is gone (withdrawn by a failed submit, or deleted): ACK, never run. */
  #withdrawn(): JobResult {
    this.#log.info("Run withdrawn or deleted (no snapshot); acknowledging without running");
    this.#lease.ack();
    return this.#result("superseded");
  }

  /** A terminal snapshot is ACKed without running; a `CANCELLING` one is cancelled unrun. */
  async #decide(job: Job, current: Versioned<RunSnapshot>): Promise<JobResult | null> {
    const verdict = await claimVerdict(current.value, this.#claimContext());
    if (verdict === "run") return null;
    if (verdict === "terminal") {
      this.#log.info("Run already terminal; acknowledging without running", {
        status: current.value.status,
      });
      this.#lease.ack();
      return this.#result("already_terminal");
    }
    if (verdict === "held_elsewhere") {
      this.#log.info("Run is RUNNING on another live worker; acknowledging this copy unrun", {
        running_on: current.value.worker_id,
      });
      this.#lease.ack();
      return this.#result("held_elsewhere");
    }
    const error = "Run cancelled before it started";
    await writeFailedSnapshot(this.#ctx.runs, {
      runId: job.run_id,
      key: this.#key,
      job,
      workerId: this.#ctx.workerId,
      attempt: this.#delivery,
      error,
      status: "CANCELLED",
    });
    this.#lease.ack();
    return this.#result("cancelled", error);
  }

  /** The flow, or the answer to a job whose flow cannot be had. */
  async #resolve(job: Job): Promise<Flow | JobResult> {
    try {
      return await resolveFlow(job, {
        registry: this.#ctx.registry,
        workerId: this.#ctx.workerId,
        workflowYamlMaxBytes: this.#ctx.config.workflowYamlMaxBytes,
      });
    } catch (err) {
      if (err instanceof InvalidWorkflowError) {
        return await this.#rejectInvalid({
          ok: false,
          error: err.message,
          runId: job.run_id,
          flowName: job.flow_name,
          payload: this.#payload,
          text: new TextDecoder().decode(this.#lease.data),
          notJson: false,
        });
      }
      if (err instanceof FlowNotFoundError) {
        const at = { tag: this.#tag, delivery: this.#delivery };
        const delayMs = await this.#ctx.handBackDelayMs?.(job, at);
        if (delayMs == null) return await this.#flowNotFound(job, err);
        this.#log.info("Flow not on this worker; a live worker of the tag has it: NAK", at);
        this.#lease.nak(delayMs);
        return this.#result("requeued", err.message);
      }
      throw err;
    }
  }

  /** Run the flow, mirroring its progress and publishing its events; then settle it. */
  async #execute(
    job: Job,
    at: { flow: Flow; running: Versioned<RunSnapshot>; firstWriteAfterMs?: number },
  ): Promise<JobResult> {
    const events = new RunEventPublisher({
      js: this.#ctx.js,
      subject: eventsSubject(this.#ctx.config, job.run_id, { tenant: job.tenant_id }),
      runId: job.run_id,
      workerId: this.#ctx.workerId,
      logger: this.#log,
      enabled: this.#ctx.config.eventsPublish,
      // SPEC §10: a run that ends within the lazy window publishes its events once, at the end.
      firstFlushAfterMs: this.#ctx.config.runningWriteAfterMs,
    });
    this.#log.debug("Run started", { attempt: this.#delivery });
    const mirror = this.#startMirror(at.running, at.firstWriteAfterMs);
    if (this.#ctx.stoppingNow) this.abort("drain", new Error("Worker stopping"));
    const execution = await executeRun(job, {
      flow: at.flow,
      running: at.running.value,
      signal: this.#controller.signal,
      mirror,
      events,
      config: this.#ctx.config,
      log: this.#log,
    });
    return await this.#settle(job, { execution, events, mirror });
  }

  #startMirror(running: Versioned<RunSnapshot>, firstWriteAfterMs?: number): RunMirror {
    const config = this.#ctx.config;
    this.#mirror = new RunMirror({
      kv: this.#ctx.runs,
      key: this.#key,
      initial: running,
      firstWriteAfterMs,
      minIntervalMs: config.snapshotMinIntervalMs,
      heartbeatIntervalMs: config.runHeartbeatIntervalSec * 1000,
      maxBytes: config.maxRunSnapshotBytes,
      logger: this.#log,
      onCancelRequested: () => {
        this.#log.info("Cancel requested; aborting the run");
        this.abort("cancel", new DOMException(CANCELLED_BY_REQUEST, "AbortError"));
      },
      gatewayCreated: typeof this.#job?.pending_revision === "number",
      heldElsewhere: heldElsewhereCheck(this.#claimContext()),
      onSuperseded: (existing) => {
        this.#log.warn("Snapshot turned terminal under this worker; aborting the run", {
          status: existing?.status ?? null,
        });
        this.abort("superseded", new Error("Run finished elsewhere"));
      },
    });
    return this.#mirror;
  }

  /** Dispositions after the engine: superseded, drained, or the terminal write. */
  async #settle(
    job: Job,
    at: { execution: Execution; events: RunEventPublisher; mirror: RunMirror },
  ): Promise<JobResult> {
    const { execution, events, mirror } = at;
    const outcome = execution.outcome;
    // Events are flushed before any snapshot write.
    if (mirror.superseded || this.#abortReason === "superseded") {
      mirror.stop();
      await events.flush();
      this.#lease.ack();
      return this.#result("superseded");
    }
    if (
      this.#abortReason === "drain" && !mirror.cancelRequested && outcome.status === "CANCELLED"
    ) {
      return await this.#requeueDrained(job, { events, mirror });
    }
    if (execution.finalEvent) events.push(execution.finalEvent);
    await events.flush();
    const written = await this.#writeTerminal(mirror, execution);
    if (!written) {
      this.#lease.ack();
      return this.#result("superseded");
    }
    if (outcome.status === "FAILED") {
      this.#log.warn("Run failed", { err_id: ErrId.executionFailed, error: outcome.error });
      if (this.#ctx.config.dlqPublishExecutionError) {
        await this.#deadLetter("execution_error", outcome.error ?? "Run failed");
      }
    } else {
      this.#log.info(`Run ${outcome.status.toLowerCase()}`);
    }
    this.#lease.ack();
    const kind = outcome.status === "COMPLETED"
      ? "completed"
      : outcome.status === "FAILED"
      ? "failed"
      : "cancelled";
    return this.#result(kind, outcome.error);
  }

  /**
   * Write the terminal snapshot, retried through a short NATS outage (`PYOCO_NATS_RETRY_SEC`).
   *
   * @returns `false` when the snapshot turned terminal meanwhile (not overwritten).
   * @throws {TerminalWriteError} When the write still fails (the caller NAKs).
   */
  async #writeTerminal(mirror: RunMirror, execution: Execution): Promise<boolean> {
    const { outcome } = execution;
    const written = await mirror.finish({
      status: outcome.status,
      tasks: outcome.tasks,
      task_records: outcome.task_records,
      outputs: outcome.outputs,
      error: outcome.error,
      end_time: outcome.end_time,
    }, {
      retryForMs: this.#ctx.config.natsRetrySec * 1000,
      shouldStop: () => this.#ctx.stoppingNow,
    });
    if (!written.written) {
      this.#log.info("Snapshot turned terminal meanwhile; not overwritten", {
        status: written.existing?.status ?? null,
      });
    }
    return written.written;
  }

  /** A drain aborted the run: back to PENDING and NAK (give up on the last delivery). */
  async #requeueDrained(
    job: Job,
    at: { events: RunEventPublisher; mirror: RunMirror },
  ): Promise<JobResult> {
    const { events, mirror } = at;
    const max = this.#ctx.maxDeliver(this.#tag);
    if (this.#delivery >= max) {
      mirror.stop();
      events.push({
        type: "run.failed",
        run_id: job.run_id,
        error: maxDeliveriesError(this.#delivery, { max, cause: "worker stopped" }),
        ts: nowSec(),
      });
      await events.flush();
      return await this.#giveUp(job, "worker stopped");
    }
    events.push({
      type: "run.requeued",
      run_id: job.run_id,
      reason: "worker stopped",
      ts: nowSec(),
    });
    await events.flush();
    await mirror.requeue().catch((err) => {
      this.#log.warn("Cannot put the drained run back to PENDING", {}, err);
    });
    this.#lease.nak();
    this.#log.info("Run aborted by drain; job NAKed for redelivery");
    return this.#result("requeued", "worker stopped");
  }

  /** NATS/KV trouble: leave the snapshot, NAK with a delay (give up on the last delivery). */
  async #requeue(err: unknown): Promise<JobResult> {
    this.#mirror?.stop();
    const terminalWrite = err instanceof TerminalWriteError;
    const cause = terminalWrite ? err.cause : err;
    this.#log.error(
      terminalWrite
        ? "Cannot write the terminal snapshot; NAK for redelivery"
        : "NATS error while processing the job; NAK for redelivery",
      terminalWrite ? { err_id: ErrId.terminalWriteFailed } : {},
      cause,
    );
    if (this.#delivery >= this.#ctx.maxDeliver(this.#tag)) {
      return await this.#giveUp(this.#job!, _message(cause));
    }
    this.#lease.nak(this.#ctx.config.nakDelaySec * 1000);
    return this.#result("requeued", _message(cause));
  }

  /** Not JSON / invalid fields: FAILED snapshot when the run id is known, dead letter, TERM. */
  async #rejectInvalid(invalid: InvalidJob): Promise<JobResult> {
    await leaveInvalidJob(invalid, {
      runs: this.#ctx.runs,
      js: this.#ctx.js,
      config: this.#ctx.config,
      workerId: this.#ctx.workerId,
      log: this.#ctx.log,
      tag: this.#tag,
      delivery: this.#delivery,
      subject: this.#lease.subject,
    });
    this.#lease.term();
    return { ...this.#result("invalid_job", invalid.error), runId: invalid.runId };
  }

  /** Flow or callable not registered: FAILED `flow_not_found: …`, dead letter, ACK. */
  async #flowNotFound(job: Job, err: FlowNotFoundError): Promise<JobResult> {
    // One line, no stack: the job names a flow this worker lacks, not a fault in the code.
    this.#log.error("Flow not found", {
      err_id: ErrId.flowNotFound,
      reason: "flow_not_found",
      error: err.message,
    });
    // pyoco-server's shape (SPEC §16): the reason first, then our sentence.
    const error = `flow_not_found: ${err.message}`;
    // A NATS error here propagates: the caller NAKs (the snapshot must say why it failed).
    await writeFailedSnapshot(this.#ctx.runs, {
      runId: job.run_id,
      key: this.#key,
      job,
      workerId: this.#ctx.workerId,
      attempt: this.#delivery,
      error,
    });
    await this.#deadLetter("flow_not_found", error);
    this.#lease.ack();
    return this.#result("flow_not_found", error);
  }

  /** Last delivery still failing: FAILED "max deliveries exceeded", TERM, dead letter. */
  async #giveUp(job: Job, cause: string): Promise<JobResult> {
    const max = this.#ctx.maxDeliver(this.#tag);
    const error = maxDeliveriesError(this.#delivery, { max, cause });
    this.#log.error("Giving up on the job: max deliveries exceeded", {
      err_id: ErrId.executionFailed,
      reason: "execution_error",
    });
    try {
      await writeFailedSnapshot(this.#ctx.runs, {
        runId: job.run_id,
        key: this.#key,
        job,
        workerId: this.#ctx.workerId,
        attempt: this.#delivery,
        error,
      });
    } catch (err) {
      this.#log.error("Cannot write the FAILED snapshot", {
        err_id: ErrId.terminalWriteFailed,
      }, err);
    }
    await this.#deadLetter("execution_error", error);
    this.#lease.term();
    return this.#result("max_deliveries", error);
  }

  /** Dead-letter the valid job (its run id, flow, tags, tenant and the original payload). */
  #deadLetter(reason: DlqReason, error: string): Promise<boolean> {
    return publishDlq(
      jobDlqFields(this.#job!, {
        reason,
        error,
        payload: this.#payload,
        workerId: this.#ctx.workerId,
        numDelivered: this.#delivery,
        subject: this.#lease.subject,
      }),
      { js: this.#ctx.js, config: this.#ctx.config, logger: this.#log },
    );
  }

  #result(outcome: JobOutcome, error: string | null = null): JobResult {
    return {
      outcome,
      action: actionOf(outcome),
      runId: this.runId,
      tag: this.#tag,
      deliveryCount: this.#delivery,
      error,
    };
  }
}

function _message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
