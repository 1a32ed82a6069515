/**
 * Errors thrown by {@linkcode PyocoClient}. Web APIs only.
 *
 * @module
 */

import type { RunSnapshot } from "../contract/mod.ts";

/** One validation problem of a 422 answer. */
export interface FieldError {
  /** Where the problem is, e.g. `body.flow_name`. */
  path: string;
  /** What is wrong there. */
  message: string;
}

/** Fields of a {@linkcode PyocoHttpError}. */
export interface PyocoHttpErrorInit {
  /** HTTP status code. */
  status: number;
  /** `ERR-PYOCO-00NN`, or `null` when the answer had no JSON error body. */
  errId: string | null;
  /** `MSG-PYOCO-00NN`, or `null` when the answer had no JSON error body. */
  msgId: string | null;
  /** The human message of the gateway (or the start of a non-JSON body). */
  detail: string;
  /** Validation problems (422 answers). */
  errors?: FieldError[];
  /** `GET`, `POST`, … */
  method: string;
  /** The URL that was requested. */
  url: string;
}

/**
 * The gateway answered with a non-2xx status (or a 2xx body that is not the expected JSON).
 *
 * @example
 * ```ts ignore
 * import { PyocoClient, PyocoHttpError } from "./mod.ts";
 * const client = new PyocoClient({ baseUrl: "http://127.0.0.1:8000" });
 * try {
 *   await client.getRun("no-such-run");
 * } catch (err) {
 *   if (err instanceof PyocoHttpError && err.errId === "ERR-PYOCO-0005") {
 *     console.log("run does not exist");
 *   }
 * }
 * ```
 */
export class PyocoHttpError extends Error {
  /** HTTP status code. */
  readonly status: number;
  /** `ERR-PYOCO-00NN`, or `null` when the answer had no JSON error body. */
  readonly errId: string | null;
  /** `MSG-PYOCO-00NN`, or `null` when the answer had no JSON error body. */
  readonly msgId: string | null;
  /** The human message of the gateway. */
  readonly detail: string;
  /** Validation problems (422 answers); empty otherwise. */
  readonly errors: FieldError[];
  /** The request method. */
  readonly method: string;
  /** The requested URL. */
  readonly url: string;

  /**
   * Build the error from a gateway answer.
   *
   * @param init The status, ids and message of the answer.
   * @param options Standard error options (`cause`).
   */
  constructor(init: PyocoHttpErrorInit, options?: ErrorOptions) {
    const id = init.errId ? ` (${init.errId})` : "";
    super(
      `${init.method} ${_pathOf(init.url)} failed with status ${init.status}: ${init.detail}${id}`,
      options,
    );
    this.name = "PyocoHttpError";
    this.status = init.status;
    this.errId = init.errId;
    this.msgId = init.msgId;
    this.detail = init.detail;
    this.errors = init.errors ?? [];
    this.method = init.method;
    this.url = init.url;
  }
}

/**
 * The gateway could not be reached: connection refused, DNS failure, reset, or a request timeout.
 * Thrown after the retry budget is spent (for requests that are safe to repeat). `cause` keeps the
 * underlying error.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PyocoClient, PyocoNetworkError } from "./mod.ts";
 *
 * // Nothing listens on port 9 (discard): the request fails without an answer.
 * const client = new PyocoClient({ baseUrl: "http://127.0.0.1:9", retry: false });
 * const err = await client.health().catch((e) => e);
 * assert.ok(err instanceof PyocoNetworkError);
 * assert.equal(err.attempts, 1);
 * ```
 */
export class PyocoNetworkError extends Error {
  /** The requested URL. */
  readonly url: string;
  /** How many times the request was tried. */
  readonly attempts: number;
  /** Whether the last attempt failed because it took longer than `timeoutMs`. */
  readonly timedOut: boolean;

  /**
   * Build the error for a request that got no answer.
   *
   * @param message What failed and why.
   * @param init The URL, the number of attempts and whether it timed out.
   * @param options Standard error options; pass the fetch error as `cause`.
   */
  constructor(
    message: string,
    init: { url: string; attempts: number; timedOut?: boolean },
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "PyocoNetworkError";
    this.url = init.url;
    this.attempts = init.attempts;
    this.timedOut = init.timedOut ?? false;
  }
}

/**
 * {@linkcode PyocoClient.waitForRun} gave up: the run was not terminal within `timeoutMs`.
 * The run itself goes on on the server.
 *
 * @example
 * ```ts ignore
 * import { PyocoClient, PyocoTimeoutError } from "./mod.ts";
 * const client = new PyocoClient({ baseUrl: "http://127.0.0.1:8000" });
 * try {
 *   await client.waitForRun("3f2a…", { timeoutMs: 1000 });
 * } catch (err) {
 *   if (err instanceof PyocoTimeoutError) console.log(err.lastSnapshot?.status);
 * }
 * ```
 */
export class PyocoTimeoutError extends Error {
  /** The run that was waited for. */
  readonly runId: string;
  /** The wait budget that ran out, in milliseconds. */
  readonly timeoutMs: number;
  /** The last snapshot seen, if any. */
  readonly lastSnapshot: RunSnapshot | null;

  /**
   * Build the error for a wait that ran out of time.
   *
   * @param init The run id, the budget and the last snapshot seen.
   * @param options Standard error options.
   */
  constructor(
    init: {
      runId: string;
      timeoutMs: number;
      lastSnapshot?: RunSnapshot | null;
    },
    options?: ErrorOptions,
  ) {
    const last = init.lastSnapshot ? ` (last status ${init.lastSnapshot.status})` : "";
    super(`Run ${init.runId} did not finish within ${init.timeoutMs} ms${last}`, options);
    this.name = "PyocoTimeoutError";
    this.runId = init.runId;
    this.timeoutMs = init.timeoutMs;
    this.lastSnapshot = init.lastSnapshot ?? null;
  }
}

/**
 * The gateway cannot serve a live route the client asked for: `GET /runs/{id}/watch` or
 * `GET /runs/watch` is missing (an older gateway, or a proxy that does not pass it on) or does
 * not answer with an event stream. {@linkcode PyocoClient.waitForRun} reacts by polling; callers
 * of {@linkcode PyocoClient.watchRun} can do the same with {@linkcode PyocoClient.getRun}.
 *
 * @example
 * ```ts ignore
 * import { PyocoClient, PyocoUnsupportedError } from "./mod.ts";
 * const client = new PyocoClient({ baseUrl: "http://127.0.0.1:8000" });
 * try {
 *   for await (const item of client.watchRun("3f2a…")) console.log(item.type);
 * } catch (err) {
 *   if (err instanceof PyocoUnsupportedError) console.log("no watch stream here:", err.status);
 * }
 * ```
 */
export class PyocoUnsupportedError extends Error {
  /** The requested URL. */
  readonly url: string;
  /** The HTTP status of the answer (404, 405, …, or 200 for an answer that is not a stream). */
  readonly status: number;

  /**
   * Build the error for a live route the gateway does not serve.
   *
   * @param message What is missing and why.
   * @param init The URL and the status of the answer.
   * @param options Standard error options; pass the HTTP error as `cause` when there is one.
   */
  constructor(message: string, init: { url: string; status: number }, options?: ErrorOptions) {
    super(message, options);
    this.name = "PyocoUnsupportedError";
    this.url = init.url;
    this.status = init.status;
  }
}

function _pathOf(url: string): string {
  try {
    const u = new URL(url);
    return u.pathname + u.search;
  } catch {
    return url;
  }
}
