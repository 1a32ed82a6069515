/**
 * The gateway's HTTP error: thrown by routes, turned into the JSON error body
 * `{detail, err_id, msg_id, errors?}` by one handler in `app.ts`. The run store's domain errors
 * (`src/runs/errors.ts`) become HTTP errors here, in {@linkcode toHttpError}, and nowhere else.
 *
 * @module
 */

import { ErrId, msgIdFor } from "../contract/errors.ts";
import type { ErrorBody } from "../contract/wire.ts";
import {
  ConflictError,
  type FieldError,
  FlowNotOfferedError,
  InvalidRequestError,
  NatsUnavailableError,
  NotFoundError,
  RunStoreError,
  TooLargeError,
} from "../runs/errors.ts";

export type { FieldError };

/** Options of {@linkcode HttpError}. */
export interface HttpErrorOptions extends ErrorOptions {
  /** Validation problems, returned as `errors`. */
  errors?: FieldError[];
  /** Extra response headers (e.g. `Allow`, `Retry-After`). */
  headers?: Record<string, string>;
}

/**
 * An HTTP error answer with its status, `ERR-PYOCO-00NN` id and human detail.
 *
 * @example Usage
 * ```ts
 * import { HttpError } from "./errors.ts";
 * import assert from "node:assert/strict";
 * const err = new HttpError(404, "ERR-PYOCO-0005", "Run abc not found");
 * assert.equal(err.toBody().msg_id, "MSG-PYOCO-0005");
 * ```
 */
export class HttpError extends Error {
  /** HTTP status code. */
  readonly status: number;
  /** Error id, e.g. `ERR-PYOCO-0002`. */
  readonly errId: string;
  /** Human message returned as `detail`. */
  readonly detail: string;
  /** Validation problems (may be empty). */
  readonly errors: FieldError[];
  /** Extra response headers. */
  readonly headers: Record<string, string>;

  /**
   * Make an HTTP error answer.
   *
   * @param status HTTP status code.
   * @param errId Error id (`ERR-PYOCO-00NN`).
   * @param detail Human message.
   * @param options Validation problems, headers and `cause`.
   */
  constructor(status: number, errId: string, detail: string, options: HttpErrorOptions = {}) {
    super(detail, options);
    this.name = "HttpError";
    this.status = status;
    this.errId = errId;
    this.detail = detail;
    this.errors = options.errors ?? [];
    this.headers = options.headers ?? {};
  }

  /**
   * The JSON error body.
   *
   * @returns `{detail, err_id, msg_id}` plus `errors` when there are validation problems.
   */
  toBody(): ErrorBody {
    const body: ErrorBody = {
      detail: this.detail,
      err_id: this.errId,
      msg_id: msgIdFor(this.errId),
    };
    if (this.errors.length > 0) body.errors = this.errors;
    return body;
  }
}

/**
 * A 422 invalid-request error (ERR-PYOCO-0002) listing the problems.
 *
 * @param errors The problems (at least one).
 * @param detail Optional human summary (default: the first problem).
 * @returns The error to throw.
 */
export function invalidRequest(errors: FieldError[], detail?: string): HttpError {
  const first = errors[0];
  const summary = detail ??
    (first ? `Invalid request: ${first.path}: ${first.message}` : "Invalid request");
  return new HttpError(422, ErrId.invalidRequest, summary, { errors });
}

/**
 * A 503 NATS-unavailable error (ERR-PYOCO-0003).
 *
 * @param what What could not be done, e.g. `Cannot read run abc`.
 * @param cause The underlying error.
 * @returns The error to throw.
 */
export function natsUnavailable(what: string, cause?: unknown): HttpError {
  const why = cause instanceof Error ? `: ${cause.message}` : "";
  return new HttpError(503, ErrId.natsUnavailable, `${what}: NATS is unavailable${why}`, {
    cause,
    headers: { "retry-after": "1" },
  });
}

/** The HTTP status of each run-store error class (the most specific class first). */
const _STATUS: [new (...args: never[]) => RunStoreError, number][] = [
  [InvalidRequestError, 422],
  [FlowNotOfferedError, 422],
  [TooLargeError, 413],
  [NatsUnavailableError, 503],
  [NotFoundError, 404],
  [ConflictError, 409],
];

/**
 * The HTTP answer of an error thrown while serving a request: an {@linkcode HttpError} as it is,
 * a run-store error mapped to its status (422, 413, 503, 404, 409), anything else `null` (an
 * internal error: the caller answers 500 and logs it).
 *
 * @param err What was thrown.
 * @returns The HTTP error, or `null` for an unexpected error.
 *
 * @example Usage
 * ```ts
 * import { toHttpError } from "./errors.ts";
 * import { NotFoundError } from "../runs/errors.ts";
 * import assert from "node:assert/strict";
 * assert.equal(toHttpError(new NotFoundError("Run abc not found"))?.status, 404);
 * assert.equal(toHttpError(new TypeError("bug")), null);
 * ```
 */
export function toHttpError(err: unknown): HttpError | null {
  if (err instanceof HttpError) return err;
  if (!(err instanceof RunStoreError)) return null;
  const status = _STATUS.find(([cls]) => err instanceof cls)?.[1] ?? 422;
  return new HttpError(status, err.errId, err.message, {
    cause: err.cause,
    errors: err.errors,
    headers: status === 503 ? { "retry-after": "1" } : undefined,
  });
}
