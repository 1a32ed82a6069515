/**
 * The reconnecting server-sent-events reader behind `watchRun()` and `watchRuns()`. Web APIs
 * only.
 *
 * One loop for both streams: open the stream (with `Last-Event-ID` once an id was seen), read its
 * frames, and on a dropped or stalled stream, a failed connect (network error, 503) or an
 * `event: error` with ERR-PYOCO-0003, reopen it after a backoff. A frame that is not an error
 * resets the failure count, so the budget bounds consecutive failures only. Heartbeats and
 * comments are swallowed (they only prove liveness).
 *
 * @module
 */

import { ErrId } from "../contract/mod.ts";
import type { ErrorBody } from "../contract/mod.ts";
import { PyocoHttpError, PyocoNetworkError, PyocoUnsupportedError } from "./errors.ts";
import { abortableSleep } from "../contract/_util.ts";
import { _anySignal, _backoffDelay } from "./_retry.ts";
import { readSseEvents } from "./_sse.ts";

/** What the stream reader yields: a frame, or the news that the server closed the stream. */
export type _Frame =
  | {
    kind: "frame";
    /** The `event:` name. */
    event: string;
    /** The `data:` text. */
    data: string;
    /** The last id seen on this stream (this frame's, or an earlier one). */
    id: string | null;
  }
  | {
    kind: "closed";
    /** Frames (heartbeats included) the closed connection delivered. */
    frames: number;
    /** The last id seen. */
    lastEventId: string | null;
  };

/** How {@linkcode _watchStream} opens and paces one stream. */
export interface _WatchSpec {
  /** The full URL (for messages and errors). */
  url: string;
  /** "run r1" / "runs": for messages. */
  what: string;
  /** Open the stream; rejects with the client's errors (PyocoHttpError, PyocoNetworkError). */
  open: (lastEventId: string | null, signal: AbortSignal) => Promise<Response>;
  /** The caller's signal. */
  signal: AbortSignal | undefined;
  /** Resume after this id. */
  lastEventId: string | null;
  /** Consecutive failures allowed before the last one is thrown. */
  attempts: number;
  /** Backoff of reconnects. */
  baseDelayMs: number;
  /** Longest backoff. */
  maxDelayMs: number;
  /** A stream silent for this long is treated as dropped. */
  idleMs: number;
}

const _STATUS_OF: Record<string, number> = {
  [ErrId.invalidRequest]: 422,
  [ErrId.natsUnavailable]: 503,
  [ErrId.runNotFound]: 404,
};

/**
 * Why opening the stream failed, when a reconnect may help (a network error, a 503); throws
 * everything else: the caller's abort, a missing run, a gateway without the route, other answers.
 */
function _retryableOpenFailure(err: unknown, spec: _WatchSpec): Error {
  if (spec.signal?.aborted) throw spec.signal.reason;
  if (err instanceof PyocoHttpError) {
    if (err.status === 404 && err.errId === ErrId.runNotFound) throw err;
    if (_noWatchRoute(err)) {
      throw new PyocoUnsupportedError(
        `The gateway has no watch stream at ${_pathOf(spec.url)} (status ${err.status}): ` +
          "it is older than this client or a proxy does not pass the route on",
        { url: spec.url, status: err.status },
        { cause: err },
      );
    }
    if (err.status !== 503) throw err;
    return err;
  }
  if (err instanceof PyocoNetworkError) return err;
  throw err;
}

/**
 * Read a watch stream, reconnecting within the failure budget. Ends only when the caller stops
 * iterating (after a `closed` frame, iterating on means "reconnect").
 *
 * @param spec Where and how to open the stream.
 * @returns The frames (no heartbeats, no comments, no error frames).
 * @throws {PyocoHttpError} For an `event: error` other than ERR-PYOCO-0003 (404 for a missing
 *   run), an HTTP error other than 503, or the last 503 / ERR-PYOCO-0003 when the budget is spent.
 * @throws {PyocoNetworkError} When the stream keeps dropping or stalling.
 * @throws {PyocoUnsupportedError} When the route is missing or answers something else than an
 *   event stream.
 */
