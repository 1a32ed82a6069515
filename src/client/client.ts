/**
 * `PyocoClient`: a typed HTTP client of the pyoco gateway. Web APIs only (fetch, AbortSignal,
 * URL, FormData, Blob, streams), so it runs in Deno, Node ≥ 18, Bun and browsers.
 *
 * @module
 */

import { isTerminal } from "../contract/mod.ts";
import type {
  RunSnapshot,
  RunStatus,
  RunSummary,
  RunTasksView,
  RunView,
  SubmitResponse,
  WorkerRecord,
} from "../contract/mod.ts";
import {
  PyocoHttpError,
  PyocoNetworkError,
  PyocoTimeoutError,
  PyocoUnsupportedError,
} from "./errors.ts";
import type { FieldError } from "./errors.ts";
import { _anySignal, _backoffDelay, _sleep } from "./_retry.ts";
import { _errorBody, _watchStream } from "./_watch.ts";

/** Retry policy for requests that are safe to repeat. */
export interface RetryOptions {
  /** Total tries of one request, the first included (1 = no retry). @default {3} */
  attempts?: number;
  /** Delay before the first retry; doubles for each further one (with jitter). @default {200} */
  baseDelayMs?: number;
  /** Upper bound of one delay. @default {2000} */
  maxDelayMs?: number;
}

/** Options of {@linkcode PyocoClient}. */
export interface PyocoClientOptions {
  /** The gateway, e.g. `http://127.0.0.1:8000` (a path prefix is kept). */
  baseUrl: string | URL;
  /** API key sent on every request (gateways with `PYOCO_HTTP_AUTH_MODE=api_key`). */
  apiKey?: string;
  /** Header that carries the API key. @default {"X-API-Key"} */
  apiKeyHeader?: string;
  /** The fetch to use (a wrapper for logging/tracing, or a runtime's own). @default {globalThis.fetch} */
  fetch?: typeof fetch;
  /** Time limit of one HTTP request (one try), in milliseconds. @default {30000} */
  timeoutMs?: number;
  /**
   * Retry policy on 503 and network errors, for requests that are safe to repeat (every GET;
   * `POST /runs` only with an idempotency key). `false` disables retries.
   * @default {{ attempts: 3, baseDelayMs: 200, maxDelayMs: 2000 }}
   */
  retry?: RetryOptions | false;
}

