/**
 * `deno task pyoco -- <command> …` (compiled: `pyoco`): the pyoco command line. Thin: the
 * sub-commands live in `src/cli/` ({@linkcode pyocoMain}).
 *
 * ```sh
 * deno task pyoco -- run examples/flow.yaml --tasks ./examples/tasks.ts --param x=1
 * deno task pyoco -- submit hello --param x=2 --wait
 * ```
 *
 * Exit codes: 0 success (a waited-for run COMPLETED), 1 the run FAILED or was CANCELLED (or an
 * unexpected error), 2 usage (bad flags, or a flow that cannot be loaded: the message says what
 * to fix), 124 a `--timeout` ran out (the run goes on), 130 interrupted (SIGINT).
 *
 * @module
 */

import { cliArgs } from "./_args.ts";
import { pyocoMain } from "../src/cli/main.ts";

if (import.meta.main) Deno.exit(await pyocoMain(cliArgs()));
