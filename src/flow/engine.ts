/**
 * `runFlow()`: runs one flow in-process (SPEC §2.3). Web APIs only.
 *
 * Scheduling is event-driven: each task's requirements are compiled into a small tree of
 * AND/OR counters; when a task settles, only the counters that refer to it are updated, and a task
 * whose requirements all hold is appended to a FIFO ready queue. Every counter resolves at most
 * once, so a whole run costs O(tasks + graph size) scheduling work.
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

import { jsonDepthError } from "../contract/limits.ts";
import { TaskTimeoutError } from "./errors.ts";
import { toJsonSafe } from "./json.ts";
import {
  type OutputPath,
  parseOutputPath,
  resolveInputs,
  type SelectorScope,
  setPath,
} from "./selectors.ts";
import type {
  Flow,
  FlowEvent,
  JoinExpr,
  JsonValue,
  RunFlowOptions,
  RunResult,
  Task,
  TaskContext,
  TaskRecord,
  TaskState,
} from "./types.ts";

/** A node of a task's compiled requirement tree: counts child outcomes until it resolves. */
interface _JoinNode {
  kind: "all" | "any";
  total: number;
  trues: number;
  falses: number;
  done: boolean;
  /** `null` for the root, which belongs to `owner`. */
  parent: _JoinNode | null;
  owner: string;
}

type _Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

type _AbortKind = "cancelled" | "failed";

const _DEFAULT_ABORT_GRACE_MS = 5000;

function _isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function _isFlow(value: unknown): value is Flow {
  return _isRecord(value) && value.kind === "pyoco.flow" && value.tasks instanceof Map &&
    value.requirements instanceof Map && value.upstream instanceof Map &&
    Array.isArray(value.order) && Array.isArray(value.sinks);
}

function _errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  if (typeof error === "string") return error;
  try {
    return JSON.stringify(error) ?? String(error);
  } catch {
    return String(error);
  }
}

function _traceback(error: unknown): string | null {
  return error instanceof Error && typeof error.stack === "string" ? error.stack : null;
}

function _randomId(): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  if (typeof c?.randomUUID === "function") return c.randomUUID();
  return `run-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 12)}`;
}

function _mergeParams(
  defaults: Readonly<Record<string, unknown>>,
  params: Record<string, unknown>,
): Record<string, unknown> {
  const merged = { ...defaults, ...params };
  try {
    return structuredClone(merged);
  } catch {
    return merged;
  }
}

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

