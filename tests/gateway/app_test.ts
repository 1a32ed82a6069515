import assert from "node:assert/strict";
import { ApiKeyStore, ApiKeyVerifier } from "../../src/auth/mod.ts";
import type { RunSnapshot } from "../../src/contract/wire.ts";
import { createApp } from "../../src/gateway/app.ts";
import { apiKeyAuthenticator } from "../../src/gateway/auth.ts";
import { Logger } from "../../src/log.ts";
import { gatewayFixture, postJson, snapshot } from "./_fixture.ts";
import { poll } from "../_helpers/poll.ts";

const YAML = `version: 1
flow:
  graph: |
    fetch >> shout
  defaults: { x: 1, name: carrot }
tasks:
  fetch: { callable: "pyoco:echo", inputs: { value: $flow.x } }
  shout: { callable: "pyoco:echo" }
`;

function yamlForm(fields: Record<string, string | Blob>): RequestInit {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  return { method: "POST", body: form };
}

Deno.test("POST /runs creates a PENDING snapshot and publishes the job with Nats-Msg-Id", async () => {
  await using gw = await gatewayFixture();
  const res = await gw.request(
    "/runs",
    postJson({ flow_name: "hello", params: { x: 2 }, tag: "gpu", tags: ["gpu", "big"] }),
  );
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(body.status, "PENDING");
  assert.match(body.run_id, /^[0-9a-f-]{36}$/);

  const entry = await gw.reader.runs.get(body.run_id);
  assert.ok(entry);
  assert.equal(entry.operation, "PUT");
  const snap = entry.json<RunSnapshot>();
  assert.deepEqual(Object.keys(snap).sort(), [
    "api_key_id",
    "attempt",
    "cancel_requested_at",
    "end_time",
    "error",
    "flow_name",
    "heartbeat_at",
    "outputs",
    "params",
    "run_id",
    "start_time",
    "status",
    "submitted_at",
    "tag",
    "tags",
    "task_records",
    "task_records_truncated",
    "tasks",
    "tenant_id",
    "updated_at",
    "worker_id",
    "workflow_yaml_bytes",
    "workflow_yaml_sha256",
  ]);
  assert.equal(snap.status, "PENDING");
  assert.deepEqual(snap.params, { x: 2 });
  assert.equal(snap.tag, "gpu");
  assert.deepEqual(snap.tags, ["gpu", "big"]);
  assert.equal(snap.attempt, 0);
  assert.equal(snap.tenant_id, null);
  assert.equal(snap.heartbeat_at, snap.updated_at);

  const msg = await gw.reader.jsm.streams.getMessage(gw.config.workStream, {
    last_by_subj: "pyoco.work.gpu",
  });
  assert.ok(msg);
  assert.equal(msg.header.get("Nats-Msg-Id"), body.run_id);
  const job = msg.json<Record<string, unknown>>();
  assert.equal(job.run_id, body.run_id);
  assert.equal(job.flow_name, "hello");
  assert.equal(job.tag, "gpu");
  assert.deepEqual(job.tags, ["gpu", "big"]);
  assert.deepEqual(job.params, { x: 2 });
  assert.equal(job.submitted_at, snap.submitted_at);
  assert.equal(job.workflow_yaml, null);
  // The job was published after the snapshot existed.
  assert.ok(msg.seq >= 1);
  assert.ok(entry.created.getTime() <= msg.time.getTime());
});

Deno.test("POST /runs defaults tag and tags; tags alone leave the queue on the default tag (SPEC §16)", async () => {
  await using gw = await gatewayFixture();
  const a = await (await gw.request("/runs", postJson({ flow_name: "hello" }))).json();
  const sa = (await gw.reader.runs.get(a.run_id))!.json<RunSnapshot>();
  assert.equal(sa.tag, "default");
  assert.deepEqual(sa.tags, ["default"]);
  assert.deepEqual(sa.params, {});
  const b = await (await gw.request("/runs", postJson({ flow_name: "hello", tags: ["x", "y"] })))
    .json();
  const sb = (await gw.reader.runs.get(b.run_id))!.json<RunSnapshot>();
  assert.equal(sb.tag, "default");
  assert.deepEqual(sb.tags, ["x", "y"]);
  const work = await gw.reader.jsm.streams.info(gw.config.workStream, { subjects_filter: ">" });
  assert.deepEqual(work.state.subjects, { "pyoco.work.default": 2 });
  const c = await (await gw.request("/runs", postJson({ flow_name: "hello", tag: "solo" }))).json();
  assert.deepEqual((await gw.reader.runs.get(c.run_id))!.json<RunSnapshot>().tags, ["solo"]);
});

