/**
 * Structured logs: JSON Lines (or text) on stdout with `ts, level, service, logger, message`,
 * context fields (`run_id, flow_name, tag, worker_id, err_id, msg_id, reason`, …) and, on errors,
 * `exc_type, exc_message, exc_traceback, exc_origin`. Secrets never appear: API keys are masked
 * by pattern and registered secret values (pepper, exposed env values) are replaced.
 *
 * @module
 */

import { msgIdFor } from "./contract/errors.ts";

/** Log levels, lowest first. */
export type LogLevel = "DEBUG" | "INFO" | "WARNING" | "ERROR";

const _LEVELS: Record<LogLevel, number> = { DEBUG: 10, INFO: 20, WARNING: 30, ERROR: 40 };

/** The service names of SPEC §8. */
export type LogService = "pyoco-server:http" | "pyoco-server:worker" | "pyoco-server:admin";

/** Context fields attached to a log line. */
export type LogFields = Record<string, unknown>;

/** Options of {@linkcode Logger}. */
export interface LoggerOptions {
  /** Service name. */
  service: LogService;
  /** Logger name (module). @default {"pyoco"} */
  logger?: string;
  /** Minimum level written. @default {"INFO"} */
  level?: LogLevel;
  /** `json` lines or `text`. @default {"json"} */
  format?: "json" | "text";
  /** UTC timestamps, else local. @default {true} */
  utc?: boolean;
  /** Include `exc_traceback`. @default {true} */
  includeTraceback?: boolean;
  /** Where lines go. @default {stdout, one line each} */
  write?: (line: string) => void;
  /** Context fields on every line. */
  fields?: LogFields;
}

const _secrets = new Set<string>();
const _API_KEY = /pyoco_[0-9a-f]{8,64}\.[A-Za-z0-9_\-]+/g;

/**
 * Register a value that must never appear in a log line (e.g. the pepper or an exposed env
 * value). Values shorter than 4 characters are ignored (they would mask ordinary text).
 *
 * @param value The secret.
 */
export function registerSecret(value: string | null | undefined): void {
  if (value && value.length >= 4) _secrets.add(value);
}

/**
 * Remove API keys and registered secrets from a text.
 *
 * @param text Any text about to be logged.
 * @returns The text with secrets replaced by `***`.
 */
export function redact(text: string): string {
  let out = text.replace(_API_KEY, (key) => `${key.slice(0, key.indexOf("."))}.***`);
  for (const secret of _secrets) {
    if (out.includes(secret)) out = out.split(secret).join("***");
  }
  return out;
}

