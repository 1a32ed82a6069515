/**
 * Dead-letter routes **[beyond]**: `GET /dlq?reason=&tag=&limit=` and
 * `POST /dlq/{seq}/replay`. The logic is shared with the admin CLI in `src/runs/dead_letters.ts`; with
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
  listDeadLetters,
  replayDeadLetter,
} from "../runs/dead_letters.ts";
import { natsCall } from "../runs/backend.ts";
import { json, requireBackend, type RouteContext } from "./context.ts";
import { type FieldError, HttpError, invalidRequest, natsUnavailable } from "./errors.ts";
import { RunStoreError } from "../runs/errors.ts";

/** `GET /dlq?reason=&tag=&limit=`: dead letters, newest first, each `{seq, ...message}`. */
export async function listDlq(ctx: RouteContext): Promise<Response> {
  const q = ctx.url.searchParams;
  const errors: FieldError[] = [];
  const reason = q.get("reason") || null;
  if (reason !== null && !(DLQ_REASONS as readonly string[]).includes(reason)) {
    errors.push({ path: "reason", message: `must be one of ${DLQ_REASONS.join(", ")}` });
  }
  const tag = q.get("tag") || null;
  if (tag !== null && !TAG_PATTERN.test(tag)) {
    errors.push({ path: "tag", message: "must be 1 to 64 letters, digits, _ or -" });
  }
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
    () =>
      listDeadLetters(backend.jsm, ctx.config, {
        reason,
        tag,
        limit,
        tenantId: ctx.principal === null ? undefined : ctx.principal.tenantId,
      }),
    "Cannot list dead letters",
    10 * backend.timeoutMs,
  );
  return json(entries);
}

/** `POST /dlq/{seq}/replay`: `{run_id, status, replayed_from}` of the new run. */
export async function postDlqReplay(ctx: RouteContext): Promise<Response> {
  const text = ctx.params.seq ?? "";
  const notFound = () =>
    new HttpError(404, ErrId.dlqEntryNotFound, `Dead letter ${JSON.stringify(text)} not found`);
  if (!/^\d{1,15}$/.test(text) || Number(text) < 1) throw notFound();
  const seq = Number(text);
  const backend = requireBackend(ctx, "Cannot replay the dead letter");
  try {
    const answer = await replayDeadLetter(
      { backend, config: ctx.config, logger: ctx.logger, principal: ctx.principal },
      backend.jsm,
      seq,
      { tenantId: ctx.principal === null ? undefined : ctx.principal.tenantId },
    );
    return json(answer);
  } catch (err) {
    if (err instanceof DeadLetterNotFoundError) throw notFound();
    if (err instanceof DeadLetterNotReplayableError) {
      throw invalidRequest([{ path: "job", message: err.message }], err.message);
    }
    if (err instanceof HttpError || err instanceof RunStoreError) throw err;
    throw natsUnavailable("Cannot replay the dead letter", err);
  }
}
