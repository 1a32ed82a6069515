/**
 * `pyoco run`: run one flow in this process (no NATS, no gateway) with the local runner
 * ({@linkcode runLocal}), progress on stderr as it happens, the result as JSON on stdout.
 *
 * @module
 */

import {
  FlowDefinitionError,
  type FlowEvent,
  TaskNotFoundError,
  WorkflowYamlError,
} from "../flow/mod.ts";
import { FlowNotFoundError, isYamlPath, runLocal, WorkflowFileError } from "../host/run_local.ts";
import { ModuleLoadError, RegistryConflictError } from "../host/registry.ts";
import { type CliCommand, type CliIo, denoIo, ExitCode } from "./_common.ts";
import { createEventFormatter } from "./format.ts";
import { readParams } from "./params.ts";
import { type FlagOptions, parseFlags, UsageError } from "./usage.ts";

const RUN_USAGE = "pyoco run <flow.yaml | module.ts> [options]";
const RUN_HELP = `Usage: ${RUN_USAGE}

Run one flow in this process (no NATS, no gateway) and print its result as JSON on stdout.
Progress (one line per task event) goes to stderr as it happens.

  pyoco run examples/flow.yaml --tasks ./examples/tasks.ts
  pyoco run ./examples/flows.ts --flow hello --param x=2

Options:
  --tasks PATH         Module whose exported tasks a flow.yaml may use (repeatable)
  --flow NAME          The flow to run from a module (optional if it exports one flow);
                       for a flow.yaml, the name the run gets (default: the file's stem)
  --param KEY=VALUE    A param (repeatable); VALUE is parsed as JSON when it parses
                       (2, true, {"a":1}), else taken as a string. Overlaid on the flow's
                       defaults, also for a flow.yaml
  --params-file PATH   Params from a JSON or YAML file (a mapping); --param wins over it
  --max-concurrency N  Tasks running at once (default: unbounded)
  --json               Progress as JSON Lines (the raw events) and the result on one line
  -h, --help           Show this help

Exit codes: 0 COMPLETED, 1 FAILED or CANCELLED, 2 usage or the flow cannot be loaded,
130 interrupted (Ctrl-C cancels the run; a second Ctrl-C quits at once).
`;

