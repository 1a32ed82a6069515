import assert from "node:assert/strict";
import { gatewayFixture, postJson, snapshot } from "../gateway/_fixture.ts";
import type { Principal } from "../../src/runs/principal.ts";
import { poll } from "../_helpers/poll.ts";

async function seed(
  gw: Awaited<ReturnType<typeof gatewayFixture>>,
  ids: string[],
  tenant?: string,
) {
  for (const id of ids) {
    await gw.reader.runs.create(
      id,
      JSON.stringify(snapshot(id, {
        status: "COMPLETED",
        end_time: 2000,
        ...(tenant ? { tenant_id: tenant } : {}),
      })),
    );
  }
  await poll(() => ids.every((id) => gw.backend.index.get(id) !== undefined), {
    message: "the index to see the runs",
  });
}

Deno.test("GET /runs/{id} takes a unique prefix of ≥ 8 characters; the exact id wins; ambiguous → 409 listing the matches", async () => {
  await using gw = await gatewayFixture();
  await seed(gw, ["abcdef01-1111", "abcdef02-2222", "abcdef02-3333", "abcdef01"]);

  const one = await gw.request("/runs/abcdef02-2");
  assert.equal(one.status, 200);
  assert.equal((await one.json()).run_id, "abcdef02-2222");

  // "abcdef01" is a run id itself and the prefix of another: the exact id wins.
  assert.equal((await (await gw.request("/runs/abcdef01")).json()).run_id, "abcdef01");

  const amb = await gw.request("/runs/abcdef02");
  assert.equal(amb.status, 409);
  const body = await amb.json();
  assert.equal(body.err_id, "ERR-PYOCO-0029");
  assert.match(body.detail, /matches 2 runs: abcdef02-2222, abcdef02-3333/);
  assert.deepEqual(body.errors.map((e: { message: string }) => e.message), [
    "abcdef02-2222",
    "abcdef02-3333",
  ]);

  // Shorter than 8 characters: never expanded.
  assert.equal((await gw.request("/runs/abcdef0")).status, 404);
  assert.equal((await gw.request("/runs/zzzzzzzz")).status, 404);

  // The other /runs/{id} routes share the read.
  const tasks = await gw.request("/runs/abcdef01-1/tasks");
  assert.equal((await tasks.json()).run_id, "abcdef01-1111");
  const events = await gw.request("/runs/abcdef01-1/events");
  assert.equal((await events.json()).run_id, "abcdef01-1111");
  const cancel = await gw.request("/runs/abcdef01-1/cancel", { method: "POST" });
  assert.equal((await cancel.json()).run_id, "abcdef01-1111");
  const del = await gw.request("/runs/abcdef01-1", { method: "DELETE" });
  assert.equal(del.status, 200);
  assert.equal((await del.json()).run_id, "abcdef01-1111");
  assert.equal(await gw.reader.runs.get("abcdef01-1111").then((e) => e?.operation), "PURGE");
});

Deno.test("Run id prefixes only see the caller's tenant", async () => {
  await using gw = await gatewayFixture({
    authenticate: () => (req: Request) =>
      Promise.resolve<Principal>({ tenantId: req.headers.get("x-api-key") ?? "", keyId: "k" }),
  });
  await seed(gw, ["feedbeef-a"], "a");
  await seed(gw, ["feedbeef-b"], "b");
  const asA = await gw.request("/runs/feedbeef", { headers: { "x-api-key": "a" } });
  assert.equal(asA.status, 200);
  assert.equal((await asA.json()).run_id, "feedbeef-a");
  const asC = await gw.request("/runs/feedbeef", { headers: { "x-api-key": "c" } });
  assert.equal(asC.status, 404);
  // A submitted run is found by the 8 characters the dashboard shows.
  const { run_id } = await (await gw.request(
    "/runs",
    postJson({ flow_name: "hello" }, { "x-api-key": "a" }),
  )).json();
  const short = await gw.request(`/runs/${run_id.slice(0, 8)}`, { headers: { "x-api-key": "a" } });
  assert.equal((await short.json()).run_id, run_id);
});
