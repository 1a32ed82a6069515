import assert from "node:assert/strict";
import { postJson } from "../gateway/_fixture.ts";
import type { Principal } from "../../src/runs/principal.ts";
import { poll } from "../_helpers/poll.ts";
import { manageFixture } from "./_setup.ts";

type Fixture = Awaited<ReturnType<typeof manageFixture>>;

/** Submit `n` etl runs that fail (execution_error dead letters); returns their run ids. */
async function failRuns(gw: Fixture, n: number, headers: Record<string, string> = {}) {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const { run_id } = await (await gw.request("/runs", postJson({ flow_name: "etl" }, headers)))
      .json();
    assert.equal((await gw.runOne(run_id)).status, "FAILED");
    ids.push(run_id);
  }
  await poll(async () => {
    const list = await (await gw.request("/dlq", { headers })).json();
    return list.length >= n;
  }, { message: "the dead letters to be listed" });
  return ids;
}

Deno.test("DLQ: replayed entries show replayed_as; POST /dlq/replay replays by filter, once unless include_replayed", async () => {
  await using gw = await manageFixture();
  const failed = await failRuns(gw, 3);
  const list = await (await gw.request("/dlq?flow=etl")).json();
  assert.equal(list.length, 3);
  for (const e of list) assert.deepEqual(e.replayed_as, []);
  assert.deepEqual(
    list.map((e: { run_id: string }) => e.run_id),
    [...failed].reverse(),
    "newest first",
  );
  assert.deepEqual(await (await gw.request("/dlq?flow=other")).json(), []);

  const newest = list[0].seq;
  const one = await (await gw.request(`/dlq/${newest}/replay`, { method: "POST" })).json();
  assert.equal(one.replayed_from, newest);
  assert.deepEqual(one.replayed_as, [one.run_id]);
  const entry = await (await gw.request(`/dlq/${newest}`)).json();
  assert.deepEqual(entry.replayed_as, [one.run_id]);

  const bulk = await gw.request(
    "/dlq/replay",
    postJson({ flow: "etl", reason: "execution_error" }),
  );
  assert.equal(bulk.status, 200);
  const answer = await bulk.json();
  assert.equal(answer.replayed, 2);
  assert.equal(answer.failed, 0);
  assert.equal(answer.skipped_replayed, 1);
  assert.deepEqual(answer.items.map((i: { seq: number }) => i.seq), [list[2].seq, list[1].seq]);
  for (const item of answer.items) {
    assert.equal(item.status, "PENDING");
    const snap = await (await gw.request(`/runs/${item.run_id}`)).json();
    assert.equal(snap.replayed_from, item.seq);
  }
  // No body: the empty filter.
  const again = await (await gw.request("/dlq/replay", { method: "POST" })).json();
  assert.deepEqual(again, { items: [], replayed: 0, failed: 0, skipped_replayed: 3 });

  const forced = await (await gw.request(
    "/dlq/replay",
    postJson({ include_replayed: true, limit: 1 }),
  )).json();
  assert.equal(forced.replayed, 1);
  assert.equal(forced.items[0].seq, newest);
  const marks = await (await gw.request(`/dlq/${newest}`)).json();
  assert.deepEqual(marks.replayed_as, [one.run_id, forced.items[0].run_id]);
});

Deno.test("DELETE /dlq/{seq} removes the entry and its mark; 404 after, for bad seqs and for other tenants", async () => {
  await using gw = await manageFixture({
    authenticate: () => (req: Request) =>
      Promise.resolve<Principal>({ tenantId: req.headers.get("x-api-key") ?? "", keyId: "k" }),
  });
  const asA = { "x-api-key": "a" };
  await failRuns(gw, 2, asA);
  const [first, second] = await (await gw.request("/dlq", { headers: asA })).json();
  await gw.request(`/dlq/${first.seq}/replay`, { method: "POST", headers: asA });

  const asB = await gw.request(`/dlq/${first.seq}`, {
    method: "DELETE",
    headers: { "x-api-key": "b" },
  });
  assert.equal(asB.status, 404);
  assert.equal((await asB.json()).err_id, "ERR-PYOCO-0021");

  const res = await gw.request(`/dlq/${first.seq}`, { method: "DELETE", headers: asA });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { seq: first.seq, deleted: true });
  assert.equal((await gw.request(`/dlq/${first.seq}`, { headers: asA })).status, 404);
  assert.equal(
    (await gw.request(`/dlq/${first.seq}`, { method: "DELETE", headers: asA })).status,
    404,
  );
  const left = await (await gw.request("/dlq", { headers: asA })).json();
  assert.deepEqual(left.map((e: { seq: number }) => e.seq), [second.seq]);
  const mark = await gw.backend.history.get(`dlq.${first.seq}`);
  assert.ok(mark === null || mark.operation !== "PUT", "the replay mark is gone");
  for (const bad of ["0", "-1", "abc", "99999999"]) {
    assert.equal((await gw.request(`/dlq/${bad}`, { method: "DELETE", headers: asA })).status, 404);
  }
});

Deno.test("POST /dlq/replay: a bad filter is a 422 naming the field", async () => {
  await using gw = await manageFixture();
  const cases: [unknown, string][] = [
    [{ tag: "a.b" }, "tag"],
    [{ reason: "bored" }, "reason"],
    [{ flow: "-x" }, "flow"],
    [{ limit: 0 }, "limit"],
    [{ limit: 101 }, "limit"],
    [{ include_replayed: "yes" }, "include_replayed"],
    [{ tags: ["x"] }, "tags"],
    [[1], "body"],
  ];
  for (const [body, path] of cases) {
    const res = await gw.request("/dlq/replay", postJson(body));
    assert.equal(res.status, 422, JSON.stringify(body));
    assert.equal((await res.json()).errors[0].path, path);
  }
});
