/**
 * Riding out a short NATS outage — a cluster electing a new stream leader after a node loss, a
 * client reconnecting to another server — instead of failing the caller: which errors are worth
 * another try, and one retry loop bounded by a time window (`PYOCO_NATS_RETRY_SEC`).
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
import { abortableSleep } from "../contract/_util.ts";

/** How deep {@linkcode isTransientNatsError} follows `cause`. */
const _MAX_CAUSE_DEPTH = 5;

/**
 * Whether an error may go away by itself — a timeout, no responders ("jetstream is not
 * enabled" while a cluster elects a leader), a lost connection, a JetStream 5xx — rather than
 * one that a retry cannot fix: a JetStream 4xx (a message over a size limit, a wrong expected
 * sequence), a closed or draining connection, refused credentials.
 *
 * @param err The error (its `cause` chain is followed a few levels).
 * @returns `true` when a retry is worth it.
 *
 * @example Usage
 * ```ts
 * import { isTransientNatsError } from "./retry.ts";
 * import assert from "node:assert/strict";
 * assert.equal(isTransientNatsError(new Error("timeout")), true);
 * ```
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

/** Options of {@linkcode withNatsRetry}. */
export interface NatsRetryOptions {
  /** Keep trying this long (seconds) after the first failure; `0` tries once. */
  windowSec: number;
  /** First delay between tries, in milliseconds; doubled up to `maxDelayMs`. @default {50} */
  firstDelayMs?: number;
  /** Longest delay between tries, in milliseconds. @default {1000} */
  maxDelayMs?: number;
  /** Stops retrying (the last error is thrown). */
  signal?: AbortSignal;
  /** Called before each retry with the error that caused it. */
  onRetry?: (err: unknown, attempt: number) => void;
  /** Which errors are retried. @default {isTransientNatsError} */
  retryable?: (err: unknown) => boolean;
}

/**
 * Run a NATS operation, retrying transient failures with capped exponential backoff until the
 * window closes. Only for operations that are safe to repeat: a publish with a `Nats-Msg-Id`, a
 * compare-and-set, a KV create whose "already exists" the caller resolves.
 *
 * @param op The operation (called once per try).
 * @param options The window, the backoff and which errors count as transient.
 * @returns The operation's result.
 * @throws {unknown} The last error when it is not transient or the window closed.
 *
 * @example Usage
 * ```ts
 * import { withNatsRetry } from "./retry.ts";
 * import assert from "node:assert/strict";
 * let tries = 0;
 * const value = await withNatsRetry(async () => {
 *   if (++tries < 3) throw new Error("timeout");
 *   return "ok";
 * }, { windowSec: 5, firstDelayMs: 1 });
 * assert.equal(value, "ok");
 * assert.equal(tries, 3);
 * ```
 */
export async function withNatsRetry<T>(
  op: () => Promise<T>,
  options: NatsRetryOptions,
): Promise<T> {
  const retryable = options.retryable ?? isTransientNatsError;
  let deadline: number | null = null; // the window opens at the first failure
  let delay = options.firstDelayMs ?? 50;
  const maxDelay = options.maxDelayMs ?? 1000;
  for (let attempt = 1;; attempt++) {
    try {
      return await op();
    } catch (err) {
      deadline ??= Date.now() + options.windowSec * 1000;
      const left = deadline - Date.now();
      if (!retryable(err) || left <= 0 || options.signal?.aborted) throw err;
      options.onRetry?.(err, attempt);
      await abortableSleep(Math.min(delay, left), options.signal).catch(() => {});
      delay = Math.min(delay * 2, maxDelay);
    }
  }
}
