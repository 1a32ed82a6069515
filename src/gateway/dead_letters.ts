/**
 * Dead-letter routes **[beyond]**: `GET /dlq?reason=&tag=&flow=&limit=`, `GET /dlq/{seq}`,
 * `DELETE /dlq/{seq}`, `POST /dlq/{seq}/replay` and the bulk `POST /dlq/replay` (SPEC §15:
 * entries carry `replayed_as`, kept in the history bucket — see `src/runs/dlq_manage.ts`). The logic is shared with the admin CLI in `src/runs/dead_letters.ts`; with
 * auth on, a tenant sees and replays only its own dead letters.
 *
 * @module
 */

import { ErrId } from "../contract/errors.ts";
import { TAG_PATTERN } from "../contract/wire.ts";
import {
  DeadLetterNotFoundError,
  DeadLetterNotReplayableError,
  DLQ_LIMIT,
  DLQ_REASONS,
  getDeadLetter,
  listDeadLetters,
} from "../runs/dead_letters.ts";
import {
  BULK_REPLAY_LIMIT,
  deleteDeadLetter,
  replayAndMark,
  replayDeadLetters,
  withReplayMarks,
} from "../runs/dlq_manage.ts";
import { natsCall } from "../runs/backend.ts";
import { FLOW_NAME_PATTERN } from "../runs/submit_request.ts";
import { isEmptyBody, readJsonBody } from "./body.ts";
import { json, requireBackend, requireBackendForWrite, type RouteContext } from "./context.ts";
import { type FieldError, HttpError, invalidRequest, natsUnavailable } from "./errors.ts";
import { RunStoreError } from "../runs/errors.ts";

interface _Filter {
  reason: string | null;
  tag: string | null;
  flow: string | null;
}

function _checkFilter(raw: Record<string, unknown>, errors: FieldError[]): _Filter {
  const text = (k: string) => {
    const v = raw[k];
    if (v === undefined || v === null || v === "") return null;
    if (typeof v !== "string") errors.push({ path: k, message: "must be a string" });
    return typeof v === "string" ? v : null;
  };
  const reason = text("reason");
  if (reason !== null && !(DLQ_REASONS as readonly string[]).includes(reason)) {
    errors.push({ path: "reason", message: `must be one of ${DLQ_REASONS.join(", ")}` });
  }
  const tag = text("tag");
  if (tag !== null && !TAG_PATTERN.test(tag)) {
    errors.push({ path: "tag", message: "must be 1 to 64 letters, digits, _ or -" });
  }
  const flow = text("flow");
  if (flow !== null && !FLOW_NAME_PATTERN.test(flow)) {
    errors.push({ path: "flow", message: "is not a valid flow name" });
  }
  return { reason, tag, flow };
}

function _tenant(ctx: RouteContext): string | undefined {
  return ctx.principal === null ? undefined : ctx.principal.tenantId;
}

function _seqOf(ctx: RouteContext): number {
  const text = ctx.params.seq ?? "";
  if (!/^\d{1,15}$/.test(text) || Number(text) < 1) throw _notFound(text);
  return Number(text);
}

function _notFound(seq: string | number): HttpError {
  return new HttpError(
    404,
    ErrId.dlqEntryNotFound,
    `Dead letter ${JSON.stringify(String(seq))} not found`,
  );
}

/**
 * `GET /dlq?reason=&tag=&flow=&limit=`: dead letters, newest first, each `{seq, ...message,
 * replayed_as}`.
 */
export async function listDlq(ctx: RouteContext): Promise<Response> {
  const q = ctx.url.searchParams;
  const errors: FieldError[] = [];
  const { reason, tag, flow } = _checkFilter(Object.fromEntries(q.entries()), errors);
  let limit: number = DLQ_LIMIT.default;
  const limitText = q.get("limit");
  if (limitText !== null) {
    const n = Number(limitText.trim());
    if (!/^\d+$/.test(limitText.trim()) || n < 1 || n > DLQ_LIMIT.max) {
      errors.push({ path: "limit", message: `must be an integer from 1 to ${DLQ_LIMIT.max}` });
    } else {
      limit = n;
    }
  }
  if (errors.length > 0) throw invalidRequest(errors);
  const backend = requireBackend(ctx, "Cannot list dead letters");
  const entries = await natsCall(
    async () =>
      await withReplayMarks(
        backend.history,
        await listDeadLetters(backend.jsm, ctx.config, {
          reason,
          tag,
          flowName: flow,
          limit,
          tenantId: _tenant(ctx),
        }),
      ),
    "Cannot list dead letters",
    10 * backend.timeoutMs,
  );
  return json(entries);
}

