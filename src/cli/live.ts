/**
 * The `pyoco` sub-commands that follow runs live: `watch` (progress, and log lines with
 * `--events`) and `logs` (a run's events, `--follow` to keep reading until it ends). Both ride on
 * the gateway's watch stream through {@linkcode PyocoClient.watchRun}.
 *
 * @module
 */

import type { PyocoClient, RunSnapshot } from "../client/mod.ts";
import {
  type CliCommand,
  type CliIo,
  denoIo,
  ExitCode,
  runCommand,
  withInterrupt,
} from "./_common.ts";
import { progressView } from "./_progress.ts";
import { followRun, timeoutFlagMs, waitAndReport } from "./_wait.ts";
import { eventLine, resultText } from "./format.ts";

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
124 when --timeout ran out (the run goes on), 130 on Ctrl-C.

Options:
  --events         Print the run's events (task log lines, task and run lifecycle) on stdout;
                   stderr then shows only the run's status (each change is printed once)
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
      ({ values, positionals, client }) =>
        _watch(client, io, {
          runId: positionals[0] as string,
          json: values.json === true,
          events: values.events === true,
          timeoutMs: timeoutFlagMs(values),
        }),
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
like \`pyoco watch\`: 0 when it COMPLETED, 1 when it FAILED or was CANCELLED, 124 when
--timeout ran out, 130 on Ctrl-C.

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
        const final = await followRun(client, runId, {
          events: true,
          afterSeq: lastSeq,
          timeoutMs,
          onItem: (item) => {
            if (item.type === "event") print(item.event);
          },
        });
        if (!json) {
          io.err(`Run ${final.run_id} ${final.status}${final.error ? `: ${final.error}` : ""}\n`);
        }
        return final.status === "COMPLETED" ? ExitCode.ok : ExitCode.failed;
      },
    );
  },
};

/** How `pyoco watch` follows a run. */
interface _WatchRequest {
  runId: string;
  json: boolean;
  events: boolean;
  timeoutMs: number | undefined;
}

/**
 * Follow a run for `pyoco watch`: with `--json` every stream item as a JSON line; with
 * `--events` the events on stdout and only the run's status on stderr; else like `pyoco wait`.
 */
async function _watch(client: PyocoClient, io: CliIo, request: _WatchRequest): Promise<number> {
  const { runId, timeoutMs, events } = request;
  if (!request.json && !events) return await waitAndReport(client, io, { runId, timeoutMs });
  let final: RunSnapshot;
  if (request.json) {
    final = await followRun(client, runId, {
      events,
      timeoutMs,
      onItem: (item) => io.out(JSON.stringify(item) + "\n"),
    });
  } else {
    // Events are the task lines here, so the progress shows only the run's status: once each.
    const view = progressView(io, { tasks: false });
    final = await followRun(client, runId, {
      events: true,
      timeoutMs,
      onItem: (item) =>
        item.type === "snapshot"
          ? view.update(item.snapshot)
          : io.out(eventLine(item.event) + "\n"),
    });
    view.done();
    io.out(resultText(final));
  }
  return final.status === "COMPLETED" ? ExitCode.ok : ExitCode.failed;
}
