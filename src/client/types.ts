/**
 * The client's public types: its options, the requests it sends and the answers it reads that
 * are not shared wire types (those are in `src/contract/`). Web APIs only.
 *
 * @module
 */

import type { RunEvent } from "../contract/events.ts";
import type { Priority } from "../contract/tenancy.ts";
import type {
  ErrorBody,
  RunSnapshot,
  RunStatus,
  RunSummary,
  SubmitResponse,
} from "../contract/mod.ts";

export type { RunEvent };

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
  /** Priority among the tag's waiting runs (SPEC §13). @default {"normal"} */
  priority?: Priority;
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
  /** Parameters overlaid on the YAML's `flow.defaults` (sent as the `params` form field). */
  params?: Record<string, unknown>;
  /** Sent as `Idempotency-Key`; makes the request safe to retry. */
  idempotencyKey?: string;
}

/** One run's answer in {@linkcode PyocoClient.submitRuns}, at its place in the list. */
export type SubmitRunsItem =
  | { index: number; run_id: string; status: "PENDING" }
  | { index: number; error: ErrorBody };

/** Progress of {@linkcode PyocoClient.submitRuns}, after each request. */
export interface SubmitRunsProgress {
  /** Runs answered so far. */
  done: number;
  /** Runs in all. */
  total: number;
  /** The answers so far, in order. */
  items: readonly SubmitRunsItem[];
}

/** Options of {@linkcode PyocoClient.submitRuns}. */
export interface SubmitRunsOptions extends CallOptions {
  /** Runs per `POST /runs/batch` request (the gateway takes at most 500). @default {500} */
  chunkSize?: number;
  /** Called after each request with the answers so far. */
  onProgress?: (progress: SubmitRunsProgress) => void;
}

/** Options of {@linkcode PyocoClient.retryRun}. */
export interface RetryRunOptions extends CallOptions {
  /** Reuse the outputs of the tasks that SUCCEEDED; run only the rest. @default {false} */
  fromFailed?: boolean;
}

/** The answer of {@linkcode PyocoClient.retryRun}. */
export interface RetryRunResponse extends SubmitResponse {
  /** The run that was retried (its full id). */
  retry_of: string;
  /** Tasks whose recorded outputs the new run reuses. */
  reused_tasks: string[];
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
