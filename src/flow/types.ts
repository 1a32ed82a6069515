/**
 * Public types of the flow engine. Runtime-neutral: web APIs only.
 *
 * @module
 */

/** Status of a run. Terminal: `COMPLETED`, `FAILED`, `CANCELLED`. */
export type RunStatus =
  | "PENDING"
  | "RUNNING"
  | "COMPLETED"
  | "FAILED"
  | "CANCELLING"
  | "CANCELLED";

/** State of one task within a run. */
export type TaskState = "PENDING" | "RUNNING" | "SUCCEEDED" | "FAILED" | "CANCELLED";

/** What a failing task does to the rest of its run. */
export type FailPolicy = "stop" | "isolate";

/** A JSON-compatible value. */
export type JsonValue =
  | null
  | boolean
  | number
  | string
  | JsonValue[]
  | { [key: string]: JsonValue };

/** The record of one task in a run result (times are unix seconds as floats). */
export interface TaskRecord {
  /** Final (or current) state of the task. */
  state: TaskState;
  /** When the first attempt started, or `null` if it never started. */
  started_at: number | null;
  /** When the last attempt ended, or `null` while running / never started. */
  ended_at: number | null;
  /** `(ended_at - started_at) * 1000`, or `null`. */
  duration_ms: number | null;
  /** How many attempts were made (0 if it never started). */
  attempts: number;
  /** Error message of the last failed attempt, or `null`. */
  error: string | null;
  /** Stack trace of the last failed attempt, or `null`. */
  traceback: string | null;
  /** The resolved input the task received (JSON-safe), or `null`. */
  inputs: JsonValue;
  /** The task's output (JSON-safe), or `null`. */
  output: JsonValue;
  /** Artifacts the task stored in `ctx.artifacts` under its own name (JSON-safe). */
  artifacts: Record<string, JsonValue>;
  /**
   * `true` when the task did not run because its output was given by `resume` (a retry from
   * failed, SPEC §15); absent otherwise.
   */
  reused?: boolean;
}

/** The result of {@linkcode runFlow}. */
export interface RunResult {
  /** `COMPLETED`, `FAILED` or `CANCELLED`. */
  status: "COMPLETED" | "FAILED" | "CANCELLED";
  /** Task name → state. */
  tasks: Record<string, TaskState>;
  /** Task name → record. */
  task_records: Record<string, TaskRecord>;
  /** Outputs of the flow's sink tasks, keyed by task name. */
  outputs: Record<string, JsonValue>;
  /** Why the run failed or was cancelled, or `null`. */
  error: string | null;
  /** Unix seconds. */
  start_time: number;
  /** Unix seconds. */
  end_time: number;
}

/** The context a task function receives. */
export interface TaskContext {
  /** Id of the run. */
  readonly run_id: string;
  /** Name of the flow. */
  readonly flow_name: string;
  /** Name of the running task. */
  readonly task_name: string;
  /** 1-based attempt number. */
  readonly attempt: number;
  /** Flow defaults overlaid by submitted params. */
  readonly params: Readonly<Record<string, unknown>>;
  /** Outputs of finished tasks, by task name. */
  readonly results: Readonly<Record<string, unknown>>;
  /** Free-form shared scratch space of the run (mutable). */
  readonly scratch: Record<string, unknown>;
  /** Artifacts of the run (mutable); see {@linkcode TaskRecord.artifacts}. */
  readonly artifacts: Record<string, unknown>;
  /** Environment variables exposed to the run (only `runtime.expose_env` names). */
  readonly env: Readonly<Record<string, string>>;
  /** Aborted when the attempt times out, the run is cancelled or fails under `stop`. */
  readonly signal: AbortSignal;
  /** Emit a task log line (a `task.log` event). */
  log(message: string): void;
}

/** A task function: sync or async. */
// deno-lint-ignore no-explicit-any
export type TaskFn<I = any, O = unknown> = (ctx: TaskContext, input: I) => O | Promise<O>;

/** Options of {@linkcode task}. */
export interface TaskOptions {
  /** Selector mapping resolved into the task's input. */
  inputs?: Record<string, unknown>;
  /** Context paths (`scratch.x`, `artifacts.y`) the result is also saved to. */
  outputs?: string[];
  /** Extra attempts after a failure. @default {0} */
  retries?: number;
  /** Delay before the first retry, in seconds. @default {0.1} */
  retryDelaySec?: number;
  /** Multiplier of the delay for each further retry. @default {2} */
  retryBackoff?: number;
  /** Per-attempt timeout in seconds. @default {undefined} (none) */
  timeoutSec?: number;
  /** What a failure does to the run. @default {"stop"} */
  failPolicy?: FailPolicy;
}

/** A named unit of work. Create with {@linkcode task}. */
export interface Task {
  /** Brand of task objects. */
  readonly kind: "pyoco.task";
  /** Task name, `[A-Za-z_][A-Za-z0-9_]*`. */
  readonly name: string;
  /** The task function. */
  readonly fn: TaskFn;
  /** Options with defaults applied. */
  readonly options: Readonly<Required<Omit<TaskOptions, "inputs" | "timeoutSec">>> & {
    readonly inputs?: Record<string, unknown>;
    readonly timeoutSec?: number;
  };
}

/** Options of {@linkcode flow}. */
export interface FlowOptions {
  /** Graph DSL text, e.g. `"a >> (b & c) >> d"`. */
  graph: string;
  /** The tasks the graph names. */
  tasks: Task[];
  /** Default params, overlaid by submitted params. */
  defaults?: Record<string, unknown>;
  /** Environment variable names `$env.X` may read. @default {[]} */
  exposeEnv?: string[];
}

