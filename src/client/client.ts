/**
 * `PyocoClient`: a typed HTTP client of the pyoco gateway. Web APIs only (fetch, AbortSignal,
 * URL, FormData, Blob, streams), so it runs in Deno, Node ≥ 18, Bun and browsers.
 *
 * The methods give routes their meaning (the schedule routes are inherited from `schedules.ts`);
 * the request plumbing (auth, time limits, retries, error mapping) is `_transport.ts`, following
 * runs live is `_live.ts`, batches are `_batch.ts`, the option and answer types are `types.ts`.
 *
 * @module
 */

import type {
  RunSnapshot,
  RunStatus,
  RunSummary,
  RunTasksView,
  RunView,
  SubmitResponse,
  WorkerRecord,
} from "../contract/mod.ts";
import type {
  CallOptions,
  GetEventsOptions,
  GetRunOptions,
  HealthResponse,
  IterateEventsOptions,
  IterateRunsOptions,
  ListRunsOptions,
  ListRunsPageOptions,
  ListWorkersOptions,
  PyocoClientOptions,
  RetryRunOptions,
  RetryRunResponse,
  RunEvent,
  RunEventsPage,
  RunsPage,
  RunsWatchItem,
  RunWatchItem,
  SubmitRunRequest,
  SubmitRunsItem,
  SubmitRunsOptions,
  SubmitRunYamlRequest,
  WaitForRunOptions,
  WatchRunOptions,
  WatchRunsOptions,
} from "./types.ts";
import type { FlowView } from "../contract/catalog.ts";
import { pathSegment as _seg, Transport } from "./_transport.ts";
import {
  checkLastEventId as _lastEventId,
  filterQuery as _filterQuery,
  idempotencyHeader as _idempotencyHeader,
  listQuery as _listQuery,
  pageQuery as _pageQuery,
  watchQuery as _watchQuery,
  workflowForm,
} from "./_query.ts";
import { DeadLetterClient } from "./dead_letters.ts";
import { ScheduleMethods } from "./schedules.ts";
import { prepareBatch, sendChunks } from "./_batch.ts";
import { waitForTerminal, watchRunItems, watchRunsItems } from "./_live.ts";

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
export class PyocoClient extends ScheduleMethods {
  /** The gateway URL, without a trailing slash. */
  readonly baseUrl: string;
  readonly #http: Transport;

  /**
   * Create a client; nothing is sent until the first call.
   *
   * @param options Where the gateway is, and how to talk to it.
   * @throws {TypeError} When an option is invalid; the message names it.
   */
  constructor(options: PyocoClientOptions) {
    const http = new Transport(options);
    super(http);
    this.#http = http;
    this.baseUrl = http.baseUrl;
    this.deadLetters = new DeadLetterClient(http);
  }

  /** The dead-letter queue (`/dlq` routes): list, read, replay, delete. */
  readonly deadLetters: DeadLetterClient;

