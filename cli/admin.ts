/**
 * `deno task admin -- …` (compiled: `pyoco-admin`): API keys and dead letters.
 * Thin: the commands live in `src/cli/admin.ts`.
 *
 * @module
 */

import { cliArgs } from "./_args.ts";
import { runAdmin } from "../src/cli/admin.ts";

if (import.meta.main) Deno.exit(await runAdmin(cliArgs()));
