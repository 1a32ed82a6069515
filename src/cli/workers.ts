/**
 * `pyoco workers`: the live workers.
 *
 * @module
 */

import { type CliCommand, denoIo, ExitCode, runCommand } from "./_common.ts";
import { ago, table } from "./format.ts";

/** `pyoco workers`: live workers as a table. */
export const workersCommand: CliCommand = {
  summary: "List live workers",
  usage: "pyoco workers [--all] [--json]",
  run(args, io = denoIo()) {
    return runCommand(
      {
        name: "workers",
        usage: workersCommand.usage,
        help: `Options:
  --all     Include hidden workers
  --json    Print JSON`,
        options: { all: { type: "boolean" }, json: { type: "boolean" } },
        positionals: [0, 0],
      },
      args,
      io,
      async ({ values, client }) => {
        const workers = await client.listWorkers({ includeHidden: values.all === true });
        if (values.json) {
          io.out(JSON.stringify(workers, null, 2) + "\n");
          return ExitCode.ok;
        }
        if (workers.length === 0) {
          io.out(
            "No live workers: start one with `deno task worker -- --flows ./examples/flows.ts`\n",
          );
          return ExitCode.ok;
        }
        const now = Date.now();
        io.out(table(
          ["WORKER_ID", "STATE", "TAGS", "RUNS", "HEARTBEAT"],
          workers.map((w) => {
            const runs = w.current_run_ids ?? (w.current_run_id ? [w.current_run_id] : []);
            return [
              w.worker_id,
              w.state ?? "-",
              (w.tags ?? []).join(","),
              runs.length ? runs.join(",") : "-",
              ago(w.heartbeat_at, now),
            ];
          }),
        ));
        return ExitCode.ok;
      },
    );
  },
};
