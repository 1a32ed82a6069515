/**
 * Shared parts of the `pyoco` HTTP sub-commands: argument parsing, the client from the global
 * options, and turning errors into messages that say what to fix, with the exit code.
 *
 * @module
 */

import type { ParseArgsConfig } from "node:util";
import {
  PyocoClient,
  PyocoHttpError,
  PyocoNetworkError,
  PyocoTimeoutError,
  PyocoUnsupportedError,
} from "../client/mod.ts";
import { ErrId } from "../contract/mod.ts";
import { parseFlags, UsageError } from "./usage.ts";

export { UsageError };

/** Exit codes of the `pyoco` CLI. */
export const ExitCode = {
  ok: 0,
  /** Failed or cancelled run, or an error. */
  failed: 1,
  /** The command line is wrong. */
  usage: 2,
  /**
   * A wait (`--wait --timeout`, `wait`, `watch`, `logs --follow`, `cancel --wait`) ran out of
   * time; the run goes on on the server. 124 like GNU `timeout`, so scripts can tell it apart
   * from a FAILED run.
   */
  timeout: 124,
  /** Interrupted with Ctrl-C (SIGINT). */
  interrupted: 130,
} as const;

/** Default gateway URL when neither `--server` nor `PYOCO_SERVER` is given. */
export const DEFAULT_SERVER = "http://127.0.0.1:8000";

/** Where a command writes; the real terminal by default. */
export interface CliIo {
  /** Write to standard output. */
  out(text: string): void;
  /** Write to standard error. */
  err(text: string): void;
  /** Whether standard error is a terminal (live progress is redrawn in place). */
  errIsTty: boolean;
  /** Read an environment variable (`undefined` when unset or not permitted). */
  env(name: string): string | undefined;
}

const _enc = new TextEncoder();

/** The process's standard streams and environment. */
export function denoIo(): CliIo {
  let tty = false;
  try {
    tty = Deno.stderr.isTerminal();
  } catch {
    tty = false;
  }
  return {
    out: (text) => _writeAll(Deno.stdout, text),
    err: (text) => _writeAll(Deno.stderr, text),
    errIsTty: tty,
    env: (name) => {
      try {
        return Deno.env.get(name);
      } catch {
        return undefined; // no --allow-env: behave as unset
      }
    },
  };
}

function _writeAll(w: { writeSync(p: Uint8Array): number }, text: string): void {
  let bytes = _enc.encode(text);
  while (bytes.length > 0) bytes = bytes.subarray(w.writeSync(bytes));
}

/** The user pressed Ctrl-C while a command waited; exit 130. */
export class InterruptedError extends Error {
  /** The run that was being waited for, if any. */
  readonly runId: string | null;

  /**
   * Build the error for a Ctrl-C during a wait.
   *
   * @param runId The run that was being waited for.
   * @param options Standard error options.
   */
  constructor(runId: string | null, options?: ErrorOptions) {
    super(
      runId
        ? `Interrupted: stopped waiting for run ${runId}; it goes on on the server (cancel it with \`pyoco cancel ${runId}\`)`
        : "Interrupted",
      options,
    );
    this.name = "InterruptedError";
    this.runId = runId;
  }
}

/** A sub-command: its one-line summary, usage and flags, and how to run it. */
export interface CliCommand {
  /** One line for `pyoco --help`. */
  summary: string;
  /** `pyoco NAME …` synopsis. */
  usage: string;
  /** Run with the arguments after the sub-command name; resolves with the exit code. */
  run(args: string[], io?: CliIo): Promise<number>;
}

