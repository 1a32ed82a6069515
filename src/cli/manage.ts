/**
 * The `pyoco` sub-commands that manage finished runs (SPEC §15): `retry` (a new run of the same
 * flow and params, optionally reusing the outputs of the tasks that succeeded) and `delete`.
 * Both take a run id or a unique prefix of ≥ 8 characters of one (the gateway resolves it).
 *
 * @module
 */

import { type CliCommand, denoIo, ExitCode, runCommand } from "./_common.ts";
import { timeoutFlagMs, waitAndReport } from "./_wait.ts";

/** `pyoco retry ID [--from-failed]`: retry a finished run as a new run. */
export const retryCommand: CliCommand = {
  summary: "Retry a finished run as a new run (--from-failed reuses what succeeded)",
  usage: "pyoco retry ID [--from-failed] [--wait] [--timeout SEC] [--json]",
  run(args, io = denoIo()) {
    return runCommand(
      {
        name: "retry",
        usage: retryCommand.usage,
        help: `Submits a new run of the same flow, params and tags (its snapshot says retry_of: ID).
ID may be a unique prefix of at least 8 characters. A flow.yaml run cannot be retried (its YAML
is not stored): submit the file again.

Options:
  --from-failed    Keep the outputs of the tasks that SUCCEEDED; run only the failed, cancelled
                   and never-started ones
  --wait           Wait for the new run and show its progress; exit 0 only when it COMPLETED
  --timeout SEC    With --wait: give up waiting after SEC seconds (exit 124)
  --json           Print JSON`,
        options: {
          "from-failed": { type: "boolean" },
          wait: { type: "boolean" },
          timeout: { type: "string" },
          json: { type: "boolean" },
        },
        positionals: [1, 1],
      },
      args,
      io,
      async ({ values, positionals, client }) => {
        const timeoutMs = timeoutFlagMs(values);
        const json = values.json === true;
        const answer = await client.retryRun(positionals[0] as string, {
          fromFailed: values["from-failed"] === true,
        });
        if (!values.wait) {
          io.out(json ? JSON.stringify(answer) + "\n" : `${answer.run_id}\n`);
          return ExitCode.ok;
        }
        if (!json) {
          const reused = answer.reused_tasks.length === 0
            ? "every task runs again"
            : `reusing ${answer.reused_tasks.join(", ")}`;
          io.err(`Retrying run ${answer.retry_of} as run ${answer.run_id} (${reused})\n`);
        }
        return await waitAndReport(client, io, { runId: answer.run_id, json, timeoutMs });
      },
    );
  },
};

/** `pyoco delete ID`: delete a finished run, its idempotency claim and its events. */
export const deleteCommand: CliCommand = {
  summary: "Delete a finished run (with its events)",
  usage: "pyoco delete ID [--json]",
  run(args, io = denoIo()) {
    return runCommand(
      {
        name: "delete",
        usage: deleteCommand.usage,
        help:
          `Deletes a COMPLETED, FAILED or CANCELLED run, its Idempotency-Key claim and its events.
A run that is still going is refused (cancel it first). ID may be a unique prefix of at least 8
characters.

Options:
  --json     Print JSON`,
        options: { json: { type: "boolean" } },
        positionals: [1, 1],
      },
      args,
      io,
      async ({ values, positionals, client }) => {
        const answer = await client.deleteRun(positionals[0] as string);
        io.out(
          values.json
            ? JSON.stringify(answer) + "\n"
            : `Deleted run ${answer.run_id} (${answer.status})\n`,
        );
        return ExitCode.ok;
      },
    );
  },
};
