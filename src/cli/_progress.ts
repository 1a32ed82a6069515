/**
 * Live progress of a run while the CLI waits for it: on a terminal a compact per-task block
 * redrawn in place, otherwise one plain line per change.
 *
 * @module
 */

import type { RunSnapshot } from "../client/mod.ts";
import type { CliIo } from "./_common.ts";

const _MARK: Record<string, string> = {
  PENDING: "·",
  RUNNING: "▸",
  SUCCEEDED: "✓",
  FAILED: "✗",
  CANCELLED: "⊘",
};

/** Shows run progress; feed it every snapshot. */
export interface ProgressView {
  /** Show a snapshot (only what changed is printed in plain mode). */
  update(snapshot: RunSnapshot): void;
  /** Leave the last block on screen and stop redrawing. */
  done(): void;
}

/**
 * The progress view for `io`: redrawn block on a TTY, plain lines otherwise. Writes to stderr so
 * stdout keeps only the result.
 *
 * @param io Output streams.
 * @returns The view.
 */
export function progressView(io: CliIo): ProgressView {
  return io.errIsTty ? _ttyView(io) : _plainView(io);
}

function _time(): string {
  return new Date().toTimeString().slice(0, 8);
}

function _plainView(io: CliIo): ProgressView {
  let status = "";
  let worker: string | null = null;
  const tasks = new Map<string, string>();
  return {
    update(s) {
      const w = s.worker_id ?? null;
      if (s.status !== status || w !== worker) {
        status = s.status;
        worker = w;
        io.err(`${_time()} run ${s.run_id} ${s.status}${w ? ` (worker ${w})` : ""}\n`);
      }
      for (const [name, state] of Object.entries(s.tasks ?? {})) {
        if (tasks.get(name) === state) continue;
        const first = !tasks.has(name);
        tasks.set(name, state);
        if (first && state === "PENDING") continue;
        io.err(`${_time()} task ${name} ${state}\n`);
      }
    },
    done() {},
  };
}

function _ttyView(io: CliIo): ProgressView {
  let drawn = 0;
  const started = Date.now();
  return {
    update(s) {
      const entries = Object.entries(s.tasks ?? {});
      const width = Math.max(0, ...entries.map(([n]) => n.length));
      const elapsed = ((Date.now() - started) / 1000).toFixed(1);
      const lines = [
        `run ${s.run_id}  ${s.flow_name}  ${s.status}${
          s.worker_id ? `  worker ${s.worker_id}` : ""
        }  ${elapsed}s`,
        ...entries.map(([name, state]) =>
          `  ${_MARK[state] ?? "?"} ${name.padEnd(width)}  ${state}`
        ),
      ];
      // Move to the start of the previous block and clear it, then draw the new one.
      const up = drawn > 0 ? `\x1b[${drawn}F\x1b[J` : "";
      io.err(up + lines.join("\n") + "\n");
      drawn = lines.length;
    },
    done() {
      drawn = 0;
    },
  };
}
