/**
 * Errors of the flow engine and of flow.yaml. Web APIs only.
 *
 * @module
 */

/**
 * A flow definition is invalid: bad graph DSL, unknown task name, a cycle, or a `$node.X`
 * selector naming a task that is not upstream. The message names the problem and where.
 *
 * @example Usage
 * ```ts
 * import { flow, FlowDefinitionError } from "@pyoco/server";
 * import assert from "node:assert/strict";
 * assert.throws(() => flow("f", { graph: "a >>", tasks: [] }), FlowDefinitionError);
 * ```
 */
export class FlowDefinitionError extends Error {
  /** 1-based column in the graph text, when the problem has a position. */
  readonly column: number | null;
  /** 1-based line in the graph text, when the problem has a position. */
  readonly line: number | null;

  /**
   * Create the error.
   *
   * @param message What is wrong and where.
   * @param options `cause`, and the position of the problem in the graph text.
   */
  constructor(message: string, options: ErrorOptions & { line?: number; column?: number } = {}) {
    super(message, options);
    this.name = "FlowDefinitionError";
    this.line = options.line ?? null;
    this.column = options.column ?? null;
  }
}

/** Why a flow.yaml was rejected. */
export type WorkflowYamlReason =
  | "too_large"
  | "not_utf8"
  | "syntax"
  | "duplicate_key"
  | "alias_limit"
  | "unknown_key"
  | "forbidden_key"
  | "invalid_value"
  | "missing_key";

/**
 * A flow.yaml document is invalid. `reason` says why and `path` (e.g. `tasks.fetch.retries`)
 * where, when the problem is at a key.
 */
export class WorkflowYamlError extends Error {
  /** Machine-readable reason. */
  readonly reason: WorkflowYamlReason;
  /** Dotted path of the offending key, or `null`. */
  readonly path: string | null;

  /**
   * Create the error.
   *
   * @param reason Machine-readable reason.
   * @param message Human message naming the key and path.
   * @param options `cause` and the offending `path`.
   */
  constructor(
    reason: WorkflowYamlReason,
    message: string,
    options: ErrorOptions & { path?: string | null } = {},
  ) {
    super(message, options);
    this.name = "WorkflowYamlError";
    this.reason = reason;
    this.path = options.path ?? null;
  }
}

/** A task (or `callable`) name does not resolve against the registered tasks. */
export class TaskNotFoundError extends Error {
  /** The callable or task name that did not resolve. */
  readonly callable: string;

  /**
   * Create the error.
   *
   * @param callable The name that did not resolve.
   * @param options `cause`, and the message (a default names the callable).
   */
  constructor(callable: string, options: ErrorOptions & { message?: string } = {}) {
    super(
      options.message ?? `Cannot find task "${callable}": it is not registered on this worker`,
      options,
    );
    this.name = "TaskNotFoundError";
    this.callable = callable;
  }
}

/** A task attempt exceeded its `timeoutSec`. */
export class TaskTimeoutError extends Error {
  /** The task that timed out. */
  readonly task: string;
  /** The limit it exceeded, in seconds. */
  readonly timeoutSec: number;

  /**
   * Create the error; the message names the task and the limit.
   *
   * @param task The task that timed out.
   * @param timeoutSec The limit, in seconds.
   */
  constructor(task: string, timeoutSec: number) {
    super(`Task "${task}" timed out after ${timeoutSec} s`);
    this.name = "TaskTimeoutError";
    this.task = task;
    this.timeoutSec = timeoutSec;
  }
}
