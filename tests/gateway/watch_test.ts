import assert from "node:assert/strict";
import { jetstream } from "@nats-io/jetstream";
import type { RunSnapshot } from "../../src/contract/wire.ts";
import { encodeEventBatch, eventSeq } from "../../src/contract/events.ts";
import type { Principal } from "../../src/gateway/auth.ts";
import { gatewayFixture, snapshot } from "./_fixture.ts";
import { SseReader } from "./_sse.ts";
import { poll } from "../_helpers/poll.ts";

/** Tenant from an `x-tenant` header (the API-key path is tested in app_test.ts). */
function headerTenant(): (req: Request) => Promise<Principal | null> {
  return (req) => {
    const t = req.headers.get("x-tenant");
    return Promise.resolve(t === null ? null : { tenantId: t, keyId: `key-${t}` });
  };
}

const RECORDS = {
  a: {
    state: "SUCCEEDED",
    started_at: 1,
    ended_at: 2,
    duration_ms: 1000,
    attempts: 1,
    error: null,
    traceback: null,
    inputs: {},
    output: 1,
    artifacts: {},
  },
} as unknown as RunSnapshot["task_records"];

async function kvConsumers(
  gw: Awaited<ReturnType<typeof gatewayFixture>>,
): Promise<number> {
  const info = await gw.reader.jsm.streams.info(`KV_${gw.config.runsKvBucket}`);
  return info.state.consumer_count;
}

Deno.test("GET /runs/{id}/watch sends the current snapshot, each change, and closes after the terminal one", async () => {
  await using gw = await gatewayFixture({ appConfig: { sseHeartbeatSec: 30 } });
  const r1 = await gw.reader.runs.put(
    "run-w",
    JSON.stringify(snapshot("run-w", { task_records: RECORDS })),
  );
  const res = await gw.request("/runs/run-w/watch");
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/event-stream/);
  const sse = new SseReader(res);
  const first = await sse.next();
  assert.equal(first?.event, "snapshot");
  assert.equal(first?.id, String(r1));
  assert.equal(first?.json.status, "PENDING");
  assert.equal("task_records" in first!.json, false, "records only when included");

  const r2 = await gw.reader.runs.put(
    "run-w",
    JSON.stringify(snapshot("run-w", { status: "RUNNING", task_records: RECORDS })),
  );
  const second = await sse.next();
  assert.equal(second?.id, String(r2));
  assert.equal(second?.json.status, "RUNNING");
  const r3 = await gw.reader.runs.put(
    "run-w",
    JSON.stringify(snapshot("run-w", { status: "COMPLETED", task_records: RECORDS })),
  );
  const last = await sse.next();
  assert.equal(last?.id, String(r3));
  assert.equal(last?.json.status, "COMPLETED");
  assert.equal(await sse.next(), null, "the stream closes after the terminal snapshot");

  // include=records
  const withRecords = new SseReader(await gw.request("/runs/run-w/watch?include=records"));
  const only = await withRecords.next();
  assert.deepEqual(only?.json.task_records, RECORDS);
  assert.equal(await withRecords.next(), null);
});

Deno.test("GET /runs/{id}/watch: 404 before streaming, 422 for bad parameters, tenants respected", async () => {
  await using gw = await gatewayFixture({ authenticate: () => headerTenant() });
  const missing = await gw.request("/runs/nope/watch", { headers: { "x-tenant": "acme" } });
  assert.equal(missing.status, 404);
  assert.match(missing.headers.get("content-type") ?? "", /json/);
  assert.equal((await missing.json()).err_id, "ERR-PYOCO-0005");
  await gw.reader.runs.put("mine", JSON.stringify(snapshot("mine", { tenant_id: "acme" })));
  const foreign = await gw.request("/runs/mine/watch", { headers: { "x-tenant": "other" } });
  assert.equal(foreign.status, 404);
  await foreign.body?.cancel();
  for (const q of ["include=bogus", "events=maybe", "after_seq=-1", "last_event_id=abc"]) {
    const res = await gw.request(`/runs/mine/watch?${q}`, { headers: { "x-tenant": "acme" } });
    assert.equal(res.status, 422, q);
    assert.equal((await res.json()).err_id, "ERR-PYOCO-0002");
  }
  const ok = await gw.request("/runs/mine/watch", { headers: { "x-tenant": "acme" } });
  assert.equal(ok.status, 200);
  const sse = new SseReader(ok);
  assert.equal((await sse.next())?.json.run_id, "mine");
  await sse.cancel();
});

