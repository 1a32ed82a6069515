/**
 * One task attempt and what lies between attempts: running the task function against its
 * timeout, the retry backoff, the abortable wait before a retry, and how a failure reads in a
 * task record. The run (`engine.ts`) decides what happens with each outcome. Web APIs only.
 *
 * @module
 */

import { TaskTimeoutError } from "./errors.ts";
import type { Task, TaskContext } from "./types.ts";

/** How an attempt ended: the task's value, or what it threw (or the timeout). */
export type AttemptOutcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/** A running attempt as the run sees it: abort it, or (on finalize) stop its timer. */
export interface AttemptHandle {
  /** Abort the attempt's signal with `reason`. */
  abort(reason: unknown): void;
  /** Stop the attempt's timeout timer. */
  dispose(): void;
}

/** Options of {@linkcode runAttempt}. */
export interface RunAttemptOptions {
  /** Builds the task's context around the attempt's own abort signal. */
  context: (signal: AbortSignal) => TaskContext;
  /** The run's running attempts: the handle is in it while the attempt runs. */
  running: Set<AttemptHandle>;
}

/**
 * Runs one attempt of `t`, racing it against the task's `timeoutSec` (a timeout aborts the
 * attempt's signal with a {@linkcode TaskTimeoutError} and settles at once). Never rejects.
 *
 * @param t The task.
 * @param input Its input.
 * @param options The context factory and the run's set of running attempts.
 * @returns The outcome.
 */
export function runAttempt(
  t: Task,
  input: unknown,
  options: RunAttemptOptions,
): Promise<AttemptOutcome> {
  const controller = new AbortController();
  const ctx = options.context(controller.signal);
  return new Promise<AttemptOutcome>((resolve) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const handle: AttemptHandle = {
      abort: (reason: unknown) => controller.abort(reason),
      dispose: () => clearTimeout(timer),
    };
    let settled = false;
    const settle = (outcome: AttemptOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.running.delete(handle);
      resolve(outcome);
    };
    options.running.add(handle);
    const timeoutSec = t.options.timeoutSec;
    if (timeoutSec !== undefined) {
      timer = setTimeout(() => {
        const error = new TaskTimeoutError(t.name, timeoutSec);
        controller.abort(error);
        settle({ ok: false, error });
      }, timeoutSec * 1000);
    }
    let result: Promise<unknown>;
    try {
      result = Promise.resolve(t.fn(ctx, input));
    } catch (error) {
      result = Promise.reject(error);
    }
    result.then(
      (value) => settle({ ok: true, value }),
      (error) => settle({ ok: false, error }),
    );
  });
}

/**
 * The wait before the retry that follows attempt `attempt` (1-based):
 * `retryDelaySec × retryBackoff^(attempt − 1)`.
 *
 * @param options The task's resolved options.
 * @param attempt The attempt that just failed.
 * @returns Seconds to wait.
 */
export function retryDelaySec(options: Task["options"], attempt: number): number {
  return options.retryDelaySec * options.retryBackoff ** (attempt - 1);
}

/** Waits before retries that one call wakes early (when the run is aborted). */
export class RetryWaits {
  readonly #wakers = new Set<() => void>();

  /**
   * Wait `ms`.
   *
   * @param ms Milliseconds.
   * @returns `true` after `ms`, `false` as soon as {@linkcode RetryWaits.wakeAll} is called.
   */
  wait(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#wakers.delete(wake);
        resolve(false);
      };
      const timer = setTimeout(() => {
        this.#wakers.delete(wake);
        resolve(true);
      }, ms);
      this.#wakers.add(wake);
    });
  }

  /** End every wait now (each resolves `false`). */
  wakeAll(): void {
    for (const wake of [...this.#wakers]) wake();
  }
}

/**
 * The text a failure leaves in a task record's `error`.
 *
 * @param error What the task threw.
 * @returns The message of an `Error`, the string itself, or the value as JSON.
 */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  if (typeof error === "string") return error;
  try {
    return JSON.stringify(error) ?? String(error);
  } catch {
    return String(error);
  }
}

/**
 * The stack a failure leaves in a task record's `traceback`.
 *
 * @param error What the task threw.
 * @returns The stack of an `Error`, else `null`.
 */
export function traceback(error: unknown): string | null {
  return error instanceof Error && typeof error.stack === "string" ? error.stack : null;
}
