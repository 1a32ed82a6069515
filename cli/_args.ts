/**
 * The program's arguments as the user meant them. `deno task NAME -- args` (the form our docs and
 * SPEC use, and the npm habit) passes the `--` through to the program in Deno 2.9; a leading `--`
 * is therefore dropped, so `deno task worker -- --flows x` and `deno task worker --flows x` agree.
 *
 * @module
 */

/**
 * Drop one leading `--`.
 *
 * @param args Raw arguments. @default {Deno.args}
 * @returns The arguments without a leading `--`.
 */
export function cliArgs(args: readonly string[] = Deno.args): string[] {
  return args[0] === "--" ? args.slice(1) : [...args];
}
