/**
 * `GET /ready` **[beyond]** (SPEC §12): 200 `{"status":"ready"}` only when NATS is connected, the
 * JetStream resources are ensured and the run index has loaded (lists can be served); otherwise 503 `{"status":"not_ready","reason":…}` with
 * `Retry-After: 1`. Open like `/health`, which keeps pyoco-server's meaning (the process
 * answers). `deno task dev` and the tests wait for this route.
 *
 * @module
 */

import { json, type RouteContext } from "./context.ts";

/**
 * `GET /ready`.
 *
 * @param ctx The route context (its `readiness` says what the gateway is doing while not ready).
 * @returns 200 `{status: "ready"}`, or 503 `{status: "not_ready", reason}`.
 */
export function getReady(ctx: RouteContext): Promise<Response> {
  const backend = ctx.backend();
  let reason: string | null = null;
  if (backend === null) {
    reason = ctx.readiness?.() ?? "NATS is not connected or the JetStream resources are not ready";
  } else if (!backend.state.connected) {
    reason = "NATS connection lost; reconnecting";
  } else if (!backend.index.ready) {
    reason = `Loading the run index (${backend.index.size} runs so far)`;
  }
  if (reason === null) return Promise.resolve(json({ status: "ready" }));
  const res = json({ status: "not_ready", reason }, 503);
  res.headers.set("retry-after", "1");
  return Promise.resolve(res);
}
