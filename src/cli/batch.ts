/**
 * `pyoco submit --batch FILE.jsonl` (SPEC §10): many runs from a JSON Lines file (`-` reads
 * stdin), one `POST /runs` body per line plus an optional `idempotency_key`, sent with
 * {@linkcode PyocoClient.submitRuns} (requests of up to 500 runs). Progress goes to stderr — one
 * line redrawn in place on a terminal, a plain line per request otherwise. The accepted runs' ids
 * go to stdout (one per line, in file order, so `> ids.txt` keeps them); the summary names every
 * rejected line with its error. Exit 1 when any line was rejected (or, with `--wait`, when any
 * run did not COMPLETE).
 *
 * @module
 */

import type { PyocoClient, RunSnapshot, SubmitRunRequest, SubmitRunsItem } from "../client/mod.ts";
import { PyocoTimeoutError } from "../client/mod.ts";
import type { ErrorBody } from "../contract/mod.ts";
import { type CliIo, ExitCode, seconds, UsageError, withInterrupt } from "./_common.ts";

/** Fields a line may carry: a `POST /runs` body and its idempotency key. */
const _LINE_FIELDS = ["flow_name", "params", "tag", "tags", "priority", "idempotency_key"];

/** At most this many runs are waited for at once with `--wait`. */
const _WAIT_CONCURRENCY = 8;

/** One line of the file: a run to send, or why it cannot be sent (line numbers from 1). */
export type BatchLine =
  | { line: number; request: SubmitRunRequest }
  | { line: number; error: ErrorBody };

/** One line's outcome, as the summary and `--json` show it. */
export type BatchLineResult =
  | { line: number; run_id: string; status: string }
  | { line: number; error: ErrorBody };

/** What `pyoco submit --batch` was asked to do. */
export interface BatchSubmitOptions {
  /** The file, or `-` for stdin. */
  path: string;
  /** Tag of lines that give none (`--tag`). */
  tag?: string;
  /** Wait for every accepted run (`--wait`). */
  wait: boolean;
  /** With `wait`: give up after this long. */
  timeoutMs?: number;
  /** Print one JSON document instead of ids and a summary. */
  json: boolean;
  /** Runs per request. @default {500} */
  chunkSize?: number;
}

/**
 * Read the file, submit its runs, show progress and the summary.
 *
 * @param client The client.
 * @param io Output streams.
 * @param options The file and flags.
 * @returns 0 when every line was accepted (and, with `wait`, COMPLETED), else 1; 124 when the
 *   wait ran out of time.
 * @throws {UsageError} When the file cannot be read or has no run.
 */
export async function submitBatchFile(
  client: PyocoClient,
  io: CliIo,
  options: BatchSubmitOptions,
): Promise<number> {
  const lines = parseBatchLines(await _readText(options.path), { tag: options.tag });
  if (lines.length === 0) throw new UsageError(`No runs in ${_name(options.path)}`);
  const toSend = lines.filter((l): l is Extract<BatchLine, { request: unknown }> => "request" in l);
  const progress = _progress(io, { total: lines.length, quiet: options.json });
  const sentItems = toSend.length === 0 ? [] : await client.submitRuns(
    toSend.map((l) => l.request),
    {
      chunkSize: options.chunkSize,
      onProgress: (p) => progress.update(lines.length - toSend.length, p.items),
    },
  );
  progress.done();
  const results = _merge(lines, toSend, sentItems);
  const rejected = results.filter((r) => "error" in r).length;
  if (options.wait && results.length > rejected) {
    return await _waitAll(client, io, { results, options, rejected });
  }
  _report(io, results, options.json);
  return rejected > 0 ? ExitCode.failed : ExitCode.ok;
}

