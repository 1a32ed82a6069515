import assert from "node:assert/strict";
import type { KvWatchEntry } from "@nats-io/kv";
import type { RunSnapshot } from "../../src/contract/wire.ts";
import { isTerminal } from "../../src/contract/wire.ts";
import { casUpdate } from "../../src/nats/kv.ts";
import type { Principal } from "../../src/gateway/auth.ts";
import { gatewayFixture, postJson, snapshot } from "./_fixture.ts";
import { poll } from "../_helpers/poll.ts";

const cancel = (_id: string, headers: Record<string, string> = {}): RequestInit => ({
  method: "POST",
  headers,
});

Deno.test("POST /runs/{id}/cancel: PENDING → CANCELLED at once, idempotent", async () => {
  await using gw = await gatewayFixture();
  const { run_id } = await (await gw.request("/runs", postJson({ flow_name: "hello" }))).json();
  const res = await gw.request(`/runs/${run_id}/cancel`, cancel(run_id));
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(body.run_id, run_id);
  assert.equal(body.status, "CANCELLED");
  assert.equal("task_records" in body, false);
  const stored = (await gw.reader.runs.get(run_id))!.json<RunSnapshot>();
  assert.equal(stored.status, "CANCELLED");
  assert.equal(stored.error, "Run cancelled by request");
  assert.equal(typeof stored.end_time, "number");
  assert.equal(stored.cancel_requested_at, stored.end_time);
  const revision = (await gw.reader.runs.get(run_id))!.revision;
  const again = await (await gw.request(`/runs/${run_id}/cancel`, cancel(run_id))).json();
  assert.equal(again.status, "CANCELLED");
  assert.equal((await gw.reader.runs.get(run_id))!.revision, revision, "no second write");
  await poll(async () => (await (await gw.request(`/runs?status=CANCELLED`)).json()).length === 1, {
    message: "the list to show the cancelled run",
  });
});

Deno.test("POST /runs/{id}/cancel: RUNNING → CANCELLING; CANCELLING and terminal runs unchanged", async () => {
  await using gw = await gatewayFixture();
  await gw.reader.runs.put(
    "run-r",
    JSON.stringify(snapshot("run-r", { status: "RUNNING", tasks: { a: "RUNNING" } })),
  );
  // Workers learn of it at once through a core NATS notification.
  const notified = gw.reader.nc.subscribe("pyoco.cancel.*", { max: 1 });
  await gw.reader.nc.flush();
  const body = await (await gw.request("/runs/run-r/cancel", cancel("run-r"))).json();
  assert.equal(body.status, "CANCELLING");
  for await (const msg of notified) assert.equal(msg.subject, "pyoco.cancel.run-r");
  assert.equal(notified.getProcessed(), 1);
  const stored = (await gw.reader.runs.get("run-r"))!;
  const snap = stored.json<RunSnapshot>();
  assert.equal(snap.status, "CANCELLING");
  assert.equal(typeof snap.cancel_requested_at, "number");
  assert.deepEqual(snap.tasks, { a: "RUNNING" }, "the worker decides the task states");
  const again = await (await gw.request("/runs/run-r/cancel", cancel("run-r"))).json();
  assert.equal(again.status, "CANCELLING");
  assert.equal(again.cancel_requested_at, snap.cancel_requested_at, "the first request stands");
  assert.equal((await gw.reader.runs.get("run-r"))!.revision, stored.revision);

  for (const status of ["COMPLETED", "FAILED", "CANCELLED"] as const) {
    const rev = await gw.reader.runs.put(`t-${status}`, JSON.stringify(snapshot("x", { status })));
    const res = await gw.request(`/runs/t-${status}/cancel`, cancel(""));
    assert.equal(res.status, 200);
    assert.equal((await res.json()).status, status);
    assert.equal((await gw.reader.runs.get(`t-${status}`))!.revision, rev, status);
  }
});