/** `GET /dlq/{seq}`: one dead letter with its `replayed_as`. */
export async function getDlq(ctx: RouteContext): Promise<Response> {
  const seq = _seqOf(ctx);
  const backend = requireBackend(ctx, "Cannot read the dead letter");
  try {
    const entry = await getDeadLetter(backend.jsm, ctx.config, seq, _tenant(ctx));
    return json((await withReplayMarks(backend.history, [entry]))[0]);
  } catch (err) {
    if (err instanceof DeadLetterNotFoundError) throw _notFound(seq);
    throw natsUnavailable("Cannot read the dead letter", err);
  }
}

/** `DELETE /dlq/{seq}`: remove the entry from the stream, and its replay mark. */
export async function deleteDlq(ctx: RouteContext): Promise<Response> {
  const seq = _seqOf(ctx);
  const backend = requireBackend(ctx, "Cannot delete the dead letter");
  try {
    return json(await deleteDeadLetter(backend, ctx.config, seq, { tenantId: _tenant(ctx) }));
  } catch (err) {
    if (err instanceof DeadLetterNotFoundError) throw _notFound(seq);
    throw natsUnavailable("Cannot delete the dead letter", err);
  }
}

/**
 * `POST /dlq/replay` `{tag?, reason?, flow?, limit?, include_replayed?}`: replay the matching
 * entries, each answered in its place (`{items, replayed, failed, skipped_replayed}`).
 */
export async function postDlqBulkReplay(ctx: RouteContext): Promise<Response> {
  // An empty body is the empty filter.
  const body = isEmptyBody(ctx.req) ? {} : await readJsonBody(ctx.req, ctx.config.httpMaxBodyBytes);
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw invalidRequest([{
      path: "body",
      message: 'must be a JSON object like {"tag": "default"}',
    }]);
  }
  const raw = body as Record<string, unknown>;
  const errors: FieldError[] = [];
  for (const key of Object.keys(raw)) {
    if (!_BULK_FIELDS.includes(key)) {
      errors.push({ path: key, message: `unknown field (allowed: ${_BULK_FIELDS.join(", ")})` });
    }
  }
  const filter = _checkFilter(raw, errors);
  const limit = raw.limit ?? BULK_REPLAY_LIMIT.default;
  if (
    !Number.isSafeInteger(limit) || (limit as number) < 1 ||
    (limit as number) > BULK_REPLAY_LIMIT.max
  ) {
    errors.push({
      path: "limit",
      message: `must be an integer from 1 to ${BULK_REPLAY_LIMIT.max}`,
    });
  }
  const includeReplayed = raw.include_replayed ?? false;
  if (typeof includeReplayed !== "boolean") {
    errors.push({ path: "include_replayed", message: "must be true or false" });
  }
  if (errors.length > 0) throw invalidRequest(errors);
  const backend = await requireBackendForWrite(ctx, "Cannot replay dead letters");
  const sctx = { backend, config: ctx.config, logger: ctx.logger, principal: ctx.principal };
  try {
    return json(
      await replayDeadLetters({ ...sctx, jsm: backend.jsm, history: backend.history }, {
        ...filter,
        limit: limit as number,
        includeReplayed: includeReplayed as boolean,
        tenantId: _tenant(ctx),
      }),
    );
  } catch (err) {
    if (err instanceof HttpError || err instanceof RunStoreError) throw err;
    throw natsUnavailable("Cannot replay dead letters", err);
  }
}

const _BULK_FIELDS = ["tag", "reason", "flow", "limit", "include_replayed"];

/** `POST /dlq/{seq}/replay`: `{run_id, status, replayed_from, replayed_as}` of the new run. */
export async function postDlqReplay(ctx: RouteContext): Promise<Response> {
  const seq = _seqOf(ctx);
  const backend = requireBackend(ctx, "Cannot replay the dead letter");
  try {
    const answer = await replayAndMark(
      {
        backend,
        config: ctx.config,
        logger: ctx.logger,
        principal: ctx.principal,
        jsm: backend.jsm,
        history: backend.history,
      },
      seq,
      { tenantId: _tenant(ctx) },
    );
    return json(answer);
  } catch (err) {
    if (err instanceof DeadLetterNotFoundError) throw _notFound(seq);
    if (err instanceof DeadLetterNotReplayableError) {
      throw invalidRequest([{ path: "job", message: err.message }], err.message);
    }
    if (err instanceof HttpError || err instanceof RunStoreError) throw err;
    throw natsUnavailable("Cannot replay the dead letter", err);
  }
}
