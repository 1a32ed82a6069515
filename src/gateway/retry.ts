/**
 * `POST /runs/{id}/retry` **[beyond]** (SPEC §15): a new run of a finished run's flow and params
 * (`retry_of: <id>`); with `{"from": "failed"}` the tasks that SUCCEEDED keep their recorded
 * outputs (`reused: true`) and only the rest runs. The logic is in `src/runs/retry.ts`.
 *
 * Body: none, `{}`, `{"from": "start"}` (run everything again) or `{"from": "failed"}`. Answer:
 * 200 `{run_id, status: "PENDING", retry_of, reused_tasks}`; 404 (unknown run), 409
 * ERR-PYOCO-0027 (not finished) or ERR-PYOCO-0029 (ambiguous prefix), 422 (bad body, flow.yaml
 * run, flow not offered), 503.
 *
 * @module
 */

import { retryRun } from "../runs/retry.ts";
import { isEmptyBody, readJsonBody } from "./body.ts";
import { json, requireBackendForWrite, type RouteContext, scopeOf } from "./context.ts";
import { type FieldError, invalidRequest } from "./errors.ts";

const _FROM = ["failed", "start"] as const;

async function _retryBody(ctx: RouteContext): Promise<{ from: "failed" | null }> {
  if (isEmptyBody(ctx.req)) return { from: null };
  const body = await readJsonBody(ctx.req, ctx.config.httpMaxBodyBytes);
  const errors: FieldError[] = [];
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw invalidRequest([{
      path: "body",
      message: 'must be a JSON object like {"from": "failed"}',
    }]);
  }
  for (const key of Object.keys(body)) {
    if (key !== "from") errors.push({ path: key, message: "unknown field (allowed: from)" });
  }
  const from = (body as Record<string, unknown>).from;
  if (from !== undefined && from !== null && !(_FROM as readonly unknown[]).includes(from)) {
    errors.push({ path: "from", message: 'must be "failed" or "start"' });
  }
  if (errors.length > 0) throw invalidRequest(errors);
  return { from: from === "failed" ? "failed" : null };
}

/**
 * `POST /runs/{id}/retry`: retry a finished run as a new run, from the start or from its failed
 * tasks.
 *
 * @param ctx The route context (path parameter `id`: a run id or a unique prefix).
 * @returns 200 `{run_id, status, retry_of, reused_tasks}`.
 * @throws {HttpError} 422 for a bad body; the run store's errors otherwise (404, 409, 422, 503).
 */
export async function postRetry(ctx: RouteContext): Promise<Response> {
  const { from } = await _retryBody(ctx);
  const backend = await requireBackendForWrite(ctx, "Cannot retry the run");
  const answer = await retryRun(
    { backend, config: ctx.config, logger: ctx.logger, principal: ctx.principal },
    { runId: ctx.params.id ?? "", from, ...scopeOf(ctx) },
  );
  return json(answer);
}