/** Options every HTTP sub-command accepts. */
export const GLOBAL_OPTIONS = {
  server: { type: "string" },
  "api-key": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const satisfies NonNullable<ParseArgsConfig["options"]>;

const GLOBAL_HELP = `Global options:
  --server URL      Gateway URL (env PYOCO_SERVER, default ${DEFAULT_SERVER})
  --api-key KEY     API key (env PYOCO_API_KEY)
  -h, --help        Show this help`;

/** Parsed flag values: strings, booleans, or string lists for repeatable flags. */
export type FlagValues = Record<string, string | boolean | string[] | undefined>;

/** What {@linkcode runCommand} hands a command body. */
export interface CommandContext {
  /** Parsed flag values. */
  values: FlagValues;
  /** Positional arguments. */
  positionals: string[];
  /** The client for `--server` / `--api-key`. */
  client: PyocoClient;
  /** The gateway URL in use. */
  server: string;
  /** Output streams. */
  io: CliIo;
}

/** How a sub-command's command line looks. */
export interface CommandSpec {
  /** The sub-command name. */
  name: string;
  /** `pyoco NAME …` synopsis. */
  usage: string;
  /** The flags explained, for `--help`. */
  help: string;
  /** Its flags (besides the global ones), in `node:util` `parseArgs` form. */
  options: NonNullable<ParseArgsConfig["options"]>;
  /** Fewest and most positional arguments. */
  positionals: [number, number];
}

/**
 * Parse the arguments of a sub-command, build the client, run `body`, and turn any error into a
 * message on stderr and an exit code.
 *
 * @param spec Name, usage, help text, flags and how many positionals the command takes.
 * @param args The arguments after the sub-command name.
 * @param io Output streams and environment.
 * @param body The command itself; resolves with the exit code.
 * @returns The exit code.
 */
export async function runCommand(
  spec: CommandSpec,
  args: string[],
  io: CliIo,
  body: (ctx: CommandContext) => Promise<number>,
): Promise<number> {
  const usageText = `Usage: ${spec.usage}\n\n${spec.help}\n\n${GLOBAL_HELP}\n`;
  let server = DEFAULT_SERVER;
  try {
    const parsed = parseFlags(args, { ...spec.options, ...GLOBAL_OPTIONS });
    const values = parsed.values as Record<string, unknown>;
    if (values.help) {
      io.out(usageText);
      return ExitCode.ok;
    }
    const [min, max] = spec.positionals;
    if (parsed.positionals.length < min) {
      throw new UsageError(min === 1 ? "Missing argument" : `Expected ${min} arguments`);
    }
    if (parsed.positionals.length > max) {
      throw new UsageError(`Unexpected argument "${parsed.positionals[max]}"`);
    }
    server = (values.server as string | undefined) ?? io.env("PYOCO_SERVER") ?? DEFAULT_SERVER;
    const apiKey = (values["api-key"] as string | undefined) ??
      (io.env("PYOCO_API_KEY") || undefined);
    let client: PyocoClient;
    try {
      client = new PyocoClient({ baseUrl: server, apiKey });
    } catch (err) {
      throw new UsageError(
        `--server must be an http(s) URL such as ${DEFAULT_SERVER}, got ${JSON.stringify(server)}`,
        { cause: err },
      );
    }
    return await body({
      values: parsed.values,
      positionals: parsed.positionals,
      client,
      server,
      io,
    });
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(
        `pyoco ${spec.name}: ${err.message}\nUsage: ${spec.usage}\nRun 'pyoco ${spec.name} --help' for details\n`,
      );
      return ExitCode.usage;
    }
    return reportError(err, server, io);
  }
}

/**
 * Print an error as a message that says what to fix, and return the exit code.
 *
 * @param err The error.
 * @param server The gateway URL in use (for hints).
 * @param io Where to write.
 * @returns {@linkcode ExitCode.interrupted} for Ctrl-C, {@linkcode ExitCode.timeout} for a wait
 *   that ran out of time, else {@linkcode ExitCode.failed}.
 */
export function reportError(err: unknown, server: string, io: CliIo): number {
  if (err instanceof InterruptedError) {
    io.err(`${err.message}\n`);
    return ExitCode.interrupted;
  }
  io.err(`error: ${describeError(err, server)}\n`);
  return err instanceof PyocoTimeoutError ? ExitCode.timeout : ExitCode.failed;
}

/**
 * A message for an error that says what went wrong and what to do about it; a stack trace only
 * for errors nobody expected.
 *
 * @param err The error.
 * @param server The gateway URL in use.
 * @returns One or more lines, without a trailing newline.
 */