/**
 * A validated DAG of tasks. Create with {@linkcode flow}.
 *
 * Join model: each task has a list of {@linkcode JoinRequirement}s (one per distinct `X >> task`
 * in the graph); the task may start when **all** of them hold. A requirement is a
 * {@linkcode JoinExpr} tree over upstream task outcomes, so nesting such as
 * `((a & b) | c) >> d` is exact: `d` requires `any(all(a, b), c)`.
 */
export interface Flow {
  /** Brand of flow objects. */
  readonly kind: "pyoco.flow";
  /** Flow name. */
  readonly name: string;
  /** The graph DSL text it was built from. */
  readonly graph: string;
  /** Default params (a copy of the given ones). */
  readonly defaults: Readonly<Record<string, unknown>>;
  /** Environment variable names `$env.X` and `ctx.env` may read. */
  readonly exposeEnv: readonly string[];
  /** Task name → task, in order of first appearance in the graph. */
  readonly tasks: ReadonlyMap<string, Task>;
  /** Task name → what must hold before it may start (all of them). Empty for root tasks. */
  readonly requirements: ReadonlyMap<string, readonly JoinRequirement[]>;
  /** Task name → distinct direct upstream task names. */
  readonly upstream: ReadonlyMap<string, readonly string[]>;
  /** Task name → distinct direct downstream task names. */
  readonly downstream: ReadonlyMap<string, readonly string[]>;
  /** Every direct dependency, once (for display and traversal; joins live in `requirements`). */
  readonly edges: readonly FlowEdge[];
  /** Task names in a topological order (ties in order of first appearance). */
  readonly order: readonly string[];
  /** Tasks without downstream tasks; their outputs form {@linkcode RunResult.outputs}. */
  readonly sinks: readonly string[];
}

/** A direct dependency: `to` depends on the outcome of `from`. */
export interface FlowEdge {
  /** Upstream task name. */
  from: string;
  /** Downstream task name. */
  to: string;
}

/**
 * A condition over upstream task outcomes: `task` holds when that task SUCCEEDED (and fails for
 * good when it FAILED); `all` holds when every sub-condition holds (AND-join); `any` holds when at
 * least one holds and fails when all of them failed (OR-join).
 */
export type JoinExpr =
  | { kind: "task"; name: string }
  | { kind: "all"; of: JoinExpr[] }
  | { kind: "any"; of: JoinExpr[] };

/** One requirement of a task, from one `X >> task` in the graph. */
export interface JoinRequirement {
  /** The condition (the exit condition of `X`). */
  when: JoinExpr;
  /** 1-based line of the task name that this `>>` leads to. */
  line: number;
  /** 1-based column of the task name that this `>>` leads to. */
  column: number;
}

/** A lifecycle event emitted by {@linkcode runFlow}. */
export type FlowEvent =
  | { type: "run.started"; run_id: string; flow_name: string; ts: number }
  | { type: "task.started"; run_id: string; task: string; attempt: number; ts: number }
  | { type: "task.succeeded"; run_id: string; task: string; attempt: number; ts: number }
  | {
    type: "task.failed";
    run_id: string;
    task: string;
    attempt: number;
    error: string;
    ts: number;
  }
  | {
    type: "task.retrying";
    run_id: string;
    task: string;
    attempt: number;
    error: string;
    delay_sec: number;
    ts: number;
  }
  | { type: "task.log"; run_id: string; task: string; attempt: number; message: string; ts: number }
  | { type: "run.completed"; run_id: string; ts: number }
  | { type: "run.failed"; run_id: string; error: string; ts: number }
  | { type: "run.cancelled"; run_id: string; error: string | null; ts: number };

/** What {@linkcode RunFlowOptions.onProgress} receives: fresh plain copies. */
export interface RunProgress {
  /** Task name → state. */
  tasks: Record<string, TaskState>;
  /** Task name → record. */
  task_records: Record<string, TaskRecord>;
}

/** Options of {@linkcode runFlow}. */
export interface RunFlowOptions {
  /** Submitted params, overlaid on the flow's defaults. @default {{}} */
  params?: Record<string, unknown>;
  /** Run id given to tasks. @default {crypto.randomUUID()} */
  runId?: string;
  /** Aborting it cancels the run. */
  signal?: AbortSignal;
  /** Receives lifecycle events; exceptions it throws are ignored. */
  onEvent?: (event: FlowEvent) => void;
  /**
   * Called synchronously after every task state change (and each retry) with fresh copies of
   * the task states and records; exceptions it throws are ignored.
   */
  onProgress?: (progress: RunProgress) => void;
  /** Maximum tasks running at once (a task waiting to retry keeps its slot). @default {Infinity} */
  maxConcurrency?: number;
  /** Values for `$env.NAME` / `ctx.env` (only names in the flow's `exposeEnv` are passed). @default {{}} */
  env?: Record<string, string>;
  /**
   * After the run is aborted (cancelled, or a task failed under `stop`), how long to wait for
   * running attempts to settle before finishing anyway; later results are discarded.
   * @default {5000}
   */
  abortGraceMs?: number;
  /**
   * Task name → the output it recorded in an earlier run (SPEC §15, retry from failed). These
   * tasks do not run: they end SUCCEEDED at once with that output and `reused: true` in their
   * record (no events), and their downstream receives the output as if they had run (including
   * their `outputs` paths). Every name must be a task of the flow. @default {{}}
   */
  resume?: Readonly<Record<string, unknown>>;
}
