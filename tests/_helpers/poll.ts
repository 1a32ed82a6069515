/**
 * The one way tests wait: {@linkcode poll} calls a function until it returns a truthy value
 * (and does not throw), with a deadline, and fails with what it last saw.
 *
 * Tests never sleep to synchronise; they poll for the condition they need.
 *
 * @example Wait for a run to complete
 * ```ts ignore
 * import { poll } from "../_helpers/poll.ts";
 *
 * const run = await poll(async () => {
 *   const r = await client.getRun(runId);
 *   return r.status === "COMPLETED" ? r : null;
 * }, { timeoutMs: 20_000, message: "the run to complete" });
 * ```
 *
 * @module
 */

/** Options of {@linkcode poll}. */
export interface PollOptions {
  /**
   * How long to keep trying, in milliseconds, counted from the call.
   *
   * @default {15000}
   */
  timeoutMs?: number;
  /**
   * The pause between two attempts, in milliseconds (the first attempt is immediate).
   *
   * @default {25}
   */
  intervalMs?: number;
  /**
   * What is awaited, for the timeout error: `Timed out after 15000 ms waiting for <message>`.
   * A function is called only when the wait fails, so it can show logs gathered meanwhile.
   *
   * @default {"the condition"}
   */
  message?: string | (() => string);
  /**
   * Whether an attempt that throws counts as "not yet". Set `false` when `fn` asserts
   * something that must hold on every attempt: its first error then ends the wait.
   *
   * @default {true}
   */
  retryErrors?: boolean;
  /** Ends the wait early: {@linkcode poll} rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** The error {@linkcode poll} throws when its deadline passes. */
export class PollTimeoutError extends Error {
  /** The last value the function returned (falsy), or `undefined` when it last threw. */
  readonly lastValue: unknown;
  /** The last error the function threw, or `undefined` when it last returned. */
  readonly lastError: unknown;
  /** How many times the function was called. */
  readonly attempts: number;

  /**
   * Make the timeout error.
   *
   * @param message The full message.
   * @param options The last value or error, and the number of attempts.
   */
  constructor(
    message: string,
    options: { lastValue: unknown; lastError: unknown; attempts: number },
  ) {
    super(message, options.lastError === undefined ? undefined : { cause: options.lastError });
    this.name = "PollTimeoutError";
    this.lastValue = options.lastValue;
    this.lastError = options.lastError;
    this.attempts = options.attempts;
  }
}

/**
 * Throw this from a polled function to stop waiting at once: {@linkcode poll} rethrows it
 * instead of trying again (e.g. the process being waited for has exited).
 *
 * @example
 * ```ts ignore
 * await poll(() => {
 *   if (proc.exitCode() !== null) throw new StopPolling(`It exited:\n${proc.logs()}`);
 *   return proc.logs().includes("ready");
 * }, { message: "the ready line" });
 * ```
 */
export class StopPolling extends Error {
  /**
   * Make the error that stops {@linkcode poll}.
   *
   * @param message Why waiting is pointless.
   * @param options The underlying cause, if any.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StopPolling";
  }
}

const _NO_RESULT = Symbol("no result");

/**
 * Call `fn` until it returns a truthy value without throwing, and return that value.
 *
 * An attempt that throws counts as "not yet" (so `fn` may hold assertions that become true),
 * except a {@linkcode StopPolling}, which is rethrown at once, and any error when
 * `retryErrors` is `false`. An attempt still running at the deadline
 * is not awaited further.
 *
 * @param fn The condition; may be async. Its truthy result is returned.
 * @param options Deadline, pause between attempts, what is awaited, an abort signal.
 * @returns The first truthy value `fn` returned.
 * @throws {PollTimeoutError} When the deadline passes; its message names `message` and the last
 *   value or error, and the last error is its `cause`.
 * @throws {StopPolling} When `fn` throws one.
 * @throws What `fn` throws, when `retryErrors` is `false`.
 * @throws The signal's reason when `signal` aborts.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { poll } from "./poll.ts";
 *
 * let calls = 0;
 * const value = await poll(() => ++calls >= 3 && "ready", { intervalMs: 1 });
 * assert.equal(value, "ready");
 * ```
 */
export async function poll<T>(
  fn: () => T | Promise<T>,
  options: PollOptions = {},
): Promise<NonNullable<T>> {
  const timeoutMs = options.timeoutMs ?? 15_000;
  const intervalMs = options.intervalMs ?? 25;
  if (!(timeoutMs >= 0)) throw new RangeError(`poll(): timeoutMs must be >= 0, got ${timeoutMs}`);
  if (!(intervalMs >= 0)) {
    throw new RangeError(`poll(): intervalMs must be >= 0, got ${intervalMs}`);
  }
  const { signal } = options;
  const started = performance.now();
  const deadline = started + timeoutMs;
  let lastValue: unknown = undefined;
  let lastError: unknown = undefined;
  let attempts = 0;
  let stillRunning = false;
  while (true) {
    signal?.throwIfAborted();
    attempts++;
    try {
      const result = await _within(fn, deadline - performance.now());
      if (result === _NO_RESULT) {
        stillRunning = true;
        break;
      }
      if (result) return result as NonNullable<T>;
      lastValue = result;
      lastError = undefined;
    } catch (err) {
      if (err instanceof StopPolling || options.retryErrors === false) throw err;
      lastError = err;
      lastValue = undefined;
    }
    const left = deadline - performance.now();
    if (left <= 0) break;
    await _pause(Math.min(intervalMs, left), signal);
  }
  const what = typeof options.message === "function"
    ? options.message()
    : options.message ?? "the condition";
  const last = stillRunning
    ? "the last attempt was still running"
    : lastError !== undefined
    ? `last error: ${_describeError(lastError)}`
    : `last value: ${_describe(lastValue)}`;
  throw new PollTimeoutError(
    `Timed out after ${timeoutMs} ms waiting for ${what} (${attempts} attempts, ${last})`,
    { lastValue, lastError, attempts },
  );
}

/** Run one attempt, giving up on it (without cancelling it) after `ms`. */
async function _within<T>(
  fn: () => T | Promise<T>,
  ms: number,
): Promise<T | typeof _NO_RESULT> {
  const attempt = Promise.resolve().then(fn);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<typeof _NO_RESULT>((resolve) => {
    timer = setTimeout(() => resolve(_NO_RESULT), Math.max(0, ms));
  });
  try {
    const result = await Promise.race([attempt, expired]);
    if (result === _NO_RESULT) attempt.catch(() => {}); // abandoned: keep its failure quiet
    return result;
  } finally {
    clearTimeout(timer);
  }
}

/** Sleep `ms`, ending early (with the reason) when `signal` aborts. */
function _pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** A short text form of a value for the timeout message. */
function _describe(value: unknown): string {
  let text: string;
  try {
    text = typeof value === "string" ? JSON.stringify(value) : Deno.inspect(value, { depth: 4 });
  } catch {
    text = String(value);
  }
  return text.length > 2000 ? `${text.slice(0, 2000)}…` : text;
}

/** The message of an error (or the text form of any other thrown value). */
function _describeError(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : _describe(err);
}
