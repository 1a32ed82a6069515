import assert from "node:assert/strict";
import type { RunSnapshot } from "../../src/contract/wire.ts";
import { postJson } from "../gateway/_fixture.ts";
import { FakeClock, scheduleFixture } from "./_setup.ts";

const YAML = `version: 1
flow:
  graph: |
    fetch >> shout
  defaults: { x: 1, name: carrot }
tasks:
  fetch: { callable: "pyoco:echo", inputs: { value: $flow.x } }
  shout: { callable: "pyoco:echo" }
`;

function form(fields: Record<string, string | Blob>): RequestInit {
  const f = new FormData();
  for (const [k, v] of Object.entries(fields)) f.append(k, v);
  return { method: "POST", body: f };
}

function patch(body: unknown): RequestInit {
  return {
    method: "PATCH",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  };
}

Deno.test("POST /schedules creates a schedule that shows its next slot and state", async () => {
  await using fx = await scheduleFixture();
  const before = Date.now() / 1000;
  const res = await fx.gw.request(
    "/schedules",
    postJson({
      flow_name: "hello",
      params: { x: 2 },
      cron: "*/5 * * * *",
      timezone: "Europe/Berlin",
      priority: "high",
      overlap: "buffer_one",
      catchup_window_sec: 60,
    }),
  );
  assert.equal(res.status, 200);
  const s = await res.json();
  assert.match(s.schedule_id, /^[0-9a-f-]{36}$/);
  assert.equal(s.schedule_type, "cron");
  assert.equal(s.cron, "*/5 * * * *");
  assert.equal(s.timezone, "Europe/Berlin");
  assert.equal(s.priority, "high");
  assert.equal(s.overlap, "buffer_one");
  assert.equal(s.tag, "default");
  assert.ok(s.next_run_at > before && s.next_run_at <= before + 300 && s.next_run_at % 300 === 0);
  assert.equal(s.last_run_id, null);
  assert.equal(s.last_status, null);
  assert.equal(s.skipped_slots, 0);
  assert.equal(s.paused, false);
  assert.equal("outbox" in s, false);

  const one = await (await fx.gw.request(`/schedules/${s.schedule_id}`)).json();
  assert.equal(one.schedule_id, s.schedule_id);
  const list = await (await fx.gw.request("/schedules")).json();
  assert.deepEqual(list.map((x: { schedule_id: string }) => x.schedule_id), [s.schedule_id]);
});

Deno.test("POST /schedules answers 422 naming each bad or unknown field", async () => {
  await using fx = await scheduleFixture();
  const cases: [Record<string, unknown>, string[]][] = [
    [{ flow_name: "hello" }, ["cron"]],
    [{ flow_name: "hello", cron: "* * * * *", interval_seconds: 5 }, ["interval_seconds"]],
    [{ flow_name: "hello", cron: "61 * * * *" }, ["cron"]],
    [{ flow_name: "hello", cron: "* * * *" }, ["cron"]],
    [{ flow_name: "hello", cron: "* * * * *", timezone: "Mars/Base" }, ["timezone"]],
    [{ flow_name: "hello", interval_seconds: 0.5 }, ["interval_seconds"]],
    [{ flow_name: "hello", run_at: 1000 }, ["run_at"]],
    [{ flow_name: "hello", run_at: "2099-01-01T00:00:00" }, ["run_at"]],
    [{ flow_name: "hello", interval_seconds: 5, timezone: "UTC" }, ["timezone"]],
    [{ flow_name: "hello", interval_seconds: 5, overlap: "queue", colour: 1 }, [
      "colour",
      "overlap",
    ]],
    [{ flow_name: "hello", interval_seconds: 5, catchup_window_sec: -1 }, ["catchup_window_sec"]],
    [{ interval_seconds: 5, tag: "a.b" }, ["flow_name", "tag"]],
  ];
  for (const [body, paths] of cases) {
    const res = await fx.gw.request("/schedules", postJson(body));
    assert.equal(res.status, 422, JSON.stringify(body));
    const err = await res.json();
    assert.equal(err.err_id, "ERR-PYOCO-0002");
    assert.deepEqual(
      err.errors.map((e: { path: string }) => e.path).sort(),
      paths,
      JSON.stringify({ body, errors: err.errors }),
    );
  }
});

