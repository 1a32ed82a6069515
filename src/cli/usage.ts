/**
 * Reading a command line, and saying clearly when it is wrong: the one {@linkcode UsageError}
 * of every pyoco program (`pyoco`, `pyoco-admin`, `pyoco-worker`) and {@linkcode parseFlags},
 * which wraps `node:util` `parseArgs` so a mistyped option reads
 * `Unknown option "--tgs". Did you mean "--tags"?` instead of parseArgs' own wording.
 *
 * No dependency besides `node:util`, so the worker's main can use it without the HTTP client.
 *
 * @module
 */

import { parseArgs, type ParseArgsConfig } from "node:util";

/** The command line is wrong; the program exits 2 and shows its usage. */
export class UsageError extends Error {
  /**
   * Build the error for a wrong command line.
   *
   * @param message What is wrong with the command line, in the user's terms.
   * @param options Standard error options (`cause`).
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "UsageError";
  }
}

/** The flags a command accepts, in `node:util` `parseArgs` form. */
export type FlagOptions = NonNullable<ParseArgsConfig["options"]>;

/**
 * What {@linkcode parseFlags} returns: `values` (flag values by long name, typed from the
 * options) and `positionals` (the arguments that are not flags, in order).
 */
export type ParsedFlags<T extends FlagOptions> = ReturnType<
  typeof parseArgs<{ args: string[]; options: T; allowPositionals: true; strict: true }>
>;

/**
 * Parse a command line strictly. Every problem becomes a {@linkcode UsageError} whose message
 * names the option in double quotes and, for an unknown one, suggests the closest known option.
 *
 * @example A typo gets a suggestion
 * ```ts
 * import { parseFlags, UsageError } from "./usage.ts";
 * import assert from "node:assert/strict";
 * const options = { tags: { type: "string" }, wait: { type: "boolean" } } as const;
 * assert.deepEqual(parseFlags(["a", "--tags", "x"], options).positionals, ["a"]);
 * assert.throws(
 *   () => parseFlags(["--tgs", "x"], options),
 *   new UsageError('Unknown option "--tgs". Did you mean "--tags"?'),
 * );
 * ```
 *
 * @param args The arguments after the command name.
 * @param options The flags the command accepts.
 * @returns The flag values and the positionals.
 * @throws {UsageError} For an unknown option, a missing value, or a value given to a switch.
 */
export function parseFlags<const T extends FlagOptions>(
  args: readonly string[],
  options: T,
): ParsedFlags<T> {
  _precheck(args, options);
  try {
    return parseArgs({ args: [...args], options, allowPositionals: true, strict: true });
  } catch (err) {
    // _precheck covers the cases parseArgs reports; this is the fallback for any other wording.
    const message = err instanceof Error ? err.message : String(err);
    throw new UsageError(message.replaceAll("'", '"').split(". To specify")[0]!, { cause: err });
  }
}

/**
 * The known option closest to a mistyped one, if one is close enough to be a typo.
 *
 * @example
 * ```ts
 * import { suggestOption } from "./usage.ts";
 * import assert from "node:assert/strict";
 * assert.equal(suggestOption("--tgs", ["--tag", "--tags", "--wait"]), "--tags");
 * assert.equal(suggestOption("--zzzzzz", ["--tags"]), undefined);
 * ```
 *
 * @param given The option as typed (`--tgs`).
 * @param known The options the command accepts (`--tags`, …).
 * @returns The closest one, or `undefined` when none is within a typo's distance.
 */
export function suggestOption(given: string, known: readonly string[]): string | undefined {
  const bare = given.replace(/^-+/, "");
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const option of known) {
    const name = option.replace(/^-+/, "");
    const distance = name.startsWith(bare) && bare.length >= 2 ? 0.5 : _distance(bare, name);
    if (distance < bestDistance) {
      best = option;
      bestDistance = distance;
    }
  }
  const allowed = Math.max(1, Math.floor(bare.length / 3));
  return bestDistance <= allowed ? best : undefined;
}

/** Check every `-x` / `--name` against the options before parseArgs sees them. */
function _precheck(args: readonly string[], options: FlagOptions): void {
  const shorts = new Map<string, string>();
  for (const [name, spec] of Object.entries(options)) if (spec.short) shorts.set(spec.short, name);
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") return;
    if (!arg.startsWith("-") || arg === "-") continue;
    const eq = arg.indexOf("=");
    const flag = arg.startsWith("--") ? (eq < 0 ? arg : arg.slice(0, eq)) : arg;
    const name = flag.startsWith("--") ? flag.slice(2) : shorts.get(flag.slice(1));
    const spec = name !== undefined && Object.hasOwn(options, name) ? options[name] : undefined;
    if (spec === undefined) throw new UsageError(_unknown(flag, options));
    const inline = flag.startsWith("--") && eq >= 0;
    if (spec.type === "boolean") {
      if (inline) throw new UsageError(`Option "${flag}" is a switch and takes no value`);
      continue;
    }
    if (inline) continue;
    const value = args[i + 1];
    if (value === undefined || value === "--") {
      throw new UsageError(`Option "${flag}" needs a value`);
    }
    if (value.length > 1 && value.startsWith("-")) {
      throw new UsageError(
        `Option "${flag}" needs a value; to give one that starts with "-", write "${flag}=${value}"`,
      );
    }
    i++;
  }
}

function _unknown(flag: string, options: FlagOptions): string {
  const known = Object.keys(options).map((n) => `--${n}`);
  const near = suggestOption(flag, known);
  return near === undefined
    ? `Unknown option "${flag}"`
    : `Unknown option "${flag}". Did you mean "${near}"?`;
}

/** Edit distance where swapping two neighbours counts 1, like one typo (both names are short). */
function _distance(a: string, b: string): number {
  const rows: number[][] = [Array.from({ length: b.length + 1 }, (_, j) => j)];
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(rows[i - 1]![j]! + 1, row[j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d = Math.min(d, rows[i - 2]![j - 2]! + 1);
      }
      row.push(d);
    }
    rows.push(row);
  }
  return rows[a.length]![b.length]!;
}
