/**
 * `GET /ready` (SPEC §12) on a real gateway process: 503 with the reason before NATS exists,
 * 200 `{"status":"ready"}` once it is connected and the resources are ensured, 503 again when
 * the connection is lost; `/health` answers 200 throughout and needs no key.
 *
 * @module
 */

import assert from "node:assert/strict";
import { startGatewayProcess } from "../_helpers/gateway_process.ts";
import { freePort, startNatsServer } from "../_helpers/nats_server.ts";
import { poll } from "../_helpers/poll.ts";

async function _get(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url);
  return { status: res.status, body: await res.json() };
}

Deno.test("GET /ready is 503 until NATS is connected and the resources exist", async () => {
  const port = freePort();
  await using gw = await startGatewayProcess({
    natsUrl: `nats://127.0.0.1:${port}`,
    // Auth on: /ready and /health stay open.
    env: { PYOCO_HTTP_AUTH_MODE: "api_key", PYOCO_AUTH_PEPPER: "test-pepper-for-ready" },
    waitReady: false,
  });
  const before = await _get(`${gw.url}/ready`);
  assert.equal(before.status, 503);
  assert.equal(before.body.status, "not_ready");
  assert.match(String(before.body.reason), /NATS/);
  assert.equal((await _get(`${gw.url}/health`)).status, 200);

  await using srv = await startNatsServer({ port });
  const ready = await poll(async () => {
    const r = await _get(`${gw.url}/ready`);
    return r.status === 200 ? r : null;
  }, { timeoutMs: 20_000, message: () => `/ready to answer 200\n${gw.logs()}` });
  assert.deepEqual(ready.body, { status: "ready" });

  await srv.kill();
  const lost = await poll(async () => {
    const r = await _get(`${gw.url}/ready`);
    return r.status === 503 ? r : null;
  }, { timeoutMs: 20_000, message: "/ready to answer 503 after NATS stopped" });
  assert.match(String(lost.body.reason), /NATS connection lost/);
  const health = await _get(`${gw.url}/health`);
  assert.equal(health.status, 200);
  assert.equal(health.body.status, "ok");
});