Deno.test("POST /runs rejects invalid requests with 422 and the problems", async () => {
  await using gw = await gatewayFixture();
  const cases: [RequestInit, string[]][] = [
    [postJson("{not json"), ["body"]],
    [postJson("[1, 2]"), ["body"]],
    [postJson("null"), ["body"]],
    [{ method: "POST", headers: { "content-type": "text/plain" }, body: "{}" }, ["body"]],
    [{ method: "POST", body: JSON.stringify({ flow_name: "hello" }) }, ["body"]],
    [postJson({}), ["flow_name"]],
    [postJson({ flow_name: "" }), ["flow_name"]],
    [postJson({ flow_name: 42 }), ["flow_name"]],
    [postJson({ flow_name: "x".repeat(257) }), ["flow_name"]],
    [postJson({ flow_name: "a b" }), ["flow_name"]],
    [postJson({ flow_name: "hello", params: [1] }), ["params"]],
    [postJson({ flow_name: "hello", params: "x" }), ["params"]],
    [postJson({ flow_name: "hello", tag: "a.b" }), ["tag"]],
    [postJson({ flow_name: "hello", tag: "*" }), ["tag"]],
    [postJson({ flow_name: "hello", tag: ">" }), ["tag"]],
    [postJson({ flow_name: "hello", tag: 7 }), ["tag"]],
    [postJson({ flow_name: "hello", tags: [] }), ["tags"]],
    [postJson({ flow_name: "hello", tags: "gpu" }), ["tags"]],
    [postJson({ flow_name: "hello", tags: ["ok", "a.*"] }), ["tags[1]"]],
    [postJson({ flow_name: "hello", tags: ["a", "a"] }), ["tags[1]"]],
    [postJson({ flow_name: "hello", tag: "a", tags: ["b"] }), ["tags"]],
    [postJson({ flow_name: "hello", flow: "typo" }), ["flow"]],
    [postJson({ flw_name: "hello" }), ["flw_name", "flow_name"]],
    [{
      method: "POST",
      headers: { "content-type": "application/json" },
      body: new Uint8Array([0x7b, 0xff, 0x7d]),
    }, ["body"]],
  ];
  for (const [init, paths] of cases) {
    const res = await gw.request("/runs", init);
    const body = await res.json();
    assert.equal(res.status, 422, `${JSON.stringify(init.body)} → ${JSON.stringify(body)}`);
    assert.equal(body.err_id, "ERR-PYOCO-0002");
    assert.equal(body.msg_id, "MSG-PYOCO-0002");
    assert.equal(typeof body.detail, "string");
    assert.deepEqual(body.errors.map((e: { path: string }) => e.path).sort(), paths.sort());
  }
  // Nothing was written.
  assert.equal((await gw.reader.runs.status()).values, 0);
});

Deno.test("POST /runs answers 413 above the body cap without reading the whole body", async () => {
  await using gw = await gatewayFixture();
  const cap = gw.config.httpMaxBodyBytes;
  const big = JSON.stringify({ flow_name: "hello", params: { blob: "x".repeat(cap) } });
  const res = await gw.request("/runs", postJson(big));
  assert.equal(res.status, 413);
  assert.equal((await res.json()).err_id, "ERR-PYOCO-0017");

  // An endless body without Content-Length: only a streaming cap can answer.
  let pulled = 0;
  const endless = new ReadableStream<Uint8Array>({
    pull(controller) {
      pulled++;
      controller.enqueue(new Uint8Array(64 * 1024).fill(0x20));
    },
  });
  const res2 = await gw.request("/runs", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: endless,
  });
  assert.equal(res2.status, 413);
  assert.equal((await res2.json()).err_id, "ERR-PYOCO-0017");
  assert.ok(pulled * 64 * 1024 <= cap + 3 * 64 * 1024, `read ${pulled} chunks`);
  assert.equal((await gw.reader.runs.status()).values, 0);
});

