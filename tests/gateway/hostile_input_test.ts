/**
 * Hostile and malformed input, as a table: every case must get a 4xx with an err_id and a
 * message naming what is wrong — never a 5xx, never a crash, never a half-written run.
 */
import assert from "node:assert/strict";
import { gatewayFixture, postJson } from "./_fixture.ts";

const nested = (depth: number, leaf = "1") => '{"a":'.repeat(depth) + leaf + "}".repeat(depth);
const parens = (depth: number) => "(".repeat(depth) + "a" + ")".repeat(depth);

function yamlForm(text: string, fields: Record<string, string> = {}): RequestInit {
  const form = new FormData();
  form.append("workflow", new File([text], "flow.yaml"));
  form.append("flow_name", fields.flow_name ?? "f");
  for (const [k, v] of Object.entries(fields)) if (k !== "flow_name") form.append(k, v);
  return { method: "POST", body: form };
}

const laughs = [
  "version: 1",
  "flow:",
  "  graph: a",
  '  defaults: &a0 { x: ["lol","lol","lol","lol","lol","lol","lol","lol","lol"] }',
  ...Array.from({ length: 9 }, (_, i) => `x${i + 1}: &a${i + 1} [${`*a${i},`.repeat(9)}*a${i}]`),
  "tasks: { a: { callable: 'pyoco:echo', inputs: { value: *a9 } } }",
].join("\n");

interface Case {
  name: string;
  path: string;
  init?: RequestInit;
  status: number;
  /** What the detail (or an error path) must mention. */
  mentions?: RegExp;
}

const CASES: Case[] = [
  {
    name: "params nested 10,000 levels",
    path: "/runs",
    init: postJson(`{"flow_name":"hello","params":${nested(10_000)}}`),
    status: 422,
    mentions: /64 levels/,
  },
  {
    name: "params nested 10,000 levels with an Idempotency-Key",
    path: "/runs",
    init: postJson(`{"flow_name":"hello","params":${nested(10_000)}}`, {
      "Idempotency-Key": "deep",
    }),
    status: 422,
    mentions: /64 levels/,
  },
  {
    name: "params nested 65 levels",
    path: "/runs",
    init: postJson(`{"flow_name":"hello","params":${nested(65)}}`),
    status: 422,
    mentions: /params/,
  },
  {
    name: "a flow.yaml graph of 5,000 nested parentheses",
    path: "/runs/yaml",
    init: yamlForm(`version: 1\nflow:\n  graph: "${parens(5_000)}"\ntasks: {}\n`),
    status: 422,
    mentions: /nest/i,
  },
  {
    name: "flow.yaml defaults nested 200 levels",
    path: "/runs/yaml",
    init: yamlForm(`version: 1\nflow:\n  graph: a\n  defaults: ${nested(200)}\n`),
    status: 422,
    mentions: /64 levels/,
  },
  { name: "billion laughs", path: "/runs/yaml", init: yamlForm(laughs), status: 422 },
  {
    name: "YAML that is not UTF-8",
    path: "/runs/yaml",
    init: (() => {
      const form = new FormData();
      form.append("workflow", new File([new Uint8Array([0xff, 0xfe, 0x00, 0x41])], "f.yaml"));
      form.append("flow_name", "f");
      return { method: "POST", body: form };
    })(),
    status: 422,
  },
  { name: "a body that is not JSON", path: "/runs", init: postJson("{nope"), status: 422 },
  { name: "a JSON array body", path: "/runs", init: postJson("[]"), status: 422 },
  { name: "a JSON string body", path: "/runs", init: postJson('"x"'), status: 422 },
  {
    name: "a body over PYOCO_HTTP_MAX_BODY_BYTES",
    path: "/runs",
    init: postJson(`{"flow_name":"hello","params":{"x":"${"y".repeat(1_100_000)}"}}`),
    status: 413,
  },
  {
    name: "__proto__ and constructor keys in params",
    path: "/runs",
    init: postJson('{"flow_name":"hello","params":{"__proto__":{"x":1},"constructor":2},"x":1}'),
    status: 422,
    mentions: /unknown field/,
  },
  {
    name: "a flow name of 10,000 characters",
    path: "/runs",
    init: postJson({ flow_name: "f".repeat(10_000) }),
    status: 422,
    mentions: /flow_name/,
  },
  {
    name: "a tag with a wildcard",
    path: "/runs",
    init: postJson({ flow_name: "hello", tag: "a.>" }),
    status: 422,
    mentions: /tag/,
  },
  {
    name: "tags nested in arrays",
    path: "/runs",
    init: postJson(`{"flow_name":"hello","tags":${"[".repeat(5000)}${"]".repeat(5000)}}`),
    status: 422,
    mentions: /tags/,
  },
  {
    name: "a multipart body without a boundary",
    path: "/runs/yaml",
    init: {
      method: "POST",
      headers: { "content-type": "multipart/form-data" },
      body: "--x\r\n",
    },
    status: 422,
  },
  { name: "limit=abc", path: "/runs?limit=abc", status: 422, mentions: /limit/ },
  { name: "limit=100000", path: "/runs?limit=100000", status: 422, mentions: /limit/ },
  { name: "a garbage cursor", path: "/runs?cursor=%00%ff!!", status: 422, mentions: /cursor/ },
  { name: "status=BOGUS", path: "/runs?status=BOGUS", status: 422, mentions: /status/ },
  { name: "include=everything", path: "/runs/x/?include=a", status: 404 },
  { name: "a run id with dots", path: "/runs/..%2F..%2Fetc", status: 404 },
  { name: "a run id of 5,000 characters", path: `/runs/${"a".repeat(5000)}`, status: 404 },
  { name: "after_seq=-1", path: "/runs/nope/events?after_seq=-1", status: 422 },
  { name: "events of a missing run", path: "/runs/nope/events", status: 404 },
  {
    name: "cancel of a missing run",
    path: "/runs/nope/cancel",
    init: { method: "POST" },
    status: 404,
  },
  {
    name: "PATCH /workers with a deep body",
    path: "/workers/w1",
    init: { ...postJson(nested(10_000)), method: "PATCH" },
    status: 422,
  },
  {
    name: "a DLQ seq that is not a number",
    path: "/dlq/abc/replay",
    init: { method: "POST" },
    status: 404,
  },
  { name: "a DLQ limit of -1", path: "/dlq?limit=-1", status: 422 },
  { name: "DELETE on /runs", path: "/runs", init: { method: "DELETE" }, status: 405 },
];

