import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import { jetstreamManager } from "@nats-io/jetstream";
import type { RunSnapshot } from "../../src/contract/wire.ts";
import { decodeCursor, encodeCursor } from "../../src/gateway/delta.ts";
import { RunIndex } from "../../src/runs/run_index.ts";
import { startNatsServer } from "../_helpers/nats_server.ts";
import { gatewayFixture } from "./_fixture.ts";
import { poll } from "../_helpers/poll.ts";

function snapshot(runId: string, fields: Partial<RunSnapshot> = {}): string {
  return JSON.stringify({
    run_id: runId,
    flow_name: "hello",
    status: "PENDING",
    params: {},
    tasks: {},
    heartbeat_at: 1000,
    updated_at: 1000,
    tag: "default",
    tags: ["default"],
    ...fields,
  });
}

interface Page {
  items: { run_id: string; status: string; updated_at: number }[];
  next_cursor: string;
  has_more: boolean;
}

Deno.test("GET /runs with a cursor pages every updated run exactly once while runs keep changing", async () => {
  await using gw = await gatewayFixture();
  for (let i = 0; i < 30; i++) await gw.reader.runs.put(`r${i}`, snapshot(`r${i}`));
  const last = await gw.reader.runs.put("r30", snapshot("r30"));
  await poll(() => gw.backend.index.watermark >= last, { message: "the index to catch up" });
  // The plain list is unchanged.
  assert.ok(Array.isArray(await (await gw.request("/runs?limit=5")).json()));

  const start = encodeCursor({ v: 1, rev: 0 });
  const seen: string[] = [];
  let cursor = start;
  let changed = false;
  for (let page = 0; page < 50; page++) {
    const body: Page = await (await gw.request(`/runs?cursor=${cursor}&limit=7`)).json();
    seen.push(...body.items.map((r) => r.run_id));
    cursor = body.next_cursor;
    if (!changed) {
      // While paging: update a run already paged and one not paged yet.
      changed = true;
      const a = await gw.reader.runs.put("r0", snapshot("r0", { status: "RUNNING" }));
      const b = await gw.reader.runs.put("r20", snapshot("r20", { status: "RUNNING" }));
      await poll(() => gw.backend.index.watermark >= Math.max(a, b), { message: "the updates" });
    }
    if (!body.has_more) break;
  }
  // r20 appears once (at its new position), r0 again as a new update; every run at least once.
  assert.equal(seen.filter((id) => id === "r20").length, 1);
  assert.equal(seen.filter((id) => id === "r0").length, 2);
  assert.deepEqual(new Set(seen), new Set(Array.from({ length: 31 }, (_, i) => `r${i}`)));
  assert.equal(seen.length, 32);
  assert.equal(seen[seen.length - 1], "r20");

  // Polling with the last cursor: empty, same cursor; then only what changed.
  const idle: Page = await (await gw.request(`/runs?cursor=${cursor}`)).json();
  assert.deepEqual(idle.items, []);
  assert.equal(idle.next_cursor, cursor);
  const rev = await gw.reader.runs.put("r5", snapshot("r5", { status: "COMPLETED" }));
  await poll(() => gw.backend.index.watermark >= rev, { message: "the update" });
  const delta: Page = await (await gw.request(`/runs?cursor=${cursor}`)).json();
  assert.deepEqual(delta.items.map((r) => [r.run_id, r.status]), [["r5", "COMPLETED"]]);
  assert.equal(decodeCursor(delta.next_cursor)?.rev, rev);
  // Filters apply to delta pages.
  const filtered: Page = await (await gw.request(`/runs?cursor=${start}&status=RUNNING&limit=200`))
    .json();
  assert.deepEqual(filtered.items.map((r) => r.run_id), ["r0", "r20"]);
});