Deno.test("POST /runs/yaml stores sha256 and size, not the YAML, and the job carries it", async () => {
  await using gw = await gatewayFixture();
  const res = await gw.request(
    "/runs/yaml",
    yamlForm({
      workflow: new File([YAML], "flow.yaml", { type: "application/yaml" }),
      flow_name: "from_yaml",
      tag: "yamlq",
    }),
  );
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  assert.equal(body.status, "PENDING");
  const snap = (await gw.reader.runs.get(body.run_id))!.json<RunSnapshot>();
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(YAML)),
  );
  const hex = [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
  assert.equal(snap.workflow_yaml_sha256, hex);
  assert.equal(snap.workflow_yaml_bytes, new TextEncoder().encode(YAML).byteLength);
  assert.deepEqual(snap.params, { x: 1, name: "carrot" });
  assert.equal(snap.flow_name, "from_yaml");
  assert.equal(snap.tag, "yamlq");
  assert.ok(!JSON.stringify(snap).includes("fetch >> shout"));
  assert.equal((snap as unknown as Record<string, unknown>).workflow_yaml, undefined);
  const msg = await gw.reader.jsm.streams.getMessage(gw.config.workStream, {
    last_by_subj: "pyoco.work.yamlq",
  });
  assert.ok(msg);
  assert.equal(msg.header.get("Nats-Msg-Id"), body.run_id);
  const job = msg.json<Record<string, unknown>>();
  assert.equal(job.workflow_yaml, YAML);
  assert.equal(job.workflow_yaml_sha256, hex);
  assert.equal(job.workflow_yaml_bytes, snap.workflow_yaml_bytes);
  assert.deepEqual(job.params, { x: 1, name: "carrot" });
});

Deno.test("POST /runs/yaml rejects bad YAML, bad fields and oversize files", async () => {
  await using gw = await gatewayFixture({ appConfig: { workflowYamlMaxBytes: 1024 } });
  const post = async (fields: Record<string, string | Blob>) => {
    const res = await gw.request("/runs/yaml", yamlForm(fields));
    return { status: res.status, body: await res.json() };
  };
  const file = (data: string | Uint8Array) => new File([data as BlobPart], "flow.yaml");

  const notUtf8 = await post({
    workflow: file(new Uint8Array([0x66, 0x6c, 0xff, 0xfe, 0x0a])),
    flow_name: "f",
  });
  assert.equal(notUtf8.status, 422);
  assert.equal(notUtf8.body.err_id, "ERR-PYOCO-0002");

  const unknown = await post({
    workflow: file(YAML.replace("  shout: {", "  shout: { colour: red,")),
    flow_name: "f",
  });
  assert.equal(unknown.status, 422);
  assert.equal(unknown.body.errors[0].path, "workflow.tasks.shout.colour");
  assert.match(unknown.body.errors[0].message, /colour/);

  const forbidden = await post({ workflow: file(`flows: {}\n${YAML}`), flow_name: "f" });
  assert.equal(forbidden.status, 422);
  assert.match(forbidden.body.errors[0].path, /^workflow\.flows/);

  const syntax = await post({ workflow: file("flow: [unclosed\n"), flow_name: "f" });
  assert.equal(syntax.status, 422);

  const tooLarge = await post({ workflow: file(`# ${"x".repeat(2000)}\n${YAML}`), flow_name: "f" });
  assert.equal(tooLarge.status, 413);
  assert.equal(tooLarge.body.err_id, "ERR-PYOCO-0016");

  const missing = await post({ flow_name: "f" });
  assert.equal(missing.status, 422);
  assert.deepEqual(missing.body.errors.map((e: { path: string }) => e.path), ["workflow"]);

  const fields = await post({ workflow: file(YAML), tag: "a.b", extra: "1" });
  assert.equal(fields.status, 422);
  assert.deepEqual(
    fields.body.errors.map((e: { path: string }) => e.path).sort(),
    ["extra", "flow_name", "tag"],
  );

  const json = await gw.request("/runs/yaml", postJson({ flow_name: "f" }));
  assert.equal(json.status, 422);
  assert.equal((await gw.reader.runs.status()).values, 0);
});

