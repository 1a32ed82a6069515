/**
 * The `pyoco` program: every sub-command in one map ({@linkcode commands}) and the dispatch from
 * the command line to one of them ({@linkcode pyocoMain}). `cli/pyoco.ts` only calls it.
 *
 * @module
 */

import { type CliCommand, type CliIo, denoIo, ExitCode } from "./_common.ts";
import { flowsCommand } from "./flows.ts";
import { logsCommand, watchCommand } from "./live.ts";
import { deleteCommand, retryCommand } from "./manage.ts";
import { runCommand } from "./run.ts";
import { scheduleCommand } from "./schedules.ts";
import {
  cancelCommand,
  getCommand,
  listCommand,
  submitCommand,
  submitYamlCommand,
  tasksCommand,
  waitCommand,
} from "./runs.ts";
import { suggestOption } from "./usage.ts";
import { workersCommand } from "./workers.ts";

/** Every `pyoco` sub-command by name, in the order `pyoco --help` lists them. */
export const commands: Readonly<Record<string, CliCommand>> = {
  run: runCommand,
  submit: submitCommand,
  "submit-yaml": submitYamlCommand,
  get: getCommand,
  tasks: tasksCommand,
  list: listCommand,
  wait: waitCommand,
  watch: watchCommand,
  logs: logsCommand,
  cancel: cancelCommand,
  retry: retryCommand,
  delete: deleteCommand,
  workers: workersCommand,
  flows: flowsCommand,
  schedule: scheduleCommand,
};

const _EXIT_CODES =
  `Exit codes: 0 success (a waited-for run COMPLETED), 1 the run FAILED or was CANCELLED
(or an error), 2 usage, 124 a --timeout ran out (the run goes on), 130 interrupted (Ctrl-C).`;

function _mainHelp(): string {
  const width = Math.max(...Object.keys(commands).map((n) => n.length));
  const lines = Object.entries(commands).map(([name, c]) =>
    `  ${name.padEnd(width)}  ${c.summary}`
  );
  return `Usage: pyoco <command> [options]\n\nCommands:\n${lines.join("\n")}\n\n` +
    `Run 'pyoco <command> --help' for a command's options.\n\n${_EXIT_CODES}\n`;
}

/**
 * Run the `pyoco` CLI with the given arguments.
 *
 * @example
 * ```ts ignore
 * import { pyocoMain } from "./main.ts";
 * Deno.exit(await pyocoMain(["list", "--limit", "5"]));
 * ```
 *
 * @param argv The arguments after the program name.
 * @param io Output streams and environment. @default {the process's}
 * @returns The exit code (see {@linkcode ExitCode}).
 */
export async function pyocoMain(argv: readonly string[], io: CliIo = denoIo()): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "-h" || name === "--help" || name === "help") {
    (name === undefined ? io.err : io.out)(_mainHelp());
    return name === undefined ? ExitCode.usage : ExitCode.ok;
  }
  const command = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (command === undefined) {
    const near = suggestOption(name, Object.keys(commands));
    const hint = near === undefined ? "" : `. Did you mean "${near}"?`;
    io.err(`pyoco: unknown command "${name}"${hint}\n\n${_mainHelp()}`);
    return ExitCode.usage;
  }
  return await command.run(rest, io);
}
