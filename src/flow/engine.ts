/**
 * `runFlow()`: runs one flow in-process (SPEC §2.3). Web APIs only.
 *
 * Scheduling is event-driven: each task's requirements are compiled into a small tree of
 * AND/OR counters (`_join.ts`); when a task settles, only the counters that refer to it are
 * updated, and a task whose requirements all hold is appended to a FIFO ready queue. Every counter
 * resolves at most once, so a whole run costs O(tasks + graph size) scheduling work. One attempt
 * (timeout, retry backoff, the wait before a retry) is `_attempt.ts`; checking the options is
 * `_run_options.ts`.
 *
 * Context semantics:
 * - `ctx.params` is the run's params (flow defaults overlaid by submitted params, cloned);
 *   root tasks without an `inputs` mapping receive the same object as their input.
 * - `ctx.results` is one object per run holding the outputs of the tasks that SUCCEEDED so far.
 * - `ctx.scratch` and `ctx.artifacts` are one object each per run, shared by all tasks.
 * - A task's record `artifacts` holds the top-level keys of `ctx.artifacts` that this task
 *   assigned (`ctx.artifacts.x = …`, or an `outputs` path `artifacts.x…`), with their values at
 *   the time the task ended, made JSON-safe. Keys another task assigned are not included.
 *
 * @module
 */

import {
  type AttemptHandle,
  type AttemptOutcome,
  errorMessage,
  retryDelaySec,
  RetryWaits,
  runAttempt,
  traceback,
} from "./_attempt.ts";
import { JoinTracker } from "./_join.ts";
import { newRunId, validateRunFlowArgs } from "./_run_options.ts";
import { RunData } from "./_run_data.ts";
import { toJsonSafe } from "./json.ts";
import type {
  Flow,
  FlowEvent,
  JsonValue,
  RunFlowOptions,
  RunResult,
  Task,
  TaskContext,
  TaskRecord,
  TaskState,
} from "./types.ts";

type _AbortKind = "cancelled" | "failed";

const _DEFAULT_ABORT_GRACE_MS = 5000;

function _emptyRecord(): TaskRecord {
  return {
    state: "PENDING",
    started_at: null,
    ended_at: null,
    duration_ms: null,
    attempts: 0,
    error: null,
    traceback: null,
    inputs: null,
    output: null,
    artifacts: {},
  };
}

/** One run of one flow. Private to this module; see {@linkcode runFlow}. */
class _Run {
  readonly #flow: Flow;
  readonly #runId: string;
  readonly #onEvent: RunFlowOptions["onEvent"];
  readonly #onProgress: RunFlowOptions["onProgress"];
  readonly #maxConcurrency: number;
  readonly #abortGraceMs: number;
  readonly #signal: AbortSignal | undefined;

  /** What the run's tasks share: params, results, scratch, artifacts, env. */
  readonly #data: RunData;

  readonly #records = new Map<string, TaskRecord>();
  readonly #startedMs = new Map<string, number>();

  readonly #joins: JoinTracker;
  readonly #ready: string[] = [];
  #readyHead = 0;
  #running = 0;
  #terminal = 0;

  /** Per running attempt: abort it, and stop its timer (on finalize). */
  readonly #attempts = new Set<AttemptHandle>();
  /** Waits before retries; woken when the run is aborted. */
  readonly #retryWaits = new RetryWaits();

  #abortKind: _AbortKind | null = null;
  #error: string | null = null;
  #graceTimer: ReturnType<typeof setTimeout> | undefined;
  #finalized = false;
  #closed = false;
  readonly #startTime = Date.now();
  readonly #done: Promise<RunResult>;
  #resolveDone!: (result: RunResult) => void;
  readonly #onAbort = () => this.#cancel();

