/**
 * Flow catalog routes (SPEC §12): `GET /flows` (`tag` filter) and `GET /flows/{tag}/{name}`,
 * answered from the gateway's in-memory catalog (`src/runs/catalog.ts`, kept current by a KV
 * watch), each flow with the workers alive now that offer it.
 *
 * Decisions (also in `docs/catalog.md`): the catalog is the whole fleet's, not one tenant's
 * (like `/workers`; it still needs a key when auth is on). A `tag` that is not a valid tag
 * answers 422; an unknown flow 404 ERR-PYOCO-0006.
 *
 * @module
 */

import { ErrId } from "../contract/errors.ts";
import { TAG_PATTERN } from "../contract/wire.ts";
import { json, requireBackend, type RouteContext } from "./context.ts";
import { HttpError, invalidRequest } from "./errors.ts";

function _tag(value: string, path: string): string {
  if (!TAG_PATTERN.test(value)) {
    throw invalidRequest([{
      path,
      message: `${JSON.stringify(value.slice(0, 80))} is not a valid tag: use 1 to 64 letters, ` +
        "digits, _ or - (never ., * or >)",
    }]);
  }
  return value;
}

/**
 * `GET /flows`: every flow of the catalog, sorted by tag and name (`?tag=` keeps one tag).
 *
 * @param ctx The route context.
 * @returns 200 with `[{flow_name, tag, graph, tasks, defaults, live_workers, callables, updated_at}]`.
 * @throws {HttpError} 422 for an invalid `tag`, 503 while NATS is not ready.
 */
export function listFlows(ctx: RouteContext): Promise<Response> {
  const tagParam = ctx.url.searchParams.get("tag");
  const tag = tagParam === null ? undefined : _tag(tagParam, "tag");
  const backend = requireBackend(ctx, "Cannot list flows");
  return Promise.resolve(json(backend.catalog.list({ tag })));
}

/**
 * `GET /flows/{tag}/{name}`: one flow of the catalog.
 *
 * @param ctx The route context (path parameters `tag`, `name`).
 * @returns 200 with the flow.
 * @throws {HttpError} 404 ERR-PYOCO-0006 when no worker of the tag offers it, 422 for an
 *   invalid tag, 503 while NATS is not ready.
 */
export function getFlow(ctx: RouteContext): Promise<Response> {
  const tag = _tag(ctx.params.tag ?? "", "tag");
  const name = ctx.params.name ?? "";
  const backend = requireBackend(ctx, "Cannot read the flow");
  const view = backend.catalog.get(tag, name);
  if (view === null) {
    throw new HttpError(
      404,
      ErrId.flowNotFound,
      `Flow ${JSON.stringify(name.slice(0, 256))} is not offered on tag ${JSON.stringify(tag)}`,
    );
  }
  return Promise.resolve(json(view));
}