/** Options every call takes. */
export interface CallOptions {
  /** Aborts the call (and its retries); the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** `GET /health` answer. */
export interface HealthResponse {
  /** `"ok"` when the gateway is serving. */
  status: string;
  /** Whether the gateway's NATS connection is up. */
  nats?: "connected" | "disconnected";
}

/** A run to submit with {@linkcode PyocoClient.submitRun}. */
export interface SubmitRunRequest {
  /** Name of a flow the workers registered. */
  flowName: string;
  /** Parameters overlaid on the flow's defaults. @default {{}} */
  params?: Record<string, unknown>;
  /** Work queue. @default {"default"} */
  tag?: string;
  /** Tags recorded on the run. @default {[tag]} */
  tags?: string[];
  /**
   * Makes the submission idempotent: the same key returns the same run and never starts a second
   * one; it also makes the request safe to retry.
   */
  idempotencyKey?: string;
}

/** A YAML workflow to submit with {@linkcode PyocoClient.submitRunYaml}. */
export interface SubmitRunYamlRequest {
  /** The flow.yaml text or bytes. */
  workflowYaml: string | Uint8Array | Blob;
  /** Name the run gets. */
  flowName: string;
  /** Work queue. @default {"default"} */
  tag?: string;
  /** Sent as `Idempotency-Key`; makes the request safe to retry. */
  idempotencyKey?: string;
}

/** What `GET /runs/{id}` should add to the snapshot. */
export type RunInclude = "records" | "full" | "all";

/** Options of {@linkcode PyocoClient.getRun}. */
export interface GetRunOptions extends CallOptions {
  /** Add `task_records` (`records`, `full`, `all`). @default {[]} */
  include?: RunInclude[];
}

/** Options of {@linkcode PyocoClient.listRuns}. */
export interface ListRunsOptions extends CallOptions {
  /** Only runs in this status. */
  status?: RunStatus;
  /** Only runs of this flow. */
  flow?: string;
  /** Only runs on this tag. */
  tag?: string;
  /** At most this many (1..200). @default {50} */
  limit?: number;
  /** Full snapshots instead of summaries. @default {false} */
  full?: boolean;
}

/** Options of {@linkcode PyocoClient.waitForRun}. */
export interface WaitForRunOptions extends CallOptions {
  /** Give up after this long with a {@linkcode PyocoTimeoutError}. @default {undefined} (wait forever) */
  timeoutMs?: number;
  /** Poll interval when the gateway has no watch stream. @default {500} */
  pollIntervalMs?: number;
  /** Called with each snapshot that differs (status, tasks, worker, error) from the last one. */
  onUpdate?: (snapshot: RunSnapshot) => void;
}

/** Options of {@linkcode PyocoClient.listWorkers}. */
export interface ListWorkersOptions extends CallOptions {
  /** Also list workers that asked to be hidden. @default {false} */
  includeHidden?: boolean;
}

/** One stored event of a run (`GET /runs/{id}/events`, or `event` frames of the watch stream). */
export interface RunEvent {
  /** Position in the events stream; pass it as `afterSeq` to read what follows. */
  seq: number;
  /**
   * `run.started`, `task.started`, `task.succeeded`, `task.failed`, `task.retrying`, `task.log`,
   * `run.completed`, `run.failed`, `run.cancelled`, `events.dropped` (or `unknown`).
   */
  type: string;
  /** The run. */
  run_id?: string;
  /** When it happened (unix seconds). */
  ts?: number;
  /** The task, for `task.*` events. */
  task?: string;
  /** The task attempt (1-based), for `task.*` events. */
  attempt?: number;
  /** The line a task logged with `ctx.log()` (`task.log`). */
  message?: string;
  /** Why it failed (`task.failed`, `task.retrying`, `run.failed`, `run.cancelled`). */
  error?: string | null;
  /** Any other field the worker published. */
  [field: string]: unknown;
}

/** `GET /runs/{id}/events` answer. */
export interface RunEventsPage {
  /** The run. */
  run_id: string;
  /** The events, ascending `seq`. */
  events: RunEvent[];
  /** Pass as `afterSeq` to read what follows (the last `seq`, or the `afterSeq` asked for). */
  next_after_seq: number;
}

/** Options of {@linkcode PyocoClient.getEvents}. */
export interface GetEventsOptions extends CallOptions {
  /** Only events after this sequence (exclusive). @default {0} */
  afterSeq?: number;
  /** At most this many (1..1000). @default {100} */
  limit?: number;
}

/** Options of {@linkcode PyocoClient.iterateEvents}. */
export interface IterateEventsOptions extends CallOptions {
  /** Start after this sequence (exclusive). @default {0} */
  afterSeq?: number;
  /** Events per request (1..1000). @default {100} */
  pageSize?: number;
}

/** Options of {@linkcode PyocoClient.watchRun}. */
export interface WatchRunOptions extends CallOptions {
  /** Add `task_records` to the snapshots (`records`, `full`, `all`). @default {[]} */
  include?: RunInclude[];
  /** Also yield the run's events (task log lines, lifecycle events). @default {false} */
  events?: boolean;
  /** With `events`: only events after this sequence. @default {0} */
  afterSeq?: number;
  /**
   * Resume after this id (an `id` of an item an earlier watch yielded): what the caller already
   * has is not sent again.
   */
  lastEventId?: string;
}

/** An item of {@linkcode PyocoClient.watchRun}. */
export type RunWatchItem =
  | {
    /** A new state of the run; the last item is the terminal one. */
    type: "snapshot";
    /** Resume position (`<revision>` or `<revision>-<seq>`); pass as `lastEventId`. */
    id: string | null;
    /** The run's snapshot (`task_records` only when included). */
    snapshot: RunSnapshot;
  }
  | {
    /** A run event (only with `events: true`). */
    type: "event";
    /** Resume position; pass as `lastEventId`. */
    id: string | null;
    /** The event. */
    event: RunEvent;
  };

/** Filters shared by the run listings and the runs watch. */
export interface RunFilterOptions extends CallOptions {
  /** Only runs in this status (or in any of these). */
  status?: RunStatus | RunStatus[];
  /** Only runs of this flow. */
  flow?: string;
  /** Only runs on this tag. */
  tag?: string;
}

/** Options of {@linkcode PyocoClient.watchRuns}. */
export interface WatchRunsOptions extends RunFilterOptions {
  /** Resume after this id (the `id` of an item an earlier watch yielded). */
  lastEventId?: string;
}

/** An item of {@linkcode PyocoClient.watchRuns}. */
export type RunsWatchItem =
  | {
    /** A run changed (and matches the filters). */
    type: "summary";
    /** Resume position (a revision); pass as `lastEventId`. */
    id: string | null;
    /** The run as it is now. */
    summary: RunSummary;
  }
  | {
    /** A run's snapshot was deleted. */
    type: "removed";
    /** Resume position; pass as `lastEventId`. */
    id: string | null;
    /** The run. */
    run_id: string;
  };

/** Options of {@linkcode PyocoClient.listRunsPage}. */
export interface ListRunsPageOptions extends RunFilterOptions {
  /** Continue from a `next_cursor` (wins over `updatedAfter`). */
  cursor?: string;
  /** Start with the runs updated after this time (unix seconds). @default {0} (every run) */
  updatedAfter?: number;
  /** At most this many items (1..200). @default {50} */
  limit?: number;
  /** Whole snapshots instead of summaries. @default {false} */
  full?: boolean;
}

/** Options of {@linkcode PyocoClient.iterateRuns}. */
export interface IterateRunsOptions extends Omit<ListRunsPageOptions, "limit"> {
  /** Items per request (1..200). @default {50} */
  pageSize?: number;
}

/** One page of the delta listing (`GET /runs?cursor=…`). */
export interface RunsPage<T = RunSummary> {
  /** Runs in ascending KV-revision order (each at its latest revision). */
  items: T[];
  /** Where to continue, now or later (always set, also for an empty page). */
  next_cursor: string;
  /** Whether more is already known (ask again at once). */
  has_more: boolean;
}

interface _RequestInit extends CallOptions {
  query?: URLSearchParams;
  json?: unknown;
  body?: BodyInit;
  headers?: Record<string, string>;
  accept?: string;
  /** Safe to repeat on 503 / network errors. */
  retryable: boolean;
}

const _DEFAULT_RETRY: Required<RetryOptions> = { attempts: 3, baseDelayMs: 200, maxDelayMs: 2000 };
/** The watch stream sends a heartbeat every 15 s when idle; three missed ones mean it is stalled. */
const _WATCH_IDLE_MS = 45_000;
const _HEADER_TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * HTTP client of the pyoco gateway: submit runs, read them, wait for them, list runs and workers.
 * Answers are typed after the wire format (snake_case, unix seconds).
 *
 * Errors: {@linkcode PyocoHttpError} for non-2xx answers (with `status`, `errId`, `detail`,
 * `errors`), {@linkcode PyocoNetworkError} when the gateway cannot be reached (after retries),
 * {@linkcode PyocoTimeoutError} when {@linkcode PyocoClient.waitForRun} runs out of time. An
 * aborted call rejects with its signal's reason.
 *
 * @example Submit a run and wait for it
 * ```ts ignore
 * import { PyocoClient } from "@pyoco/server/client";
 *
 * const client = new PyocoClient({ baseUrl: "http://127.0.0.1:8000" });
 * const { run_id } = await client.submitRun({ flowName: "hello", params: { x: 2 } });
 * const final = await client.waitForRun(run_id, {
 *   timeoutMs: 60_000,
 *   onUpdate: (s) => console.log(s.status, s.tasks),
 * });
 * if (final.status !== "COMPLETED") throw new Error(`Run failed: ${final.error}`);
 * ```
 *
 * @example Idempotent submission (safe to retry, never runs twice)
 * ```ts ignore
 * import { PyocoClient } from "@pyoco/server/client";
 *
 * const client = new PyocoClient({ baseUrl: "http://127.0.0.1:8000", apiKey: "pyoco_ab12.s3cret" });
 * const a = await client.submitRun({ flowName: "hello", idempotencyKey: "order-42" });
 * const b = await client.submitRun({ flowName: "hello", idempotencyKey: "order-42" });
 * console.assert(a.run_id === b.run_id);
 * ```
 */
export class PyocoClient {
  /** The gateway URL, without a trailing slash. */
  readonly baseUrl: string;
  readonly #apiKey: string | undefined;
  readonly #apiKeyHeader: string;
  readonly #fetch: typeof fetch;
  readonly #timeoutMs: number;
  readonly #retry: Required<RetryOptions>;

