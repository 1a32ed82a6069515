/**
 * Reading the `.env` file (`PYOCO_ENV_FILE`, default `.env`). Private to `src/config/`.
 *
 * @module
 */

import { parseEnv } from "node:util";
import { ConfigError } from "./errors.ts";

/**
 * The variables of the env file: a missing default `.env` is no error, a missing explicit
 * `PYOCO_ENV_FILE` is.
 *
 * @param explicit The value of `PYOCO_ENV_FILE`, if set.
 * @returns Variable names to raw values.
 * @throws {ConfigError} When the explicit file cannot be read.
 */
export function _readEnvFile(explicit: string | undefined): Record<string, string> {
  const path = explicit ?? ".env";
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (err) {
    if (
      explicit === undefined &&
      (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotCapable ||
        err instanceof Deno.errors.PermissionDenied)
    ) {
      return {};
    }
    throw new ConfigError(
      "PYOCO_ENV_FILE",
      `Cannot read PYOCO_ENV_FILE=${JSON.stringify(path)}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  return { ...parseEnv(text) } as Record<string, string>;
}
