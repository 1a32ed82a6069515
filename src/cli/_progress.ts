/**
 * Live progress of a run while the CLI waits for it, on stderr: on a terminal a compact per-task
 * block redrawn in place, otherwise one plain line per change. Besides the snapshots it shows the
 * events a snapshot cannot (a retry and its error, `ctx.log` lines, dropped logs) and, while the
 * run is PENDING, why it waits (`waiting_reason`) once. Nothing is printed after the line of the
 * final status.
 *
 * @module
 */

import type { RunEvent, RunSnapshot } from "../client/mod.ts";
import { isTerminal } from "../contract/mod.ts";
import { type CliIo, waitingReason } from "./_common.ts";
import { eventText } from "./format.ts";

const _MARK: Record<string, string> = {
  PENDING: "·",
  RUNNING: "▸",
  SUCCEEDED: "✓",
  FAILED: "✗",
  CANCELLED: "⊘",
};

/** The event types a progress view prints: what the snapshots do not show. */
const _PROGRESS_EVENTS = new Set(["task.retrying", "task.log", "events.dropped"]);

/** Shows run progress; feed it every snapshot and event of the run. */
export interface ProgressView {
  /** Show a snapshot (only what changed is printed in plain mode). */
  update(snapshot: RunSnapshot): void;
  /** Show an event the snapshots cannot show (retries, log lines); others are ignored. */
  event(event: RunEvent): void;
  /** Leave the last block on screen and stop redrawing. */
  done(): void;
}

/** Options of {@linkcode progressView}. */
export interface ProgressOptions {
  /**
   * Show task states. Off when the run's events are printed elsewhere (`watch --events`), so a
   * task's change is shown once. @default {true}
   */
  tasks?: boolean;
}

/**
 * The progress view for `io`: redrawn block on a TTY, plain lines otherwise. Writes to stderr so
 * stdout keeps only the result.
 *
 * @param io Output streams.
 * @param options Whether task states are shown.
 * @returns The view.
 */
export function progressView(io: CliIo, options: ProgressOptions = {}): ProgressView {
  const tasks = options.tasks ?? true;
  return io.errIsTty && tasks ? _ttyView(io) : _plainView(io, tasks);
}

function _time(unixSec?: number): string {
  const d = typeof unixSec === "number" ? new Date(unixSec * 1000) : new Date();
  return d.toTimeString().slice(0, 8);
}

function _plainView(io: CliIo, showTasks: boolean): ProgressView {
  let status = "";
  let worker: string | null = null;
  let reasonShown: string | undefined;
  let finished = false;
  const tasks = new Map<string, string>();
  const taskLines = (s: RunSnapshot): string[] => {
    const lines: string[] = [];
    for (const [name, state] of Object.entries(s.tasks ?? {})) {
      if (tasks.get(name) === state) continue;
      const first = !tasks.has(name);
      tasks.set(name, state);
      if (first && state === "PENDING") continue;
      lines.push(`${_time()} task ${name} ${state}\n`);
    }
    return showTasks ? lines : [];
  };
  return {
    update(s) {
      if (finished) return;
      const w = s.worker_id ?? null;
      const statusLine = s.status !== status || w !== worker
        ? `${_time()} run ${s.run_id} ${s.status}${w ? ` (worker ${w})` : ""}\n`
        : "";
      status = s.status;
      worker = w;
      const lines = taskLines(s);
      // The final status comes last: no task line after it.
      if (isTerminal(s.status)) {
        finished = true;
        io.err(lines.join("") + statusLine);
        return;
      }
      io.err(statusLine + lines.join(""));
      const reason = waitingReason(s);
      if (reason !== undefined && reason !== reasonShown) {
        io.err(`${_time()} run ${s.run_id} waiting: ${reason}\n`);
      }
      reasonShown = reason;
    },
    event(e) {
      if (finished || !_PROGRESS_EVENTS.has(e.type)) return;
      io.err(`${_time(e.ts)} ${eventText(e)}\n`);
    },
    done() {
      finished = true;
    },
  };
}

function _ttyView(io: CliIo): ProgressView {
  let drawn = 0;
  let last: string[] = [];
  let finished = false;
  const started = Date.now();
  const clear = () => drawn > 0 ? `\x1b[${drawn}F\x1b[J` : "";
  return {
    update(s) {
      if (finished) return;
      const entries = Object.entries(s.tasks ?? {});
      const width = Math.max(0, ...entries.map(([n]) => n.length));
      const elapsed = ((Date.now() - started) / 1000).toFixed(1);
      const reason = waitingReason(s);
      last = [
        `run ${s.run_id}  ${s.flow_name}  ${s.status}${
          s.worker_id ? `  worker ${s.worker_id}` : ""
        }  ${elapsed}s`,
        ...(reason === undefined ? [] : [`  waiting: ${reason}`]),
        ...entries.map(([name, state]) =>
          `  ${_MARK[state] ?? "?"} ${name.padEnd(width)}  ${state}`
        ),
      ];
      // Move to the start of the previous block and clear it, then draw the new one.
      io.err(clear() + last.join("\n") + "\n");
      drawn = last.length;
      if (isTerminal(s.status)) finished = true;
    },
    event(e) {
      if (finished || !_PROGRESS_EVENTS.has(e.type)) return;
      // The event line stays; the block is drawn again below it.
      const block = drawn > 0 ? last.join("\n") + "\n" : "";
      io.err(`${clear()}${_time(e.ts)} ${eventText(e)}\n${block}`);
    },
    done() {
      finished = true;
      drawn = 0;
    },
  };
}