/** Where an error was thrown, as `file:line:function`, from its stack. */
export function errorOrigin(err: unknown): string | null {
  const stack = err instanceof Error ? err.stack ?? "" : "";
  for (const line of stack.split("\n").slice(1)) {
    const m = line.match(/^\s*at (?:(.+?) \()?(.+?):(\d+):\d+\)?$/);
    if (m) {
      const file = (m[2] ?? "").replace(/^file:\/\//, "");
      return `${file}:${m[3]}:${m[1] ?? "<anonymous>"}`;
    }
  }
  return null;
}

/** A structured logger; cheap to derive children with more context. */
export class Logger {
  readonly #options: Required<Omit<LoggerOptions, "fields">>;
  readonly #fields: LogFields;
  readonly #min: number;

  /**
   * Make a logger.
   *
   * @param options Service, level, format and sink.
   */
  constructor(options: LoggerOptions) {
    this.#options = {
      service: options.service,
      logger: options.logger ?? "pyoco",
      level: options.level ?? "INFO",
      format: options.format ?? "json",
      utc: options.utc ?? true,
      includeTraceback: options.includeTraceback ?? true,
      write: options.write ?? _writeStdout,
    };
    this.#fields = options.fields ?? {};
    this.#min = _LEVELS[this.#options.level];
  }

  /**
   * A logger with the same settings and more context fields (or another logger name).
   *
   * @param fields Context added to every line.
   * @param logger Optional new logger name.
   * @returns The child logger.
   */
  child(fields: LogFields, logger?: string): Logger {
    return new Logger({
      ...this.#options,
      logger: logger ?? this.#options.logger,
      fields: { ...this.#fields, ...fields },
    });
  }

  /** Whether `level` would be written. */
  enabled(level: LogLevel): boolean {
    return _LEVELS[level] >= this.#min;
  }

  /** Log at DEBUG. */
  debug(message: string, fields?: LogFields): void {
    this.log("DEBUG", message, fields);
  }

  /** Log at INFO. */
  info(message: string, fields?: LogFields): void {
    this.log("INFO", message, fields);
  }

  /** Log at WARNING. */
  warn(message: string, fields?: LogFields, err?: unknown): void {
    this.log("WARNING", message, fields, err);
  }

  /** Log at ERROR, with the exception's type, message, traceback and origin when given. */
  error(message: string, fields?: LogFields, err?: unknown): void {
    this.log("ERROR", message, fields, err);
  }

  /**
   * Write one line when `level` is enabled. An `err_id` field gets its `msg_id`.
   *
   * @param level The level.
   * @param message The message.
   * @param fields Context fields for this line.
   * @param err An exception to describe.
   */
  log(level: LogLevel, message: string, fields?: LogFields, err?: unknown): void {
    if (_LEVELS[level] < this.#min) return;
    const now = new Date();
    const record: LogFields = {
      ts: this.#options.utc ? now.toISOString() : _localIso(now),
      level,
      service: this.#options.service,
      logger: this.#options.logger,
      message,
      ...this.#fields,
      ...fields,
    };
    if (typeof record.err_id === "string" && record.msg_id === undefined) {
      record.msg_id = msgIdFor(record.err_id);
    }
    if (err !== undefined) {
      record.exc_type = err instanceof Error ? err.name : typeof err;
      record.exc_message = err instanceof Error ? err.message : String(err);
      if (this.#options.includeTraceback && err instanceof Error && err.stack) {
        record.exc_traceback = err.stack;
      }
      record.exc_origin = errorOrigin(err);
    }
    let line: string;
    if (this.#options.format === "json") {
      line = _toJson(record);
    } else {
      const { ts, level: lv, service: _s, logger, message: msg, ...rest } = record;
      const extras = Object.entries(rest)
        .filter(([k, v]) => v !== undefined && k !== "exc_traceback")
        .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v, _jsonReplacer)}`);
      line = `${ts} ${lv} ${logger}: ${msg}${extras.length ? " " + extras.join(" ") : ""}`;
      if (typeof rest.exc_traceback === "string") line += `\n${rest.exc_traceback}`;
    }
    try {
      this.#options.write(redact(line));
    } catch {
      // ERR-PYOCO-0013: a broken sink must never break the caller.
    }
  }
}

const _lineEncoder = new TextEncoder();

/**
 * The default sink: the line and a newline straight to stdout — the bytes `console.log` would
 * write, without its formatting pass (half the cost of a log line; a worker writes one per run).
 * Without `Deno` (another runtime) it is `console.log`.
 */
function _writeStdout(line: string): void {
  const stdout = (globalThis as { Deno?: typeof Deno }).Deno?.stdout;
  if (stdout === undefined) {
    console.log(line);
    return;
  }
  let bytes = _lineEncoder.encode(line + "\n");
  while (bytes.byteLength > 0) bytes = bytes.subarray(stdout.writeSync(bytes));
}

/** JSON of a record; the replacer (slow) only when plain JSON cannot take it (a BigInt). */
function _toJson(record: LogFields): string {
  try {
    return JSON.stringify(record);
  } catch {
    return JSON.stringify(record, _jsonReplacer);
  }
}

function _jsonReplacer(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? value.toString() : value;
}

function _localIso(d: Date): string {
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? "+" : "-";
  const pad = (n: number, w = 2) => String(Math.abs(n)).padStart(w, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${
    pad(d.getMinutes())
  }:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}${sign}${pad(Math.trunc(off / 60))}:${
    pad(off % 60)
  }`;
}
