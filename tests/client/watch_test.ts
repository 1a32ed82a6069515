/**
 * Protocol-level tests of `waitForRun()` on the SSE watch stream, against a small scripted SSE
 * server (a real HTTP server speaking the gateway's watch format), for cases the real gateway
 * cannot be made to produce on demand: a dropped stream, an `error` event.
 */
import assert from "node:assert/strict";
import { PyocoClient, PyocoHttpError } from "../../src/client/mod.ts";
import type { RunSnapshot } from "../../src/client/mod.ts";

function _snapshot(status: string, tasks: Record<string, string>): RunSnapshot {
  return {
    run_id: "r1",
    flow_name: "hello",
    status,
    params: {},
    tasks,
    heartbeat_at: 1,
    updated_at: 1,
  } as RunSnapshot;
}

function _event(name: string, data: unknown, id?: number): string {
  const lines = JSON.stringify(data, null, 1).split("\n").map((l) => `data: ${l}`).join("\n");
  return `${id !== undefined ? `id: ${id}\n` : ""}event: ${name}\n${lines}\n\n`;
}

/** Serve one scripted SSE answer per connection (the script gets the connection number). */
function _sseServer(script: (n: number) => string) {
  let connections = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const n = ++connections;
    if (!new URL(req.url).pathname.endsWith("/watch")) return new Response("no", { status: 500 });
    return new Response(new TextEncoder().encode(script(n)), {
      headers: { "content-type": "text/event-stream" },
    });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    connections: () => connections,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

Deno.test("waitForRun() reads snapshots from the watch stream and reopens a dropped one", async () => {
  await using server = _sseServer((n) =>
    n === 1
      // First connection: two snapshots (one repeated), then the stream ends early.
      ? _event("snapshot", _snapshot("PENDING", { a: "PENDING" }), 1) +
        ": keep-alive\n\n" +
        _event("snapshot", _snapshot("RUNNING", { a: "RUNNING" }), 2) +
        _event("heartbeat", { ts: 1 })
      // Reopened: the current snapshot first, then the terminal one.
      : _event("snapshot", _snapshot("RUNNING", { a: "RUNNING" }), 2) +
        _event("snapshot", _snapshot("COMPLETED", { a: "SUCCEEDED" }), 3)
  );
  const client = new PyocoClient({
    baseUrl: server.url,
    retry: { attempts: 3, baseDelayMs: 10, maxDelayMs: 20 },
  });
  const seen: string[] = [];
  const final = await client.waitForRun("r1", { onUpdate: (s) => seen.push(s.status) });
  assert.equal(final.status, "COMPLETED");
  assert.deepEqual(seen, ["PENDING", "RUNNING", "COMPLETED"]);
  assert.equal(server.connections(), 2);
});

Deno.test("waitForRun() turns an error event for a missing run into PyocoHttpError 404", async () => {
  await using server = _sseServer(() =>
    _event("error", {
      detail: "Run r1 not found",
      err_id: "ERR-PYOCO-0005",
      msg_id: "MSG-PYOCO-0005",
    })
  );
  const client = new PyocoClient({ baseUrl: server.url });
  const err = await client.waitForRun("r1").catch((e) => e);
  assert.ok(err instanceof PyocoHttpError, String(err));
  assert.equal(err.status, 404);
  assert.equal(err.errId, "ERR-PYOCO-0005");
});