/**
 * The runs of a JSON Lines text: one JSON object per non-blank line. A line that is not a JSON
 * object, lacks `flow_name`, or has an unknown field is answered here (with its line number)
 * and not sent; everything else is left to the gateway's own validation.
 *
 * @example
 * ```ts
 * import { parseBatchLines } from "./batch.ts";
 * import assert from "node:assert/strict";
 * const lines = parseBatchLines('{"flow_name":"hello"}\n\nnot json\n', {});
 * assert.deepEqual(lines[0], { line: 1, request: { flowName: "hello" } });
 * assert.equal(lines[1]!.line, 3);
 * assert.ok("error" in lines[1]!);
 * ```
 *
 * @param text The file's text.
 * @param defaults `tag` for lines without one.
 * @returns One entry per non-blank line, in order.
 */
export function parseBatchLines(text: string, defaults: { tag?: string }): BatchLine[] {
  const out: BatchLine[] = [];
  const raw = text.split("\n");
  for (let i = 0; i < raw.length; i++) {
    const src = raw[i]!.trim();
    if (src === "") continue;
    out.push(_parseLine(src, i + 1, defaults));
  }
  return out;
}

function _parseLine(src: string, line: number, defaults: { tag?: string }): BatchLine {
  let value: unknown;
  try {
    value = JSON.parse(src);
  } catch (err) {
    return { line, error: _localError(`Not JSON: ${(err as Error).message}`) };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { line, error: _localError("Expected a JSON object (a POST /runs body)") };
  }
  const obj = value as Record<string, unknown>;
  const unknown = Object.keys(obj).filter((k) => !_LINE_FIELDS.includes(k));
  if (unknown.length > 0) {
    return {
      line,
      error: _localError(`Unknown field "${unknown[0]}" (allowed: ${_LINE_FIELDS.join(", ")})`),
    };
  }
  if (typeof obj.flow_name !== "string" || obj.flow_name === "") {
    return { line, error: _localError('Missing "flow_name" (a string)') };
  }
  const key = obj.idempotency_key;
  if (key !== undefined && (typeof key !== "string" || key === "")) {
    return { line, error: _localError('"idempotency_key" must be a non-empty string') };
  }
  const request: SubmitRunRequest = { flowName: obj.flow_name };
  if (obj.params !== undefined) request.params = obj.params as Record<string, unknown>;
  const tag = obj.tag ?? defaults.tag;
  if (tag !== undefined) request.tag = tag as string;
  if (obj.tags !== undefined) request.tags = obj.tags as string[];
  if (obj.priority !== undefined) request.priority = obj.priority as SubmitRunRequest["priority"];
  if (key !== undefined) request.idempotencyKey = key;
  return { line, request };
}

function _localError(detail: string): ErrorBody {
  return { detail, err_id: "ERR-PYOCO-0002", msg_id: "MSG-PYOCO-0002" };
}

function _name(path: string): string {
  return path === "-" ? "stdin" : path;
}

async function _readText(path: string): Promise<string> {
  try {
    if (path !== "-") return await Deno.readTextFile(path);
    return await new Response(Deno.stdin.readable).text();
  } catch (err) {
    throw new UsageError(`Cannot read ${_name(path)}: ${(err as Error).message}`);
  }
}

function _merge(
  lines: BatchLine[],
  sent: { line: number }[],
  items: SubmitRunsItem[],
): BatchLineResult[] {
  const byLine = new Map<number, BatchLineResult>();
  sent.forEach((s, i) => {
    const item = items[i];
    byLine.set(
      s.line,
      item === undefined
        ? { line: s.line, error: _localError("Not answered") }
        : "error" in item
        ? { line: s.line, error: item.error }
        : { line: s.line, run_id: item.run_id, status: item.status },
    );
  });
  return lines.map((l) => byLine.get(l.line) ?? (l as BatchLineResult));
}