Deno.test("GET /runs/{id}/watch with Last-Event-ID never replays what the client has", async () => {
  await using gw = await gatewayFixture({ appConfig: { sseHeartbeatSec: 0.2 } });
  await gw.reader.runs.put("run-l", JSON.stringify(snapshot("run-l")));
  const r2 = await gw.reader.runs.put(
    "run-l",
    JSON.stringify(snapshot("run-l", { status: "RUNNING" })),
  );
  // The client has the current revision: nothing but heartbeats until the next change.
  const res = await gw.request("/runs/run-l/watch", { headers: { "Last-Event-ID": String(r2) } });
  const sse = new SseReader(res);
  const idle = await sse.next();
  assert.equal(idle?.event, "heartbeat");
  assert.equal(idle?.id, undefined);
  assert.equal(typeof idle?.json.ts, "number");
  const r3 = await gw.reader.runs.put(
    "run-l",
    JSON.stringify(snapshot("run-l", { status: "FAILED", error: "boom" })),
  );
  const change = await sse.nextNonHeartbeat();
  assert.equal(change?.event, "snapshot");
  assert.equal(change?.id, String(r3));
  assert.equal(change?.json.status, "FAILED");
  assert.equal(await sse.next(), null);

  // Already terminal at the client's revision: the stream closes at once, sending nothing.
  const done = new SseReader(await gw.request(`/runs/run-l/watch?last_event_id=${r3}`));
  assert.equal(await done.next(), null);
  // An older id gets the current (terminal) snapshot only.
  const older = new SseReader(await gw.request(`/runs/run-l/watch?last_event_id=${r2 - 1}`));
  assert.equal((await older.next())?.id, String(r3));
  assert.equal(await older.next(), null);
});

Deno.test("GET /runs/{id}/watch sends heartbeats when idle and stops its KV watch when the client leaves", async () => {
  await using gw = await gatewayFixture({ appConfig: { sseHeartbeatSec: 0.1 } });
  await gw.reader.runs.put("run-h", JSON.stringify(snapshot("run-h")));
  const before = await kvConsumers(gw);
  const sse = new SseReader(await gw.request("/runs/run-h/watch"));
  assert.equal((await sse.next())?.event, "snapshot");
  for (let i = 0; i < 3; i++) assert.equal((await sse.next())?.event, "heartbeat");
  assert.equal(await kvConsumers(gw), before + 1, "one KV watch per stream");
  await sse.cancel();
  await poll(async () => (await kvConsumers(gw)) === before, {
    message: "the KV watch to be removed",
  });
});

