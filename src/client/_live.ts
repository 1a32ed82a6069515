/**
 * Following runs live: the run watch stream (snapshots and events, resumed without repeats or
 * gaps), the runs watch stream, and waiting for a run to end (watching, or polling a gateway
 * without watch routes). `client.ts` checks the arguments and calls these. Web APIs only.
 *
 * @module
 */

import { abortableSleep } from "../contract/_util.ts";
import { isTerminal } from "../contract/mod.ts";
import type { RunSnapshot, RunSummary, RunView } from "../contract/mod.ts";
import { PyocoTimeoutError, PyocoUnsupportedError } from "./errors.ts";
import type {
  GetRunOptions,
  RunEvent,
  RunsWatchItem,
  RunWatchItem,
  WaitForRunOptions,
  WatchRunOptions,
  WatchRunsOptions,
} from "./types.ts";
import { positiveMs, type Transport } from "./_transport.ts";
import { _anySignal } from "./_retry.ts";

/** Reads a run's current view (the client's `getRun`). */
export type GetRun = (runId: string, options: GetRunOptions) => Promise<RunView>;

/** What {@linkcode watchRunItems} follows. */
export interface WatchRunSpec {
  /** The run. */
  runId: string;
  /** Its watch route. */
  path: string;
  /** The route's query (include, events, after_seq). */
  query: URLSearchParams;
  /** The caller's options. */
  options: WatchRunOptions;
  /** Reads the run when a resumed stream closes without a frame. */
  getRun: GetRun;
}

/**
 * A run's watch stream as items: snapshots (in revision order, never repeated) and, with
 * `events`, events (ascending `seq`, never repeated); ends after the terminal snapshot.
 *
 * @param http The client's transport.
 * @param spec The run, its route and query, the caller's options and how to read the run.
 * @returns The items.
 * @throws {PyocoUnsupportedError} When the stream sends a snapshot that is not JSON.
 */
export async function* watchRunItems(
  http: Transport,
  spec: WatchRunSpec,
): AsyncGenerator<RunWatchItem, void, undefined> {
  const { runId, path, query, options } = spec;
  let revision = -1;
  let seq = options.afterSeq ?? 0;
  let yielded = false;
  for await (
    const frame of http.stream(path, { ...options, query, what: `run ${runId}` })
  ) {
    if (frame.kind === "closed") {
      // A stream resumed at a terminal revision closes without a frame: the caller has it.
      if (frame.frames === 0 && frame.lastEventId !== null) {
        const view = await spec.getRun(runId, {
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
          { url: http.url(path), status: 200 },
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
 * The runs watch stream as items: `summary` per change, `removed` per deleted run. Never ends by
 * itself (a dropped stream is reconnected).
 *
 * @param http The client's transport.
 * @param spec The route's query (filters) and the caller's options.
 * @returns The items.
 */
export async function* watchRunsItems(
  http: Transport,
  spec: { query: URLSearchParams; options: WatchRunsOptions },
): AsyncGenerator<RunsWatchItem, void, undefined> {
  const { query, options } = spec;
  for await (const frame of http.stream("/runs/watch", { ...options, query, what: "runs" })) {
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

/** How {@linkcode waitForTerminal} reads the run. */
export interface WaitSpec {
  /** The caller's options. */
  options: WaitForRunOptions;
  /** The client's `watchRun`. */
  watchRun: (runId: string, options: WatchRunOptions) => AsyncIterable<RunWatchItem>;
  /** The client's `getRun`, for polling a gateway without a watch route. */
  getRun: GetRun;
}

/**
 * Waits until a run is terminal: reads its watch stream, or polls it when the gateway has none.
 *
 * @param runId The run.
 * @param spec The caller's options and how to read the run.
 * @returns The terminal snapshot.
 * @throws {PyocoTimeoutError} When `timeoutMs` passes first.
 * @throws {TypeError} When `pollIntervalMs` or `timeoutMs` is invalid.
 */
export async function waitForTerminal(runId: string, spec: WaitSpec): Promise<RunSnapshot> {
  const { options } = spec;
  const pollIntervalMs = options.pollIntervalMs ?? 500;
  if (!Number.isFinite(pollIntervalMs) || pollIntervalMs < 0) {
    throw new TypeError(
      `Invalid waitForRun option "pollIntervalMs": expected a number ≥ 0, got ${pollIntervalMs}`,
    );
  }
  const timeoutMs = options.timeoutMs;
  if (timeoutMs !== undefined) positiveMs(timeoutMs, { option: "timeoutMs", owner: "waitForRun" });
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
      for await (const item of spec.watchRun(runId, { signal })) {
        if (item.type !== "snapshot") continue;
        emit(item.snapshot);
        if (isTerminal(item.snapshot.status)) return item.snapshot;
      }
    } catch (err) {
      if (!(err instanceof PyocoUnsupportedError)) throw err;
    }
    while (true) {
      const snapshot = await spec.getRun(runId, { signal });
      emit(snapshot);
      if (isTerminal(snapshot.status)) return snapshot;
      await abortableSleep(pollIntervalMs, signal);
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

/** The KV revision in a watch id (`<revision>` or `<revision>-<seq>`). */
function _revisionOf(id: string | null): number | null {
  const m = id === null ? null : /^(\d+)(?:-\d+)?$/.exec(id);
  return m ? Number(m[1]) : null;
}