  /**
   * Create a client; nothing is sent until the first call.
   *
   * @param options Where the gateway is, and how to talk to it.
   * @throws {TypeError} When an option is invalid; the message names it.
   */
  constructor(options: PyocoClientOptions) {
    if (options === null || typeof options !== "object") {
      throw new TypeError("PyocoClient needs an options object with at least baseUrl");
    }
    this.baseUrl = _validBaseUrl(options.baseUrl);
    if (options.apiKey !== undefined && (typeof options.apiKey !== "string" || !options.apiKey)) {
      throw new TypeError('Invalid PyocoClient option "apiKey": expected a non-empty string');
    }
    this.#apiKey = options.apiKey;
    const header = options.apiKeyHeader ?? "X-API-Key";
    if (typeof header !== "string" || !_HEADER_TOKEN.test(header)) {
      throw new TypeError(
        `Invalid PyocoClient option "apiKeyHeader": ${JSON.stringify(header)} is not a header name`,
      );
    }
    this.#apiKeyHeader = header;
    if (options.fetch !== undefined && typeof options.fetch !== "function") {
      throw new TypeError('Invalid PyocoClient option "fetch": expected a function');
    }
    const globalFetch = globalThis.fetch;
    if (options.fetch === undefined && typeof globalFetch !== "function") {
      throw new TypeError(
        'Invalid PyocoClient option "fetch": this runtime has no global fetch, pass one',
      );
    }
    this.#fetch = options.fetch ?? ((input, init) => globalFetch(input, init));
    this.#timeoutMs = _positive("timeoutMs", options.timeoutMs ?? 30_000);
    this.#retry = _validRetry(options.retry);
  }

  /**
   * `GET /health`: whether the gateway is up and connected to NATS.
   *
   * @param options `signal` to abort.
   * @returns `{ status: "ok", nats: "connected" }` when healthy.
   * @throws {PyocoNetworkError} When the gateway cannot be reached.
   */
  health(options: CallOptions = {}): Promise<HealthResponse> {
    return this.#json("GET", "/health", { ...options, retryable: true });
  }

