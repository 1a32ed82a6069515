/**
 * `deno task compile`: build the standalone programs with `deno compile`, each with the same
 * permission flags as its `deno task` (from `src/host/permissions.ts`):
 *
 * | binary              | entry            | flags                                      |
 * |---------------------|------------------|--------------------------------------------|
 * | `bin/pyoco-gateway` | `cli/gateway.ts` | `GATEWAY_PERMISSIONS`                      |
 * | `bin/pyoco-worker`  | `cli/worker.ts`  | `WORKER_PERMISSIONS`, `--include examples/` |
 * | `bin/pyoco-admin`   | `cli/admin.ts`   | `ADMIN_PERMISSIONS`                        |
 * | `bin/pyoco`         | `cli/pyoco.ts`   | `PYOCO_PERMISSIONS`                        |
 *
 * ```sh
 * deno task compile                          # all four into bin/
 * deno task compile worker gateway           # some of them
 * deno task compile --out-dir dist --target aarch64-unknown-linux-gnu
 * ```
 *
 * `deno compile` needs the `denort` runtime, which it downloads once into `$DENO_DIR`. Where
 * that download cannot happen (no network), point the `DENORT_BIN` environment variable at a
 * `denort` binary of the same Deno version; Deno reads it itself, this script only checks that
 * the file exists and passes the environment through.
 *
 * Exit codes: 0 built, 1 `deno compile` failed (or the runtime could not be downloaded), 2 bad
 * arguments or a `DENORT_BIN` that does not exist.
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  ADMIN_PERMISSIONS,
  GATEWAY_PERMISSIONS,
  PYOCO_PERMISSIONS,
  WORKER_PERMISSIONS,
} from "../src/host/permissions.ts";

/** One program `deno task compile` builds. */
export interface CompileTarget {
  /** Name on the command line: `gateway`, `worker`, `admin`, `pyoco`. */
  readonly name: string;
  /** File name of the binary (without `.exe`). */
  readonly binary: string;
  /** Entry module, relative to the repository root. */
  readonly entry: string;
  /** Permission flags baked into the binary. */
  readonly permissions: readonly string[];
  /** Extra files or folders embedded with `--include` (dynamically imported modules). */
  readonly include: readonly string[];
}

/** Every program, in build order. */
export const COMPILE_TARGETS: readonly CompileTarget[] = [
  {
    name: "gateway",
    binary: "pyoco-gateway",
    entry: "cli/gateway.ts",
    permissions: GATEWAY_PERMISSIONS,
    include: [],
  },
  {
    name: "worker",
    binary: "pyoco-worker",
    entry: "cli/worker.ts",
    permissions: WORKER_PERMISSIONS,
    // `--flows` modules are dynamic imports: embed the examples so `--flows ./examples/…` works.
    include: ["examples/"],
  },
  {
    name: "admin",
    binary: "pyoco-admin",
    entry: "cli/admin.ts",
    permissions: ADMIN_PERMISSIONS,
    include: [],
  },
  {
    name: "pyoco",
    binary: "pyoco",
    entry: "cli/pyoco.ts",
    permissions: PYOCO_PERMISSIONS,
    include: [],
  },
];

/** Options of {@linkcode compileArgs}. */
export interface CompileArgsOptions {
  /** Folder the binary is written to. @default {"bin"} */
  outDir?: string;
  /** `--target` triple (cross-compilation). @default {the host} */
  target?: string;
}

/**
 * The `deno` arguments that build one target.
 *
 * @example
 * ```ts
 * import { COMPILE_TARGETS, compileArgs } from "./compile.ts";
 * import assert from "node:assert/strict";
 *
 * const args = compileArgs(COMPILE_TARGETS[1]!, { outDir: "bin" });
 * assert.deepEqual(args.slice(0, 1), ["compile"]);
 * assert.ok(args.includes("--include"));
 * assert.equal(args.at(-1), "cli/worker.ts");
 * ```
 *
 * @param target The program.
 * @param options Output folder and target triple.
 * @returns `["compile", …flags, "--output", path, entry]`.
 */
