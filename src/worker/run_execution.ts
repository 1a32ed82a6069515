/**
 * One run through the engine, and the engine's result in the words the snapshot records
 * (SPEC §4.1, §16): progress mirrored, events published, an engine crash recorded as a
 * `FAILED` run, the cancel rule applied, and a failed run's `error` in pyoco-server's shape —
 * the failing task's own message first, our detail after it:
 *
 * ```
 * boom (task boom failed after 1 attempt)
 * ```
 *
 * @module
 */

import type { Config } from "../config.ts";
import { ErrId } from "../contract/errors.ts";
import { CANCELLED_BY_REQUEST, type Job, nowSec, type RunSnapshot } from "../contract/wire.ts";
import { runFlow } from "../flow/engine.ts";
import type { Flow, FlowEvent, RunResult, TaskRecord } from "../flow/types.ts";
import type { Logger } from "../log.ts";
import type { RunEventPublisher } from "./events.ts";
import { exposedEnv } from "../host/exposed_env.ts";
import type { RunMirror, RunProgress } from "./run_mirror.ts";
import { closeUnfinished } from "./snapshot.ts";

/** Options of {@linkcode executeRun}. */
export interface ExecuteRunOptions {
  /** The flow to run. */
  flow: Flow;
  /** The `RUNNING` snapshot just written. */
  running: RunSnapshot;
  /** Aborts the run (cancel, drain, superseded). */
  signal: AbortSignal;
  /** Mirrors the progress to the snapshot; says whether a `CANCELLING` was seen. */
  mirror: RunMirror;
  /** Where the engine's events go (all but the final one). */
  events: RunEventPublisher;
  /** The configuration (grace period). */
  config: Config;
  /** Logger with the run's context. */
  log: Logger;
}

/** What a run ended with, before anything is written. */
export interface Execution {
  /** The engine's result, with the error text the snapshot records. */
  outcome: RunResult;
  /** The engine's last event (`run.completed|failed|cancelled`), published after the run. */
  finalEvent: FlowEvent | null;
}

/**
 * Run the job's flow with the engine. Never throws: an engine crash is a `FAILED` outcome.
 *
 * @param job The job.
 * @param options The flow, the RUNNING snapshot, the signal, the mirror and the events.
 * @returns The outcome and the final event.
 */
export async function executeRun(job: Job, options: ExecuteRunOptions): Promise<Execution> {
  const { mirror, events, log } = options;
  let latest: RunProgress = {
    tasks: options.running.tasks,
    task_records: options.running.task_records ?? {},
  };
  let finalEvent: FlowEvent | null = null;
  let outcome: RunResult;
  try {
    outcome = await runFlow(options.flow, {
      // A flow.yaml run's params are flow.defaults overlaid by the submitted params (SPEC §15).
      params: job.params,
      // Retry from failed (SPEC §15): reuse recorded outputs of tasks this flow still has.
      resume: _resumeFor(options.flow, job.resume),
      runId: job.run_id,
      signal: options.signal,
      env: exposedEnv(options.flow, {
        onDenied: (name) =>
          log.warn(
            `Environment variable ${name} is exposed by the flow but this worker may not read it; add it to --allow-env`,
            { variable: name },
          ),
      }),
      abortGraceMs: options.config.cancelGracePeriodSec * 1000,
      onProgress: (p: RunProgress) => {
        latest = p;
        mirror.progress(p);
      },
      onEvent: (event: FlowEvent) => {
        if (event.type.startsWith("run.") && event.type !== "run.started") finalEvent = event;
        else events.push(event);
      },
    });
  } catch (err) {
    log.error("Engine error", { err_id: ErrId.executionFailed }, err);
    const now = nowSec();
    const error = `Engine error: ${(err as Error)?.message ?? String(err)}`;
    outcome = {
      status: "FAILED",
      tasks: closeUnfinished(latest.tasks),
      task_records: latest.task_records,
      outputs: {},
      error,
      start_time: options.running.start_time ?? now,
      end_time: now,
    };
    return { outcome, finalEvent: { type: "run.failed", run_id: job.run_id, error, ts: now } };
  }
  return _recorded(job, { outcome, finalEvent, cancelRequested: mirror.cancelRequested });
}

function _resumeFor(flow: Flow, resume: Job["resume"]): Record<string, unknown> {
  if (typeof resume !== "object" || resume === null || Array.isArray(resume)) return {};
  return Object.fromEntries(Object.entries(resume).filter(([n]) => flow.order.includes(n)));
}

/**
 * The outcome as recorded. Cancel rule: the engine's outcome decides. A run the engine
 * finished COMPLETED (or FAILED) before the abort took effect keeps that status even if a
 * CANCELLING arrived meanwhile (the cancel came too late); a run that ended CANCELLED while a
 * CANCELLING was seen is recorded "Run cancelled by request" (also when a task ignored its
 * signal and was given up after PYOCO_CANCEL_GRACE_PERIOD_SEC: its late result is discarded).
 */
function _recorded(
  job: Job,
  at: Execution & { cancelRequested: boolean },
): Execution {
  const { outcome, finalEvent } = at;
  if (outcome.status === "CANCELLED" && at.cancelRequested) {
    return {
      outcome: { ...outcome, error: CANCELLED_BY_REQUEST },
      finalEvent: {
        type: "run.cancelled",
        run_id: job.run_id,
        error: CANCELLED_BY_REQUEST,
        ts: outcome.end_time,
      },
    };
  }
  if (outcome.status === "FAILED") {
    const error = executionErrorText(outcome);
    return {
      outcome: { ...outcome, error },
      finalEvent: finalEvent?.type === "run.failed" ? { ...finalEvent, error } : finalEvent,
    };
  }
  return { outcome, finalEvent };
}

/**
 * A failed run's `error` in pyoco-server's shape (SPEC §16): the message of the task whose
 * failure ended the run, then our detail in parentheses —
 * `<message> (task <name> failed after <n> attempt[s])`. A run that failed without a failed
 * task (an engine error) keeps the engine's text.
 *
 * @param outcome The engine's result of a `FAILED` run.
 * @returns The error text.
 *
 * @example
 * ```ts
 * import { executionErrorText } from "./run_execution.ts";
 * import assert from "node:assert/strict";
 * const boom = {
 *   state: "FAILED" as const, started_at: 1, ended_at: 2, duration_ms: 1000, attempts: 1,
 *   error: "boom", traceback: null, inputs: null, output: null, artifacts: {},
 * };
 * assert.equal(
 *   executionErrorText({
 *     status: "FAILED", tasks: { boom: "FAILED" }, task_records: { boom }, outputs: {},
 *     error: "Task boom failed: boom", start_time: 1, end_time: 2,
 *   }),
 *   "boom (task boom failed after 1 attempt)",
 * );
 * ```
 */
export function executionErrorText(outcome: RunResult): string {
  let first: [string, TaskRecord] | null = null;
  for (const [name, record] of Object.entries(outcome.task_records ?? {})) {
    if (record.state !== "FAILED" || !record.error) continue;
    if (first === null || (record.ended_at ?? Infinity) < (first[1].ended_at ?? Infinity)) {
      first = [name, record];
    }
  }
  if (first === null) return outcome.error ?? "Run failed";
  const [name, record] = first;
  const attempts = record.attempts;
  return `${record.error} (task ${name} failed after ${attempts} attempt${
    attempts === 1 ? "" : "s"
  })`;
}
