/**
 * The `pyoco` sub-commands about runs: `submit` (one run, or many with `--batch`: `batch.ts`),
 * `submit-yaml`, `get`, `tasks`, `list`, `wait`, `cancel`.
 *
 * @module
 */

import type { PyocoClient, RunStatus, RunView, TaskRecord } from "../client/mod.ts";
import { isPriority, RUN_STATUSES } from "../contract/mod.ts";
import {
  type CliCommand,
  type CliIo,
  denoIo,
  ExitCode,
  type FlagValues,
  runCommand,
  UsageError,
  waitingReason,
} from "./_common.ts";
import { timeoutFlagMs, waitAndReport, waitForFinal } from "./_wait.ts";
import { ago, compactJson, duration, resultText, table, timestamp } from "./format.ts";
import { readParams } from "./params.ts";
import { submitBatchFile } from "./batch.ts";

/** Flags both submit commands take: where the run goes and whether to wait for it. */
const _SUBMIT_FLAGS = {
  tag: { type: "string" },
  "idempotency-key": { type: "string" },
  wait: { type: "boolean" },
  timeout: { type: "string" },
  json: { type: "boolean" },
} as const;

const _SUBMIT_HELP = `  --tag T                Work queue (default: the gateway's default tag)
  --idempotency-key K    Submitting again with the same key returns the same run
  --wait                 Wait for the run and show its progress; exit 0 only when it COMPLETED
  --timeout SEC          With --wait: give up waiting after SEC seconds (exit 124)
  --json                 Print JSON`;

/** The params flags of both submit commands (one reader: {@linkcode readParams}). */
const _PARAMS_FLAGS = {
  param: { type: "string", multiple: true },
  "params-file": { type: "string" },
} as const;

const _PARAMS_HELP =
  `  --param k=v            A parameter; the value is JSON when it parses (2, true, {"a":1}), else text. Repeatable
  --params-file F        Parameters from a JSON or YAML file (a mapping); --param overrides it`;

/** `pyoco submit FLOW …`: submit a run of a registered flow. */
export const submitCommand: CliCommand = {
  summary: "Submit a run of a flow the workers registered",
  usage:
    "pyoco submit FLOW [--param k=v]… [--params-file F] [--tag T] [--tags a,b] [--priority P] [--idempotency-key K] [--wait] [--json]\n" +
    "       pyoco submit --batch FILE.jsonl [--tag T] [--wait] [--timeout SEC] [--json]",
  run(args, io = denoIo()) {
    return runCommand(
      {
        name: "submit",
        usage: submitCommand.usage,
        help: `Options:
${_PARAMS_HELP}
  --tags a,b             Tags recorded on the run
  --priority P           high, normal (default) or low: a worker with a free slot takes
                         high before normal before low (low still gets 1 pull in 10)
${_SUBMIT_HELP}
  --batch FILE           Submit many runs from a JSON Lines file ("-" reads stdin): one
                         POST /runs body per line ({"flow_name": …, "params": …, "tag": …,
                         "idempotency_key": …}). Prints the accepted run ids (file order)
                         and names every rejected line; exit 1 when any line was rejected
                         (with --wait: when any run did not COMPLETE). --tag sets the tag
                         of lines without one`,
        options: {
          ..._PARAMS_FLAGS,
          tags: { type: "string" },
          priority: { type: "string" },
          batch: { type: "string" },
          ..._SUBMIT_FLAGS,
        },
        positionals: [0, 1],
      },
      args,
      io,
      async ({ values, positionals, client }) => {
        const timeoutMs = timeoutFlagMs(values);
        if (values.batch !== undefined) return await _batch(client, io, { values, positionals });
        if (positionals.length === 0) throw new UsageError("Missing the flow to submit");
        const flowName = positionals[0] as string;
        const params = await _params(values);
        const tags = (values.tags as string | undefined)?.split(",").map((t) => t.trim()).filter(
          Boolean,
        );
        const priority = values.priority as string | undefined;
        if (priority !== undefined && !isPriority(priority)) {
          throw new UsageError(`Invalid --priority "${priority}": expected high, normal or low`);
        }
        const res = await client.submitRun({
          flowName,
          params,
          tag: values.tag as string | undefined,
          tags,
          ...(priority !== undefined ? { priority } : {}),
          idempotencyKey: values["idempotency-key"] as string | undefined,
        });
        return _afterSubmit(client, io, { runId: res.run_id, flowName, values, timeoutMs });
      },
    );
  },
};

