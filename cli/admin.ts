/**
 * `deno task admin -- …` (compiled: `pyoco-admin`): API keys and dead letters.
 * Thin: the commands live in `src/admin/commands.ts`.
 *
 * @module
 */

import { cliArgs } from "./_args.ts";
import { runAdmin } from "../src/admin/commands.ts";

if (import.meta.main) Deno.exit(await runAdmin(cliArgs()));