Deno.test("GET /runs/{id}/watch?events=1 interleaves stored and new events and resumes after them", async () => {
  await using gw = await gatewayFixture({ appConfig: { sseHeartbeatSec: 30 } });
  const js = jetstream(gw.reader.nc);
  const subject = `pyoco.events.run-e`;
  const publish = (event: Record<string, unknown>) =>
    js.publish(subject, JSON.stringify({ run_id: "run-e", ts: Date.now() / 1000, ...event }));
  const r1 = await gw.reader.runs.put("run-e", JSON.stringify(snapshot("run-e")));
  const s1 = (await publish({ type: "run.started", flow_name: "hello" })).seq;
  const s2 = (await publish({ type: "task.log", task: "a", attempt: 1, message: "hi" })).seq;

  const sse = new SseReader(await gw.request("/runs/run-e/watch?events=1"));
  const frames = [await sse.next(), await sse.next(), await sse.next()];
  const snap = frames.find((f) => f?.event === "snapshot");
  assert.equal(snap?.json.status, "PENDING");
  const events = frames.filter((f) => f?.event === "event");
  assert.deepEqual(events.map((e) => e?.json.seq), [s1, s2]);
  assert.equal(events[1]?.json.message, "hi");
  assert.equal(events[1]?.json.type, "task.log");
  assert.equal(frames[2]?.id, `${r1}-${s2}`, "ids carry the revision and the event sequence");

  const s3 = (await publish({ type: "task.started", task: "b", attempt: 1 })).seq;
  const e3 = await sse.next();
  assert.equal(e3?.event, "event");
  assert.equal(e3?.json.seq, s3);
  assert.equal(e3?.id, `${r1}-${s3}`);
  const s4 = (await publish({ type: "run.completed" })).seq;
  const r2 = await gw.reader.runs.put(
    "run-e",
    JSON.stringify(snapshot("run-e", { status: "COMPLETED" })),
  );
  // The stored events come before the terminal snapshot, then the stream ends.
  const tail = [await sse.next(), await sse.next()];
  assert.deepEqual(tail.map((f) => f?.event), ["event", "snapshot"]);
  assert.equal(tail[0]?.json.seq, s4);
  assert.equal(tail[1]?.id, `${r2}-${s4}`);
  assert.equal(await sse.next(), null);

  // Resuming with Last-Event-ID skips the events and the snapshot the client has.
  const resumed = new SseReader(
    await gw.request("/runs/run-e/watch?events=1", {
      headers: { "Last-Event-ID": `${r1}-${s2}` },
    }),
  );
  const again = [await resumed.next(), await resumed.next(), await resumed.next()];
  assert.deepEqual(again.map((f) => f?.event), ["event", "event", "snapshot"]);
  assert.deepEqual(again.slice(0, 2).map((f) => f?.json.seq), [s3, s4]);
  assert.equal(await resumed.next(), null);
  // after_seq without Last-Event-ID starts the events after it.
  const after = new SseReader(await gw.request(`/runs/run-e/watch?events=1&after_seq=${s3}`));
  const afterFrames = [await after.next(), await after.next()];
  assert.deepEqual(afterFrames.map((f) => f?.json.seq ?? f?.json.status), [s4, "COMPLETED"]);
});

Deno.test("GET /runs/{id}/watch?events=1 sends a batch message as one frame per event and resumes inside it", async () => {
  await using gw = await gatewayFixture({ appConfig: { sseHeartbeatSec: 30 } });
  const js = jetstream(gw.reader.nc);
  const subject = `pyoco.events.run-b`;
  const event = (type: string, extra: Record<string, unknown> = {}) =>
    JSON.stringify({ run_id: "run-b", type, ...extra });
  const r1 = await gw.reader.runs.put("run-b", JSON.stringify(snapshot("run-b")));
  const b1 = (await js.publish(
    subject,
    encodeEventBatch([
      event("run.started"),
      event("task.started", { task: "a" }),
      event("task.log", { task: "a", message: "hi" }),
    ]),
  )).seq;
  const seq = (streamSeq: number, index: number) => eventSeq({ streamSeq, index }, true);

  const sse = new SseReader(await gw.request("/runs/run-b/watch?events=1"));
  const first = [await sse.next(), await sse.next(), await sse.next(), await sse.next()];
  const events = first.filter((f) => f?.event === "event");
  assert.deepEqual(events.map((e) => e?.json.seq), [seq(b1, 0), seq(b1, 1), seq(b1, 2)]);
  assert.deepEqual(events.map((e) => e?.json.type), ["run.started", "task.started", "task.log"]);
  assert.equal(events[2]?.json.message, "hi");
  assert.equal(events[2]?.id, `${r1}-${seq(b1, 2)}`, "each item has its own id");

  // The run's last flush and its terminal snapshot: the events come first, then the snapshot.
  const b2 = (await js.publish(
    subject,
    encodeEventBatch([event("task.succeeded", { task: "a" }), event("run.completed")]),
  )).seq;
  const r2 = await gw.reader.runs.put(
    "run-b",
    JSON.stringify(snapshot("run-b", { status: "COMPLETED" })),
  );
  const tail = [await sse.next(), await sse.next(), await sse.next()];
  assert.deepEqual(tail.map((f) => f?.event), ["event", "event", "snapshot"]);
  assert.deepEqual(tail.slice(0, 2).map((f) => f?.json.seq), [seq(b2, 0), seq(b2, 1)]);
  assert.equal(tail[2]?.id, `${r2}-${seq(b2, 1)}`);
  assert.equal(await sse.next(), null);

  // Last-Event-ID in the middle of the first batch: the rest of it, the second one, the end.
  const resumed = new SseReader(
    await gw.request("/runs/run-b/watch?events=1", {
      headers: { "Last-Event-ID": `${r1}-${seq(b1, 1)}` },
    }),
  );
  const again: (string | number | undefined)[] = [];
  for (let f = await resumed.next(); f !== null; f = await resumed.next()) {
    again.push((f.json.seq ?? f.json.status) as string | number);
  }
  assert.deepEqual(again, [seq(b1, 2), seq(b2, 0), seq(b2, 1), "COMPLETED"]);
  // after_seq inside the second batch.
  const after = new SseReader(
    await gw.request(`/runs/run-b/watch?events=1&after_seq=${seq(b2, 0)}`),
  );
  const afterFrames = [await after.next(), await after.next()];
  assert.deepEqual(afterFrames.map((f) => f?.json.seq ?? f?.json.status), [
    seq(b2, 1),
    "COMPLETED",
  ]);
});