/** `pyoco submit-yaml FILE --flow-name N …`: submit a run of a flow.yaml. */
export const submitYamlCommand: CliCommand = {
  summary: "Submit a run of a flow.yaml file",
  usage:
    "pyoco submit-yaml FILE --flow-name N [--param k=v]… [--params-file F] [--tag T] [--idempotency-key K] [--wait] [--json]",
  run(args, io = denoIo()) {
    return runCommand(
      {
        name: "submit-yaml",
        usage: submitYamlCommand.usage,
        help: `Options:
  --flow-name N          Name of the run's flow (required)
${_PARAMS_HELP}
${_SUBMIT_HELP}`,
        options: { "flow-name": { type: "string" }, ..._PARAMS_FLAGS, ..._SUBMIT_FLAGS },
        positionals: [1, 1],
      },
      args,
      io,
      async ({ values, positionals, client }) => {
        const flowName = values["flow-name"] as string | undefined;
        if (!flowName) throw new UsageError("--flow-name is required");
        const timeoutMs = timeoutFlagMs(values);
        const path = positionals[0] as string;
        let bytes: Uint8Array;
        try {
          bytes = await Deno.readFile(path);
        } catch (err) {
          throw new UsageError(`Cannot read ${path}: ${(err as Error).message}`);
        }
        const params = await _params(values);
        const res = await client.submitRunYaml({
          workflowYaml: bytes,
          flowName,
          // Absent unless given: the run then takes the YAML's flow.defaults as they are.
          params: Object.keys(params).length === 0 ? undefined : params,
          tag: values.tag as string | undefined,
          idempotencyKey: values["idempotency-key"] as string | undefined,
        });
        return _afterSubmit(client, io, { runId: res.run_id, flowName, values, timeoutMs });
      },
    );
  },
};

/** `pyoco get ID`: show a run. */
export const getCommand: CliCommand = {
  summary: "Show a run",
  usage: "pyoco get ID [--records] [--json]",
  run(args, io = denoIo()) {
    return runCommand(
      {
        name: "get",
        usage: getCommand.usage,
        help: `Options:
  --records    Include the task records (attempts, durations, errors, outputs)
  --json       Print the snapshot as JSON`,
        options: { records: { type: "boolean" }, json: { type: "boolean" } },
        positionals: [1, 1],
      },
      args,
      io,
      async ({ values, positionals, client }) => {
        const run = await client.getRun(positionals[0] as string, {
          include: values.records ? ["records"] : [],
        });
        if (values.json) io.out(JSON.stringify(run, null, 2) + "\n");
        else io.out(_describeRun(run, values.records === true));
        return ExitCode.ok;
      },
    );
  },
};

/** `pyoco tasks ID`: the tasks of a run. */
export const tasksCommand: CliCommand = {
  summary: "Show the tasks of a run",
  usage: "pyoco tasks ID [--json]",
  run(args, io = denoIo()) {
    return runCommand(
      {
        name: "tasks",
        usage: tasksCommand.usage,
        help: `Options:
  --json    Print JSON`,
        options: { json: { type: "boolean" } },
        positionals: [1, 1],
      },
      args,
      io,
      async ({ values, positionals, client }) => {
        const view = await client.getTasks(positionals[0] as string);
        if (values.json) {
          io.out(JSON.stringify(view, null, 2) + "\n");
          return ExitCode.ok;
        }
        io.out(`run ${view.run_id}  ${view.flow_name}  ${view.status}\n`);
        io.out(_tasksTable(view.tasks, view.task_records));
        if (view.task_records_truncated) {
          io.out(
            "(task records were truncated to fit the snapshot)\n",
          );
        }
        return ExitCode.ok;
      },
    );
  },
};