  /**
   * `GET /health`: whether the gateway is up and connected to NATS.
   *
   * @param options `signal` to abort.
   * @returns `{ status: "ok", nats: "connected" }` when healthy.
   * @throws {PyocoNetworkError} When the gateway cannot be reached.
   */
  health(options: CallOptions = {}): Promise<HealthResponse> {
    return this.#http.json("GET", "/health", { ...options, retryable: true });
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
    if (request.priority !== undefined) body.priority = request.priority;
    return this.#http.json("POST", "/runs", {
      ...options,
      json: body,
      headers: _idempotencyHeader(request.idempotencyKey),
      retryable: request.idempotencyKey !== undefined,
    });
  }

  /**
   * `POST /runs/yaml`: submit a run of a flow.yaml (multipart: `workflow` as `flow.yaml`,
   * `flow_name`, `tag`, `params`). Its params are the YAML's `flow.defaults`, overlaid by `params`.
   *
   * @param request The YAML (text, bytes or Blob), the run's flow name and tag.
   * @param options `signal` to abort.
   * @returns `{ run_id, status: "PENDING" }`.
   * @throws {PyocoHttpError} 422 for invalid YAML (unknown or forbidden key, bad graph), 413 when
   *   too large, 401/403, 503.
   * @throws {PyocoNetworkError} When the gateway cannot be reached.
   */
  submitRunYaml(request: SubmitRunYamlRequest, options: CallOptions = {}): Promise<SubmitResponse> {
    const form = workflowForm(request.workflowYaml, request.flowName);
    if (request.tag !== undefined) form.append("tag", request.tag);
    if (request.params !== undefined) form.append("params", JSON.stringify(request.params));
    return this.#http.json("POST", "/runs/yaml", {
      ...options,
      body: form,
      headers: _idempotencyHeader(request.idempotencyKey),
      retryable: request.idempotencyKey !== undefined,
    });
  }

  /**
   * `POST /runs/batch`: submit many runs, in requests of at most `chunkSize` (500) runs, one
   * after the other. Each run is answered in its place: a bad run gets its `error` and never
   * fails its neighbours. A request is retried only when every run in it has an
   * `idempotencyKey`.
   *
   * @example Submit 1,000 runs and count the failures
   * ```ts ignore
   * const runs = Array.from({ length: 1000 }, (_, i) => ({ flowName: "hello", params: { x: i } }));
   * const items = await client.submitRuns(runs);
   * console.log(items.filter((item) => "error" in item).length, "rejected");
   * ```
   *
   * @param runs The runs, as for {@linkcode PyocoClient.submitRun}.
   * @param options `chunkSize`, `onProgress` after each request, `signal`.
   * @returns One item per run, in order: `{ index, run_id, status }` or `{ index, error }`.
   * @throws {TypeError} When a run or an option is malformed (nothing is sent).
   * @throws {PyocoNetworkError} When a request's answer never came (earlier requests' runs were
   *   accepted; with idempotency keys, submitting the same list again is safe).
   */
  submitRuns(
    runs: readonly SubmitRunRequest[],
    options: SubmitRunsOptions = {},
  ): Promise<SubmitRunsItem[]> {
    const batch = prepareBatch(runs, options); // throws before anything is sent
    return sendChunks(this.#http, batch, options);
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
    return this.#http.json("GET", `/runs/${_seg("runId", runId)}`, {
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
    return this.#http.json("GET", `/runs/${_seg("runId", runId)}/tasks`, {
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
    const query = _listQuery(options);
    return this.#http.json("GET", "/runs", { signal: options.signal, query, retryable: true });
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
    const query = _pageQuery(options);
    return this.#http.json("GET", "/runs", { signal: options.signal, query, retryable: true });
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
    return this.#http.json("POST", `/runs/${_seg("runId", runId)}/cancel`, {
      ...options,
      retryable: true,
    });
  }

  /**
   * `POST /runs/{id}/retry`: a new run of a finished run's flow and params (`retry_of`); with
   * `fromFailed` the tasks that SUCCEEDED keep their outputs (`reused: true`) and only the rest
   * runs. Not retried on failure (a retry could start a second run).
   *
   * @param runId The finished run (or a unique prefix of ≥ 8 characters of its id).
   * @param options `fromFailed`, `signal`.
   * @returns `{ run_id, status: "PENDING", retry_of, reused_tasks }`.
   * @throws {PyocoHttpError} 404 when there is no such run; 409 (`ERR-PYOCO-0027`) when it is
   *   not finished; 422 for a flow.yaml run (its YAML is not stored).
   */
  retryRun(runId: string, options: RetryRunOptions = {}): Promise<RetryRunResponse> {
    return this.#http.json("POST", `/runs/${_seg("runId", runId)}/retry`, {
      signal: options.signal,
      json: options.fromFailed ? { from: "failed" } : {},
      retryable: false,
    });
  }

  /**
   * `DELETE /runs/{id}`: delete a finished run, its idempotency claim and its events.
   *
   * @param runId The run (or a unique prefix of ≥ 8 characters of its id).
   * @param options `signal` to abort.
   * @returns `{ run_id, status, deleted: true }`.
   * @throws {PyocoHttpError} 404 when there is no such run; 409 (`ERR-PYOCO-0027`) when it is
   *   not finished.
   */
  deleteRun(
    runId: string,
    options: CallOptions = {},
  ): Promise<{ run_id: string; status: RunStatus; deleted: true }> {
    return this.#http.json("DELETE", `/runs/${_seg("runId", runId)}`, {
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
    return this.#http.json("GET", `/runs/${_seg("runId", runId)}/events`, {
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
    const query = _watchQuery(options);
    _lastEventId("watchRun", options.lastEventId);
    return watchRunItems(this.#http, {
      runId,
      path,
      query,
      options,
      getRun: (id, opts) => this.getRun(id, opts),
    });
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
    return watchRunsItems(this.#http, { query: _filterQuery(options), options });
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
    return await waitForTerminal(runId, {
      options,
      watchRun: (id, opts) => this.watchRun(id, opts),
      getRun: (id, opts) => this.getRun(id, opts),
    });
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
    return this.#http.json("GET", "/workers", { signal: options.signal, query, retryable: true });
  }

  /**
   * `GET /flows`: the flows the workers offer (SPEC §12), each with its live workers.
   *
   * @param options `tag` keeps one tag's flows; `signal` to abort.
   * @returns The flows, sorted by tag and name.
   * @throws {PyocoHttpError} 422 for an invalid tag, 503 when NATS is down.
   */
  listFlows(options: CallOptions & { tag?: string } = {}): Promise<FlowView[]> {
    const query = new URLSearchParams();
    if (options.tag !== undefined) query.set("tag", options.tag);
    return this.#http.json("GET", "/flows", { signal: options.signal, query, retryable: true });
  }

  /**
   * `GET /flows/{tag}/{name}`: one flow of the catalog (graph, tasks, defaults, live workers).
   *
   * @param tag The tag it is offered on.
   * @param flowName The flow's name.
   * @param options `signal` to abort.
   * @returns The flow.
   * @throws {PyocoHttpError} 404 (ERR-PYOCO-0006) when no worker of the tag offers it.
   */
  getFlow(tag: string, flowName: string, options: CallOptions = {}): Promise<FlowView> {
    const path = `/flows/${_seg("tag", tag)}/${_seg("flowName", flowName)}`;
    return this.#http.json("GET", path, { signal: options.signal, retryable: true });
  }

  /**
   * `GET /metrics`: Prometheus text exposition (0.0.4).
   *
   * @param options `signal` to abort.
   * @returns The metrics text.
   * @throws {PyocoHttpError} 503 when NATS is down.
   */
  async metrics(options: CallOptions = {}): Promise<string> {
    const res = await this.#http.send("GET", "/metrics", {
      ...options,
      accept: "text/plain",
      retryable: true,
    });
    return res.text;
  }
}
