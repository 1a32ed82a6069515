/**
 * Waiting for a run, shared by `submit --wait`, `wait`, `watch`, `logs --follow` and
 * `cancel --wait`: read the run's watch stream (snapshots and, when asked, events) to its
 * terminal snapshot, with Ctrl-C and `--timeout SEC` ending the wait. A gateway without the watch
 * stream is polled instead (no events then).
 *
 * @module
 */

import {
  type PyocoClient,
  PyocoTimeoutError,
  PyocoUnsupportedError,
  type RunSnapshot,
  type RunWatchItem,
} from "../client/mod.ts";
import { type CliIo, ExitCode, type FlagValues, withInterrupt } from "./_common.ts";
import { progressView } from "./_progress.ts";
import { resultText } from "./format.ts";
import { UsageError } from "./usage.ts";

/** Options of {@linkcode followRun}. */
export interface FollowOptions {
  /** Also read the run's events. */
  events: boolean;
  /** With `events`: only events after this sequence. @default {0} */
  afterSeq?: number;
  /** Give up after this long with a {@linkcode PyocoTimeoutError}. @default {wait forever} */
  timeoutMs: number | undefined;
  /** Receives every item of the stream, in order. */
  onItem: (item: RunWatchItem) => void;
}

/**
 * Read the run's watch stream to its terminal snapshot.
 *
 * @param client The client.
 * @param runId The run (or an id prefix the gateway accepts).
 * @param options Events or not, the time budget, and who receives the items.
 * @returns The terminal snapshot.
 * @throws {PyocoTimeoutError} When `timeoutMs` runs out first.
 * @throws {InterruptedError} On Ctrl-C.
 * @throws {PyocoUnsupportedError} When the gateway has no watch stream.
 */
export async function followRun(
  client: PyocoClient,
  runId: string,
  options: FollowOptions,
): Promise<RunSnapshot> {
  const { timeoutMs } = options;
  const deadline = new AbortController();
  const timer = timeoutMs === undefined
    ? undefined
    : setTimeout(() => deadline.abort(new DOMException("Timed out", "TimeoutError")), timeoutMs);
  let last: RunSnapshot | null = null;
  try {
    return await withInterrupt(runId, async (interrupt) => {
      const signal = AbortSignal.any([interrupt, deadline.signal]);
      try {
        const items = client.watchRun(runId, {
          events: options.events,
          afterSeq: options.afterSeq,
          signal,
        });
        for await (const item of items) {
          if (item.type === "snapshot") last = item.snapshot;
          options.onItem(item);
        }
      } catch (err) {
        if (deadline.signal.aborted && !interrupt.aborted && timeoutMs !== undefined) {
          throw new PyocoTimeoutError({ runId, timeoutMs, lastSnapshot: last }, { cause: err });
        }
        throw err;
      }
      // The stream ends at the terminal snapshot; without one (resumed stream), read the run.
      return last ?? await client.getRun(runId, { signal });
    });
  } finally {
    clearTimeout(timer);
  }
}

/** Options of {@linkcode waitForFinal} and {@linkcode waitAndReport}. */
export interface WaitOptions {
  /** No progress; {@linkcode waitAndReport} prints the final snapshot as JSON. */
  json?: boolean;
  /** Give up after this long. @default {wait forever} */
  timeoutMs?: number;
}

/**
 * Wait for a run with live progress on stderr (none with `json`): status changes, task states,
 * retries, `ctx.log` lines and, while PENDING, why it waits.
 *
 * @param client The client.
 * @param io Output streams.
 * @param target The run, and how to wait: `{ runId, json?, timeoutMs? }`.
 * @returns The terminal snapshot.
 * @throws {InterruptedError} On Ctrl-C.
 * @throws {PyocoTimeoutError} When `timeoutMs` runs out first.
 */
export async function waitForFinal(
  client: PyocoClient,
  io: CliIo,
  target: WaitOptions & { runId: string },
): Promise<RunSnapshot> {
  const { runId, timeoutMs } = target;
  const view = target.json ? null : progressView(io);
  let final: RunSnapshot;
  try {
    final = await followRun(client, runId, {
      events: view !== null,
      timeoutMs,
      onItem: (item) =>
        item.type === "snapshot" ? view?.update(item.snapshot) : view?.event(item.event),
    });
  } catch (err) {
    if (!(err instanceof PyocoUnsupportedError)) throw err;
    // An older gateway without the watch stream: poll it (no events then).
    final = await withInterrupt(
      runId,
      (signal) => client.waitForRun(runId, { signal, timeoutMs, onUpdate: (s) => view?.update(s) }),
    );
  }
  view?.done();
  return final;
}

/**
 * Wait for a run with live progress on stderr, then print the result on stdout.
 *
 * @param client The client.
 * @param io Output streams.
 * @param target The run, and how to wait: `{ runId, json?, timeoutMs? }`.
 * @returns 0 when the run COMPLETED, 1 when it FAILED or was CANCELLED.
 * @throws {InterruptedError} On Ctrl-C.
 * @throws {PyocoTimeoutError} When `timeoutMs` runs out first (exit {@linkcode ExitCode.timeout}).
 */
export async function waitAndReport(
  client: PyocoClient,
  io: CliIo,
  target: WaitOptions & { runId: string },
): Promise<number> {
  const final = await waitForFinal(client, io, target);
  if (target.json) io.out(JSON.stringify(final, null, 2) + "\n");
  else io.out(resultText(final));
  return final.status === "COMPLETED" ? ExitCode.ok : ExitCode.failed;
}

/**
 * The `--timeout SEC` flag in milliseconds.
 *
 * @param values Parsed flags.
 * @returns Milliseconds, or `undefined` when not given.
 * @throws {UsageError} When it is not a positive number of seconds.
 */
export function timeoutFlagMs(values: FlagValues): number | undefined {
  if (values.timeout === undefined) return undefined;
  const sec = Number(values.timeout);
  if (!Number.isFinite(sec) || sec <= 0) {
    throw new UsageError(
      `--timeout must be a positive number of seconds, got "${values.timeout}"`,
    );
  }
  return sec * 1000;
}
