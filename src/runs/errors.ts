/**
 * The errors of the run store (submit, idempotency, dead letters, deletes): one class per failure
 * a caller can act on. They carry the `ERR-PYOCO-00NN` id of SPEC §9 but no HTTP status — the
 * gateway maps each class to its status in one place (`src/gateway/errors.ts`), and the admin CLI
 * prints their message.
 *
 * @module
 */

import { ErrId, type ErrIdValue, msgIdFor } from "../contract/errors.ts";
import type { ErrorBody } from "../contract/wire.ts";

/** One validation problem: where (`flow_name`, `params`, `tags[1]`, …) and what. */
export interface FieldError {
  /** Dotted path of the offending field. */
  path: string;
  /** What is wrong with it. */
  message: string;
}

/** Options of {@linkcode RunStoreError}. */
export interface RunStoreErrorOptions extends ErrorOptions {
  /** The error id. @default {"ERR-PYOCO-0002"} */
  errId?: ErrIdValue;
  /** Validation problems. */
  errors?: FieldError[];
}

/**
 * Base of the run store's errors: a message for people, an error id for programs.
 *
 * @example Usage
 * ```ts
 * import { InvalidRequestError, RunStoreError } from "./errors.ts";
 * import assert from "node:assert/strict";
 * const err = new InvalidRequestError([{ path: "tag", message: "is not a valid tag" }]);
 * assert.ok(err instanceof RunStoreError);
 * assert.equal(err.errId, "ERR-PYOCO-0002");
 * assert.equal(err.message, "Invalid request: tag: is not a valid tag");
 * ```
 */
export class RunStoreError extends Error {
  /** Error id (`ERR-PYOCO-00NN`). */
  readonly errId: ErrIdValue;
  /** Validation problems (may be empty). */
  readonly errors: FieldError[];

  /**
   * Make the error.
   *
   * @param message Human message.
   * @param options Error id, validation problems and `cause`.
   */
  constructor(message: string, options: RunStoreErrorOptions = {}) {
    super(message, options);
    this.name = "RunStoreError";
    this.errId = options.errId ?? ErrId.invalidRequest;
    this.errors = options.errors ?? [];
  }

  /**
   * The JSON error body of SPEC §5 (`{detail, err_id, msg_id, errors?}`), e.g. for one item of a
   * batch answer.
   *
   * @returns The body.
   */
  toBody(): ErrorBody {
    const body: ErrorBody = {
      detail: this.message,
      err_id: this.errId,
      msg_id: msgIdFor(this.errId),
    };
    if (this.errors.length > 0) body.errors = this.errors;
    return body;
  }
}

/** A request that breaks a rule of the contract (ERR-PYOCO-0002), listing every problem. */
export class InvalidRequestError extends RunStoreError {
  /**
   * Make the error.
   *
   * @param errors The problems (at least one).
   * @param summary Optional human summary (default: the first problem).
   */
  constructor(errors: FieldError[], summary?: string) {
    const first = errors[0];
    super(
      summary ?? (first ? `Invalid request: ${first.path}: ${first.message}` : "Invalid request"),
      { errId: ErrId.invalidRequest, errors },
    );
    this.name = "InvalidRequestError";
  }
}

/** Something is larger than a configured limit (the message names the limit). */
export class TooLargeError extends RunStoreError {
  /**
   * Make the error.
   *
   * @param message What is too large and the limit.
   * @param errId The error id (e.g. ERR-PYOCO-0016 for a workflow YAML).
   */
  constructor(message: string, errId: ErrIdValue) {
    super(message, { errId });
    this.name = "TooLargeError";
  }
}

/** NATS did not answer or refused the operation (ERR-PYOCO-0003); retrying later may work. */
export class NatsUnavailableError extends RunStoreError {
  /**
   * Make the error.
   *
   * @param what What could not be done, e.g. `Cannot read run abc`.
   * @param options Keeps `cause` (its message is appended).
   */
  constructor(what: string, options?: ErrorOptions) {
    const cause = options?.cause;
    const why = cause instanceof Error ? `: ${cause.message}` : "";
    super(`${what}: NATS is unavailable${why}`, { errId: ErrId.natsUnavailable, cause });
    this.name = "NatsUnavailableError";
  }
}

/** The thing asked for does not exist (or the caller's tenant may not see it). */
export class NotFoundError extends RunStoreError {
  /**
   * Make the error.
   *
   * @param message What was not found.
   * @param errId The error id (ERR-PYOCO-0005 for a run).
   */
  constructor(message: string, errId: ErrIdValue = ErrId.runNotFound) {
    super(message, { errId });
    this.name = "NotFoundError";
  }
}

/** The request conflicts with the current state (e.g. an Idempotency-Key reused with another body). */
export class ConflictError extends RunStoreError {
  /**
   * Make the error.
   *
   * @param message What conflicts.
   * @param errId The error id.
   */
  constructor(message: string, errId: ErrIdValue) {
    super(message, { errId });
    this.name = "ConflictError";
  }
}

/** Options of {@linkcode FlowNotOfferedError}. */
export interface FlowNotOfferedErrorOptions {
  /** The request field at fault (`flow_name`, or `workflow.tasks` for a flow.yaml run). */
  path: string;
  /** The flow, or the callables, that no worker of the tag offers. */
  missing: string[];
}

/**
 * The flow catalog knows the run's tag and no worker of it offers the flow, or a callable of
 * the flow.yaml (ERR-PYOCO-0006, 422 at the gateway). The message names the closest names.
 *
 * @example Usage
 * ```ts
 * import { FlowNotOfferedError } from "./errors.ts";
 * import assert from "node:assert/strict";
 * const err = new FlowNotOfferedError('Flow "helo" is not offered on tag "default": did you mean "hello"?', {
 *   path: "flow_name",
 *   missing: ["helo"],
 * });
 * assert.equal(err.errId, "ERR-PYOCO-0006");
 * assert.equal(err.errors[0]?.path, "flow_name");
 * ```
 */
export class FlowNotOfferedError extends RunStoreError {
  /** The flow, or the callables, that no worker of the tag offers. */
  readonly missing: string[];

  /**
   * Make the error.
   *
   * @param message What is missing, on which tag, and the closest names.
   * @param options The field at fault and what is missing.
   */
  constructor(message: string, options: FlowNotOfferedErrorOptions) {
    super(message, { errId: ErrId.flowNotFound, errors: [{ path: options.path, message }] });
    this.name = "FlowNotOfferedError";
    this.missing = options.missing;
  }
}