Deno.test("POST /schedules/yaml takes pyoco-server 0.7's form fields and stores the flow.yaml", async () => {
  await using fx = await scheduleFixture();
  const res = await fx.gw.request(
    "/schedules/yaml",
    form({
      workflow: new File([YAML], "flow.yaml"),
      flow_name: "veg",
      tag: "gpu",
      interval_seconds: "60",
      start_at: "2099-01-01T00:00:00+09:00",
      params: '{"name":"leek"}',
    }),
  );
  assert.equal(res.status, 200, await res.clone().text());
  const s = await res.json();
  assert.equal(s.schedule_type, "interval");
  assert.equal(s.interval_seconds, 60);
  assert.equal(s.start_at, Date.parse("2099-01-01T00:00:00+09:00") / 1000);
  assert.equal(s.next_run_at, s.start_at);
  assert.equal(s.tag, "gpu");
  assert.deepEqual(s.params, { x: 1, name: "leek" });
  assert.match(s.workflow_yaml_sha256, /^[0-9a-f]{64}$/);
  const rec = await fx.read(s.schedule_id);
  assert.equal((await fx.ctx.store.yaml(rec))?.text, YAML);

  const once = await fx.gw.request(
    "/schedules/yaml",
    form({
      workflow: new File([YAML], "flow.yaml"),
      flow_name: "veg",
      run_at: String(Math.floor(Date.now() / 1000) + 3600),
    }),
  );
  assert.equal(once.status, 200);
  assert.equal((await once.json()).schedule_type, "once");

  const both = await fx.gw.request(
    "/schedules/yaml",
    form({
      workflow: new File([YAML], "flow.yaml"),
      flow_name: "veg",
      run_at: "2099-01-01T00:00:00Z",
      start_at: "2099-01-01T00:00:00Z",
    }),
  );
  assert.equal(both.status, 422);
  assert.deepEqual((await both.json()).errors.map((e: { path: string }) => e.path), ["start_at"]);

  const big = await fx.gw.request(
    "/schedules/yaml",
    form({
      workflow: new File([YAML + "#".repeat(300_000)], "flow.yaml"),
      flow_name: "veg",
      interval_seconds: "60",
    }),
  );
  assert.ok(big.status === 413, `status ${big.status}`);
});

