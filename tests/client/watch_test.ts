/**
 * Protocol-level tests of `watchRun()`, `watchRuns()` and `waitForRun()` on the SSE watch streams, against a small scripted SSE
 * server (a real HTTP server speaking the gateway's watch format), for cases the real gateway
 * cannot be made to produce on demand: a dropped stream, an `error` event.
 */
import assert from "node:assert/strict";
import {
  PyocoClient,
  PyocoHttpError,
  PyocoNetworkError,
  PyocoUnsupportedError,
} from "../../src/client/mod.ts";
import type { RunSnapshot, RunWatchItem } from "../../src/client/mod.ts";

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

function _event(name: string, data: unknown, id?: number | string): string {
  const lines = JSON.stringify(data, null, 1).split("\n").map((l) => `data: ${l}`).join("\n");
  return `${id !== undefined ? `id: ${id}\n` : ""}event: ${name}\n${lines}\n\n`;
}

/**
 * Serve one scripted SSE answer per watch connection (the script gets the connection number);
 * `GET /runs/r1` answers `run` (when given). Records each watch request's `Last-Event-ID`.
 */
function _sseServer(script: (n: number) => string, run?: RunSnapshot) {
  let connections = 0;
  const lastEventIds: (string | null)[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const path = new URL(req.url).pathname;
    if (path === "/runs/r1" && run) return Response.json(run);
    if (!path.endsWith("/watch")) return new Response("no", { status: 500 });
    const n = ++connections;
    lastEventIds.push(req.headers.get("last-event-id"));
    return new Response(new TextEncoder().encode(script(n)), {
      headers: { "content-type": "text/event-stream" },
    });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    connections: () => connections,
    lastEventIds,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

const FAST = { attempts: 3, baseDelayMs: 10, maxDelayMs: 20 };
const NATS_DOWN = {
  detail: "NATS connection lost while watching the run; reconnect to resume",
  err_id: "ERR-PYOCO-0003",
  msg_id: "MSG-PYOCO-0003",
};

async function _collect(items: AsyncIterable<RunWatchItem>): Promise<string[]> {
  const out: string[] = [];
  for await (const item of items) {
    out.push(
      item.type === "snapshot"
        ? `${item.id} snapshot ${item.snapshot.status}`
        : `${item.id} event ${item.event.seq} ${item.event.type}`,
    );
  }
  return out;
}

Deno.test("watchRun() resumes a dropped stream with Last-Event-ID and yields each item once", async () => {
  await using server = _sseServer((n) =>
    n === 1
      ? _event("snapshot", _snapshot("RUNNING", { a: "RUNNING" }), "5-2") +
        _event("heartbeat", { ts: 1 }) +
        _event("event", { seq: 3, type: "task.log", task: "a", message: "hi" }, "5-3")
      // The resumed stream repeats an event and a snapshot the client has: both are skipped.
      : _event("event", { seq: 3, type: "task.log", task: "a", message: "hi" }, "5-3") +
        _event("event", { seq: 4, type: "run.completed" }, "5-4") +
        _event("snapshot", _snapshot("RUNNING", { a: "RUNNING" }), "5-4") +
        _event("snapshot", _snapshot("COMPLETED", { a: "SUCCEEDED" }), "6-4")
  );
  const client = new PyocoClient({ baseUrl: server.url, retry: FAST });
  const items = await _collect(client.watchRun("r1", { events: true }));
  assert.deepEqual(items, [
    "5-2 snapshot RUNNING",
    "5-3 event 3 task.log",
    "5-4 event 4 run.completed",
    "6-4 snapshot COMPLETED",
  ]);
  assert.deepEqual(server.lastEventIds, [null, "5-3"]);
});

Deno.test("watchRun() leaves events out unless asked for", async () => {
  await using server = _sseServer(() =>
    _event("snapshot", _snapshot("RUNNING", {}), 1) +
    _event("event", { seq: 1, type: "run.started" }, "1-1") +
    _event("snapshot", _snapshot("FAILED", {}), 2)
  );
  const client = new PyocoClient({ baseUrl: server.url });
  assert.deepEqual(await _collect(client.watchRun("r1")), [
    "1 snapshot RUNNING",
    "2 snapshot FAILED",
  ]);
});

Deno.test("watchRun() reconnects after an ERR-PYOCO-0003 error event", async () => {
  await using server = _sseServer((n) =>
    n === 1
      ? _event("snapshot", _snapshot("RUNNING", {}), 1) + _event("error", NATS_DOWN)
      : _event("snapshot", _snapshot("COMPLETED", {}), 2)
  );
  const client = new PyocoClient({ baseUrl: server.url, retry: FAST });
  assert.deepEqual(await _collect(client.watchRun("r1")), [
    "1 snapshot RUNNING",
    "2 snapshot COMPLETED",
  ]);
  assert.deepEqual(server.lastEventIds, [null, "1"]);
});

Deno.test("watchRun() gives up after retry.attempts failures in a row with the 503", async () => {
  await using server = _sseServer((n) =>
    (n === 1 ? _event("snapshot", _snapshot("RUNNING", {}), 1) : "") + _event("error", NATS_DOWN)
  );
  const client = new PyocoClient({ baseUrl: server.url, retry: FAST });
  const seen: string[] = [];
  const err = await (async () => {
    for await (const item of client.watchRun("r1")) seen.push(item.type);
  })().catch((e) => e);
  assert.ok(err instanceof PyocoHttpError, String(err));
  assert.equal(err.status, 503);
  assert.equal(err.errId, "ERR-PYOCO-0003");
  assert.deepEqual(seen, ["snapshot"]);
  assert.equal(server.connections(), 3);
  assert.deepEqual(server.lastEventIds, [null, "1", "1"]);
});

Deno.test("watchRun() throws PyocoNetworkError when the stream keeps ending early", async () => {
  await using server = _sseServer(() => "");
  const client = new PyocoClient({ baseUrl: server.url, retry: FAST });
  const err = await _collect(client.watchRun("r1")).catch((e) => e);
  assert.ok(err instanceof PyocoNetworkError, String(err));
  assert.match(err.message, /The watch stream of run r1 ended before it was done/);
  assert.equal(server.connections(), 3);
});

Deno.test("watchRun() resumed at the terminal revision ends without an item", async () => {
  await using server = _sseServer(() => "", _snapshot("COMPLETED", { a: "SUCCEEDED" }));
  const client = new PyocoClient({ baseUrl: server.url, retry: FAST });
  assert.deepEqual(await _collect(client.watchRun("r1", { lastEventId: "9" })), []);
  assert.deepEqual(server.lastEventIds, ["9"]);
});

Deno.test("watchRun() throws PyocoUnsupportedError when the answer is not an event stream", async () => {
  const plain = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => Response.json({ hello: 1 }),
  );
  try {
    const other = new PyocoClient({ baseUrl: `http://127.0.0.1:${plain.addr.port}` });
    const e2 = await other.watchRun("r1")[Symbol.asyncIterator]().next().catch((e) => e);
    assert.ok(e2 instanceof PyocoUnsupportedError, String(e2));
    assert.equal(e2.status, 200);
    assert.match(e2.message, /application\/json instead of an event stream/);
  } finally {
    await plain.shutdown();
  }
});

Deno.test("watchRuns() yields summaries and removals, resumes with Last-Event-ID, stops on break", async () => {
  const summary = (id: string, status: string) => ({
    run_id: id,
    flow_name: "hello",
    tag: "default",
    tags: ["default"],
    status,
    updated_at: 1,
    heartbeat_at: 1,
    worker_id: null,
    error: null,
  });
  await using server = _sseServer((n) =>
    n === 1
      ? _event("heartbeat", { ts: 1 }) + _event("summary", summary("a", "PENDING"), 10)
      : _event("heartbeat", { ts: 2 }) + _event("removed", { run_id: "a" }, 11) +
        _event("summary", summary("b", "RUNNING"), 12)
  );
  const client = new PyocoClient({ baseUrl: server.url, retry: FAST });
  const seen: string[] = [];
  for await (const item of client.watchRuns({ status: ["PENDING", "RUNNING"], tag: "default" })) {
    seen.push(
      item.type === "summary"
        ? `${item.id} ${item.summary.run_id} ${item.summary.status}`
        : `${item.id} removed ${item.run_id}`,
    );
    if (seen.length === 3) break;
  }
  assert.deepEqual(seen, ["10 a PENDING", "11 removed a", "12 b RUNNING"]);
  assert.deepEqual(server.lastEventIds, [null, "10"]);
});

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
  const client = new PyocoClient({ baseUrl: server.url, retry: FAST });
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