Deno.test("POST /runs/{id}/cancel answers 404 for missing runs and other tenants' runs", async () => {
  await using gw = await gatewayFixture({
    authenticate: () => (req: Request) =>
      Promise.resolve<Principal>({ tenantId: req.headers.get("x-tenant") ?? "", keyId: "k" }),
  });
  const missing = await gw.request("/runs/nope/cancel", cancel("nope", { "x-tenant": "a" }));
  assert.equal(missing.status, 404);
  assert.equal((await missing.json()).err_id, "ERR-PYOCO-0005");
  await gw.reader.runs.put("mine", JSON.stringify(snapshot("mine", { tenant_id: "a" })));
  const foreign = await gw.request("/runs/mine/cancel", cancel("mine", { "x-tenant": "b" }));
  assert.equal(foreign.status, 404);
  assert.equal((await gw.reader.runs.get("mine"))!.json<RunSnapshot>().status, "PENDING");
  const own = await gw.request("/runs/mine/cancel", cancel("mine", { "x-tenant": "a" }));
  assert.equal((await own.json()).status, "CANCELLED");
  assert.equal((await gw.request("/runs/mine/cancel", { method: "GET" })).status, 405);
});

Deno.test("POST /runs/{id}/cancel racing a worker's completion ends in exactly one terminal state", async () => {
  await using gw = await gatewayFixture();
  for (let i = 0; i < 15; i++) {
    const id = `race-${i}`;
    await gw.reader.runs.put(id, JSON.stringify(snapshot(id, { status: "RUNNING" })));
    const history: RunSnapshot[] = [];
    const watch = await gw.reader.runs.watch({ key: id });
    const seen = (async () => {
      for await (const e of watch as AsyncIterable<KvWatchEntry>) {
        history.push(e.json<RunSnapshot>());
        if (isTerminal(history[history.length - 1]!.status)) break;
      }
    })();
    // A worker finishing at the same moment: compare-and-set like the real one (never over a
    // terminal snapshot; a CANCELLING run ends CANCELLED).
    const worker = casUpdate<RunSnapshot>(gw.reader.runs, id, (cur) => {
      if (!cur || isTerminal(cur.value.status)) return undefined;
      return {
        ...cur.value,
        status: cur.value.status === "CANCELLING" ? "CANCELLED" : "COMPLETED",
      };
    });
    const [res] = await Promise.all([gw.request(`/runs/${id}/cancel`, cancel(id)), worker]);
    const answered = (await res.json()).status;
    await seen;
    watch.stop();
    const final = (await gw.reader.runs.get(id))!.json<RunSnapshot>();
    assert.ok(isTerminal(final.status), final.status);
    const terminals = history.filter((s) => isTerminal(s.status));
    assert.equal(terminals.length, 1, `one terminal write (${history.map((s) => s.status)})`);
    assert.equal(terminals[0]!.status, final.status);
    // The cancel saw RUNNING (→ CANCELLING, then the worker wrote CANCELLED) or the completion.
    if (answered === "CANCELLING") assert.equal(final.status, "CANCELLED");
    else assert.equal(answered, "COMPLETED");
    // A later cancel changes nothing.
    const rev = (await gw.reader.runs.get(id))!.revision;
    await (await gw.request(`/runs/${id}/cancel`, cancel(id))).body?.cancel();
    assert.equal((await gw.reader.runs.get(id))!.revision, rev);
  }
});

Deno.test("POST /runs/{id}/cancel of a PENDING run takes its job out of the queue and the metric", async () => {
  await using gw = await gatewayFixture();
  const keep = await (await gw.request("/runs", postJson({ flow_name: "hello", tag: "nobody" })))
    .json();
  const drop = await (await gw.request("/runs", postJson({ flow_name: "hello", tag: "nobody" })))
    .json();
  const queued = async () => {
    const info = await gw.reader.jsm.streams.info(gw.config.workStream, {
      subjects_filter: ">",
    });
    return info.state.subjects?.["pyoco.work.nobody"] ?? 0;
  };
  assert.equal(await queued(), 2);
  const res = await gw.request(`/runs/${drop.run_id}/cancel`, cancel(drop.run_id));
  assert.equal((await res.json()).status, "CANCELLED");
  await poll(async () => (await queued()) === 1, { message: "the cancelled run's job to go" });
  const info = await gw.reader.jsm.streams.info(gw.config.workStream);
  const left = await gw.reader.jsm.streams.getMessage(gw.config.workStream, {
    seq: info.state.first_seq,
  });
  assert.equal(left?.json<{ run_id: string }>().run_id, keep.run_id, "the other run's job stays");
  const metrics = await (await gw.request("/metrics")).text();
  assert.match(metrics, /^pyoco_queue_pending\{tag="nobody"\} 1$/m);
});
