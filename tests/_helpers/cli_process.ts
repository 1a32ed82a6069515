/**
 * Run the command-line programs (`cli/admin.ts`, `cli/pyoco.ts`) as real processes with their own
 * permission flags, no `.env` file and no colours, and wait for them to exit.
 *
 * @module
 */

import { ADMIN_PERMISSIONS, PYOCO_PERMISSIONS } from "../../src/host/permissions.ts";

/** What a CLI run printed and how it exited. */
export interface CliRun {
  /** Exit code. */
  code: number;
  /** Standard output. */
  stdout: string;
  /** Standard error. */
  stderr: string;
}

/** Options of {@linkcode runPyoco} and {@linkcode runAdmin}. */
export interface CliRunOptions {
  /** Environment variables on top of this process's (e.g. `PYOCO_SERVER`). */
  env?: Record<string, string>;
  /** Text written to standard input (default: none, stdin closed). */
  stdin?: string;
}

const _ROOT = new URL("../../", import.meta.url);

async function _run(
  entry: { path: string; permissions: readonly string[] },
  args: string[],
  options: CliRunOptions,
): Promise<CliRun> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...entry.permissions, entry.path, ...args],
    cwd: _ROOT,
    env: { NO_COLOR: "1", PYOCO_ENV_FILE: "/dev/null", ...options.env },
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(options.stdin));
    await w.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/**
 * Run `pyoco` (the client CLI) with `args`.
 *
 * @param args The command line after the program name.
 * @param options Environment and standard input.
 * @returns Exit code and output.
 */
export function runPyoco(args: string[], options: CliRunOptions = {}): Promise<CliRun> {
  return _run({ path: "cli/pyoco.ts", permissions: PYOCO_PERMISSIONS }, args, options);
}

/**
 * Run `pyoco-admin` with `args`.
 *
 * @param args The command line after the program name.
 * @param env Environment variables (e.g. `PYOCO_NATS_URL`).
 * @returns Exit code and output.
 */
export function runAdmin(args: string[], env: Record<string, string>): Promise<CliRun> {
  return _run({ path: "cli/admin.ts", permissions: ADMIN_PERMISSIONS }, args, { env });
}