Deno.test("GET /runs/{id} returns the snapshot, records only when included, and worker state", async () => {
  await using gw = await gatewayFixture();
  const now = Date.now() / 1000;
  const records = {
    a: {
      state: "SUCCEEDED",
      started_at: now,
      ended_at: now,
      duration_ms: 1,
      attempts: 1,
      error: null,
      traceback: null,
      inputs: null,
      output: 1,
      artifacts: {},
    },
  };
  await gw.reader.runs.put(
    "run-1",
    JSON.stringify(snapshot("run-1", {
      status: "RUNNING",
      worker_id: "w1",
      tasks: { a: "SUCCEEDED" },
      task_records: records as unknown as RunSnapshot["task_records"],
    })),
  );
  await gw.reader.workers.put(
    "w1",
    JSON.stringify({
      worker_id: "w1",
      heartbeat_at: now,
      tags: ["default", "gpu"],
      state: "RUNNING",
    }),
  );
  const plain = await (await gw.request("/runs/run-1")).json();
  assert.equal(plain.run_id, "run-1");
  assert.equal(plain.status, "RUNNING");
  assert.equal("task_records" in plain, false);
  assert.deepEqual(plain.tasks, { a: "SUCCEEDED" });
  assert.equal(plain.worker_alive, true);
  assert.equal(plain.worker_heartbeat_at, now);
  assert.deepEqual(plain.worker_tags, ["default", "gpu"]);

  for (const q of ["include=records", "include=full", "include=all", "include=x,records"]) {
    const res = await gw.request(`/runs/run-1?${q}`);
    if (q.includes("x,")) {
      assert.equal(res.status, 422);
      assert.equal((await res.json()).errors[0].path, "include");
      continue;
    }
    assert.deepEqual((await res.json()).task_records, records, q);
  }
  const twice = await (await gw.request("/runs/run-1?include=records&include=full")).json();
  assert.deepEqual(twice.task_records, records);

  // A stale heartbeat: not alive. No worker: null.
  await gw.reader.workers.put(
    "w1",
    JSON.stringify({ worker_id: "w1", heartbeat_at: now - 3600, tags: ["default"] }),
  );
  assert.equal((await (await gw.request("/runs/run-1")).json()).worker_alive, false);
  await gw.reader.runs.put("run-2", JSON.stringify(snapshot("run-2")));
  const noWorker = await (await gw.request("/runs/run-2")).json();
  assert.equal(noWorker.worker_alive, null);
  assert.equal(noWorker.worker_heartbeat_at, null);
  assert.equal(noWorker.worker_tags, null);

  const tasks = await (await gw.request("/runs/run-1/tasks")).json();
  assert.deepEqual(tasks, {
    run_id: "run-1",
    flow_name: "hello",
    status: "RUNNING",
    tasks: { a: "SUCCEEDED" },
    task_records: records,
    task_records_truncated: false,
  });

  for (
    const path of ["/runs/missing", "/runs/missing/tasks", "/runs/a.b", "/runs/%2A", "/runs/a%3Eb"]
  ) {
    const res = await gw.request(path);
    assert.equal(res.status, 404, path);
    const body = await res.json();
    assert.equal(body.err_id, "ERR-PYOCO-0005", path);
  }
  await gw.reader.runs.delete("run-2");
  assert.equal((await gw.request("/runs/run-2")).status, 404);
});

