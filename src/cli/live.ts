/**
 * The `pyoco` sub-commands that follow runs live: `watch` (progress, and log lines with
 * `--events`) and `logs` (a run's events, `--follow` to keep reading until it ends). Both ride on
 * the gateway's watch stream through {@linkcode PyocoClient.watchRun}.
 *
 * @module
 */

import { PyocoTimeoutError } from "../client/mod.ts";
import type { PyocoClient, RunSnapshot, RunWatchItem } from "../client/mod.ts";
import { type CliCommand, denoIo, ExitCode, runCommand, withInterrupt } from "./_common.ts";
import { eventLine, resultText } from "./format.ts";
import { progressView } from "./_progress.ts";
import { timeoutFlagMs } from "./runs.ts";

/** `pyoco watch ID`: follow a run live. */
export const watchCommand: CliCommand = {
  summary: "Follow a run live: progress, and its log lines with --events",
  usage: "pyoco watch ID [--events] [--timeout SEC] [--json]",
  run(args, io = denoIo()) {
    return runCommand(
      {
        name: "watch",
        usage: watchCommand.usage,
        help:
          `Shows the run's progress on stderr as it changes (like \`pyoco wait\`) until it is terminal,
then its result on stdout. Exits 0 when the run COMPLETED, 1 when it FAILED or was CANCELLED,
130 on Ctrl-C.

Options:
  --events         Also print the run's events (task log lines, task and run lifecycle) on stdout
  --timeout SEC    Give up after SEC seconds (the run goes on)
  --json           Print every item of the stream as one JSON line on stdout (no progress):
                   {"type":"snapshot","id":…,"snapshot":{…}} or {"type":"event","id":…,"event":{…}}`,
        options: {
          events: { type: "boolean" },
          timeout: { type: "string" },
          json: { type: "boolean" },
        },
        positionals: [1, 1],
      },
      args,
      io,
      async ({ values, positionals, client }) => {
        const runId = positionals[0] as string;
        const json = values.json === true;
        const events = values.events === true;
        // Log lines on stdout would break a progress block redrawn in place: use plain lines.
        const view = json ? null : progressView(events ? { ...io, errIsTty: false } : io);
        const final = await _follow(client, runId, {
          events,
          timeoutMs: timeoutFlagMs(values),
          onItem: (item) => {
            if (json) io.out(JSON.stringify(item) + "\n");
            else if (item.type === "snapshot") view?.update(item.snapshot);
            else io.out(eventLine(item.event) + "\n");
          },
        });
        view?.done();
        if (!json) io.out(resultText(final));
        return final.status === "COMPLETED" ? ExitCode.ok : ExitCode.failed;
      },
    );
  },
};

/** `pyoco logs ID`: a run's events. */
export const logsCommand: CliCommand = {
  summary: "Print a run's log lines and lifecycle events (--follow until it ends)",
  usage: "pyoco logs ID [--follow] [--timeout SEC] [--json]",
  run(args, io = denoIo()) {
    return runCommand(
      {
        name: "logs",
        usage: logsCommand.usage,
        help:
          `Prints the events stored for the run (task log lines, task and run lifecycle), oldest first.
Exits 0; with --follow it keeps printing new events until the run is terminal and then exits
like \`pyoco watch\`: 0 when it COMPLETED, 1 when it FAILED or was CANCELLED, 130 on Ctrl-C.

Options:
  --follow, -f     Keep printing new events until the run ends
  --timeout SEC    With --follow: give up after SEC seconds (the run goes on)
  --json           One JSON object per event ({seq, type, ts, task?, message?, …})`,
        options: {
          follow: { type: "boolean", short: "f" },
          timeout: { type: "string" },
          json: { type: "boolean" },
        },
        positionals: [1, 1],
      },
      args,
      io,
      async ({ values, positionals, client }) => {
        const runId = positionals[0] as string;
        const json = values.json === true;
        const timeoutMs = timeoutFlagMs(values);
        const print = (event: Parameters<typeof eventLine>[0]) =>
          io.out(json ? JSON.stringify(event) + "\n" : eventLine(event) + "\n");
        let lastSeq = 0;
        await withInterrupt(runId, async (signal) => {
          for await (const event of client.iterateEvents(runId, { pageSize: 1000, signal })) {
            print(event);
            lastSeq = event.seq;
          }
        });
        if (!values.follow) {
          if (lastSeq === 0 && !json) io.err(`No events for run ${runId} yet\n`);
          return ExitCode.ok;
        }
        const final = await _follow(client, runId, {
          events: true,
          afterSeq: lastSeq,
          timeoutMs,
          onItem: (item) => {
            if (item.type === "event") print(item.event);
          },
        });
        if (!json) io.err(`Run ${runId} ${final.status}${final.error ? `: ${final.error}` : ""}\n`);
        return final.status === "COMPLETED" ? ExitCode.ok : ExitCode.failed;
      },
    );
  },
};

/** Read the run's watch stream to its terminal snapshot (Ctrl-C and `timeoutMs` end it). */
async function _follow(
  client: PyocoClient,
  runId: string,
  options: {
    events: boolean;
    afterSeq?: number;
    timeoutMs: number | undefined;
    onItem: (item: RunWatchItem) => void;
  },
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
        for await (
          const item of client.watchRun(runId, {
            events: options.events,
            afterSeq: options.afterSeq,
            signal,
          })
        ) {
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
