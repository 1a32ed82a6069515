/**
 * Retrying through a short NATS outage (SPEC §4.1, issue 12): which errors are worth a retry,
 * an abortable sleep, and capped exponential backoff.
 *
 * @module
 */

import { JetStreamApiError } from "@nats-io/jetstream";
import {
  AuthorizationError,
  ClosedConnectionError,
  DrainingConnectionError,
  UserAuthenticationExpiredError,
} from "@nats-io/nats-core";

/** How deep {@linkcode isTransientNatsError} follows `cause`. */
const _MAX_CAUSE_DEPTH = 5;

/**
 * Whether an error may go away by itself — a timeout, no responders ("jetstream is not
 * enabled" while a cluster elects a leader), a lost connection, a JetStream 5xx — rather than
 * one that a retry cannot fix: a JetStream 4xx (e.g. a message over the stream's size limit),
 * a closed or draining connection, refused credentials.
 *
 * @param err The error (its `cause` chain is followed a few levels).
 * @returns `true` when a retry is worth it.
 */
export function isTransientNatsError(err: unknown): boolean {
  let e: unknown = err;
  for (let depth = 0; depth < _MAX_CAUSE_DEPTH && e instanceof Error; depth++) {
    if (
      e instanceof ClosedConnectionError || e instanceof DrainingConnectionError ||
      e instanceof AuthorizationError || e instanceof UserAuthenticationExpiredError
    ) {
      return false;
    }
    if (e instanceof JetStreamApiError) return e.status >= 500;
    e = e.cause;
  }
  return true;
}

/**
 * Wait `ms` milliseconds, or less when `signal` aborts (never rejects).
 *
 * @param ms How long.
 * @param signal Ends the wait early.
 * @returns When the time is up or the signal aborted.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

/**
 * The next backoff delay: doubled, capped.
 *
 * @param delayMs The delay just waited.
 * @param maxMs The cap.
 * @returns `min(2 × delayMs, maxMs)`.
 */
export function nextDelay(delayMs: number, maxMs: number): number {
  return Math.min(delayMs * 2, maxMs);
}
