/**
 * `deno task pyoco -- <command> …`: the pyoco command line. Thin: each sub-command parses its
 * flags and calls `src/`. Sub-commands live in one map, {@linkcode commands}.
 *
 * ```sh
 * deno task pyoco -- run examples/flow.yaml --tasks ./examples/tasks.ts --param x=1
 * deno task pyoco -- run ./examples/flows.ts --flow hello --param x=2
 * ```
 *
 * Exit codes: 0 run COMPLETED, 1 run FAILED or CANCELLED (or an unexpected error), 2 usage
 * (bad flags, or a flow that cannot be loaded: the message says what to fix), 130 interrupted
 * (SIGINT).
 *
 * @module
 */

import { cliArgs } from "./_args.ts";
import { parseArgs } from "node:util";
import { FlowDefinitionError, TaskNotFoundError, WorkflowYamlError } from "../src/flow/errors.ts";
import type { FlowEvent } from "../src/flow/types.ts";
import {
  createEventFormatter,
  FlowNotFoundError,
  isYamlPath,
  runLocal,
  WorkflowFileError,
} from "../src/host/run_local.ts";
import { ModuleLoadError, RegistryConflictError } from "../src/host/registry.ts";
import { httpCommands } from "../src/cli/mod.ts";

/** A sub-command: a one-line summary, its synopsis, and how to run it. */
export interface Command {
  /** One line for `pyoco --help`. */
  summary: string;
  /** `pyoco NAME …` synopsis. */
  usage: string;
  /** Run with the arguments after the sub-command name; resolves with the exit code. */
  run(args: string[]): Promise<number>;
}

class _UsageError extends Error {}

const _enc = new TextEncoder();

function _write(stream: { writeSync(p: Uint8Array): number }, text: string): void {
  let bytes = _enc.encode(text);
  while (bytes.length > 0) bytes = bytes.subarray(stream.writeSync(bytes));
}

const _out = (text: string) => _write(Deno.stdout, text);
const _err = (text: string) => _write(Deno.stderr, text);

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
                       defaults, also for a flow.yaml (locally only; a submitted flow.yaml
                       always runs with its defaults)
  --params-file PATH   A JSON object of params (--param wins over it)
  --max-concurrency N  Tasks running at once (default: unbounded)
  --json               Progress as JSON Lines (the raw events) and the result on one line
  -h, --help           Show this help