Deno.test("GET /runs/{id}/watch sends an error event when the run is deleted", async () => {
  await using gw = await gatewayFixture({ appConfig: { sseHeartbeatSec: 30 } });
  await gw.reader.runs.put("run-d", JSON.stringify(snapshot("run-d")));
  const sse = new SseReader(await gw.request("/runs/run-d/watch"));
  assert.equal((await sse.next())?.event, "snapshot");
  await gw.reader.runs.delete("run-d");
  const err = await sse.next();
  assert.equal(err?.event, "error");
  assert.equal(err?.json.err_id, "ERR-PYOCO-0005");
  assert.equal(await sse.next(), null);
});

Deno.test("GET /runs/watch streams matching summaries of every change, tenant-scoped, resumable", async () => {
  await using gw = await gatewayFixture({
    appConfig: { sseHeartbeatSec: 30 },
    authenticate: () => headerTenant(),
  });
  const acme = { headers: { "x-tenant": "acme" } };
  const res = await gw.request("/runs/watch?flow=hello&status=RUNNING,COMPLETED", acme);
  assert.equal(res.status, 200);
  const sse = new SseReader(res);
  assert.equal((await sse.next())?.event, "heartbeat", "a heartbeat at once");
  await gw.reader.runs.put("a1", JSON.stringify(snapshot("a1", { tenant_id: "acme" })));
  await gw.reader.runs.put(
    "o1",
    JSON.stringify(snapshot("o1", { tenant_id: "other", status: "RUNNING" })),
  );
  await gw.reader.runs.put(
    "a2",
    JSON.stringify(snapshot("a2", { tenant_id: "acme", flow_name: "bye", status: "RUNNING" })),
  );
  const ra1 = await gw.reader.runs.put(
    "a1",
    JSON.stringify(snapshot("a1", { tenant_id: "acme", status: "RUNNING" })),
  );
  const ra1b = await gw.reader.runs.put(
    "a1",
    JSON.stringify(snapshot("a1", { tenant_id: "acme", status: "COMPLETED" })),
  );
  const f1 = await sse.next();
  const f2 = await sse.next();
  assert.deepEqual([f1?.event, f1?.id, f1?.json.status], ["summary", String(ra1), "RUNNING"]);
  assert.deepEqual([f2?.event, f2?.id, f2?.json.status], ["summary", String(ra1b), "COMPLETED"]);
  assert.deepEqual(Object.keys(f2!.json).sort(), [
    "error",
    "flow_name",
    "heartbeat_at",
    "run_id",
    "status",
    "tag",
    "tags",
    "updated_at",
    "worker_id",
  ]);
  await sse.cancel();

  // Reconnecting with Last-Event-ID replays the changes after it (only the current state).
  const resumed = new SseReader(
    await gw.request("/runs/watch", {
      headers: { "x-tenant": "acme", "Last-Event-ID": String(ra1 - 1) },
    }),
  );
  assert.equal((await resumed.next())?.event, "heartbeat");
  const replay = await resumed.next();
  assert.deepEqual([replay?.id, replay?.json.run_id, replay?.json.status], [
    String(ra1b),
    "a1",
    "COMPLETED",
  ]);
  await gw.reader.runs.delete("a2");
  const removed = await resumed.next();
  assert.equal(removed?.event, "removed");
  assert.deepEqual(removed?.json, { run_id: "a2" });
  await resumed.cancel();
});