  constructor(flow: Flow, options: RunFlowOptions) {
    this.#flow = flow;
    this.#runId = options.runId ?? newRunId();
    this.#onEvent = options.onEvent;
    this.#onProgress = options.onProgress;
    this.#maxConcurrency = options.maxConcurrency ?? Infinity;
    this.#abortGraceMs = options.abortGraceMs ?? _DEFAULT_ABORT_GRACE_MS;
    this.#signal = options.signal;
    this.#data = new RunData(flow, { params: options.params, env: options.env });
    this.#done = new Promise((resolve) => (this.#resolveDone = resolve));

    for (const name of flow.order) this.#records.set(name, _emptyRecord());
    const resume: Readonly<Record<string, unknown>> = options.resume ?? {};
    const resumed = new Set(Object.keys(resume));
    this.#joins = new JoinTracker(flow, { settled: resumed });
    this.#ready.push(...this.#joins.initial);
    for (const name of flow.order) {
      if (resumed.has(name)) this.#reuse(name, resume[name]);
    }
  }

  run(): Promise<RunResult> {
    this.#emit({
      type: "run.started",
      run_id: this.#runId,
      flow_name: this.#flow.name,
      ts: this.#startTime / 1000,
    });
    if (this.#signal?.aborted) {
      this.#cancel();
    } else {
      this.#signal?.addEventListener("abort", this.#onAbort, { once: true });
      this.#pump();
      this.#checkDone();
    }
    return this.#done;
  }

  // ---- events and progress -------------------------------------------------------------

  #emit(event: FlowEvent): void {
    if (this.#closed || this.#onEvent === undefined) return;
    try {
      const returned: unknown = this.#onEvent(event);
      if (returned instanceof Promise) returned.catch(() => {});
    } catch {
      // A listener's failure must not affect the run.
    }
  }

  #progress(): void {
    if (this.#closed || this.#onProgress === undefined) return;
    const tasks: Record<string, TaskState> = {};
    const task_records: Record<string, TaskRecord> = {};
    for (const [name, record] of this.#records) {
      tasks[name] = record.state;
      task_records[name] = { ...record };
    }
    try {
      const returned: unknown = this.#onProgress({ tasks, task_records });
      if (returned instanceof Promise) returned.catch(() => {});
    } catch {
      // A listener's failure must not affect the run.
    }
  }

  // ---- scheduling -----------------------------------------------------------------------

  #pump(): void {
    while (
      this.#abortKind === null && this.#running < this.#maxConcurrency &&
      this.#readyHead < this.#ready.length
    ) {
      this.#start(this.#ready[this.#readyHead++]!);
    }
    if (this.#readyHead > 1024 && this.#readyHead * 2 > this.#ready.length) {
      this.#ready.splice(0, this.#readyHead);
      this.#readyHead = 0;
    }
  }

  /**
   * Feeds a settled task's outcome into the requirement trees: tasks whose requirements now hold
   * join the ready queue; tasks whose requirements can no longer hold end FAILED without running.
   */
  #propagate(name: string, ok: boolean): void {
    const { ready, blocked } = this.#joins.settle(name, ok);
    this.#ready.push(...ready);
    for (const { task, culprit } of blocked) this.#block(task, culprit);
  }

  /** A task resumed from an earlier run: SUCCEEDED with its recorded output, without running. */
  #reuse(name: string, output: unknown): void {
    this.#data.results[name] = output;
    this.#data.saveOutputs(name, output);
    const record = this.#records.get(name)!;
    record.state = "SUCCEEDED";
    record.output = toJsonSafe(output);
    record.reused = true;
    const artifacts = this.#data.artifactsOf(name);
    if (artifacts !== null) record.artifacts = artifacts;
    this.#terminal++;
    this.#propagate(name, true);
  }

  /** Ends a task FAILED without running because an upstream failure made it unreachable. */
  #block(name: string, culprit: string): void {
    const record = this.#records.get(name)!;
    const now = Date.now();
    record.state = "FAILED";
    record.error = `upstream task ${culprit} failed`;
    record.ended_at = now / 1000;
    this.#terminal++;
    this.#emit({
      type: "task.failed",
      run_id: this.#runId,
      task: name,
      attempt: 0,
      error: record.error,
      ts: now / 1000,
    });
    this.#progress();
  }

  #start(name: string): void {
    const record = this.#records.get(name)!;
    const now = Date.now();
    this.#running++;
    this.#startedMs.set(name, now);
    record.state = "RUNNING";
    record.started_at = now / 1000;
    this.#progress();
    void this.#runTask(name);
  }

  #checkDone(): void {
    if (this.#finalized) return;
    if (
      this.#terminal === this.#records.size || (this.#abortKind !== null && this.#running === 0)
    ) {
      this.#finalize();
    }
  }

  // ---- one task -------------------------------------------------------------------------

  async #runTask(name: string): Promise<void> {
    await Promise.resolve(); // never run task code inside #pump
    const t = this.#flow.tasks.get(name)!;
    const record = this.#records.get(name)!;
    if (this.#finalized) return;
    if (this.#abortKind !== null) return this.#endCancelled(name, null);

    let input: unknown;
    try {
      input = this.#data.inputFor(t);
    } catch (error) {
      record.attempts = 1;
      this.#emit({ type: "task.started", run_id: this.#runId, task: name, attempt: 1, ts: _now() });
      return this.#fail(name, error);
    }
    record.inputs = toJsonSafe(input);

    for (let attempt = 1;; attempt++) {
      record.attempts = attempt;
      this.#emit({ type: "task.started", run_id: this.#runId, task: name, attempt, ts: _now() });
      // A listener may have aborted the run synchronously: do not start an unabortable attempt.
      if (this.#abortKind !== null) return this.#endCancelled(name, null);
      if (attempt > 1) this.#progress();
      let outcome = await this.#attempt(t, { attempt, input });
      if (this.#finalized) return; // finished without us (abort grace expired): discard
      if (outcome.ok) {
        try {
          this.#data.saveOutputs(name, outcome.value);
        } catch (error) {
          outcome = { ok: false, error };
        }
      }
      if (outcome.ok) return this.#succeed(name, { attempt, value: outcome.value });
      if (this.#abortKind !== null) return this.#endCancelled(name, outcome.error);
      if (attempt > t.options.retries) return this.#fail(name, outcome.error);

      const delaySec = retryDelaySec(t.options, attempt);
      record.error = errorMessage(outcome.error);
      record.traceback = traceback(outcome.error);
      this.#emit({
        type: "task.retrying",
        run_id: this.#runId,
        task: name,
        attempt,
        error: record.error,
        delay_sec: delaySec,
        ts: _now(),
      });
      this.#progress();
      const slept = await this.#sleep(delaySec * 1000);
      if (this.#finalized) return;
      if (!slept) return this.#endCancelled(name, outcome.error);
    }
  }

  /** Runs one attempt, racing it against its timeout. Never rejects. */
  #attempt(t: Task, run: { attempt: number; input: unknown }): Promise<AttemptOutcome> {
    const { attempt, input } = run;
    const context = (signal: AbortSignal): TaskContext =>
      Object.freeze({
        run_id: this.#runId,
        flow_name: this.#flow.name,
        task_name: t.name,
        attempt,
        params: this.#data.params,
        results: this.#data.results,
        scratch: this.#data.scratch,
        artifacts: this.#data.artifactView(t.name),
        env: this.#data.env,
        signal,
        log: (message: string) => {
          this.#emit({
            type: "task.log",
            run_id: this.#runId,
            task: t.name,
            attempt,
            message: String(message),
            ts: _now(),
          });
        },
      });
    return runAttempt(t, input, { context, running: this.#attempts });
  }

  /** Waits `ms`; resolves `false` at once if the run is (or gets) aborted. */
  #sleep(ms: number): Promise<boolean> {
    if (this.#abortKind !== null) return Promise.resolve(false);
    return this.#retryWaits.wait(ms);
  }

  /** Common bookkeeping of a task that stops running. */
  #close(name: string, end: { state: TaskState; error: unknown }): TaskRecord {
    const { state, error } = end;
    const record = this.#records.get(name)!;
    const now = Date.now();
    record.state = state;
    record.ended_at = now / 1000;
    const started = this.#startedMs.get(name);
    record.duration_ms = started === undefined ? null : now - started;
    if (error !== null) {
      record.error = errorMessage(error);
      record.traceback = traceback(error);
    }
    const artifacts = this.#data.artifactsOf(name);
    if (artifacts !== null) record.artifacts = artifacts;
    this.#running--;
    this.#terminal++;
    return record;
  }

  #succeed(name: string, outcome: { attempt: number; value: unknown }): void {
    const { attempt, value } = outcome;
    this.#data.results[name] = value;
    const record = this.#close(name, { state: "SUCCEEDED", error: null });
    record.output = toJsonSafe(value);
    record.error = null;
    record.traceback = null;
    this.#emit({ type: "task.succeeded", run_id: this.#runId, task: name, attempt, ts: _now() });
    this.#progress();
    if (this.#abortKind === null) this.#propagate(name, true);
    this.#pump();
    this.#checkDone();
  }

  #fail(name: string, error: unknown): void {
    const record = this.#close(name, { state: "FAILED", error });
    this.#emit({
      type: "task.failed",
      run_id: this.#runId,
      task: name,
      attempt: record.attempts,
      error: record.error ?? "",
      ts: _now(),
    });
    this.#progress();
    if (this.#flow.tasks.get(name)!.options.failPolicy === "stop") {
      const message = `Task ${name} failed: ${record.error}`;
      this.#abort("failed", { message, reason: new DOMException(message, "AbortError") });
    } else {
      this.#propagate(name, false);
      this.#pump();
    }
    this.#checkDone();
  }

  #endCancelled(name: string, error: unknown): void {
    this.#close(name, { state: "CANCELLED", error: error ?? null });
    this.#progress();
    this.#checkDone();
  }

  // ---- abort and finish -------------------------------------------------------------------

  #cancel(): void {
    const reason = this.#signal?.reason;
    let message = "Run cancelled";
    if (typeof reason === "string" && reason !== "") message += `: ${reason}`;
    else if (reason instanceof Error && reason.name !== "AbortError" && reason.message) {
      message += `: ${reason.message}`;
    }
    this.#abort("cancelled", {
      message,
      reason: reason ?? new DOMException(message, "AbortError"),
    });
  }

  /** Stops scheduling, aborts running attempts and wakes retry sleepers; first abort wins. */
  #abort(kind: _AbortKind, why: { message: string; reason: unknown }): void {
    const { message, reason } = why;
    if (this.#abortKind !== null || this.#finalized) return;
    this.#abortKind = kind;
    this.#error = message;
    for (const attempt of [...this.#attempts]) attempt.abort(reason);
    this.#retryWaits.wakeAll();
    if (this.#running > 0) {
      this.#graceTimer = setTimeout(() => this.#finalize(), this.#abortGraceMs);
    }
    this.#checkDone();
  }

  #finalize(): void {
    if (this.#finalized) return;
    this.#finalized = true;
    clearTimeout(this.#graceTimer);
    this.#signal?.removeEventListener("abort", this.#onAbort);
    for (const attempt of this.#attempts) attempt.dispose();
    this.#attempts.clear();
    this.#retryWaits.wakeAll();

    const now = Date.now();
    for (const [name, record] of this.#records) {
      if (record.state === "RUNNING") {
        this.#close(name, { state: "CANCELLED", error: null });
        record.error =
          `Task did not stop within ${this.#abortGraceMs} ms after the run was aborted; its result is discarded`;
      } else if (record.state === "PENDING") {
        record.state = "CANCELLED";
        this.#terminal++;
      }
    }
    this.#progress();

    const status = this.#abortKind === "cancelled"
      ? "CANCELLED"
      : this.#abortKind === "failed"
      ? "FAILED"
      : "COMPLETED";
    const tasks: Record<string, TaskState> = {};
    const task_records: Record<string, TaskRecord> = {};
    for (const [name, record] of this.#records) {
      tasks[name] = record.state;
      task_records[name] = { ...record };
    }
    const outputs: Record<string, JsonValue> = {};
    for (const name of this.#flow.sinks) {
      const record = this.#records.get(name)!;
      if (record.state === "SUCCEEDED") outputs[name] = record.output;
    }
    const ts = now / 1000;
    if (status === "COMPLETED") {
      this.#emit({ type: "run.completed", run_id: this.#runId, ts });
    } else if (status === "FAILED") {
      this.#emit({ type: "run.failed", run_id: this.#runId, error: this.#error ?? "", ts });
    } else {
      this.#emit({ type: "run.cancelled", run_id: this.#runId, error: this.#error, ts });
    }
    this.#closed = true;
    this.#resolveDone({
      status,
      tasks,
      task_records,
      outputs,
      error: status === "COMPLETED" ? null : this.#error,
      start_time: this.#startTime / 1000,
      end_time: ts,
    });
  }
}

function _now(): number {
  return Date.now() / 1000;
}

/**
 * Runs a flow in-process and resolves with its result. Task failures, timeouts and cancellation
 * are reported in the result, never thrown.
 *
 * - Independent tasks run concurrently, at most `maxConcurrency` at once, started in ready order.
 * - A task's input is its resolved `inputs` mapping when it has one; otherwise the output of its
 *   single upstream task; otherwise an object keyed by the upstream tasks that succeeded; a root
 *   task receives the run params.
 * - `failPolicy: "stop"`: the run ends FAILED, running attempts are aborted, tasks that never
 *   started end CANCELLED. `"isolate"`: only the task's downstream ends FAILED
 *   (`upstream task <x> failed`) and the run can still end COMPLETED.
 * - A task that fails while the run is being aborted ends CANCELLED; one that succeeds ends
 *   SUCCEEDED. Attempts still running `abortGraceMs` after the abort end CANCELLED and their
 *   results are discarded.
 * - Events: `run.started` first; per attempt `task.started`, then `task.succeeded`, or
 *   `task.retrying` (a retry follows) or `task.failed` (final); a task failed by its upstream
 *   gets `task.failed` with `attempt: 0`; `task.log` from `ctx.log()`; last `run.completed`,
 *   `run.failed` or `run.cancelled`. Nothing is emitted after the last event.
 * - `resume: { <task>: output }` (retry from failed): those tasks do not run; they end SUCCEEDED
 *   with that output and `reused: true` in their record, emit no events, and their downstream
 *   receives the output as if they had run.
 * - An error while resolving a task's `inputs` (e.g. `$env.X` not exposed) fails the task at once,
 *   without retries (one attempt is counted).
 *
 * @example Usage
 * ```ts
 * import { flow, runFlow, task } from "./mod.ts";
 * import assert from "node:assert/strict";
 * const fetchData = task("fetch_data", () => ({ value: "carrot" }));
 * const shout = task("shout", (_ctx, input: { value: string }) => input.value.toUpperCase());
 * const hello = flow("hello", { graph: "fetch_data >> shout", tasks: [fetchData, shout] });
 * const result = await runFlow(hello, { params: { x: 2 } });
 * assert.equal(result.status, "COMPLETED");
 * assert.deepEqual(result.outputs, { shout: "CARROT" });
 * ```
 *
 * @param flow The flow, created with `flow()`.
 * @param options Params, run id, cancellation signal, listeners and limits.
 * @returns The run result: `{ status, tasks, task_records, outputs, error, start_time, end_time }`.
 * @throws {TypeError} When `flow` is not a Flow, an option has the wrong type, or `resume` names a
 * task that is not in the flow.
 * @throws {RangeError} When `maxConcurrency` or `abortGraceMs` is out of range, or `params` nests
 * deeper than `MAX_JSON_DEPTH` (64) levels.
 */
export function runFlow(flow: Flow, options: RunFlowOptions = {}): Promise<RunResult> {
  try {
    validateRunFlowArgs(flow, options);
    return new _Run(flow, options).run();
  } catch (error) {
    return Promise.reject(error);
  }
}