Deno.test("trigger runs now with schedule_id and scheduled_for; runs lists it; PATCH pauses; DELETE stops dispatch", async () => {
  await using fx = await scheduleFixture();
  const s = await (await fx.gw.request(
    "/schedules",
    postJson({
      flow_name: "hello",
      interval_seconds: 1,
      overlap: "allow",
    }),
  )).json();
  const id = s.schedule_id;

  const trig = await fx.gw.request(`/schedules/${id}/trigger`, { method: "POST" });
  assert.equal(trig.status, 200);
  const t = await trig.json();
  assert.equal(t.status, "PENDING");
  const snap = (await fx.gw.reader.runs.get(t.run_id))!.json<RunSnapshot>();
  assert.equal(snap.schedule_id, id);
  assert.equal(snap.scheduled_for, t.scheduled_for);
  const runs = await (await fx.gw.request(`/schedules/${id}/runs`)).json();
  assert.deepEqual(runs.map((r: { run_id: string }) => r.run_id), [t.run_id]);
  assert.equal(runs[0].status, "PENDING");
  assert.equal(runs[0].manual, true);
  const listed = await (await fx.gw.request(`/runs?schedule_id=${id}`)).json();
  assert.deepEqual(listed.map((r: { run_id: string }) => r.run_id), [t.run_id]);
  assert.equal(listed[0].status, "PENDING");
  assert.deepEqual(
    await (await fx.gw.request(`/runs?schedule_id=${id}&status=COMPLETED`)).json(),
    [],
  );
  assert.deepEqual(await (await fx.gw.request("/runs?schedule_id=nope")).json(), []);
  const viewed = await (await fx.gw.request(`/schedules/${id}`)).json();
  assert.equal(viewed.last_run_id, t.run_id);
  assert.equal(viewed.last_status, "PENDING");

  const paused = await fx.gw.request(`/schedules/${id}`, patch({ paused: true }));
  assert.equal(paused.status, 200);
  assert.equal((await paused.json()).paused, true);
  const bad = await fx.gw.request(`/schedules/${id}`, patch({ paused: "yes", flow_name: "x" }));
  assert.equal(bad.status, 422);
  assert.deepEqual((await bad.json()).errors.map((e: { path: string }) => e.path).sort(), [
    "flow_name",
    "paused",
  ]);
  const rule = await fx.gw.request(`/schedules/${id}`, patch({ paused: false, cron: "0 0 1 1 *" }));
  assert.equal(rule.status, 200);
  const changed = await rule.json();
  assert.equal(changed.schedule_type, "cron");
  assert.equal(changed.interval_seconds, null);

  const del = await fx.gw.request(`/schedules/${id}`, { method: "DELETE" });
  assert.deepEqual(await del.json(), { schedule_id: id, deleted: true });
  const gone = await fx.gw.request(`/schedules/${id}`);
  assert.equal(gone.status, 404);
  assert.equal((await gone.json()).err_id, "ERR-PYOCO-0025");
  // Nothing is dispatched after the delete, even long after its next slot.
  const d = fx.dispatcher(new FakeClock(changed.next_run_at + 0.5), "gw");
  await d.tick();
  assert.equal((await fx.runsOf(id)).length, 1); // the triggered run only
  assert.equal((await fx.gw.request(`/schedules/${id}/trigger`, { method: "POST" })).status, 404);
  assert.equal((await fx.gw.request("/schedules/no.such", { method: "DELETE" })).status, 404);
});

Deno.test("schedules are tenant-scoped: another tenant's schedule answers 404 everywhere", async () => {
  await using fx = await scheduleFixture({
    authenticate: () => (req: Request) => {
      const tenant = req.headers.get("x-tenant");
      return Promise.resolve(tenant === null ? null : { tenantId: tenant, keyId: `k-${tenant}` });
    },
  });
  const as = (tenant: string, init: RequestInit = {}): RequestInit => ({
    ...init,
    headers: { ...(init.headers as Record<string, string> ?? {}), "x-tenant": tenant },
  });
  const s = await (await fx.gw.request(
    "/schedules",
    as("acme", postJson({ flow_name: "hello", interval_seconds: 60 })),
  )).json();
  assert.equal(s.tenant_id, "acme");
  assert.equal(s.api_key_id, "k-acme");
  for (
    const [path, init] of [
      [`/schedules/${s.schedule_id}`, {}],
      [`/schedules/${s.schedule_id}/runs`, {}],
      [`/schedules/${s.schedule_id}/trigger`, { method: "POST" }],
      [`/schedules/${s.schedule_id}`, patch({ paused: true })],
      [`/schedules/${s.schedule_id}`, { method: "DELETE" }],
    ] as [string, RequestInit][]
  ) {
    const res = await fx.gw.request(path, as("other", init));
    assert.equal(res.status, 404, `${init.method ?? "GET"} ${path}`);
    await res.body?.cancel();
  }
  assert.deepEqual(await (await fx.gw.request("/schedules", as("other"))).json(), []);
  const t = await (await fx.gw.request(
    `/schedules/${s.schedule_id}/trigger`,
    as("acme", { method: "POST" }),
  )).json();
  const snap = (await fx.gw.reader.runs.get(t.run_id))!.json<RunSnapshot>();
  assert.equal(snap.tenant_id, "acme");
  assert.equal(snap.api_key_id, "k-acme");
});
