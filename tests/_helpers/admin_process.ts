/**
 * Run the admin CLI (`cli/admin.ts`) as a real process with its own permission flags and wait for
 * it to exit.
 *
 * @module
 */

import { ADMIN_PERMISSIONS } from "../../src/host/permissions.ts";

/** What an admin CLI run printed and how it exited. */
export interface AdminRun {
  /** Exit code. */
  code: number;
  /** Standard output. */
  stdout: string;
  /** Standard error. */
  stderr: string;
}

const _ROOT = new URL("../../", import.meta.url);

/**
 * Run `pyoco-admin` with `args`, no `.env` file, no colours, and `env` on top of this process's
 * environment.
 *
 * @param args The command line after the program name.
 * @param env Environment variables (e.g. `PYOCO_NATS_URL`).
 * @returns Exit code and output.
 */
export async function runAdmin(args: string[], env: Record<string, string>): Promise<AdminRun> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...ADMIN_PERMISSIONS, "cli/admin.ts", ...args],
    cwd: _ROOT,
    env: { NO_COLOR: "1", PYOCO_ENV_FILE: "/dev/null", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}
