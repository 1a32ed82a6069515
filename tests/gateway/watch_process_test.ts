import assert from "node:assert/strict";
import { startNatsServer } from "../_helpers/nats_server.ts";
import { startGatewayProcess } from "../_helpers/gateway_process.ts";
import { SseReader } from "./_sse.ts";
import { poll } from "../_helpers/poll.ts";

Deno.test("gateway process: a watch ends with an error event when NATS dies, and works again after", async () => {
  await using srv = await startNatsServer();
  await using gw = await startGatewayProcess({
    natsUrl: srv.url,
    env: { PYOCO_SSE_HEARTBEAT_SEC: "1" },
  });
  const ready = async () => {
    const res = await fetch(`${gw.url}/health`, { signal: AbortSignal.timeout(5000) });
    return (await res.json()).nats === "connected";
  };
  await poll(ready, { timeoutMs: 20_000, message: "the gateway to connect" });
  const submitted = await fetch(`${gw.url}/runs`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ flow_name: "hello" }),
    signal: AbortSignal.timeout(10_000),
  });
  assert.equal(submitted.status, 200);
  const { run_id } = await submitted.json();

  const abort = new AbortController();
  const res = await fetch(`${gw.url}/runs/${run_id}/watch`, { signal: abort.signal });
  assert.equal(res.status, 200);
  const sse = new SseReader(res);
  const first = await sse.next();
  assert.equal(first?.event, "snapshot");
  assert.equal(first?.json.status, "PENDING");
  const revision = first?.id;

  await srv.kill();
  // The stream must end — an error event, then the close — never hang (heartbeats may come).
  let frame = await sse.nextNonHeartbeat(15_000);
  assert.equal(frame?.event, "error", JSON.stringify(frame));
  assert.equal(frame?.json.err_id, "ERR-PYOCO-0003");
  frame = await sse.nextNonHeartbeat(5_000);
  assert.equal(frame, null, "the stream closed after the error");
  abort.abort();

  await srv.restart();
  // A new watch works again; resuming with Last-Event-ID sends nothing old (only heartbeats).
  let again: Response | null = null;
  await poll(async () => {
    const r = await fetch(`${gw.url}/runs/${run_id}/watch`, {
      headers: { "Last-Event-ID": String(revision) },
      signal: AbortSignal.timeout(5000),
    }).catch(() => null);
    if (r?.status === 200) {
      again = r;
      return true;
    }
    await r?.body?.cancel();
    return false;
  }, { timeoutMs: 30_000, message: "the watch to work again" });
  const resumed = new SseReader(again!);
  assert.equal((await resumed.next(5000))?.event, "heartbeat");
  const cancel = await fetch(`${gw.url}/runs/${run_id}/cancel`, {
    method: "POST",
    signal: AbortSignal.timeout(10_000),
  });
  assert.equal((await cancel.json()).status, "CANCELLED");
  const last = await resumed.nextNonHeartbeat(10_000);
  assert.equal(last?.event, "snapshot");
  assert.equal(last?.json.status, "CANCELLED");
  assert.equal(await resumed.next(5000), null);
  assert.equal(await gw.stop(), 0);
});
