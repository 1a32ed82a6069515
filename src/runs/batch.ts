/**
 * `POST /runs/batch` **[beyond]** (SPEC §10): many runs in one request. Every item is validated
 * and answered on its own — a bad item is reported in its place and never fails its neighbours —
 * and the valid ones are written concurrently (their KV creates and publishes are all in flight
 * at once on the one connection, not one await per run). Each item follows the atomic submit of
 * SPEC §4.1, so a failed item leaves no orphan. An item may carry `idempotency_key`, with the
 * meaning of the `Idempotency-Key` header.
 *
 * @module
 */

import type { ErrorBody } from "../contract/wire.ts";
import { InvalidRequestError, NatsUnavailableError, RunStoreError } from "./errors.ts";
import {
  checkIdempotencyKey,
  type IdempotentSubmitContext,
  submitIdempotent,
} from "./idempotency.ts";
import { buildRun, checkOffered, type RunRequest, validateRunRequest, writeRun } from "./submit.ts";

/** One item of a batch answer, in request order. */
export type BatchItem =
  | { index: number; run_id: string; status: "PENDING" }
  | { index: number; error: ErrorBody };

/** The answer of {@linkcode submitBatch}. */
export interface BatchAnswer {
  /** One item per submitted run, in request order. */
  items: BatchItem[];
}

interface _Valid {
  index: number;
  request: RunRequest;
  key: string | null;
}

function _isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function _runsOf(body: unknown, max: number): unknown[] {
  if (!_isObject(body)) {
    throw new InvalidRequestError([{
      path: "body",
      message: "must be a JSON object {runs: [...]}",
    }]);
  }
  const unknown = Object.keys(body).filter((k) => k !== "runs");
  if (unknown.length > 0) {
    throw new InvalidRequestError(
      unknown.map((k) => ({ path: k, message: "unknown field (allowed: runs)" })),
    );
  }
  const runs = body.runs;
  if (!Array.isArray(runs) || runs.length === 0 || runs.length > max) {
    throw new InvalidRequestError([{
      path: "runs",
      message: `must be an array of 1 to ${max} runs (PYOCO_BATCH_MAX_RUNS)`,
    }]);
  }
  return runs;
}

function _validate(item: unknown, index: number, ctx: IdempotentSubmitContext): _Valid {
  if (!_isObject(item)) {
    throw new InvalidRequestError([{ path: `runs[${index}]`, message: "must be a JSON object" }]);
  }
  const { idempotency_key: rawKey, ...rest } = item;
  const key = rawKey === undefined
    ? null
    : checkIdempotencyKey(rawKey, `runs[${index}].idempotency_key`);
  try {
    return { index, request: validateRunRequest(rest, ctx.config), key };
  } catch (err) {
    if (!(err instanceof InvalidRequestError)) throw err;
    const errors = err.errors.map((e) => ({ ...e, path: `runs[${index}].${e.path}` }));
    throw new InvalidRequestError(errors);
  }
}

function _failed(index: number, err: unknown): BatchItem {
  if (err instanceof RunStoreError) return { index, error: err.toBody() };
  return {
    index,
    error: new NatsUnavailableError("Cannot submit the run", { cause: err }).toBody(),
  };
}

async function _submitOne(ctx: IdempotentSubmitContext, valid: _Valid): Promise<BatchItem> {
  try {
    if (valid.key !== null) {
      const { run_id } = await submitIdempotent(ctx, valid.key, valid.request);
      return { index: valid.index, run_id, status: "PENDING" };
    }
    checkOffered(ctx.backend, valid.request);
    const run = buildRun(ctx.principal, valid.request);
    await writeRun(ctx, run);
    return { index: valid.index, run_id: run.snapshot.run_id, status: "PENDING" };
  } catch (err) {
    return _failed(valid.index, err);
  }
}

/**
 * Submit a batch of runs.
 *
 * @param ctx Backend (with the idempotency bucket), config, logger and caller.
 * @param body The parsed JSON body `{runs: [<POST /runs body> (+ idempotency_key)?, …]}`.
 * @returns One item per run, in request order: `{index, run_id, status}` or `{index, error}`.
 * @throws {InvalidRequestError} When the body itself is not a batch (not an object, no `runs`, or
 *   more than `PYOCO_BATCH_MAX_RUNS` runs); item problems are answered in their items instead.
 * @throws {NatsUnavailableError} When NATS is down before anything was written.
 *
 * @example Usage
 * ```ts ignore
 * const { items } = await submitBatch(ctx, { runs: [{ flow_name: "hello" }, { flow_name: "" }] });
 * // items[0] = {index: 0, run_id, status: "PENDING"}; items[1] = {index: 1, error: {...}}
 * ```
 */
export async function submitBatch(
  ctx: IdempotentSubmitContext,
  body: unknown,
): Promise<BatchAnswer> {
  const runs = _runsOf(body, ctx.config.batchMaxRuns);
  if (!ctx.backend.state.connected) throw new NatsUnavailableError("Cannot submit the runs");
  const items: (BatchItem | Promise<BatchItem>)[] = runs.map((item, index) => {
    try {
      return _submitOne(ctx, _validate(item, index, ctx));
    } catch (err) {
      return _failed(index, err);
    }
  });
  const answered = await Promise.all(items);
  const accepted = answered.filter((i) => "run_id" in i).length;
  ctx.logger.info("Batch submitted", {
    runs: runs.length,
    accepted,
    rejected: runs.length - accepted,
    tenant_id: ctx.principal?.tenantId ?? null,
  });
  return { items: answered };
}