/** `pyoco list`: recent runs as a table. */
export const listCommand: CliCommand = {
  summary: "List recent runs, newest first",
  usage: "pyoco list [--status S] [--flow F] [--tag T] [--limit N] [--json]",
  run(args, io = denoIo()) {
    return runCommand(
      {
        name: "list",
        usage: listCommand.usage,
        help: `Options:
  --status S    Only runs in status S (${RUN_STATUSES.join(", ")})
  --flow F      Only runs of flow F
  --tag T       Only runs on tag T
  --limit N     At most N runs (1..200, default 50)
  --json        Print JSON`,
        options: {
          status: { type: "string" },
          flow: { type: "string" },
          tag: { type: "string" },
          limit: { type: "string" },
          json: { type: "boolean" },
        },
        positionals: [0, 0],
      },
      args,
      io,
      async ({ values, client }) => {
        const status = values.status as string | undefined;
        if (status !== undefined && !RUN_STATUSES.includes(status.toUpperCase() as RunStatus)) {
          throw new UsageError(
            `--status must be one of ${RUN_STATUSES.join(", ")}, got "${status}"`,
          );
        }
        let limit: number | undefined;
        if (values.limit !== undefined) {
          limit = Number(values.limit);
          if (!Number.isInteger(limit) || limit < 1 || limit > 200) {
            throw new UsageError(
              `--limit must be a whole number from 1 to 200, got "${values.limit}"`,
            );
          }
        }
        const runs = await client.listRuns({
          status: status?.toUpperCase() as RunStatus | undefined,
          flow: values.flow as string | undefined,
          tag: values.tag as string | undefined,
          limit,
        });
        if (values.json) {
          io.out(JSON.stringify(runs, null, 2) + "\n");
          return ExitCode.ok;
        }
        if (runs.length === 0) {
          io.out("No runs\n");
          return ExitCode.ok;
        }
        const now = Date.now();
        io.out(table(
          ["RUN_ID", "FLOW", "STATUS", "TAG", "WORKER", "UPDATED"],
          runs.map((r) => [
            r.run_id,
            r.flow_name,
            r.status,
            r.tag ?? "-",
            r.worker_id ?? "-",
            ago(r.updated_at, now),
          ]),
        ));
        return ExitCode.ok;
      },
    );
  },
};

/** `pyoco wait ID`: wait for a run with live progress. */
export const waitCommand: CliCommand = {
  summary: "Wait for a run to finish, showing its progress",
  usage: "pyoco wait ID [--timeout SEC] [--json]",
  run(args, io = denoIo()) {
    return runCommand(
      {
        name: "wait",
        usage: waitCommand.usage,
        help:
          `Exits 0 when the run COMPLETED, 1 when it FAILED or was CANCELLED, 124 when --timeout ran
out (the run goes on), 130 on Ctrl-C.

Options:
  --timeout SEC    Give up waiting after SEC seconds (the run goes on)
  --json           Print the final snapshot as JSON (no progress)`,
        options: { timeout: { type: "string" }, json: { type: "boolean" } },
        positionals: [1, 1],
      },
      args,
      io,
      ({ values, positionals, client }) => {
        return waitAndReport(client, io, {
          runId: positionals[0] as string,
          json: values.json === true,
          timeoutMs: timeoutFlagMs(values),
        });
      },
    );
  },
};