export async function* _watchStream(spec: _WatchSpec): AsyncGenerator<_Frame, void, undefined> {
  let lastEventId = spec.lastEventId;
  let failures = 0;
  while (true) {
    spec.signal?.throwIfAborted();
    const idle = new AbortController();
    const signal = _anySignal([spec.signal, idle.signal]) as AbortSignal;
    let failure: Error = new Error("Watch stream failed");
    let res: Response | null = null;
    try {
      res = await spec.open(lastEventId, signal);
    } catch (err) {
      failure = _retryableOpenFailure(err, spec);
    }
    if (res !== null) {
      const type = res.headers.get("content-type") ?? "";
      if (!type.includes("text/event-stream") || !res.body) {
        await res.body?.cancel().catch(() => {});
        throw new PyocoUnsupportedError(
          `The gateway answered ${_pathOf(spec.url)} with ${
            type || "no content type"
          } instead of an event stream`,
          { url: spec.url, status: res.status },
        );
      }
      let frames = 0;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const arm = () => {
        clearTimeout(timer);
        timer = setTimeout(() => idle.abort(new Error("Watch stream idle")), spec.idleMs);
      };
      arm();
      let streamError: PyocoHttpError | null = null;
      try {
        for await (const e of readSseEvents(res.body)) {
          arm();
          frames++;
          if (e.event === "comment" || e.event === "heartbeat") {
            failures = 0;
            continue;
          }
          if (e.event === "error") {
            streamError = _streamError(e.data, spec.url);
            break;
          }
          failures = 0;
          if (e.id !== undefined && e.id !== "") lastEventId = e.id;
          yield { kind: "frame", event: e.event, data: e.data, id: lastEventId };
        }
        if (streamError !== null) {
          if (streamError.errId !== ErrId.natsUnavailable) throw streamError;
          failure = streamError;
        } else {
          yield { kind: "closed", frames, lastEventId };
          failure = new PyocoNetworkError(
            `The watch stream of ${spec.what} ended before it was done`,
            { url: spec.url, attempts: failures + 1 },
          );
        }
      } catch (err) {
        if (spec.signal?.aborted) throw spec.signal.reason;
        if (err instanceof PyocoHttpError || err instanceof PyocoUnsupportedError) throw err;
        const stalled = idle.signal.aborted;
        failure = new PyocoNetworkError(
          stalled
            ? `The watch stream of ${spec.what} sent nothing for ${spec.idleMs} ms`
            : `The watch stream of ${spec.what} broke: ${_message(err)}`,
          { url: spec.url, attempts: failures + 1, timedOut: stalled },
          { cause: err },
        );
      } finally {
        clearTimeout(timer);
      }
    }
    failures++;
    if (failures >= spec.attempts) throw failure;
    await abortableSleep(_backoffDelay(failures, spec), spec.signal);
  }
}

/**
 * The error an `event: error` frame stands for (the gateway's error body; the HTTP status is
 * derived from its `err_id`: 0002 → 422, 0003 → 503, 0005 → 404, anything else → 500).
 */
function _streamError(data: string, url: string): PyocoHttpError {
  const body = _errorBody(data);
  const errId = body?.err_id ?? null;
  return new PyocoHttpError({
    status: (errId !== null ? _STATUS_OF[errId] : undefined) ?? 500,
    errId,
    msgId: body?.msg_id ?? null,
    detail: body?.detail ?? `The watch stream failed: ${data.slice(0, 200)}`,
    method: "GET",
    url,
  });
}

/** The watch route is missing on this gateway (older version, or a proxy in front of it). */
function _noWatchRoute(err: PyocoHttpError): boolean {
  if (err.status === 404) return err.errId !== ErrId.runNotFound;
  return err.status === 405 || err.status === 501 || err.status === 406;
}

/**
 * Parse a gateway error body (`{detail, err_id, msg_id?}`).
 *
 * @param text JSON text.
 * @returns The body, or `null` when the text is not one.
 */
export function _errorBody(text: string): ErrorBody | null {
  try {
    const value = JSON.parse(text);
    if (
      value && typeof value === "object" && typeof value.detail === "string" &&
      typeof value.err_id === "string"
    ) return value as ErrorBody;
  } catch {
    // not JSON
  }
  return null;
}

function _pathOf(url: string): string {
  try {
    const u = new URL(url);
    return u.pathname;
  } catch {
    return url;
  }
}

function _message(err: unknown): string {
  let e: unknown = err;
  while (e instanceof Error && e.cause instanceof Error && e.cause !== e) e = e.cause;
  return e instanceof Error ? e.message : String(e);
}