  /**
   * `POST /runs`: submit a run of a registered flow. Retried on 503 / network errors only when
   * `idempotencyKey` is given (otherwise a retry could start a second run).
   *
   * @param request The flow, params, tag(s) and optional idempotency key.
   * @param options `signal` to abort.
   * @returns `{ run_id, status: "PENDING" }`.
   * @throws {PyocoHttpError} 422 for an invalid request (see `errors`), 409 for an idempotency key
   *   reused with another body, 401/403 for auth, 503 when NATS is down.
   * @throws {PyocoNetworkError} When the gateway cannot be reached.
   */
  submitRun(request: SubmitRunRequest, options: CallOptions = {}): Promise<SubmitResponse> {
    const body: Record<string, unknown> = { flow_name: request.flowName };
    if (request.params !== undefined) body.params = request.params;
    if (request.tag !== undefined) body.tag = request.tag;
    if (request.tags !== undefined) body.tags = request.tags;
    return this.#json("POST", "/runs", {
      ...options,
      json: body,
      headers: _idempotencyHeader(request.idempotencyKey),
      retryable: request.idempotencyKey !== undefined,
    });
  }

  /**
   * `POST /runs/yaml`: submit a run of a flow.yaml (multipart: `workflow` as `flow.yaml`,
   * `flow_name`, `tag`). Its params are the YAML's `flow.defaults`.
   *
   * @param request The YAML (text, bytes or Blob), the run's flow name and tag.
   * @param options `signal` to abort.
   * @returns `{ run_id, status: "PENDING" }`.
   * @throws {PyocoHttpError} 422 for invalid YAML (unknown or forbidden key, bad graph), 413 when
   *   too large, 401/403, 503.
   * @throws {PyocoNetworkError} When the gateway cannot be reached.
   */
  submitRunYaml(request: SubmitRunYamlRequest, options: CallOptions = {}): Promise<SubmitResponse> {
    const yaml = request.workflowYaml;
    const blob = yaml instanceof Blob
      ? yaml
      : new Blob([yaml as BlobPart], { type: "application/yaml" });
    const form = new FormData();
    form.append("workflow", blob, "flow.yaml");
    form.append("flow_name", request.flowName);
    if (request.tag !== undefined) form.append("tag", request.tag);
    return this.#json("POST", "/runs/yaml", {
      ...options,
      body: form,
      headers: _idempotencyHeader(request.idempotencyKey),
      retryable: request.idempotencyKey !== undefined,
    });
  }

  /**
   * `GET /runs/{id}`: the run's snapshot plus what the gateway knows of its worker.
   *
   * @param runId The run.
   * @param options `include` adds `task_records`; `signal` to abort.
   * @returns The snapshot (`task_records` only when included).
   * @throws {PyocoHttpError} 404 with `errId` `ERR-PYOCO-0005` when there is no such run.
   */
  getRun(runId: string, options: GetRunOptions = {}): Promise<RunView> {
    const query = new URLSearchParams();
    for (const inc of options.include ?? []) query.append("include", inc);
    return this.#json("GET", `/runs/${_seg("runId", runId)}`, {
      signal: options.signal,
      query,
      retryable: true,
    });
  }

  /**
   * `GET /runs/{id}/tasks`: task states and records of a run.
   *
   * @param runId The run.
   * @param options `signal` to abort.
   * @returns `{ run_id, flow_name, status, tasks, task_records, task_records_truncated }`.
   * @throws {PyocoHttpError} 404 (`ERR-PYOCO-0005`) when there is no such run.
   */
  getTasks(runId: string, options: CallOptions = {}): Promise<RunTasksView> {
    return this.#json("GET", `/runs/${_seg("runId", runId)}/tasks`, {
      ...options,
      retryable: true,
    });
  }

  /**
   * `GET /runs`: recent runs, newest `updated_at` first.
   *
   * @param options Filters (`status`, `flow`, `tag`), `limit` (1..200, default 50), `full` for
   *   whole snapshots, `signal` to abort.
   * @returns Run summaries (whole snapshots with `full: true`).
   * @throws {PyocoHttpError} 422 for an invalid filter or limit.
   */
  listRuns(options: ListRunsOptions & { full: true }): Promise<RunSnapshot[]>;
  /**
   * `GET /runs`: recent run summaries, newest `updated_at` first.
   *
   * @param options Filters (`status`, `flow`, `tag`), `limit`, `signal`.
   * @returns Run summaries.
   * @throws {PyocoHttpError} 422 for an invalid filter or limit.
   */
  listRuns(options?: ListRunsOptions): Promise<RunSummary[]>;
  listRuns(options: ListRunsOptions = {}): Promise<RunSummary[] | RunSnapshot[]> {
    const query = new URLSearchParams();
    if (options.status !== undefined) query.set("status", options.status);
    if (options.flow !== undefined) query.set("flow", options.flow);
    if (options.tag !== undefined) query.set("tag", options.tag);
    if (options.limit !== undefined) query.set("limit", String(options.limit));
    if (options.full) query.set("include", "full");
    return this.#json("GET", "/runs", { signal: options.signal, query, retryable: true });
  }

  /**
   * `GET /runs` delta listing: one page of the runs that changed after a cursor (or after
   * `updatedAfter`), in the order the gateway stored their latest writes.
   *
   * @param options `cursor` (a `next_cursor`; wins over `updatedAfter`), `updatedAfter` (unix
   *   seconds, default 0: every run), filters (`status`, `flow`, `tag`), `limit` (1..200,
   *   default 50), `full` for whole snapshots, `signal`.
   * @returns `{ items, next_cursor, has_more }`.
   * @throws {PyocoHttpError} 422 for a cursor this gateway did not issue, or a bad filter.
   */
  listRunsPage(options: ListRunsPageOptions & { full: true }): Promise<RunsPage<RunSnapshot>>;
  /**
   * `GET /runs` delta listing: one page of run summaries that changed after a cursor.
   *
   * @param options `cursor`, `updatedAfter`, filters, `limit`, `signal`.
   * @returns `{ items, next_cursor, has_more }`.
   * @throws {PyocoHttpError} 422 for a bad cursor or filter.
   */
  listRunsPage(options?: ListRunsPageOptions): Promise<RunsPage<RunSummary>>;
  listRunsPage(
    options: ListRunsPageOptions = {},
  ): Promise<RunsPage<RunSummary> | RunsPage<RunSnapshot>> {
    const query = _filterQuery(options);
    if (options.cursor !== undefined) {
      if (typeof options.cursor !== "string" || options.cursor === "") {
        throw new TypeError('Invalid listRunsPage option "cursor": expected a non-empty string');
      }
      query.set("cursor", options.cursor);
    } else {
      const after = options.updatedAfter ?? 0;
      if (typeof after !== "number" || !Number.isFinite(after) || after < 0) {
        throw new TypeError(
          `Invalid listRunsPage option "updatedAfter": expected unix seconds ≥ 0, got ${
            String(after)
          }`,
        );
      }
      query.set("updated_after", String(after));
    }
    if (options.limit !== undefined) query.set("limit", String(options.limit));
    if (options.full) query.set("include", "full");
    return this.#json("GET", "/runs", { signal: options.signal, query, retryable: true });
  }

  /**
   * Every run that changed after a starting point, page by page: follows `next_cursor` until
   * the gateway has nothing more (`has_more` false). Each run appears once, in its current
   * state (a run updated again while the pages are read appears again later: a new update).
   * The last page (possibly empty) carries the `next_cursor` to poll with later.
   *
   * @example Sync a local copy of the runs
   * ```ts ignore
   * let cursor: string | undefined;
   * for await (const page of client.iterateRuns({ pageSize: 100 })) {
   *   for (const run of page.items) local.set(run.run_id, run);
   *   cursor = page.next_cursor;
   * }
   * // later: client.iterateRuns({ cursor }) gives only what changed since
   * ```
   *
   * @param options Starting point (`cursor` or `updatedAfter`), filters, `pageSize` (1..200,
   *   default 50), `full`, `signal`.
   * @returns The pages, in order.
   * @throws {PyocoHttpError} 422 for a bad cursor or filter (on the first page).
   */
  iterateRuns(options: IterateRunsOptions & { full: true }): AsyncIterable<RunsPage<RunSnapshot>>;
  /**
   * Every run summary that changed after a starting point, page by page.
   *
   * @param options Starting point, filters, `pageSize`, `signal`.
   * @returns The pages, in order.
   * @throws {PyocoHttpError} 422 for a bad cursor or filter.
   */
  iterateRuns(options?: IterateRunsOptions): AsyncIterable<RunsPage<RunSummary>>;
  iterateRuns(
    options: IterateRunsOptions = {},
  ): AsyncIterable<RunsPage<RunSummary> | RunsPage<RunSnapshot>> {
    const { pageSize, ...rest } = options;
    if (pageSize !== undefined && (!Number.isInteger(pageSize) || pageSize < 1)) {
      throw new TypeError(
        `Invalid iterateRuns option "pageSize": expected a positive integer, got ${pageSize}`,
      );
    }
    return this.#iterateRuns(rest, pageSize);
  }

  async *#iterateRuns(
    options: Omit<IterateRunsOptions, "pageSize">,
    limit: number | undefined,
  ): AsyncGenerator<RunsPage<RunSummary>, void, undefined> {
    let cursor = options.cursor;
    while (true) {
      const page = await this.listRunsPage({ ...options, cursor, limit });
      yield page;
      if (!page.has_more) return;
      // A gateway that cannot move on would loop forever: stop.
      if (page.items.length === 0 && page.next_cursor === cursor) return;
      cursor = page.next_cursor;
    }
  }

  /**
   * `POST /runs/{id}/cancel`: cancel a run. PENDING → CANCELLED at once; RUNNING → CANCELLING,
   * then its worker aborts it and writes CANCELLED; CANCELLING and terminal runs are left as
   * they are. Idempotent, so it is retried like a GET.
   *
   * @param runId The run.
   * @param options `signal` to abort.
   * @returns The run's snapshot after the request (without `task_records`): `CANCELLED`,
   *   `CANCELLING`, or the terminal status it already had.
   * @throws {PyocoHttpError} 404 (`ERR-PYOCO-0005`) when there is no such run.
   */
  cancelRun(runId: string, options: CallOptions = {}): Promise<RunSnapshot> {
    return this.#json("POST", `/runs/${_seg("runId", runId)}/cancel`, {
      ...options,
      retryable: true,
    });
  }

  /**
   * `GET /runs/{id}/events`: one page of the run's events (lifecycle events and `ctx.log()`
   * lines), in order.
   *
   * @param runId The run.
   * @param options `afterSeq` (exclusive, default 0), `limit` (1..1000, default 100), `signal`.
   * @returns `{ run_id, events, next_after_seq }`.
   * @throws {PyocoHttpError} 404 (`ERR-PYOCO-0005`) when there is no such run; 422 for a bad
   *   `afterSeq` or `limit`.
   */
  getEvents(runId: string, options: GetEventsOptions = {}): Promise<RunEventsPage> {
    const query = new URLSearchParams();
    if (options.afterSeq !== undefined) query.set("after_seq", String(options.afterSeq));
    if (options.limit !== undefined) query.set("limit", String(options.limit));
    return this.#json("GET", `/runs/${_seg("runId", runId)}/events`, {
      signal: options.signal,
      query,
      retryable: true,
    });
  }

  /**
   * Every event stored for a run so far, page by page (it does not wait for new ones: use
   * {@linkcode PyocoClient.watchRun} with `events: true` to follow a run).
   *
   * @param runId The run.
   * @param options `afterSeq` to start after, `pageSize` (1..1000, default 100), `signal`.
   * @returns The events, ascending `seq`.
   * @throws {PyocoHttpError} 404 (`ERR-PYOCO-0005`) when there is no such run.
   */
  iterateEvents(runId: string, options: IterateEventsOptions = {}): AsyncIterable<RunEvent> {
    _seg("runId", runId);
    return this.#iterateEvents(runId, options);
  }

  async *#iterateEvents(
    runId: string,
    options: IterateEventsOptions,
  ): AsyncGenerator<RunEvent, void, undefined> {
    let after = options.afterSeq ?? 0;
    while (true) {
      const page = await this.getEvents(runId, {
        afterSeq: after,
        limit: options.pageSize,
        signal: options.signal,
      });
      yield* page.events;
      if (page.events.length === 0 || page.next_after_seq <= after) return;
      after = page.next_after_seq;
    }
  }

  /**
   * Follow a run live (`GET /runs/{id}/watch`, server-sent events): its snapshots as they
   * change — the first is the current one, the last the terminal one, after which the
   * iteration ends — and, with `events: true`, its events (task log lines, lifecycle events)
   * in between. Heartbeats are not yielded.
   *
   * A dropped or stalled stream, a failed reconnect (network error, 503) or an
   * ERR-PYOCO-0003 `error` event (NATS trouble on the gateway) is retried with `Last-Event-ID`,
   * so nothing is yielded twice or skipped; the client's retry policy bounds the consecutive
   * failures (`retry.attempts`, with its backoff), then the last one is thrown. Stopping the
   * iteration (`break`) or aborting `signal` closes the stream.
   *
   * @example Show progress and log lines
   * ```ts ignore
   * for await (const item of client.watchRun(runId, { events: true })) {
   *   if (item.type === "snapshot") console.log(item.snapshot.status, item.snapshot.tasks);
   *   else if (item.event.type === "task.log") console.log(item.event.task, item.event.message);
   * }
   * ```
   *
   * @param runId The run.
   * @param options `include` (task records), `events`, `afterSeq`, `lastEventId` (resume),
   *   `signal`.
   * @returns The items, ending with the terminal snapshot.
   * @throws {PyocoHttpError} 404 (`ERR-PYOCO-0005`) when there is no such run (or it is
   *   deleted while watched); 503 (`ERR-PYOCO-0003`) when NATS stays unavailable.
   * @throws {PyocoNetworkError} When the stream keeps dropping.
   * @throws {PyocoUnsupportedError} When the gateway has no watch route (poll
   *   {@linkcode PyocoClient.getRun} instead).
   */
  watchRun(runId: string, options: WatchRunOptions = {}): AsyncIterable<RunWatchItem> {
    const path = `/runs/${_seg("runId", runId)}/watch`;
    const query = new URLSearchParams();
    for (const inc of options.include ?? []) query.append("include", inc);
    if (options.events) query.set("events", "1");
    if (options.afterSeq !== undefined) {
      if (!Number.isSafeInteger(options.afterSeq) || options.afterSeq < 0) {
        throw new TypeError(
          `Invalid watchRun option "afterSeq": expected an integer ≥ 0, got ${options.afterSeq}`,
        );
      }
      query.set("after_seq", String(options.afterSeq));
    }
    _lastEventId("watchRun", options.lastEventId);
    return this.#watchRun(runId, path, query, options);
  }

  async *#watchRun(
    runId: string,
    path: string,
    query: URLSearchParams,
    options: WatchRunOptions,
  ): AsyncGenerator<RunWatchItem, void, undefined> {
    let revision = -1;
    let seq = options.afterSeq ?? 0;
    let yielded = false;
    for await (const frame of this.#stream(path, query, `run ${runId}`, options)) {
      if (frame.kind === "closed") {
        // A stream resumed at a terminal revision closes without a frame: the caller has it.
        if (frame.frames === 0 && frame.lastEventId !== null) {
          const view = await this.getRun(runId, {
            include: options.include,
            signal: options.signal,
          });
          if (isTerminal(view.status)) {
            if (yielded) yield { type: "snapshot", id: frame.lastEventId, snapshot: view };
            return;
          }
        }
        continue; // dropped: reconnect
      }
      if (frame.event === "snapshot") {
        const rev = _revisionOf(frame.id);
        if (rev !== null && rev <= revision) continue; // a server that repeats itself
        let snapshot: RunSnapshot;
        try {
          snapshot = JSON.parse(frame.data);
        } catch (err) {
          throw new PyocoUnsupportedError(
            `The watch stream of run ${runId} sent a snapshot that is not JSON`,
            { url: this.#url(path), status: 200 },
            { cause: err },
          );
        }
        if (rev !== null) revision = rev;
        yielded = true;
        yield { type: "snapshot", id: frame.id, snapshot };
        if (isTerminal(snapshot.status)) return;
      } else if (frame.event === "event" && options.events) {
        let event: RunEvent;
        try {
          event = JSON.parse(frame.data);
        } catch {
          continue; // not an event this client understands
        }
        if (typeof event.seq === "number") {
          if (event.seq <= seq) continue;
          seq = event.seq;
        }
        yielded = true;
        yield { type: "event", id: frame.id, event };
      }
    }
  }

  /**
   * Follow every run that changes (`GET /runs/watch`, server-sent events), for dashboards: one
   * `summary` item per change that matches the filters, `removed` when a run is deleted. Runs
   * until `signal` aborts or the caller stops iterating; reconnects like
   * {@linkcode PyocoClient.watchRun} (with `Last-Event-ID`, so changes made while reconnecting
   * are replayed).
   *
   * @param options Filters (`status`, `flow`, `tag`), `lastEventId` (resume), `signal`.
   * @returns The changes, as they happen.
   * @throws {PyocoHttpError} 422 for a bad filter, or when too many changes happened since
   *   `lastEventId` (re-list with {@linkcode PyocoClient.iterateRuns}); 503 when NATS stays
   *   unavailable.
   * @throws {PyocoNetworkError} When the stream keeps dropping.
   * @throws {PyocoUnsupportedError} When the gateway has no such route.
   */
  watchRuns(options: WatchRunsOptions = {}): AsyncIterable<RunsWatchItem> {
    _lastEventId("watchRuns", options.lastEventId);
    return this.#watchRuns(_filterQuery(options), options);
  }

  async *#watchRuns(
    query: URLSearchParams,
    options: WatchRunsOptions,
  ): AsyncGenerator<RunsWatchItem, void, undefined> {
    for await (const frame of this.#stream("/runs/watch", query, "runs", options)) {
      if (frame.kind === "closed") continue; // the stream never ends by itself: reconnect
      let data: unknown;
      try {
        data = JSON.parse(frame.data);
      } catch {
        continue;
      }
      if (frame.event === "summary") {
        yield { type: "summary", id: frame.id, summary: data as RunSummary };
      } else if (frame.event === "removed") {
        yield {
          type: "removed",
          id: frame.id,
          run_id: String((data as { run_id?: unknown }).run_id),
        };
      }
    }
  }

  /**
   * Wait until a run is terminal (`COMPLETED`, `FAILED`, `CANCELLED`) and return its snapshot. Reads
   * {@linkcode PyocoClient.watchRun} and polls `GET /runs/{id}` instead when the gateway has no
   * watch stream. A `FAILED` or `CANCELLED` run resolves (it is not an error of the wait): check
   * `status`.
   *
   * @param runId The run.
   * @param options `timeoutMs`, `pollIntervalMs`, `onUpdate(snapshot)` per change, `signal`.
   * @returns The terminal snapshot.
   * @throws {PyocoTimeoutError} When `timeoutMs` passes first (the run goes on).
   * @throws {PyocoHttpError} 404 (`ERR-PYOCO-0005`) when there is no such run.
   * @throws {PyocoNetworkError} When the gateway cannot be reached.
   */
  async waitForRun(runId: string, options: WaitForRunOptions = {}): Promise<RunSnapshot> {
    _seg("runId", runId);
    const pollIntervalMs = options.pollIntervalMs ?? 500;
    if (!Number.isFinite(pollIntervalMs) || pollIntervalMs < 0) {
      throw new TypeError(
        `Invalid waitForRun option "pollIntervalMs": expected a number ≥ 0, got ${pollIntervalMs}`,
      );
    }
    const timeoutMs = options.timeoutMs;
    if (timeoutMs !== undefined) _positive("timeoutMs", timeoutMs, "waitForRun");
    const deadline = new AbortController();
    const timer = timeoutMs === undefined ? undefined : setTimeout(
      () => deadline.abort(new DOMException("waitForRun timed out", "TimeoutError")),
      timeoutMs,
    );
    const signal = _anySignal([options.signal, deadline.signal]) as AbortSignal;
    let last: RunSnapshot | null = null;
    let lastKey = "";
    const emit = (snapshot: RunSnapshot) => {
      last = snapshot;
      const key = JSON.stringify([
        snapshot.status,
        snapshot.tasks,
        snapshot.worker_id ?? null,
        snapshot.error ?? null,
      ]);
      if (key === lastKey) return;
      lastKey = key;
      options.onUpdate?.(snapshot);
    };
    try {
      try {
        for await (const item of this.watchRun(runId, { signal })) {
          if (item.type !== "snapshot") continue;
          emit(item.snapshot);
          if (isTerminal(item.snapshot.status)) return item.snapshot;
        }
      } catch (err) {
        if (!(err instanceof PyocoUnsupportedError)) throw err;
      }
      while (true) {
        const snapshot = await this.getRun(runId, { signal });
        emit(snapshot);
        if (isTerminal(snapshot.status)) return snapshot;
        await _sleep(pollIntervalMs, signal);
      }
    } catch (err) {
      if (deadline.signal.aborted && !options.signal?.aborted && timeoutMs !== undefined) {
        throw new PyocoTimeoutError({ runId, timeoutMs, lastSnapshot: last }, { cause: err });
      }
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * `GET /workers`: live workers from the TTL KV.
   *
   * @param options `includeHidden` to list hidden workers too; `signal` to abort.
   * @returns The worker records.
   * @throws {PyocoHttpError} 503 when NATS is down.
   */
  listWorkers(options: ListWorkersOptions = {}): Promise<WorkerRecord[]> {
    const query = new URLSearchParams();
    if (options.includeHidden) query.set("include_hidden", "true");
    return this.#json("GET", "/workers", { signal: options.signal, query, retryable: true });
  }

  /**
   * `GET /metrics`: Prometheus text exposition (0.0.4).
   *
   * @param options `signal` to abort.
   * @returns The metrics text.
   * @throws {PyocoHttpError} 503 when NATS is down.
   */
  async metrics(options: CallOptions = {}): Promise<string> {
    const res = await this.#send("GET", "/metrics", {
      ...options,
      accept: "text/plain",
      retryable: true,
    }, false);
    return res.text;
  }

  /** A watch stream with this client's auth, time limit and retry policy. */
  #stream(path: string, query: URLSearchParams, what: string, options: {
    signal?: AbortSignal;
    lastEventId?: string;
  }) {
    const text = query.toString();
    return _watchStream({
      url: this.#url(path) + (text ? `?${text}` : ""),
      what,
      signal: options.signal,
      lastEventId: options.lastEventId ?? null,
      attempts: this.#retry.attempts,
      baseDelayMs: this.#retry.baseDelayMs,
      maxDelayMs: this.#retry.maxDelayMs,
      idleMs: _WATCH_IDLE_MS,
      open: async (lastEventId, signal) =>
        (await this.#send("GET", path, {
          signal,
          query,
          accept: "text/event-stream",
          headers: lastEventId === null ? {} : { "last-event-id": lastEventId },
          retryable: false,
        }, true)).response,
    });
  }

  async #json<T>(method: string, path: string, init: _RequestInit): Promise<T> {
    const { text, response, url } = await this.#send(method, path, init, false);
    try {
      return JSON.parse(text) as T;
    } catch (err) {
      throw new PyocoHttpError({
        status: response.status,
        errId: null,
        msgId: null,
        detail: `Expected a JSON answer, got ${_snippet(text) || "an empty body"}`,
        method,
        url,
      }, { cause: err });
    }
  }

  /**
   * One request with the retry policy. With `stream`, the time limit covers only the wait for the
   * headers and the body is left unread; otherwise the body is read as text within the limit.
   */
  async #send(
    method: string,
    path: string,
    init: _RequestInit,
    stream: true,
  ): Promise<{ response: Response; url: string; text: "" }>;
  async #send(
    method: string,
    path: string,
    init: _RequestInit,
    stream: false,
  ): Promise<{ response: Response; url: string; text: string }>;
  async #send(
    method: string,
    path: string,
    init: _RequestInit,
    stream: boolean,
  ): Promise<{ response: Response; url: string; text: string }> {
    const query = init.query?.toString();
    const url = this.#url(path) + (query ? `?${query}` : "");
    const headers: Record<string, string> = { accept: init.accept ?? "application/json" };
    if (this.#apiKey !== undefined) headers[this.#apiKeyHeader] = this.#apiKey;
    let body = init.body;
    if (init.json !== undefined) {
      body = JSON.stringify(init.json);
      headers["content-type"] = "application/json";
    }
    Object.assign(headers, init.headers);
    const attempts = init.retryable ? this.#retry.attempts : 1;
    const fetchFn = this.#fetch;
    for (let attempt = 1;; attempt++) {
      init.signal?.throwIfAborted();
      const limit = new AbortController();
      const timer = setTimeout(
        () => limit.abort(new DOMException("Request timed out", "TimeoutError")),
        this.#timeoutMs,
      );
      const signal = _anySignal([init.signal, limit.signal]);
      let retryAfterMs = 0;
      let failure: PyocoHttpError | PyocoNetworkError;
      try {
        const response = await fetchFn(url, { method, headers, body, signal });
        if (response.ok) {
          if (stream) return { response, url, text: "" };
          return { response, url, text: await response.text() };
        }
        failure = await _httpError(response, method, url);
        retryAfterMs = _retryAfterMs(response.headers.get("retry-after"));
        if (response.status !== 503 || attempt >= attempts) throw failure;
      } catch (err) {
        if (err instanceof PyocoHttpError) throw err;
        if (init.signal?.aborted) throw init.signal.reason;
        const timedOut = limit.signal.aborted;
        const origin = new URL(url).origin;
        const tries = attempt === 1 ? "1 attempt" : `${attempt} attempts`;
        failure = new PyocoNetworkError(
          timedOut
            ? `Gateway at ${origin} did not answer ${method} ${path} within ${this.#timeoutMs} ms (${tries})`
            : `Cannot reach the gateway at ${origin} (${method} ${path}, ${tries}): ${
              _message(err)
            }`,
          { url, attempts: attempt, timedOut },
          { cause: err },
        );
        if (attempt >= attempts) throw failure;
      } finally {
        clearTimeout(timer);
      }
      const backoff = _backoffDelay(attempt, this.#retry.baseDelayMs, this.#retry.maxDelayMs);
      await _sleep(Math.max(backoff, Math.min(retryAfterMs, this.#retry.maxDelayMs)), init.signal);
    }
  }

  #url(path: string): string {
    return this.baseUrl + path;
  }
}

function _validBaseUrl(value: unknown): string {
  let url: URL;
  try {
    if (typeof value !== "string" && !(value instanceof URL)) throw new Error();
    url = new URL(value);
  } catch {
    throw new TypeError(
      `Invalid PyocoClient option "baseUrl": expected an http(s) URL such as http://127.0.0.1:8000, got ${
        JSON.stringify(String(value))
      }`,
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new TypeError(
      `Invalid PyocoClient option "baseUrl": expected http: or https:, got ${url.protocol}`,
    );
  }
  if (url.search || url.hash) {
    throw new TypeError(
      `Invalid PyocoClient option "baseUrl": must not have a query or fragment, got ${url.href}`,
    );
  }
  return url.href.replace(/\/+$/, "");
}

function _positive(name: string, value: unknown, owner = "PyocoClient"): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new TypeError(
      `Invalid ${owner} option "${name}": expected a positive number of milliseconds, got ${
        String(value)
      }`,
    );
  }
  return value;
}

function _validRetry(retry: RetryOptions | false | undefined): Required<RetryOptions> {
  if (retry === false) return { ..._DEFAULT_RETRY, attempts: 1 };
  if (retry === undefined) return { ..._DEFAULT_RETRY };
  if (retry === null || typeof retry !== "object") {
    throw new TypeError('Invalid PyocoClient option "retry": expected an object or false');
  }
  const out = { ..._DEFAULT_RETRY, ...retry };
  if (!Number.isInteger(out.attempts) || out.attempts < 1) {
    throw new TypeError(
      `Invalid PyocoClient option "retry.attempts": expected an integer ≥ 1, got ${out.attempts}`,
    );
  }
  for (const key of ["baseDelayMs", "maxDelayMs"] as const) {
    if (!Number.isFinite(out[key]) || out[key] < 0) {
      throw new TypeError(
        `Invalid PyocoClient option "retry.${key}": expected a number ≥ 0, got ${out[key]}`,
      );
    }
  }
  if (out.maxDelayMs < out.baseDelayMs) {
    throw new TypeError(
      `Invalid PyocoClient option "retry.maxDelayMs": must be ≥ retry.baseDelayMs (${out.baseDelayMs}), got ${out.maxDelayMs}`,
    );
  }
  return out;
}

function _seg(name: string, value: string): string {
  if (typeof value !== "string" || value === "") {
    throw new TypeError(`Invalid ${name}: expected a non-empty string, got ${String(value)}`);
  }
  return encodeURIComponent(value);
}

function _filterQuery(options: RunFilterOptions): URLSearchParams {
  const query = new URLSearchParams();
  const statuses = options.status === undefined
    ? []
    : Array.isArray(options.status)
    ? options.status
    : [options.status];
  for (const status of statuses) query.append("status", status);
  if (options.flow !== undefined) query.set("flow", options.flow);
  if (options.tag !== undefined) query.set("tag", options.tag);
  return query;
}

function _lastEventId(owner: string, value: string | undefined): void {
  if (value === undefined) return;
  if (typeof value !== "string" || !/^[\x21-\x7e]{1,100}$/.test(value)) {
    throw new TypeError(
      `Invalid ${owner} option "lastEventId": expected an id the stream sent, got ${
        JSON.stringify(value)
      }`,
    );
  }
}

/** The KV revision in a watch id (`<revision>` or `<revision>-<seq>`). */
function _revisionOf(id: string | null): number | null {
  const m = id === null ? null : /^(\d+)(?:-\d+)?$/.exec(id);
  return m ? Number(m[1]) : null;
}

function _idempotencyHeader(key: string | undefined): Record<string, string> {
  if (key === undefined) return {};
  if (typeof key !== "string" || key === "") {
    throw new TypeError("Invalid idempotencyKey: expected a non-empty string");
  }
  return { "idempotency-key": key };
}

async function _httpError(res: Response, method: string, url: string): Promise<PyocoHttpError> {
  let text = "";
  try {
    text = await res.text();
  } catch {
    // body unreadable: the status says enough
  }
  const body = _errorBody(text);
  if (body) {
    return new PyocoHttpError({
      status: res.status,
      errId: body.err_id,
      msgId: body.msg_id ?? null,
      detail: body.detail,
      errors: _fieldErrors(body.errors),
      method,
      url,
    });
  }
  const snippet = _snippet(text);
  const reason = res.statusText || "no reason given";
  return new PyocoHttpError({
    status: res.status,
    errId: null,
    msgId: null,
    detail: snippet ? `${reason}: ${snippet}` : reason,
    method,
    url,
  });
}

function _fieldErrors(value: unknown): FieldError[] {
  if (!Array.isArray(value)) return [];
  return value
    .filter((e) => e && typeof e === "object")
    .map((e) => ({ path: String(e.path ?? ""), message: String(e.message ?? "") }));
}

function _retryAfterMs(header: string | null): number {
  if (!header) return 0;
  const seconds = Number(header);
  return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 0;
}

function _snippet(text: string): string {
  const t = text.trim().replace(/\s+/g, " ");
  return t.length > 200 ? `${t.slice(0, 200)}…` : t;
}

function _message(err: unknown): string {
  const seen = new Set<unknown>();
  let e: unknown = err;
  // Deno and Node wrap the OS error ("Connection refused") in `cause`: show the innermost.
  while (e instanceof Error && e.cause instanceof Error && !seen.has(e.cause)) {
    seen.add(e);
    e = e.cause;
  }
  return e instanceof Error ? e.message : String(e);
}