/** The progress display: one line redrawn on a terminal, a line per request otherwise. */
function _progress(io: CliIo, at: { total: number; quiet: boolean }) {
  let drawn = false;
  return {
    update(localRejected: number, items: readonly SubmitRunsItem[]) {
      if (at.quiet) return;
      const rejected = localRejected + items.filter((x) => "error" in x).length;
      const done = localRejected + items.length;
      const text = `Submitted ${done}/${at.total}: ${
        done - rejected
      } accepted, ${rejected} rejected`;
      if (io.errIsTty) {
        io.err(`\r\x1b[2K${text}`);
        drawn = true;
      } else io.err(`${text}\n`);
    },
    done() {
      if (drawn) io.err("\n");
    },
  };
}

function _errorText(e: ErrorBody): string {
  const fields = (e.errors ?? []).map((f) => `${f.path || "(request)"}: ${f.message}`);
  const id = e.err_id ? ` (${e.err_id})` : "";
  return fields.length > 0 ? `${e.detail}${id}: ${fields.join("; ")}` : `${e.detail}${id}`;
}

function _report(io: CliIo, results: BatchLineResult[], json: boolean, finals?: Finals): void {
  const rejected = results.filter((r) => "error" in r);
  const accepted = results.length - rejected.length;
  if (json) {
    const items = results.map((r) => {
      const final = "run_id" in r ? finals?.get(r.run_id) : undefined;
      return final === undefined ? r : { ...r, status: final.status, error: final.error ?? null };
    });
    io.out(JSON.stringify({ accepted, rejected: rejected.length, items }, null, 2) + "\n");
    return;
  }
  for (const r of results) {
    if (!("run_id" in r)) continue;
    const final = finals?.get(r.run_id);
    io.out(final === undefined ? `${r.run_id}\n` : `${r.run_id} ${final.status}\n`);
  }
  io.err(`Accepted ${accepted} run(s), rejected ${rejected.length}\n`);
  for (const r of rejected) {
    if ("error" in r) io.err(`  line ${r.line}: ${_errorText(r.error)}\n`);
  }
}

type Finals = Map<string, RunSnapshot>;

/** `--wait`: wait for every accepted run (a few at once), then report with final statuses. */
async function _waitAll(
  client: PyocoClient,
  io: CliIo,
  at: { results: BatchLineResult[]; options: BatchSubmitOptions; rejected: number },
): Promise<number> {
  const ids = at.results.flatMap((r) => "run_id" in r ? [r.run_id] : []);
  const finals: Finals = new Map();
  const deadline = at.options.timeoutMs === undefined
    ? undefined
    : Date.now() + at.options.timeoutMs;
  const progress = (final: RunSnapshot) => {
    finals.set(final.run_id, final);
    if (at.options.json) return;
    const text = `Finished ${finals.size}/${ids.length}`;
    io.err(io.errIsTty ? `\r\x1b[2K${text}` : `${text}\n`);
  };
  let timedOut = false;
  try {
    await withInterrupt("", async (signal) => {
      let next = 0;
      const worker = async () => {
        while (next < ids.length) {
          const id = ids[next++]!;
          const timeoutMs = deadline === undefined ? undefined : Math.max(1, deadline - Date.now());
          progress(await client.waitForRun(id, { signal, timeoutMs }));
        }
      };
      await Promise.all(Array.from({ length: Math.min(_WAIT_CONCURRENCY, ids.length) }, worker));
    });
  } catch (err) {
    if (!(err instanceof PyocoTimeoutError)) throw err;
    timedOut = true;
  }
  if (!at.options.json && io.errIsTty && finals.size > 0) io.err("\n");
  _report(io, at.results, at.options.json, finals);
  const notCompleted = ids.filter((id) => finals.get(id)?.status !== "COMPLETED").length;
  if (timedOut) {
    io.err(
      `${ids.length - finals.size} run(s) did not finish within ${
        seconds(at.options.timeoutMs!)
      }; they go on on the server (exit code ${ExitCode.timeout})\n`,
    );
    return ExitCode.timeout;
  }
  if (notCompleted > 0) io.err(`${notCompleted} run(s) did not COMPLETE\n`);
  return at.rejected > 0 || notCompleted > 0 ? ExitCode.failed : ExitCode.ok;
}