const _OPTIONS: FlagOptions = {
  tasks: { type: "string", multiple: true },
  flow: { type: "string" },
  param: { type: "string", multiple: true },
  "params-file": { type: "string" },
  "max-concurrency": { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
};

/** What the command line of `pyoco run` asks for. */
interface _RunRequest {
  target: string;
  flow: string | undefined;
  taskModules: string[];
  params: Record<string, unknown>;
  maxConcurrency: number | undefined;
  maxYamlBytes: number | undefined;
  json: boolean;
}

/** `pyoco run TARGET …`: run a flow locally and print its result. */
export const runCommand: CliCommand = {
  summary: "Run a flow locally and print its result",
  usage: RUN_USAGE,
  async run(args, io = denoIo()) {
    let request: _RunRequest | null;
    try {
      request = await _parse(args, io);
    } catch (err) {
      if (!(err instanceof UsageError)) throw err;
      io.err(
        `pyoco run: ${err.message}\nUsage: ${RUN_USAGE}\nRun 'pyoco run --help' for details\n`,
      );
      return ExitCode.usage;
    }
    if (request === null) {
      io.out(RUN_HELP);
      return ExitCode.ok;
    }
    return await _runWithInterrupt(request, io);
  },
};

/** Parse the command line; `null` when it asked for help. */
async function _parse(args: string[], io: CliIo): Promise<_RunRequest | null> {
  const { values, positionals } = parseFlags(args, _OPTIONS);
  if (values.help) return null;
  if (positionals.length === 0) {
    throw new UsageError("Missing the flow to run: give a flow.yaml or a module path");
  }
  if (positionals.length > 1) throw new UsageError(`Unexpected argument "${positionals[1]}"`);
  const target = positionals[0]!;
  return {
    target,
    flow: values.flow as string | undefined,
    taskModules: (values.tasks as string[] | undefined) ?? [],
    params: await readParams({
      pairs: (values.param as string[] | undefined) ?? [],
      file: values["params-file"] as string | undefined,
    }),
    maxConcurrency: _positiveInt(values["max-concurrency"] as string | undefined, {
      name: "--max-concurrency",
    }),
    maxYamlBytes: isYamlPath(target)
      ? _positiveInt(io.env("PYOCO_WORKFLOW_YAML_MAX_BYTES"), {
        name: "PYOCO_WORKFLOW_YAML_MAX_BYTES",
      })
      : undefined,
    json: values.json === true,
  };
}

/** Run it; the first Ctrl-C cancels the run, a second quits at once. */
async function _runWithInterrupt(request: _RunRequest, io: CliIo): Promise<number> {
  const controller = new AbortController();
  let interrupted = false;
  const onSigint = () => {
    if (interrupted) Deno.exit(ExitCode.interrupted);
    interrupted = true;
    io.err("Interrupted: cancelling the run (Ctrl-C again to quit at once)\n");
    controller.abort(new DOMException("Interrupted (SIGINT)", "AbortError"));
  };
  Deno.addSignalListener("SIGINT", onSigint);
  const format = createEventFormatter();
  const onEvent = (event: FlowEvent) => {
    io.err(request.json ? `${JSON.stringify(event)}\n` : `${format(event)}\n`);
  };
  try {
    const result = await runLocal({
      target: request.target,
      flow: request.flow,
      taskModules: request.taskModules,
      params: request.params,
      signal: controller.signal,
      onEvent,
      onEnvDenied: (name) =>
        io.err(
          `Warning: the flow exposes environment variable ${name} but this process may not read it; grant it with --allow-env\n`,
        ),
      maxConcurrency: request.maxConcurrency,
      maxYamlBytes: request.maxYamlBytes,
    });
    io.out(request.json ? `${JSON.stringify(result)}\n` : `${JSON.stringify(result, null, 2)}\n`);
    if (interrupted) return ExitCode.interrupted;
    return result.status === "COMPLETED" ? ExitCode.ok : ExitCode.failed;
  } catch (err) {
    if (_isLoadError(err)) {
      io.err(`pyoco run: ${(err as Error).message}\n${_hint(err)}`);
      return interrupted ? ExitCode.interrupted : ExitCode.usage;
    }
    io.err(`pyoco run: unexpected error: ${err instanceof Error ? err.stack : String(err)}\n`);
    return interrupted ? ExitCode.interrupted : ExitCode.failed;
  } finally {
    Deno.removeSignalListener("SIGINT", onSigint);
  }
}

function _isLoadError(err: unknown): boolean {
  return err instanceof WorkflowFileError || err instanceof WorkflowYamlError ||
    err instanceof TaskNotFoundError || err instanceof FlowDefinitionError ||
    err instanceof ModuleLoadError || err instanceof RegistryConflictError ||
    err instanceof FlowNotFoundError;
}

function _hint(err: unknown): string {
  if (err instanceof TaskNotFoundError) {
    return "Hint: pass the module that exports it with --tasks PATH " +
      '(callables are "<module-stem>:<export>", e.g. "tasks:fetchData")\n';
  }
  if (err instanceof WorkflowYamlError && err.path !== null) {
    return `Hint: fix the key "${err.path}" in the workflow file (see docs/flows.md)\n`;
  }
  if (err instanceof FlowNotFoundError && err.flowName !== null) {
    return "Hint: choose one of those with --flow NAME\n";
  }
  return "";
}

function _positiveInt(raw: string | undefined, where: { name: string }): number | undefined {
  if (raw === undefined || raw === "") return undefined;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n <= 0) {
    throw new UsageError(`Invalid ${where.name} "${raw}": expected a positive integer`);
  }
  return n;
}
