import assert from "node:assert/strict";
import { jetstream } from "@nats-io/jetstream";
import { encodeEventBatch, eventSeq, type RunEvent } from "../../src/contract/events.ts";
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

Deno.test("GET /runs/{id}/events expands batch messages into per-event items, pages and resumes inside a batch", async () => {
  await using gw = await gatewayFixture();
  const { run_id } = await (await gw.request("/runs", postJson({ flow_name: "hello" }))).json();
  const js = jetstream(gw.reader.nc);
  const subject = `pyoco.events.${run_id}`;
  const line = (i: number) => JSON.stringify({ type: "task.log", run_id, message: `line ${i}` });
  // An event published singly (as workers did before batching), then two batches, then one more.
  const legacy = (await js.publish(subject, line(0))).seq;
  const b1 = (await js.publish(subject, encodeEventBatch([1, 2, 3, 4].map(line)))).seq;
  const b2 = (await js.publish(subject, encodeEventBatch([5, 6, 7].map(line)))).seq;
  const tail = (await js.publish(subject, line(8))).seq;
  const seqOf = (streamSeq: number, index: number) => eventSeq({ streamSeq, index }, true);
  const expected = [
    legacy,
    ...[0, 1, 2, 3].map((i) => seqOf(b1, i)),
    ...[0, 1, 2].map((i) => seqOf(b2, i)),
    tail,
  ];

  const all = await (await gw.request(`/runs/${run_id}/events?limit=1000`)).json();
  assert.deepEqual(all.events.map((e: RunEvent) => e.seq), expected);
  assert.deepEqual(
    all.events.map((e: RunEvent) => e.message),
    [0, 1, 2, 3, 4, 5, 6, 7, 8].map(
      (i) => `line ${i}`,
    ),
  );
  assert.ok(all.events.every((e: RunEvent) => e.type === "task.log" && e.run_id === run_id));
  assert.equal(all.next_after_seq, tail);

  // Small pages end inside batches; every page resumes where the last one stopped.
  for (const size of [1, 2, 3, 5]) {
    const seen: number[] = [];
    let after = 0;
    for (let pages = 0; pages < 20; pages++) {
      const page = await (
        await gw.request(`/runs/${run_id}/events?after_seq=${after}&limit=${size}`)
      ).json();
      if (page.events.length === 0) break;
      assert.ok(page.events.length <= size);
      seen.push(...page.events.map((e: RunEvent) => e.seq));
      after = page.next_after_seq;
    }
    assert.deepEqual(seen, expected, `pages of ${size}`);
  }
  // after_seq in the middle of a batch.
  const mid = await (await gw.request(`/runs/${run_id}/events?after_seq=${expected[2]}`)).json();
  assert.deepEqual(mid.events.map((e: RunEvent) => e.seq), expected.slice(3));
  const info = await gw.reader.jsm.streams.info(gw.config.eventsStream);
  assert.equal(info.state.consumer_count, 0);
});