/** `pyoco cancel ID`: cancel a run. */
export const cancelCommand: CliCommand = {
  summary: "Cancel a run (PENDING at once, RUNNING through its worker)",
  usage: "pyoco cancel ID [--wait] [--timeout SEC] [--json]",
  run(args, io = denoIo()) {
    return runCommand(
      {
        name: "cancel",
        usage: cancelCommand.usage,
        help:
          `A PENDING run is CANCELLED at once; a RUNNING one turns CANCELLING and its worker stops
it. Exits 0 when the run is CANCELLED (or CANCELLING without --wait), 1 when it had already
finished (or finished before the cancel took effect), 124 when --timeout ran out, 130 on Ctrl-C.

Options:
  --wait           Wait until the run is terminal, showing its progress
  --timeout SEC    With --wait: give up waiting after SEC seconds (exit 124)
  --json           Print the snapshot as JSON`,
        options: {
          wait: { type: "boolean" },
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
        let snapshot = await client.cancelRun(runId);
        const finishedFirst = snapshot.status === "COMPLETED" || snapshot.status === "FAILED";
        if (values.wait && !finishedFirst && snapshot.status !== "CANCELLED") {
          if (!json) io.err(`Run ${runId} ${snapshot.status}: waiting for its worker to stop it\n`);
          snapshot = await waitForFinal(client, io, { runId, json, timeoutMs });
        }
        if (json) io.out(JSON.stringify(snapshot, null, 2) + "\n");
        if (snapshot.status === "COMPLETED" || snapshot.status === "FAILED") {
          io.err(
            finishedFirst
              ? `Run ${runId} had already ${snapshot.status}: nothing to cancel\n`
              : `Run ${runId} ${snapshot.status} before the cancel took effect\n`,
          );
          return ExitCode.failed;
        }
        if (!json) {
          if (snapshot.status === "CANCELLING") {
            io.out(`Run ${runId} CANCELLING: its worker is stopping it\n`);
          } else if (values.wait) {
            io.out(resultText(snapshot));
          } else {
            io.out(`Run ${runId} ${snapshot.status}\n`);
          }
        }
        return ExitCode.ok;
      },
    );
  },
};

/** `submit --batch FILE`: the flags that make sense for many runs, then the batch. */
function _batch(
  client: PyocoClient,
  io: CliIo,
  at: { values: FlagValues; positionals: string[] },
): Promise<number> {
  const { values } = at;
  if (at.positionals.length > 0) {
    throw new UsageError(
      `Unexpected argument "${at.positionals[0]}": --batch takes the flows from the file`,
    );
  }
  for (const flag of ["param", "params-file", "tags", "idempotency-key"]) {
    if (values[flag] !== undefined) {
      throw new UsageError(`--${flag} cannot be used with --batch: give it per line in the file`);
    }
  }
  return submitBatchFile(client, io, {
    path: values.batch as string,
    tag: values.tag as string | undefined,
    wait: values.wait === true,
    timeoutMs: timeoutFlagMs(values),
    json: values.json === true,
  });
}

function _params(values: FlagValues): Promise<Record<string, unknown>> {
  return readParams({
    pairs: (values.param as string[] | undefined) ?? [],
    file: values["params-file"] as string | undefined,
  });
}

/** What {@linkcode _afterSubmit} needs to know about the submitted run. */
interface _Submitted {
  runId: string;
  flowName: string;
  values: FlagValues;
  timeoutMs: number | undefined;
}

async function _afterSubmit(client: PyocoClient, io: CliIo, run: _Submitted): Promise<number> {
  const { runId, values } = run;
  const json = values.json === true;
  if (!values.wait) {
    io.out(json ? JSON.stringify({ run_id: runId, status: "PENDING" }) + "\n" : `${runId}\n`);
    return ExitCode.ok;
  }
  if (!json) io.err(`Submitted ${run.flowName} as run ${runId}\n`);
  return await waitAndReport(client, io, { runId, json, timeoutMs: run.timeoutMs });
}

function _describeRun(run: RunView, records: boolean): string {
  const worker = run.worker_id
    ? `${run.worker_id}${
      run.worker_alive === true ? " (alive)" : run.worker_alive === false ? " (not alive)" : ""
    }`
    : "-";
  const rows: [string, string][] = [
    ["run_id", run.run_id],
    ["flow", run.flow_name],
    ["status", run.status],
    ...(waitingReason(run) ? [["waiting", waitingReason(run)!] as [string, string]] : []),
    ["tag", `${run.tag ?? "-"}${run.tags?.length ? `  (tags: ${run.tags.join(", ")})` : ""}`],
    ["worker", worker],
    ["started", timestamp(run.start_time)],
    ["ended", timestamp(run.end_time)],
    ["updated", `${timestamp(run.updated_at)}  (${ago(run.updated_at)})`],
    ["params", compactJson(run.params ?? {})],
  ];
  if (run.attempt) rows.push(["attempt", String(run.attempt)]);
  if (run.outputs) rows.push(["outputs", compactJson(run.outputs)]);
  if (run.error) rows.push(["error", run.error]);
  if (run.workflow_yaml_sha256) {
    rows.push(["yaml", `sha256 ${run.workflow_yaml_sha256} (${run.workflow_yaml_bytes} bytes)`]);
  }
  const width = Math.max(...rows.map(([k]) => k.length));
  let text = rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join("\n") + "\n\n";
  text += records && run.task_records
    ? _tasksTable(run.tasks, run.task_records)
    : table(["TASK", "STATE"], Object.entries(run.tasks ?? {}).map(([n, s]) => [n, s]));
  if (records && run.task_records_truncated) text += "(task records were truncated)\n";
  return text;
}

function _tasksTable(
  tasks: Record<string, string>,
  records: Record<string, TaskRecord> | undefined,
): string {
  const names = Object.keys(tasks ?? {});
  if (names.length === 0) return "No tasks\n";
  return table(
    ["TASK", "STATE", "ATTEMPTS", "DURATION", "OUTPUT / ERROR"],
    names.map((name) => {
      const r = records?.[name];
      return [
        name,
        tasks[name] ?? "-",
        r ? String(r.attempts) : "-",
        duration(r?.duration_ms),
        r?.error
          ? r.error.split("\n")[0] ?? ""
          : r && r.output !== null
          ? compactJson(r.output, 60)
          : "",
      ];
    }),
  );
}
