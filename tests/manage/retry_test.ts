import assert from "node:assert/strict";
import { postJson } from "../gateway/_fixture.ts";
import type { Principal } from "../../src/runs/principal.ts";
import { flaky, manageFixture } from "./_setup.ts";

Deno.test("POST /runs/{id}/retry from failed reuses the SUCCEEDED outputs and runs only the rest", async () => {
  await using gw = await manageFixture();
  const { run_id } = await (await gw.request(
    "/runs",
    postJson({
      flow_name: "etl",
      params: { n: 2 },
      tags: ["default", "nightly"],
    }),
  )).json();
  const failed = await gw.runOne(run_id);
  assert.equal(failed.status, "FAILED");
  assert.deepEqual(failed.tasks, { extract: "SUCCEEDED", transform: "FAILED", load: "CANCELLED" });
  assert.deepEqual(flaky.runs, { extract: 1, transform: 1, load: 0 });

  flaky.broken = false;
  const res = await gw.request(`/runs/${run_id}/retry`, postJson({ from: "failed" }));
  assert.equal(res.status, 200);
  const answer = await res.json();
  assert.equal(answer.status, "PENDING");
  assert.equal(answer.retry_of, run_id);
  assert.deepEqual(answer.reused_tasks, ["extract"]);
  assert.notEqual(answer.run_id, run_id);

  const pending = await (await gw.request(`/runs/${answer.run_id}`)).json();
  assert.equal(pending.retry_of, run_id);
  assert.equal(pending.flow_name, "etl");
  assert.deepEqual(pending.params, { n: 2 });
  assert.deepEqual(pending.tags, ["default", "nightly"]);

  const done = await gw.runOne(answer.run_id);
  assert.equal(done.status, "COMPLETED");
  assert.equal(done.retry_of, run_id);
  assert.deepEqual(flaky.runs, { extract: 1, transform: 2, load: 1 }, "extract did not run again");
  const extract = done.task_records?.extract;
  assert.equal(extract?.state, "SUCCEEDED");
  assert.equal(extract?.reused, true);
  assert.deepEqual(extract?.output, { rows: [2, 4, 6] });
  assert.equal(done.task_records?.transform?.reused, undefined);
  assert.deepEqual(done.outputs, { load: { loaded: 12 } });
  // The original is untouched.
  const original = (await gw.reader.runs.get(run_id))!.json<{ status: string }>();
  assert.equal(original.status, "FAILED");
});

Deno.test("POST /runs/{id}/retry without a body runs every task again", async () => {
  await using gw = await manageFixture();
  const { run_id } = await (await gw.request("/runs", postJson({ flow_name: "etl" }))).json();
  await gw.runOne(run_id);
  flaky.broken = false;
  const res = await gw.request(`/runs/${run_id}/retry`, { method: "POST" });
  assert.equal(res.status, 200);
  const answer = await res.json();
  assert.deepEqual(answer.reused_tasks, []);
  const done = await gw.runOne(answer.run_id);
  assert.equal(done.status, "COMPLETED");
  assert.deepEqual(flaky.runs, { extract: 2, transform: 2, load: 1 });
  assert.equal(done.task_records?.extract?.reused, undefined);
  // An empty JSON request is no body too.
  const empty = await gw.request(`/runs/${answer.run_id}/retry`, {
    method: "POST",
    headers: { "content-type": "application/json", "content-length": "0" },
  });
  assert.equal(empty.status, 200);
  // {"from": "start"} is the same as no body.
  const again = await gw.request(`/runs/${answer.run_id}/retry`, postJson({ from: "start" }));
  assert.equal(again.status, 200);
  assert.equal((await again.json()).retry_of, answer.run_id);
});

Deno.test("POST /runs/{id}/retry refuses unfinished runs (409), YAML runs and bad bodies (422), unknown runs (404)", async () => {
  await using gw = await manageFixture();
  const { run_id } = await (await gw.request("/runs", postJson({ flow_name: "etl" }))).json();
  const pending = await gw.request(`/runs/${run_id}/retry`, postJson({ from: "failed" }));
  assert.equal(pending.status, 409);
  const body = await pending.json();
  assert.equal(body.err_id, "ERR-PYOCO-0027");
  assert.match(body.detail, /PENDING.*only a finished run/);

  for (
    const [bad, path] of [
      [{ from: "middle" }, "from"],
      [{ form: "failed" }, "form"],
      [[], "body"],
    ] as const
  ) {
    const res = await gw.request(`/runs/${run_id}/retry`, postJson(bad));
    assert.equal(res.status, 422, JSON.stringify(bad));
    const err = await res.json();
    assert.equal(err.err_id, "ERR-PYOCO-0002");
    assert.equal(err.errors[0].path, path);
  }
  const missing = await gw.request(`/runs/${crypto.randomUUID()}/retry`, { method: "POST" });
  assert.equal(missing.status, 404);

  const form = new FormData();
  form.set("workflow", "flow:\n  graph: extract >> transform >> load\n");
  form.set("flow_name", "etl_yaml");
  const yamlRes = await gw.request("/runs/yaml", { method: "POST", body: form });
  assert.equal(yamlRes.status, 200, await yamlRes.clone().text());
  const yamlRun = (await yamlRes.json()).run_id;
  await gw.runOne(yamlRun);
  const retried = await gw.request(`/runs/${yamlRun}/retry`, { method: "POST" });
  assert.equal(retried.status, 422);
  assert.match((await retried.json()).detail, /flow\.yaml run.*never stored/);
});

Deno.test("POST /runs/{id}/retry is tenant-scoped and the new run keeps the tenant", async () => {
  await using gw = await manageFixture({
    authenticate: () => (req: Request) =>
      Promise.resolve<Principal>({ tenantId: req.headers.get("x-api-key") ?? "", keyId: "k1" }),
  });
  const asA = { "x-api-key": "a" };
  const { run_id } = await (await gw.request("/runs", postJson({ flow_name: "etl" }, asA)))
    .json();
  await gw.runOne(run_id);
  const other = await gw.request(`/runs/${run_id}/retry`, {
    method: "POST",
    headers: { "x-api-key": "b" },
  });
  assert.equal(other.status, 404);
  const res = await gw.request(`/runs/${run_id}/retry`, { method: "POST", headers: asA });
  assert.equal(res.status, 200);
  const { run_id: retry } = await res.json();
  const snap = (await gw.reader.runs.get(retry))!.json<{ tenant_id: string }>();
  assert.equal(snap.tenant_id, "a");
});