Deno.test("hostile input gets a 4xx with an err_id and loses nothing", async () => {
  await using gw = await gatewayFixture();
  const failures: string[] = [];
  for (const c of CASES) {
    const res = await gw.request(c.path, c.init);
    const text = await res.text();
    let body: { err_id?: string; detail?: string; errors?: { path: string; message: string }[] };
    try {
      body = JSON.parse(text);
    } catch {
      failures.push(`${c.name}: body is not JSON: ${text.slice(0, 200)}`);
      continue;
    }
    if (res.status !== c.status) {
      failures.push(`${c.name}: status ${res.status}, expected ${c.status}: ${text.slice(0, 300)}`);
    }
    if (!/^ERR-PYOCO-\d{4}$/.test(body.err_id ?? "")) failures.push(`${c.name}: no err_id`);
    const said = [body.detail ?? "", ...(body.errors ?? []).map((e) => `${e.path} ${e.message}`)]
      .join(" ");
    if (said.trim() === "") failures.push(`${c.name}: no message`);
    if (c.mentions && !c.mentions.test(said)) {
      failures.push(`${c.name}: message does not mention ${c.mentions}: ${said.slice(0, 300)}`);
    }
  }
  assert.deepEqual(failures, []);
  // Nothing was half-written: no run exists, no job was queued.
  const keys: string[] = [];
  for await (const k of await gw.reader.runs.keys()) keys.push(k);
  assert.deepEqual(keys, []);
  const work = await gw.reader.jsm.streams.info(gw.config.workStream);
  assert.equal(work.state.messages, 0);
  // Nothing was mistaken for a NATS outage.
  assert.ok(
    !gw.logs.some((l) => l.includes("ERR-PYOCO-0003")),
    "no error was logged as a NATS outage",
  );
  const health = await (await gw.request("/health")).json();
  assert.equal(health.nats, "connected");
});
