/**
 * Run a program to completion and capture its output, for the packaging tests.
 *
 * @module
 */

/** What {@linkcode runProcess} returns. */
export interface ProcessResult {
  /** Exit code. */
  code: number;
  /** Standard output, decoded. */
  stdout: string;
  /** Standard error, decoded. */
  stderr: string;
}

/** The repository root. */
export const REPO_ROOT: URL = new URL("../../", import.meta.url);

/**
 * Run `cmd args…` in the repository root (colours off) and wait for it.
 *
 * @param cmd The program.
 * @param args Its arguments.
 * @param env More environment variables.
 * @returns Exit code and output.
 */
export async function runProcess(
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<ProcessResult> {
  const out = await new Deno.Command(cmd, {
    args,
    cwd: REPO_ROOT,
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}
