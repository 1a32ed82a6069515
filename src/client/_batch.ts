/**
 * `POST /runs/batch` from the client's side (SPEC §10): runs are sent in chunks of at most the
 * gateway's batch size, one request at a time so the answer keeps request order, and every item
 * is answered in its place. A chunk the gateway finds too big (413, or a 422 on `runs`: its
 * `PYOCO_BATCH_MAX_RUNS` is lower) is sent again in halves; a chunk it refuses otherwise (an
 * HTTP error, so none of its runs was accepted) answers each of its items with that error; a
 * chunk whose answer never came throws, since its runs may or may not exist. Web APIs only.
 *
 * @module
 */

import type { ErrorBody } from "../contract/mod.ts";
import { PyocoHttpError } from "./errors.ts";
import type { Transport } from "./_transport.ts";
import type { SubmitRunRequest, SubmitRunsItem, SubmitRunsOptions } from "./types.ts";

/** The gateway's default `PYOCO_BATCH_MAX_RUNS`: the most runs one request may carry. */
export const BATCH_MAX_RUNS = 500;

/**
 * The `POST /runs` body of one request, plus `idempotency_key`.
 *
 * @param request The run.
 * @param index Its place in the caller's list (for the message).
 * @returns The JSON item.
 * @throws {TypeError} When the request is not an object with a flow name.
 */
export function batchItemBody(request: SubmitRunRequest, index: number): Record<string, unknown> {
  if (request === null || typeof request !== "object" || typeof request.flowName !== "string") {
    throw new TypeError(`Invalid submitRuns item ${index}: expected an object with flowName`);
  }
  const body: Record<string, unknown> = { flow_name: request.flowName };
  if (request.params !== undefined) body.params = request.params;
  if (request.tag !== undefined) body.tag = request.tag;
  if (request.tags !== undefined) body.tags = request.tags;
  if (request.priority !== undefined) body.priority = request.priority;
  if (request.idempotencyKey !== undefined) {
    if (typeof request.idempotencyKey !== "string" || request.idempotencyKey === "") {
      throw new TypeError(
        `Invalid submitRuns item ${index}: idempotencyKey must be a non-empty string`,
      );
    }
    body.idempotency_key = request.idempotencyKey;
  }
  return body;
}

/**
 * Check the options of `submitRuns` and return the chunk size.
 *
 * @param options The options.
 * @returns Runs per request.
 * @throws {TypeError} When `chunkSize` is not an integer from 1 to {@linkcode BATCH_MAX_RUNS}.
 */
export function chunkSizeOf(options: SubmitRunsOptions): number {
  const size = options.chunkSize ?? BATCH_MAX_RUNS;
  if (!Number.isInteger(size) || size < 1 || size > BATCH_MAX_RUNS) {
    throw new TypeError(
      `Invalid submitRuns option "chunkSize": expected an integer from 1 to ${BATCH_MAX_RUNS}, got ${
        String(size)
      }`,
    );
  }
  return size;
}

/**
 * Check the runs and options of `submitRuns` and build the request items (nothing is sent).
 *
 * @param runs The runs.
 * @param options The options.
 * @returns The items and the chunk size.
 * @throws {TypeError} When a run or an option is malformed.
 */
export function prepareBatch(
  runs: readonly SubmitRunRequest[],
  options: SubmitRunsOptions,
): { bodies: Record<string, unknown>[]; size: number } {
  if (!Array.isArray(runs)) throw new TypeError("Invalid submitRuns runs: expected an array");
  return { bodies: runs.map((r, i) => batchItemBody(r, i)), size: chunkSizeOf(options) };
}

/**
 * Send prepared runs chunk by chunk and answer every run in order.
 *
 * @param http The client's transport.
 * @param batch The items and chunk size from {@linkcode prepareBatch}.
 * @param options Progress callback, signal.
 * @returns One item per run, in order, `index` counted over the whole list.
 * @throws {PyocoNetworkError} When a chunk's answer never came (earlier chunks were accepted).
 */
export async function sendChunks(
  http: Transport,
  batch: { bodies: Record<string, unknown>[]; size: number },
  options: SubmitRunsOptions,
): Promise<SubmitRunsItem[]> {
  const { bodies, size } = batch;
  const items: SubmitRunsItem[] = [];
  for (let start = 0; start < bodies.length; start += size) {
    options.signal?.throwIfAborted();
    const chunk = bodies.slice(start, start + size);
    items.push(...await _chunk(http, chunk, { start, signal: options.signal }));
    options.onProgress?.({ done: items.length, total: bodies.length, items });
  }
  return items;
}

async function _chunk(
  http: Transport,
  chunk: Record<string, unknown>[],
  at: { start: number; signal?: AbortSignal },
): Promise<SubmitRunsItem[]> {
  try {
    const answer = await http.json<{ items: SubmitRunsItem[] }>("POST", "/runs/batch", {
      signal: at.signal,
      json: { runs: chunk },
      // Repeating a request is safe only when every run in it is keyed.
      retryable: chunk.every((b) => b.idempotency_key !== undefined),
    });
    const byIndex = new Map((answer.items ?? []).map((x) => [x.index, x]));
    return chunk.map((_, i) => {
      const item = byIndex.get(i);
      return item === undefined
        ? { index: at.start + i, error: _missing() }
        : { ...item, index: at.start + i };
    });
  } catch (err) {
    if (!(err instanceof PyocoHttpError)) throw err;
    if (chunk.length > 1 && _tooMany(err)) {
      // The gateway takes fewer runs a request (a lower PYOCO_BATCH_MAX_RUNS, or a body size
      // limit): nothing of this request was accepted, so send it again in halves. Each split
      // halves the size, so this recursion is at most log2(500) ≈ 9 deep.
      const half = Math.ceil(chunk.length / 2);
      const first = await _chunk(http, chunk.slice(0, half), at);
      const rest = await _chunk(http, chunk.slice(half), { ...at, start: at.start + half });
      return [...first, ...rest];
    }
    const error: ErrorBody = {
      detail: err.detail,
      err_id: err.errId ?? "",
      msg_id: err.msgId ?? "",
      ...(err.errors.length > 0 ? { errors: err.errors } : {}),
    };
    return chunk.map((_, i) => ({ index: at.start + i, error }));
  }
}

/** The request as a whole was too big: 413, or a 422 about the `runs` array itself. */
function _tooMany(err: PyocoHttpError): boolean {
  return err.status === 413 || (err.status === 422 && err.errors.some((e) => e.path === "runs"));
}

function _missing(): ErrorBody {
  return {
    detail: "The gateway's answer has no item for this run",
    err_id: "",
    msg_id: "",
  };
}