export function describeError(err: unknown, server: string): string {
  if (err instanceof PyocoNetworkError) {
    if (err.timedOut) {
      return `The gateway at ${server} did not answer in time (${err.attempts} attempt(s)): is it overloaded or stuck? Check its logs`;
    }
    return `Cannot reach the gateway at ${server}: is it running? Start it with \`deno task dev\`, or point --server / PYOCO_SERVER at it\n  (${
      _causeMessage(err)
    })`;
  }
  if (err instanceof PyocoHttpError) {
    switch (err.status) {
      case 422: {
        const lines = err.errors.map((e) => `  ${e.path || "(request)"}: ${e.message}`);
        if (lines.length === 0) return `The gateway rejected the request: ${err.detail}`;
        return ["The gateway rejected the request; fix:", ...lines].join("\n");
      }
      case 401:
        return `The gateway needs an API key: pass --api-key KEY or set PYOCO_API_KEY (${err.detail})`;
      case 403:
        return `The gateway rejected the API key (invalid or revoked): create one with \`deno task admin -- api-key create --tenant NAME\` (${err.detail})`;
      case 404:
        if (err.errId === ErrId.runNotFound) {
          return `${err.detail}: check the run id with \`pyoco list\``;
        }
        if (err.errId === ErrId.flowNotFound) {
          return `${err.detail}: see what the workers offer with \`pyoco flows\``;
        }
        if (err.errId === ErrId.scheduleNotFound) {
          return `${err.detail}: check the id with \`pyoco schedule list\``;
        }
        return `The gateway at ${server} does not know this request (${err.detail}): is --server pointing at a pyoco gateway of a matching version?`;
      case 409:
        if (err.errId === ErrId.idempotencyConflict) {
          return `${err.detail}: use a new --idempotency-key for a different request`;
        }
        // A run id prefix that matches several runs (SPEC §15): the detail lists them.
        if (err.errId === ErrId.runIdAmbiguous) return err.detail;
        if (err.errId === ErrId.runNotTerminal) {
          return `${err.detail}: wait for it with \`pyoco wait ID\`, or cancel it first`;
        }
        return `The gateway answered 409: ${err.detail}${err.errId ? ` (${err.errId})` : ""}`;
      case 413:
        return `The request is too large for the gateway: ${err.detail}`;
      case 503:
        return `The gateway cannot serve the request right now: ${err.detail}. Is nats-server running and reachable from the gateway?`;
      default:
        return `The gateway answered ${err.status}: ${err.detail}${
          err.errId ? ` (${err.errId})` : ""
        }`;
    }
  }
  if (err instanceof PyocoTimeoutError) return _timeoutMessage(err);
  if (err instanceof PyocoUnsupportedError) {
    return `${err.message}. Use \`pyoco wait\` (it polls) or upgrade the gateway at ${server}`;
  }
  if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.PermissionDenied) {
    return _message(err);
  }
  if (err instanceof Error) return `Unexpected error: ${err.stack ?? err.message}`;
  return `Unexpected error: ${String(err)}`;
}

/**
 * Run `fn` with a signal that aborts on Ctrl-C; an interruption rejects with
 * {@linkcode InterruptedError}.
 *
 * @param runId The run being waited for (for the message).
 * @param fn The wait.
 * @returns What `fn` returns.
 * @throws {InterruptedError} When SIGINT arrives first.
 */
export async function withInterrupt<T>(
  runId: string,
  fn: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const controller = new AbortController();
  const onSignal = () => controller.abort(new InterruptedError(runId));
  let listening = false;
  try {
    Deno.addSignalListener("SIGINT", onSignal);
    listening = true;
  } catch {
    // platforms without SIGINT support: Ctrl-C ends the process as usual
  }
  try {
    return await fn(controller.signal);
  } catch (err) {
    if (controller.signal.aborted) throw controller.signal.reason;
    throw err;
  } finally {
    if (listening) Deno.removeSignalListener("SIGINT", onSignal);
  }
}

function _timeoutMessage(err: PyocoTimeoutError): string {
  const last = err.lastSnapshot;
  const reason = last === null ? undefined : waitingReason(last);
  const status = last === null ? "" : ` (last status ${last.status}${reason ? `: ${reason}` : ""})`;
  return `Run ${err.runId} did not finish within ${
    seconds(err.timeoutMs)
  }${status}; the run goes on on the server (exit code ${ExitCode.timeout})`;
}

/**
 * Milliseconds as seconds for messages: `0.3 s`, `5 s`, `90 s`.
 *
 * @param ms Milliseconds.
 * @returns The seconds with their unit.
 */
export function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}

/**
 * Why a PENDING run is not running yet, as the gateway says it (`waiting_reason`, SPEC §12):
 * `no live worker serves tag gpu`. Read loosely, so an older gateway (without the field) and an
 * older client type both work.
 *
 * @param snapshot A run snapshot or view.
 * @returns The reason, or `undefined` when the run is not waiting or the gateway gave none.
 */
export function waitingReason(snapshot: { status: string }): string | undefined {
  const reason = (snapshot as { waiting_reason?: unknown }).waiting_reason;
  return snapshot.status === "PENDING" && typeof reason === "string" && reason !== ""
    ? reason
    : undefined;
}

function _causeMessage(err: Error): string {
  let e: unknown = err;
  while (e instanceof Error && e.cause instanceof Error) e = e.cause;
  return e instanceof Error ? e.message : String(e);
}

function _message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