export function compileArgs(target: CompileTarget, options: CompileArgsOptions = {}): string[] {
  const outDir = (options.outDir ?? "bin").replace(/\/+$/, "");
  const args = ["compile", ...target.permissions];
  for (const inc of target.include) args.push("--include", inc);
  if (options.target !== undefined) args.push("--target", options.target);
  args.push("--output", `${outDir}/${target.binary}`, target.entry);
  return args;
}

/**
 * Whether `deno compile`'s error output says it could not fetch the `denort` runtime.
 *
 * @param stderr What `deno compile` wrote to stderr.
 * @returns `true` for a failed runtime download.
 */
export function isRuntimeDownloadFailure(stderr: string): boolean {
  return /denort/i.test(stderr) &&
    /(error sending request|dns error|connect|timed out|base binary|download)/i.test(stderr);
}

const _USAGE = `Usage: deno task compile [NAME…] [--out-dir DIR] [--target TRIPLE]

Builds standalone binaries with deno compile, with the permission flags of their deno tasks.
NAME is one of: ${COMPILE_TARGETS.map((t) => t.name).join(", ")} (default: all).

Options:
  --out-dir DIR     Where to write the binaries (default: bin)
  --target TRIPLE   Cross-compile, e.g. aarch64-unknown-linux-gnu
  -h, --help        Show this help

deno compile downloads the denort runtime once. Without network, set DENORT_BIN to a denort
binary of the same Deno version (${Deno.version.deno}).`;

const _ROOT = new URL("../", import.meta.url);

function _runtimeHelp(): string {
  return [
    `Cannot build: deno compile could not download the denort runtime (Deno ${Deno.version.deno}).`,
    "Set DENORT_BIN to a denort binary of the same version and run again, e.g.",
    `  DENORT_BIN=/path/to/denort deno task compile`,
    `(denort-<target>.zip of Deno ${Deno.version.deno} from the Deno release downloads, unzipped).`,
  ].join("\n");
}

/**
 * Build the requested binaries.
 *
 * @param argv Command-line arguments.
 * @returns The exit code.
 */
export async function main(argv: string[]): Promise<number> {
  let values: { "out-dir"?: string; target?: string; help?: boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv[0] === "--" ? argv.slice(1) : argv,
      options: {
        "out-dir": { type: "string" },
        target: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: true,
    }));
  } catch (err) {
    console.error(`compile: ${(err as Error).message}\n\n${_USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(_USAGE);
    return 0;
  }
  const unknown = positionals.filter((n) => !COMPILE_TARGETS.some((t) => t.name === n));
  if (unknown.length > 0) {
    console.error(`compile: Unknown program ${JSON.stringify(unknown[0])}\n\n${_USAGE}`);
    return 2;
  }
  const targets = positionals.length === 0
    ? COMPILE_TARGETS
    : COMPILE_TARGETS.filter((t) => positionals.includes(t.name));

  const denort = Deno.env.get("DENORT_BIN");
  if (denort !== undefined && denort !== "") {
    try {
      const info = await Deno.stat(denort);
      if (!info.isFile) throw new Error("not a file");
    } catch (err) {
      console.error(
        `compile: Cannot use DENORT_BIN=${denort}: ${
          (err as Error).message
        } (it must name a denort binary of Deno ${Deno.version.deno})`,
      );
      return 2;
    }
    console.log(`compile: using the denort runtime at ${denort} (DENORT_BIN)`);
  }

  const outDir = values["out-dir"] ?? "bin";
  for (const target of targets) {
    const args = compileArgs(target, { outDir, target: values.target });
    console.log(`compile: deno ${args.join(" ")}`);
    // The environment (DENORT_BIN included) is inherited; Deno reads DENORT_BIN itself.
    const out = await new Deno.Command(Deno.execPath(), {
      args,
      cwd: _ROOT,
      stdin: "null",
      stdout: "inherit",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    if (out.code !== 0) {
      if ((denort === undefined || denort === "") && isRuntimeDownloadFailure(stderr)) {
        console.error(stderr.trimEnd());
        console.error(`\ncompile: ${_runtimeHelp()}`);
      } else {
        console.error(stderr.trimEnd());
        console.error(`\ncompile: deno compile failed for ${target.binary} (exit ${out.code})`);
      }
      return 1;
    }
    await Deno.stderr.write(out.stderr);
    console.log(`compile: built ${outDir}/${target.binary}`);
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