function _validateOptions(flow: unknown, options: unknown): asserts options is RunFlowOptions {
  if (!_isFlow(flow)) {
    throw new TypeError("Cannot run flow: expected a Flow created with flow()");
  }
  if (!_isRecord(options)) throw new TypeError("Cannot run flow: options must be an object");
  const o = options as RunFlowOptions;
  if (o.params !== undefined && !_isRecord(o.params)) {
    throw new TypeError('Cannot run flow: option "params" must be an object');
  }
  const tooDeep = o.params === undefined ? null : jsonDepthError(o.params, { path: "params" });
  if (tooDeep !== null) throw new RangeError(`Cannot run flow: option ${tooDeep}`);
  if (o.env !== undefined && !_isRecord(o.env)) {
    throw new TypeError('Cannot run flow: option "env" must be an object');
  }
  if (o.runId !== undefined && (typeof o.runId !== "string" || o.runId === "")) {
    throw new TypeError('Cannot run flow: option "runId" must be a non-empty string');
  }
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) {
    throw new TypeError('Cannot run flow: option "signal" must be an AbortSignal');
  }
  for (const key of ["onEvent", "onProgress"] as const) {
    if (o[key] !== undefined && typeof o[key] !== "function") {
      throw new TypeError(`Cannot run flow: option "${key}" must be a function`);
    }
  }
  const max = o.maxConcurrency;
  if (max !== undefined && !(max === Infinity || (Number.isInteger(max) && max >= 1))) {
    throw new RangeError(
      `Cannot run flow: option "maxConcurrency" must be a positive integer or Infinity, got ${max}`,
    );
  }
  const grace = o.abortGraceMs;
  if (grace !== undefined && !(typeof grace === "number" && grace >= 0 && grace <= 2 ** 31 - 1)) {
    throw new RangeError(
      `Cannot run flow: option "abortGraceMs" must be a number from 0 to 2147483647, got ${grace}`,
    );
  }
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

  readonly #params: Record<string, unknown>;
  readonly #results: Record<string, unknown> = {};
  readonly #scratch: Record<string, unknown> = {};
  readonly #artifacts: Record<string, unknown> = {};
  readonly #env: Readonly<Record<string, string>>;
  readonly #scope: SelectorScope;

  readonly #records = new Map<string, TaskRecord>();
  readonly #startedMs = new Map<string, number>();
  readonly #artifactKeys = new Map<string, Set<string>>();
  readonly #artifactViews = new Map<string, Record<string, unknown>>();
  readonly #outputPaths = new Map<string, OutputPath[]>();

  /** Upstream task name → the requirement nodes its outcome feeds. */
  readonly #leaves = new Map<string, _JoinNode[]>();
  readonly #ready: string[] = [];
  #readyHead = 0;
  #running = 0;
  #terminal = 0;

  /** Per running attempt: abort it, and stop its timer (on finalize). */
  readonly #attempts = new Set<{ abort(reason: unknown): void; dispose(): void }>();
  /** Wakes tasks sleeping before a retry. */
  readonly #sleepers = new Set<() => void>();

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
    this.#runId = options.runId ?? _randomId();
    this.#onEvent = options.onEvent;
    this.#onProgress = options.onProgress;
    this.#maxConcurrency = options.maxConcurrency ?? Infinity;
    this.#abortGraceMs = options.abortGraceMs ?? _DEFAULT_ABORT_GRACE_MS;
    this.#signal = options.signal;
    this.#params = _mergeParams(flow.defaults, options.params ?? {});

    const env: Record<string, string> = {};
    const given = options.env ?? {};
    for (const name of flow.exposeEnv) {
      if (Object.hasOwn(given, name)) env[name] = String(given[name]);
    }
    this.#env = Object.freeze(env);
    this.#scope = {
      params: this.#params,
      results: this.#results,
      scratch: this.#scratch,
      artifacts: this.#artifacts,
      env: this.#env,
      exposeEnv: new Set(flow.exposeEnv),
    };
    this.#done = new Promise((resolve) => (this.#resolveDone = resolve));

    for (const name of flow.order) {
      this.#records.set(name, _emptyRecord());
      this.#leaves.set(name, []);
      const t = flow.tasks.get(name)!;
      this.#outputPaths.set(name, t.options.outputs.map(parseOutputPath));
    }
    for (const name of flow.order) this.#compile(name);
  }

  /** Builds the requirement tree of a task; a task without requirements is ready at once. */
  #compile(name: string): void {
    const reqs = this.#flow.requirements.get(name) ?? [];
    const root: _JoinNode = {
      kind: "all",
      total: reqs.length,
      trues: 0,
      falses: 0,
      done: false,
      parent: null,
      owner: name,
    };
    if (reqs.length === 0) {
      root.done = true;
      this.#ready.push(name);
      return;
    }
    const attach = (expr: JoinExpr, parent: _JoinNode) => {
      if (expr.kind === "task") {
        this.#leaves.get(expr.name)!.push(parent);
        return;
      }
      const node: _JoinNode = {
        kind: expr.kind,
        total: expr.of.length,
        trues: 0,
        falses: 0,
        done: false,
        parent,
        owner: name,
      };
      for (const sub of expr.of) attach(sub, node);
    };
    for (const req of reqs) attach(req.when, root);
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
   * Feeds a settled task's outcome into the requirement trees that refer to it. Tasks whose
   * requirements now hold join the ready queue; tasks whose requirements can no longer hold end
   * FAILED without running, and their outcome is fed on in turn (iteratively, no recursion).
   */
  #propagate(name: string, ok: boolean): void {
    const settled: [string, boolean][] = [[name, ok]];
    while (settled.length > 0) {
      const [from, success] = settled.pop()!;
      for (const leafParent of this.#leaves.get(from)!) {
        let node: _JoinNode | null = leafParent;
        let value = success;
        while (node !== null && !node.done) {
          if (value) node.trues++;
          else node.falses++;
          const result = node.kind === "all"
            ? (!value ? false : node.trues === node.total ? true : null)
            : (value ? true : node.falses === node.total ? false : null);
          if (result === null) break;
          node.done = true;
          if (node.parent !== null) {
            node = node.parent;
            value = result;
            continue;
          }
          if (result) {
            this.#ready.push(node.owner);
          } else {
            this.#block(node.owner, from);
            settled.push([node.owner, false]);
          }
          node = null;
        }
      }
    }
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

  #inputFor(t: Task): unknown {
    if (t.options.inputs !== undefined) return resolveInputs(t.options.inputs, this.#scope);
    const upstream = this.#flow.upstream.get(t.name) ?? [];
    if (upstream.length === 0) return this.#params;
    if (upstream.length === 1) return this.#results[upstream[0]!];
    const input: Record<string, unknown> = {};
    for (const name of upstream) {
      if (Object.hasOwn(this.#results, name)) input[name] = this.#results[name];
    }
    return input;
  }

  async #runTask(name: string): Promise<void> {
    await Promise.resolve(); // never run task code inside #pump
    const t = this.#flow.tasks.get(name)!;
    const record = this.#records.get(name)!;
    if (this.#finalized) return;
    if (this.#abortKind !== null) return this.#end(name, "CANCELLED", null);

    let input: unknown;
    try {
      input = this.#inputFor(t);
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
      if (this.#abortKind !== null) return this.#end(name, "CANCELLED", null);
      if (attempt > 1) this.#progress();
      let outcome = await this.#attempt(t, attempt, input);
      if (this.#finalized) return; // finished without us (abort grace expired): discard
      if (outcome.ok) {
        try {
          this.#saveOutputs(name, outcome.value);
        } catch (error) {
          outcome = { ok: false, error };
        }
      }
      if (outcome.ok) return this.#succeed(name, attempt, outcome.value);
      if (this.#abortKind !== null) return this.#end(name, "CANCELLED", outcome.error);
      if (attempt > t.options.retries) return this.#fail(name, outcome.error);

      const delaySec = t.options.retryDelaySec * t.options.retryBackoff ** (attempt - 1);
      record.error = _errorMessage(outcome.error);
      record.traceback = _traceback(outcome.error);
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
      if (!slept) return this.#end(name, "CANCELLED", outcome.error);
    }
  }

  /** Runs one attempt, racing it against its timeout. Never rejects. */
  #attempt(t: Task, attempt: number, input: unknown): Promise<_Outcome> {
    const controller = new AbortController();
    const ctx: TaskContext = Object.freeze({
      run_id: this.#runId,
      flow_name: this.#flow.name,
      task_name: t.name,
      attempt,
      params: this.#params,
      results: this.#results,
      scratch: this.#scratch,
      artifacts: this.#artifactView(t.name),
      env: this.#env,
      signal: controller.signal,
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
    return new Promise<_Outcome>((resolve) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const handle = {
        abort: (reason: unknown) => controller.abort(reason),
        dispose: () => clearTimeout(timer),
      };
      let settled = false;
      const settle = (outcome: _Outcome) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.#attempts.delete(handle);
        resolve(outcome);
      };
      this.#attempts.add(handle);
      const timeoutSec = t.options.timeoutSec;
      if (timeoutSec !== undefined) {
        timer = setTimeout(() => {
          const error = new TaskTimeoutError(t.name, timeoutSec);
          controller.abort(error);
          settle({ ok: false, error });
        }, timeoutSec * 1000);
      }
      let result: Promise<unknown>;
      try {
        result = Promise.resolve(t.fn(ctx, input));
      } catch (error) {
        result = Promise.reject(error);
      }
      result.then(
        (value) => settle({ ok: true, value }),
        (error) => settle({ ok: false, error }),
      );
    });
  }

  /** A view of the shared artifacts that remembers which top-level keys this task assigned. */
  #artifactView(name: string): Record<string, unknown> {
    let view = this.#artifactViews.get(name);
    if (view !== undefined) return view;
    const keys = this.#artifactKeysOf(name);
    view = new Proxy(this.#artifacts, {
      set(target, key, value) {
        if (typeof key === "string") keys.add(key);
        return Reflect.set(target, key, value);
      },
      defineProperty(target, key, descriptor) {
        if (typeof key === "string") keys.add(key);
        return Reflect.defineProperty(target, key, descriptor);
      },
    });
    this.#artifactViews.set(name, view);
    return view;
  }

  #artifactKeysOf(name: string): Set<string> {
    let keys = this.#artifactKeys.get(name);
    if (keys === undefined) this.#artifactKeys.set(name, keys = new Set());
    return keys;
  }

  #saveOutputs(name: string, value: unknown): void {
    for (const { target, path } of this.#outputPaths.get(name)!) {
      if (target === "scratch") {
        setPath(this.#scratch, path, value);
      } else {
        setPath(this.#artifacts, path, value);
        this.#artifactKeysOf(name).add(path[0]!);
      }
    }
  }

  /** Waits `ms`; resolves `false` at once if the run is (or gets) aborted. */
  #sleep(ms: number): Promise<boolean> {
    if (this.#abortKind !== null) return Promise.resolve(false);
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#sleepers.delete(wake);
        resolve(false);
      };
      const timer = setTimeout(() => {
        this.#sleepers.delete(wake);
        resolve(true);
      }, ms);
      this.#sleepers.add(wake);
    });
  }

  /** Common bookkeeping of a task that stops running. */
  #close(name: string, state: TaskState, error: unknown): TaskRecord {
    const record = this.#records.get(name)!;
    const now = Date.now();
    record.state = state;
    record.ended_at = now / 1000;
    const started = this.#startedMs.get(name);
    record.duration_ms = started === undefined ? null : now - started;
    if (error !== null) {
      record.error = _errorMessage(error);
      record.traceback = _traceback(error);
    }
    const keys = this.#artifactKeys.get(name);
    if (keys !== undefined) {
      const artifacts: Record<string, JsonValue> = {};
      for (const key of keys) {
        if (Object.hasOwn(this.#artifacts, key)) {
          Object.defineProperty(artifacts, key, {
            value: toJsonSafe(this.#artifacts[key]),
            enumerable: true,
            writable: true,
            configurable: true,
          });
        }
      }
      record.artifacts = artifacts;
    }
    this.#running--;
    this.#terminal++;
    return record;
  }

  #succeed(name: string, attempt: number, value: unknown): void {
    this.#results[name] = value;
    const record = this.#close(name, "SUCCEEDED", null);
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
    const record = this.#close(name, "FAILED", error);
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
      this.#abort("failed", message, new DOMException(message, "AbortError"));
    } else {
      this.#propagate(name, false);
      this.#pump();
    }
    this.#checkDone();
  }

  #end(name: string, state: TaskState, error: unknown): void {
    this.#close(name, state, error ?? null);
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
    this.#abort("cancelled", message, reason ?? new DOMException(message, "AbortError"));
  }

  /** Stops scheduling, aborts running attempts and wakes retry sleepers; first abort wins. */
  #abort(kind: _AbortKind, message: string, reason: unknown): void {
    if (this.#abortKind !== null || this.#finalized) return;
    this.#abortKind = kind;
    this.#error = message;
    for (const attempt of [...this.#attempts]) attempt.abort(reason);
    for (const wake of [...this.#sleepers]) wake();
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
    for (const wake of [...this.#sleepers]) wake();

    const now = Date.now();
    for (const [name, record] of this.#records) {
      if (record.state === "RUNNING") {
        this.#close(name, "CANCELLED", null);
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
 * @throws {TypeError} When `flow` is not a Flow or an option has the wrong type.
 * @throws {RangeError} When `maxConcurrency` or `abortGraceMs` is out of range.
 */
export function runFlow(flow: Flow, options: RunFlowOptions = {}): Promise<RunResult> {
  try {
    _validateOptions(flow, options);
    return new _Run(flow, options).run();
  } catch (error) {
    return Promise.reject(error);
  }
}
