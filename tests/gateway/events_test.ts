import assert from "node:assert/strict";
import { jetstream } from "@nats-io/jetstream";
import { gatewayFixture, postJson } from "./_fixture.ts";

Deno.test("GET /runs/{id}/events returns the run's events in order, paged by after_seq", async () => {
  await using gw = await gatewayFixture();
  const { run_id } = await (await gw.request("/runs", postJson({ flow_name: "hello" }))).json();
  const other = (await (await gw.request("/runs", postJson({ flow_name: "hello" }))).json()).run_id;
  const js = jetstream(gw.reader.nc);
  const seqs: number[] = [];
  for (let i = 0; i < 25; i++) {
    const ack = await js.publish(
      `pyoco.events.${run_id}`,
      JSON.stringify({
        type: "task.log",
        run_id,
        task: "a",
        attempt: 1,
        message: `line ${i}`,
        ts: i,
      }),
    );
    seqs.push(ack.seq);
    await js.publish(`pyoco.events.${other}`, JSON.stringify({ type: "task.log", run_id: other }));
  }
  await js.publish(`pyoco.events.${run_id}`, "not json");

  const all = await (await gw.request(`/runs/${run_id}/events?limit=1000`)).json();
  assert.equal(all.run_id, run_id);
  assert.equal(all.events.length, 26);
  assert.deepEqual(all.events.slice(0, 25).map((e: { seq: number }) => e.seq), seqs);
  assert.equal(all.events[3].message, "line 3");
  assert.equal(all.events[3].type, "task.log");
  assert.deepEqual(all.events[25], { seq: all.events[25].seq, type: "unknown", data: "not json" });
  assert.equal(all.next_after_seq, all.events[25].seq);

  const page1 = await (await gw.request(`/runs/${run_id}/events?limit=10`)).json();
  assert.deepEqual(page1.events.map((e: { seq: number }) => e.seq), seqs.slice(0, 10));
  assert.equal(page1.next_after_seq, seqs[9]);
  const page2 = await (
    await gw.request(`/runs/${run_id}/events?after_seq=${page1.next_after_seq}&limit=10`)
  ).json();
  assert.deepEqual(page2.events.map((e: { seq: number }) => e.seq), seqs.slice(10, 20));
  const end = await (await gw.request(`/runs/${run_id}/events?after_seq=${all.next_after_seq}`))
    .json();
  assert.deepEqual(end, { run_id, events: [], next_after_seq: all.next_after_seq });
  // Default limit is 100; no events at all is an empty page.
  const none = await (await gw.request("/runs", postJson({ flow_name: "hello" }))).json();
  assert.deepEqual((await (await gw.request(`/runs/${none.run_id}/events`)).json()).events, []);
  // The short-lived read consumers are gone.
  const info = await gw.reader.jsm.streams.info(gw.config.eventsStream);
  assert.equal(info.state.consumer_count, 0);
});

Deno.test("GET /runs/{id}/events answers 404 for a missing run and 422 for bad paging", async () => {
  await using gw = await gatewayFixture();
  const missing = await gw.request("/runs/nope/events");
  assert.equal(missing.status, 404);
  assert.equal((await missing.json()).err_id, "ERR-PYOCO-0005");
  for (const q of ["limit=0", "limit=1001", "after_seq=-1", "after_seq=x", "limit=1.5"]) {
    const res = await gw.request(`/runs/nope/events?${q}`);
    assert.equal(res.status, 422, q);
  }
});