Deno.test("GET /runs lists summaries newest first with filters, limit and include=full", async () => {
  await using gw = await gatewayFixture();
  const rows: [string, Partial<RunSnapshot>][] = [
    ["r1", { updated_at: 10, status: "COMPLETED", flow_name: "a" }],
    ["r2", { updated_at: 30, status: "RUNNING", flow_name: "b", worker_id: "w" }],
    ["r3", { updated_at: 20, status: "FAILED", flow_name: "a", error: "boom" }],
    ["r4", { updated_at: 40, status: "PENDING", flow_name: "a", tag: "gpu", tags: ["gpu"] }],
  ];
  for (const [id, f] of rows) await gw.reader.runs.put(id, JSON.stringify(snapshot(id, f)));
  await poll(() => gw.backend.index.size === 4, { message: "the index to see 4 runs" });

  const all = await (await gw.request("/runs")).json();
  assert.deepEqual(all.map((r: { run_id: string }) => r.run_id), ["r4", "r2", "r3", "r1"]);
  assert.deepEqual(all[2], {
    run_id: "r3",
    flow_name: "a",
    tag: "default",
    tags: ["default"],
    status: "FAILED",
    updated_at: 20,
    heartbeat_at: 1000,
    worker_id: null,
    error: "boom",
  });
  const ids = async (q: string) =>
    (await (await gw.request(`/runs?${q}`)).json()).map((r: { run_id: string }) => r.run_id);
  assert.deepEqual(await ids("flow=a"), ["r4", "r3", "r1"]);
  assert.deepEqual(await ids("status=FAILED"), ["r3"]);
  assert.deepEqual(await ids("status=failed,completed"), ["r3", "r1"]);
  assert.deepEqual(await ids("tag=gpu"), ["r4"]);
  assert.deepEqual(await ids("tag=default&flow=a"), ["r3", "r1"]);
  assert.deepEqual(await ids("limit=2"), ["r4", "r2"]);
  const full = await (await gw.request("/runs?limit=1&include=full")).json();
  assert.equal(full.length, 1);
  assert.deepEqual(full[0], snapshot("r4", rows[3]![1]));

  // Updates move a run to the top; deletes drop it.
  await gw.reader.runs.put(
    "r1",
    JSON.stringify(snapshot("r1", { updated_at: 50, status: "RUNNING" })),
  );
  await gw.reader.runs.delete("r2");
  await poll(async () => (await ids("limit=1"))[0] === "r1", { message: "r1 to move up" });
  await poll(async () => !(await ids("")).includes("r2"), { message: "r2 to disappear" });

  for (
    const q of ["status=DONE", "limit=0", "limit=201", "limit=x", "include=records", "tag=a.b"]
  ) {
    const res = await gw.request(`/runs?${q}`);
    assert.equal(res.status, 422, q);
    assert.equal((await res.json()).err_id, "ERR-PYOCO-0002");
  }
});

Deno.test("GET /workers lists worker records, hidden ones only on request", async () => {
  await using gw = await gatewayFixture();
  const now = Date.now() / 1000;
  await gw.reader.workers.put(
    "w2",
    JSON.stringify({ worker_id: "w2", heartbeat_at: now, tags: ["a"] }),
  );
  await gw.reader.workers.put(
    "w1",
    JSON.stringify({
      worker_id: "w1",
      heartbeat_at: now,
      tags: ["b"],
      hidden: true,
      state: "IDLE",
    }),
  );
  const visible = await (await gw.request("/workers")).json();
  assert.deepEqual(visible, [{ worker_id: "w2", heartbeat_at: now, tags: ["a"] }]);
  const all = await (await gw.request("/workers?include_hidden=true")).json();
  assert.deepEqual(all.map((w: { worker_id: string }) => w.worker_id), ["w1", "w2"]);
  assert.equal((await gw.request("/workers?include_hidden=maybe")).status, 422);
});

