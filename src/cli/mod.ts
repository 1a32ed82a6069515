/**
 * The HTTP sub-commands of the `pyoco` CLI (they talk to a gateway with {@linkcode PyocoClient}).
 * `cli/pyoco.ts` adds them to its sub-command map.
 *
 * @example
 * ```ts ignore
 * import { httpCommands } from "./mod.ts";
 * const code = await httpCommands.list!.run(["--limit", "5"]);
 * Deno.exit(code);
 * ```
 *
 * @module
 */

import type { CliCommand } from "./_common.ts";
import {
  cancelCommand,
  getCommand,
  listCommand,
  submitCommand,
  submitYamlCommand,
  tasksCommand,
  waitCommand,
} from "./runs.ts";
import { workersCommand } from "./workers.ts";
import { logsCommand, watchCommand } from "./live.ts";

/** Every HTTP sub-command by name. */
export const httpCommands: Record<string, CliCommand> = {
  submit: submitCommand,
  "submit-yaml": submitYamlCommand,
  get: getCommand,
  tasks: tasksCommand,
  list: listCommand,
  wait: waitCommand,
  watch: watchCommand,
  logs: logsCommand,
  cancel: cancelCommand,
  workers: workersCommand,
};

export {
  cancelCommand,
  getCommand,
  listCommand,
  logsCommand,
  submitCommand,
  submitYamlCommand,
  tasksCommand,
  waitCommand,
  watchCommand,
  workersCommand,
};
export {
  DEFAULT_SERVER,
  denoIo,
  describeError,
  ExitCode,
  InterruptedError,
  parseParams,
  UsageError,
} from "./_common.ts";
export type { CliCommand, CliIo } from "./_common.ts";
