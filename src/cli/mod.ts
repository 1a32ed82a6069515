/**
 * The `pyoco` sub-commands: `run` (a flow in this process, {@linkcode runCommand}) and the HTTP
 * ones (they talk to a gateway with {@linkcode PyocoClient}), plus the pieces every pyoco
 * program shares: the one {@linkcode UsageError}, flag parsing with suggestions, the params
 * reader and the event formatter. `cli/pyoco.ts` is the thin main over {@linkcode pyocoMain}.
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
import { commands } from "./main.ts";

/** Every HTTP sub-command by name (all of {@linkcode commands} but `run`). */
export const httpCommands: Record<string, CliCommand> = Object.fromEntries(
  Object.entries(commands).filter(([name]) => name !== "run"),
);

export { commands };
export { pyocoMain } from "./main.ts";
export { runCommand } from "./run.ts";
export {
  cancelCommand,
  getCommand,
  listCommand,
  submitCommand,
  submitYamlCommand,
  tasksCommand,
  waitCommand,
} from "./runs.ts";
export { logsCommand, watchCommand } from "./live.ts";
export { workersCommand } from "./workers.ts";
export { flowsCommand } from "./flows.ts";
export { scheduleCommand } from "./schedules.ts";
export { parseBatchLines, submitBatchFile } from "./batch.ts";
export type { BatchLine, BatchLineResult, BatchSubmitOptions } from "./batch.ts";
export { deleteCommand, retryCommand } from "./manage.ts";
export { DEFAULT_SERVER, denoIo, describeError, ExitCode, InterruptedError } from "./_common.ts";
export type { CliCommand, CliIo } from "./_common.ts";
export { parseParams, readParams, readParamsFile } from "./params.ts";
export type { ParamsSources } from "./params.ts";
export { parseFlags, suggestOption, UsageError } from "./usage.ts";
export type { FlagOptions, ParsedFlags } from "./usage.ts";
export { createEventFormatter, eventLine, eventText } from "./format.ts";
export type { AnyRunEvent } from "./format.ts";
export type { FlowEvent } from "../flow/mod.ts";