Deno.test("GET /metrics answers Prometheus text with every family", async () => {
  await using gw = await gatewayFixture();
  const now = Date.now() / 1000;
  await gw.request("/runs", postJson({ flow_name: "hello", tag: "q1" }));
  await gw.request("/runs", postJson({ flow_name: "hello", tag: "q1" }));
  await gw.request("/runs/nope");
  await gw.reader.workers.put("w", JSON.stringify({ worker_id: "w", heartbeat_at: now, tags: [] }));
  await gw.reader.workers.put(
    "old",
    JSON.stringify({ worker_id: "old", heartbeat_at: now - 3600, tags: [] }),
  );
  await gw.reader.nc.publish("pyoco.dlq.q1", "{}");
  await gw.reader.nc.flush();
  await poll(
    async () => (await gw.reader.jsm.streams.info(gw.config.dlqStream)).state.messages === 1,
    { message: "the DLQ message" },
  );
  const res = await gw.request("/metrics");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  const text = await res.text();
  const samples = new Map<string, number>();
  for (const line of text.trimEnd().split("\n")) {
    if (line.startsWith("# HELP ") || line.startsWith("# TYPE ")) continue;
    const m = line.match(/^([a-z_]+(?:\{[^}]*\})?) (-?[0-9.e+-]+|\+Inf|NaN)$/);
    assert.ok(m, `unparseable line: ${line}`);
    samples.set(m[1]!, Number(m[2]));
  }
  for (const s of ["PENDING", "RUNNING", "COMPLETED", "FAILED", "CANCELLING", "CANCELLED"]) {
    assert.ok(samples.has(`pyoco_runs_total{status="${s}"}`), s);
  }
  assert.equal(samples.get('pyoco_runs_total{status="PENDING"}'), 2);
  assert.equal(samples.get("pyoco_workers_alive_total"), 1);
  assert.equal(samples.get("pyoco_dlq_messages_total"), 1);
  assert.equal(samples.get('pyoco_queue_pending{tag="q1"}'), 2);
  assert.equal(
    samples.get('pyoco_http_requests_total{method="POST",route="/runs",status="200"}'),
    2,
  );
  assert.equal(
    samples.get('pyoco_http_requests_total{method="GET",route="/runs/:id",status="404"}'),
    1,
  );
  assert.equal(
    samples.get('pyoco_http_request_duration_seconds_count{method="POST",route="/runs"}'),
    2,
  );
  assert.match(text, /# TYPE pyoco_http_request_duration_seconds histogram/);
  assert.match(text, /# TYPE pyoco_runs_total gauge/);
});

Deno.test("createApp() answers 404, 405, 503 and 500 with JSON error bodies", async () => {
  await using gw = await gatewayFixture();
  const notFound = await gw.request("/nope");
  assert.equal(notFound.status, 404);
  assert.equal((await notFound.json()).err_id, "ERR-PYOCO-0019");
  const wrong = await gw.request("/runs/abc", { method: "PUT" });
  assert.equal(wrong.status, 405);
  assert.equal(wrong.headers.get("allow"), "GET, DELETE");
  assert.deepEqual(await wrong.json(), {
    detail: "Method PUT not allowed on /runs/abc (allowed: GET, DELETE)",
    err_id: "ERR-PYOCO-0020",
    msg_id: "MSG-PYOCO-0020",
  });

  const logs: string[] = [];
  const logger = new Logger({ service: "pyoco-server:http", write: (l) => logs.push(l) });
  const down = createApp({ config: gw.config, logger, backend: () => null });
  const health = await down(new Request("http://gw/health"));
  assert.deepEqual(await health.json(), { status: "ok", nats: "disconnected" });
  for (
    const [path, init] of [
      ["/runs", postJson({ flow_name: "x" })],
      ["/runs", {}],
      ["/runs/abc", {}],
      ["/workers", {}],
      ["/metrics", {}],
    ] as [string, RequestInit][]
  ) {
    const res = await down(new Request(`http://gw${path}`, init));
    assert.equal(res.status, 503, path);
    assert.equal((await res.json()).err_id, "ERR-PYOCO-0003");
  }
  // Validation still comes first.
  assert.equal((await down(new Request("http://gw/runs", postJson({})))).status, 422);

  const broken = createApp({
    config: gw.config,
    logger,
    backend: () => gw.backend,
    authenticate: () => Promise.reject(new TypeError("kaboom")),
  });
  const res = await broken(new Request("http://gw/runs"));
  assert.equal(res.status, 500);
  assert.equal((await res.json()).err_id, "ERR-PYOCO-0023");
  const line = logs.map((l) => JSON.parse(l)).find((l) => l.err_id === "ERR-PYOCO-0023");
  assert.ok(line);
  assert.equal(line.level, "ERROR");
  assert.equal(line.exc_type, "TypeError");
  assert.match(line.exc_traceback, /kaboom/);
});

Deno.test("api_key auth: 401 without key, 403 for a bad or revoked key, tenant-scoped runs", async () => {
  let store!: ApiKeyStore;
  const verifiers: ApiKeyVerifier[] = [];
  await using gw = await gatewayFixture({
    env: { PYOCO_HTTP_AUTH_MODE: "api_key", PYOCO_AUTH_PEPPER: "pepper-for-tests" },
    authenticate: async (backend, config) => {
      store = new ApiKeyStore(backend.auth, { pepper: config.authPepper, iterations: 1000 });
      const verifier = new ApiKeyVerifier(backend.auth, {
        pepper: config.authPepper,
        connection: backend.nc,
      });
      await verifier.start();
      verifiers.push(verifier);
      return apiKeyAuthenticator(verifier, config.httpApiKeyHeader);
    },
  });
  try {
    const acme = await store.create({ tenantId: "acme" });
    const other = await store.create({ tenantId: "other" });
    const as = (key: string | null, init: RequestInit = {}) => {
      const headers = new Headers(init.headers);
      if (key !== null) headers.set("X-API-Key", key);
      return { ...init, headers };
    };

    assert.equal((await gw.request("/health")).status, 200);
    for (const path of ["/runs", "/runs/x", "/runs/x/tasks", "/workers", "/metrics"]) {
      const res = await gw.request(path);
      assert.equal(res.status, 401, path);
      assert.equal((await res.json()).err_id, "ERR-PYOCO-0014");
    }
    const noKeyPost = await gw.request("/runs", postJson({ flow_name: "x" }));
    assert.equal(noKeyPost.status, 401);
    for (const key of ["garbage", `${acme.apiKey}x`, "pyoco_0123456789abcdef01234567.secret"]) {
      const res = await gw.request("/runs", as(key));
      assert.equal(res.status, 403, key);
      assert.equal((await res.json()).err_id, "ERR-PYOCO-0015");
    }

    const submitted = await gw.request("/runs", as(acme.apiKey, postJson({ flow_name: "hello" })));
    assert.equal(submitted.status, 200);
    const { run_id } = await submitted.json();
    const snap = (await gw.reader.runs.get(run_id))!.json<RunSnapshot>();
    assert.equal(snap.tenant_id, "acme");
    assert.equal(snap.api_key_id, acme.keyId);
    const msg = await gw.reader.jsm.streams.getMessage(gw.config.workStream, {
      last_by_subj: "pyoco.work.default",
    });
    assert.equal(msg!.json<Record<string, unknown>>().tenant_id, "acme");
    assert.equal(msg!.json<Record<string, unknown>>().api_key_id, acme.keyId);

    assert.equal((await gw.request(`/runs/${run_id}`, as(acme.apiKey))).status, 200);
    const foreign = await gw.request(`/runs/${run_id}`, as(other.apiKey));
    assert.equal(foreign.status, 404);
    assert.equal((await foreign.json()).err_id, "ERR-PYOCO-0005");
    assert.equal((await gw.request(`/runs/${run_id}/tasks`, as(other.apiKey))).status, 404);
    const mine = await (await gw.request("/runs", as(acme.apiKey))).json();
    assert.deepEqual(mine.map((r: { run_id: string }) => r.run_id), [run_id]);
    assert.deepEqual(await (await gw.request("/runs", as(other.apiKey))).json(), []);
    assert.deepEqual(
      await (await gw.request("/runs?include=full", as(other.apiKey))).json(),
      [],
    );
    assert.equal((await gw.request("/workers", as(other.apiKey))).status, 200);

    await store.revoke(acme.keyId);
    await poll(async () => (await gw.request("/runs", as(acme.apiKey))).status === 403, {
      message: "the revoked key to be refused",
    });
    assert.ok(!gw.logs.some((l) => l.includes(acme.apiKey)), "an API key was logged");
  } finally {
    for (const v of verifiers) await v.close();
  }
});