Deno.test("GET /runs?updated_after= starts after a time; a bad cursor or time is 422", async () => {
  await using gw = await gatewayFixture();
  for (let i = 0; i < 10; i++) {
    await gw.reader.runs.put(`t${i}`, snapshot(`t${i}`, { updated_at: 5000 + i }));
  }
  const last = await gw.reader.runs.put("t10", snapshot("t10", { updated_at: 5010 }));
  await poll(() => gw.backend.index.watermark >= last, { message: "the index to catch up" });
  const page: Page = await (await gw.request("/runs?updated_after=5006&limit=2")).json();
  assert.deepEqual(page.items.map((r) => r.run_id), ["t7", "t8"]);
  assert.equal(page.has_more, true);
  const next: Page = await (await gw.request(`/runs?cursor=${page.next_cursor}`)).json();
  assert.deepEqual(next.items.map((r) => r.run_id), ["t9", "t10"]);
  // The cursor carries updated_after: an older update after the cursor is still filtered out.
  const old = await gw.reader.runs.put("t1", snapshot("t1", { updated_at: 10 }));
  await poll(() => gw.backend.index.watermark >= old, { message: "the update" });
  const after: Page = await (await gw.request(`/runs?cursor=${next.next_cursor}`)).json();
  assert.deepEqual(after.items, []);
  // cursor wins over updated_after.
  const both: Page = await (
    await gw.request(`/runs?cursor=${encodeCursor({ v: 1, rev: 0 })}&updated_after=99999`)
  ).json();
  assert.equal(both.items.length, 11);

  for (
    const q of [
      "cursor=",
      "cursor=!!",
      "cursor=e30",
      `cursor=${btoa('{"v":2,"rev":1}').replace(/=+$/, "")}`,
      `cursor=${btoa('{"v":1,"rev":-1}').replace(/=+$/, "")}`,
      `cursor=${btoa('{"v":1,"rev":1,"x":1}').replace(/=+$/, "")}`,
      "updated_after=abc",
      "updated_after=-5",
      `cursor=${encodeCursor({ v: 1, rev: 0 })}&limit=0`,
    ]
  ) {
    const res = await gw.request(`/runs?${q}`);
    assert.equal(res.status, 422, q);
    assert.equal((await res.json()).err_id, "ERR-PYOCO-0002", q);
  }
});

Deno.test("RunIndex.listDelta() page cost does not grow with the number of runs (100k)", async () => {
  await using srv = await startNatsServer();
  const nc = await connect({ servers: srv.url });
  const kv = await new Kvm(nc).create("delta_idx", { history: 1 });
  const index = new RunIndex(kv);
  try {
    index.start();
    await index.whenReady(5000);
    // Fill the index in memory (the KV path is covered above), then move the watermark on by
    // one real write so every filled revision is visible: the bucket's sequence is first moved
    // past every revision used here.
    const jsm = await jetstreamManager(nc);
    await jsm.streams.purge("KV_delta_idx", { seq: 1_000_000 });
    const fill = (from: number, to: number) => {
      for (let i = from; i < to; i++) {
        index.upsert(JSON.parse(snapshot(`b${i}`, { updated_at: i })), i + 1);
      }
    };
    const timings: Record<number, number> = {};
    const scanned: Record<number, number> = {};
    let filled = 0;
    for (const n of [1_000, 100_000]) {
      fill(filled, n);
      filled = n;
      const bump = await kv.put("bump", snapshot("bump", { updated_at: n }));
      await poll(() => index.watermark >= bump, { message: "the bump" });
      // A page from the middle, several times (warm), timed per page.
      const after = Math.floor(n / 2);
      const t0 = performance.now();
      let page;
      for (let i = 0; i < 200; i++) page = index.listDelta({ afterRevision: after, limit: 100 });
      timings[n] = (performance.now() - t0) / 200;
      scanned[n] = page!.scanned;
      assert.deepEqual(
        page!.runs.map((r) => r.revision),
        Array.from({ length: 100 }, (_, i) => after + 1 + i),
      );
    }
    // The work per page is the page, whatever the total.
    assert.equal(scanned[1_000], 100);
    assert.equal(scanned[100_000], 100);
    console.log(
      `delta page (100 items): ${timings[1_000]!.toFixed(3)} ms at 1k runs, ` +
        `${timings[100_000]!.toFixed(3)} ms at 100k runs`,
    );
    // Updates leave stale entries that are skipped and compacted, not rescanned forever.
    for (let i = 0; i < 60_000; i++) {
      index.upsert(JSON.parse(snapshot(`b${i}`, { updated_at: 200_000 + i })), 200_000 + i);
    }
    const tail = index.listDelta({ afterRevision: 199_999, limit: 100 });
    assert.equal(tail.runs.length, 100);
    assert.equal(tail.runs[0]!.run_id, "b0");
  } finally {
    await index.close();
    await nc.close();
  }
});
