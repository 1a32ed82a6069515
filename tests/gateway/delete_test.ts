import assert from "node:assert/strict";
import { jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { RunSnapshot } from "../../src/contract/wire.ts";
import type { Principal } from "../../src/runs/principal.ts";
import { gatewayFixture, postJson } from "./_fixture.ts";
import { poll } from "../_helpers/poll.ts";

async function finish(gw: Awaited<ReturnType<typeof gatewayFixture>>, runId: string) {
  const entry = (await gw.reader.runs.get(runId))!;
  const done = { ...entry.json<RunSnapshot>(), status: "COMPLETED", end_time: 2000 };
  await gw.reader.runs.update(runId, JSON.stringify(done), entry.revision);
  await poll(() => gw.backend.index.get(runId)?.status === "COMPLETED", {
    message: "the index to see the run COMPLETED",
  });
}

Deno.test("DELETE /runs/{id} removes a finished run, its idempotency claim and its events", async () => {
  await using gw = await gatewayFixture();
  const headers = { "Idempotency-Key": "delete-me" };
  const { run_id } = await (await gw.request("/runs", postJson({ flow_name: "hello" }, headers)))
    .json();
  const { run_id: other } = await (await gw.request("/runs", postJson({ flow_name: "hello" })))
    .json();
  // The claim travels in the job too: a worker's first write rebuilds the snapshot from the job.
  const info = await gw.reader.jsm.streams.info(gw.config.workStream);
  const queued = await gw.reader.jsm.streams.getMessage(gw.config.workStream, {
    seq: info.state.first_seq,
  });
  const claim = (await gw.reader.runs.get(run_id))!.json<RunSnapshot>().idempotency_claim;
  assert.equal(typeof claim, "string");
  assert.equal(queued!.json<{ idempotency_claim?: string }>().idempotency_claim, claim);
  const js = jetstream(gw.reader.nc);
  await js.publish(`pyoco.events.${run_id}`, JSON.stringify({ type: "run.started", run_id }));
  await js.publish(`pyoco.events.${other}`, JSON.stringify({ type: "run.started", run_id: other }));

  // Not finished: 409, nothing removed.
  const early = await gw.request(`/runs/${run_id}`, { method: "DELETE" });
  assert.equal(early.status, 409);
  const body = await early.json();
  assert.equal(body.err_id, "ERR-PYOCO-0027");
  assert.match(body.detail, /PENDING.*cancel it first/);
  assert.ok(await gw.reader.runs.get(run_id));

  await finish(gw, run_id);
  const res = await gw.request(`/runs/${run_id}`, { method: "DELETE" });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { run_id, status: "COMPLETED", deleted: true });

  assert.equal((await gw.request(`/runs/${run_id}`)).status, 404);
  const listed = await (await gw.request("/runs")).json();
  assert.deepEqual(listed.map((r: { run_id: string }) => r.run_id), [other]);
  const events = await (await gw.request(`/runs/${other}/events`)).json();
  assert.equal(events.events.length, 1, "another run's events stay");
  const stream = await gw.reader.jsm.streams.info(gw.config.eventsStream, {
    subjects_filter: ">",
  });
  assert.deepEqual(Object.keys(stream.state.subjects ?? {}), [`pyoco.events.${other}`]);
  const idem = await new Kvm(gw.reader.nc).open(gw.config.idempotencyKvBucket);
  const claims: string[] = [];
  for await (const k of await idem.keys()) claims.push(k);
  assert.deepEqual(claims, [], "the idempotency claim is gone");
  // The same key now makes a new run.
  const again = await (await gw.request("/runs", postJson({ flow_name: "hello" }, headers))).json();
  assert.notEqual(again.run_id, run_id);
  // Deleting again: 404.
  assert.equal((await gw.request(`/runs/${run_id}`, { method: "DELETE" })).status, 404);
});

Deno.test("DELETE /runs/{id} is tenant-scoped: another tenant's run answers 404", async () => {
  await using gw = await gatewayFixture({
    authenticate: () => (req: Request) =>
      Promise.resolve<Principal>({ tenantId: req.headers.get("x-api-key") ?? "", keyId: "k" }),
  });
  const { run_id } = await (await gw.request(
    "/runs",
    postJson({ flow_name: "hello" }, { "x-api-key": "a" }),
  )).json();
  await finish(gw, run_id);
  const asB = await gw.request(`/runs/${run_id}`, {
    method: "DELETE",
    headers: { "x-api-key": "b" },
  });
  assert.equal(asB.status, 404);
  assert.ok(await gw.reader.runs.get(run_id));
  const asA = await gw.request(`/runs/${run_id}`, {
    method: "DELETE",
    headers: { "x-api-key": "a" },
  });
  assert.equal(asA.status, 200);
});