Exit codes: 0 COMPLETED, 1 FAILED or CANCELLED, 2 usage or the flow cannot be loaded,
130 interrupted (Ctrl-C cancels the run; a second Ctrl-C quits at once).
`;

async function _run(args: string[]): Promise<number> {
  let values;
  let positionals: string[];
  try {
    const parsed = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        tasks: { type: "string", multiple: true, default: [] },
        flow: { type: "string" },
        param: { type: "string", multiple: true, default: [] },
        "params-file": { type: "string" },
        "max-concurrency": { type: "string" },
        json: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
    values = parsed.values;
    positionals = parsed.positionals;
    if (values.help) {
      _out(RUN_HELP);
      return 0;
    }
    if (positionals.length === 0) {
      throw new _UsageError("Missing the flow to run: give a flow.yaml or a module path");
    }
    if (positionals.length > 1) {
      throw new _UsageError(`Unexpected argument "${positionals[1]}"`);
    }
  } catch (err) {
    return _usage(err);
  }
  const target = positionals[0]!;
  const json = values.json;

  let params: Record<string, unknown>;
  let maxConcurrency: number | undefined;
  let maxYamlBytes: number | undefined;
  try {
    params = {
      ...(values["params-file"] ? await _readParamsFile(values["params-file"]) : {}),
    };
    for (const [key, value] of Object.entries(_parseParams(values.param))) {
      Object.defineProperty(params, key, {
        value,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    maxConcurrency = _positiveInt(values["max-concurrency"], "--max-concurrency");
    maxYamlBytes = isYamlPath(target)
      ? _positiveInt(_env("PYOCO_WORKFLOW_YAML_MAX_BYTES"), "PYOCO_WORKFLOW_YAML_MAX_BYTES")
      : undefined;
  } catch (err) {
    return _usage(err);
  }

  const controller = new AbortController();
  let interrupted = false;
  const onSigint = () => {
    if (interrupted) Deno.exit(130);
    interrupted = true;
    _err("Interrupted: cancelling the run (Ctrl-C again to quit at once)\n");
    controller.abort(new DOMException("Interrupted (SIGINT)", "AbortError"));
  };
  Deno.addSignalListener("SIGINT", onSigint);

  const format = createEventFormatter();
  const onEvent = (event: FlowEvent) => {
    _err(json ? `${JSON.stringify(event)}\n` : `${format(event)}\n`);
  };

  try {
    const result = await runLocal({
      target,
      flow: values.flow,
      taskModules: values.tasks,
      params,
      signal: controller.signal,
      onEvent,
      maxConcurrency,
      maxYamlBytes,
    });
    _out(json ? `${JSON.stringify(result)}\n` : `${JSON.stringify(result, null, 2)}\n`);
    if (interrupted) return 130;
    return result.status === "COMPLETED" ? 0 : 1;
  } catch (err) {
    if (_isLoadError(err)) {
      _err(`pyoco run: ${(err as Error).message}\n${_hint(err)}`);
      return interrupted ? 130 : 2;
    }
    _err(`pyoco run: unexpected error: ${err instanceof Error ? err.stack : String(err)}\n`);
    return interrupted ? 130 : 1;
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

function _usage(err: unknown): number {
  const message = err instanceof Error ? err.message : String(err);
  _err(`pyoco run: ${message}\nUsage: ${RUN_USAGE}\nRun 'pyoco run --help' for details\n`);
  return 2;
}

function _parseParams(pairs: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new _UsageError(`--param expects KEY=VALUE, got "${pair}"`);
    const raw = pair.slice(eq + 1);
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      value = raw;
    }
    Object.defineProperty(out, pair.slice(0, eq), {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

async function _readParamsFile(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    throw new _UsageError(`Cannot read --params-file "${path}": ${(err as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new _UsageError(`Cannot parse --params-file "${path}": ${(err as Error).message}`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new _UsageError(`Invalid --params-file "${path}": expected a JSON object`);
  }
  return value as Record<string, unknown>;
}

function _positiveInt(raw: string | undefined, name: string): number | undefined {
  if (raw === undefined || raw === "") return undefined;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n <= 0) {
    throw new _UsageError(`Invalid ${name} "${raw}": expected a positive integer`);
  }
  return n;
}

function _env(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

/** The sub-commands, by name. */
export const commands: Record<string, Command> = {
  run: { summary: "Run a flow locally and print its result", usage: RUN_USAGE, run: _run },
  ...httpCommands,
};

function _mainHelp(): string {
  const width = Math.max(...Object.keys(commands).map((n) => n.length));
  const lines = Object.entries(commands).map(([name, c]) =>
    `  ${name.padEnd(width)}  ${c.summary}`
  );
  return `Usage: pyoco <command> [options]\n\nCommands:\n${lines.join("\n")}\n\n` +
    "Run 'pyoco <command> --help' for a command's options.\n";
}

/**
 * Run the CLI with the given arguments.
 *
 * @param argv The arguments after the program name.
 * @returns The exit code.
 */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "-h" || name === "--help" || name === "help") {
    (name === undefined ? _err : _out)(_mainHelp());
    return name === undefined ? 2 : 0;
  }
  const command = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (command === undefined) {
    _err(`pyoco: unknown command "${name}"\n\n${_mainHelp()}`);
    return 2;
  }
  return await command.run(rest);
}

if (import.meta.main) Deno.exit(await main(cliArgs()));
