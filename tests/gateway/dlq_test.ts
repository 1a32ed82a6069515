import assert from "node:assert/strict";
import { jetstream } from "@nats-io/jetstream";
import type { DlqMessage, Job, RunSnapshot } from "../../src/contract/wire.ts";
import type { Principal } from "../../src/gateway/auth.ts";
import { gatewayFixture } from "./_fixture.ts";

function job(runId: string, fields: Partial<Job> = {}): Job {
  return {
    run_id: runId,
    flow_name: "hello",
    tag: "default",
    tags: ["default"],
    params: { x: 1 },
    submitted_at: 1000,
    tenant_id: null,
    api_key_id: null,
    ...fields,
  };
}

function deadLetter(fields: Partial<DlqMessage>): DlqMessage {
  const j = typeof fields.job === "object" && fields.job !== null ? fields.job : null;
  return {
    timestamp: 1000,
    reason: "execution_error",
    error: "boom",
    run_id: j?.run_id ?? null,
    flow_name: j?.flow_name ?? null,
    tag: j?.tag ?? "default",
    tags: j?.tags ?? ["default"],
    worker_id: "w1",
    num_delivered: 1,
    subject: `pyoco.work.${j?.tag ?? "default"}`,
    job: null,
    ...fields,
  };
}

async function publishDeadLetters(
  gw: Awaited<ReturnType<typeof gatewayFixture>>,
  letters: DlqMessage[],
): Promise<number[]> {
  const js = jetstream(gw.reader.nc);
  const seqs: number[] = [];
  for (const l of letters) {
    seqs.push((await js.publish(`pyoco.dlq.${l.tag ?? "default"}`, JSON.stringify(l))).seq);
  }
  return seqs;
}

const tenantAuth = () => (req: Request) => {
  const t = req.headers.get("x-tenant");
  return Promise.resolve<Principal | null>(t === null ? null : { tenantId: t, keyId: `k-${t}` });
};

Deno.test("GET /dlq lists dead letters newest first with their job, filtered by reason and tag", async () => {
  await using gw = await gatewayFixture();
  const seqs = await publishDeadLetters(gw, [
    deadLetter({ job: job("r1") }),
    deadLetter({ reason: "flow_not_found", job: job("r2") }),
    deadLetter({ job: job("r3", { tag: "gpu", tags: ["gpu"] }) }),
    deadLetter({ reason: "invalid_job", job: "{not json", run_id: null }),
  ]);
  const all = await (await gw.request("/dlq")).json();
  assert.deepEqual(all.map((e: { seq: number }) => e.seq), [...seqs].reverse());
  assert.equal(all[1].job.run_id, "r3");
  assert.equal(all[0].job, "{not json");
  const reason = await (await gw.request("/dlq?reason=flow_not_found")).json();
  assert.deepEqual(reason.map((e: { seq: number }) => e.seq), [seqs[1]]);
  const tag = await (await gw.request("/dlq?tag=gpu")).json();
  assert.deepEqual(tag.map((e: { run_id: string }) => e.run_id), ["r3"]);
  const limited = await (await gw.request("/dlq?limit=2")).json();
  assert.deepEqual(limited.map((e: { seq: number }) => e.seq), [seqs[3], seqs[2]]);
  for (const q of ["reason=nope", "tag=a.b", "limit=0", "limit=1001"]) {
    assert.equal((await gw.request(`/dlq?${q}`)).status, 422, q);
  }
});

Deno.test("POST /dlq/{seq}/replay submits the job again as a new run with replayed_from", async () => {
  await using gw = await gatewayFixture();
  const yaml = 'version: 1\nflow:\n  graph: a\ntasks:\n  a: { callable: "pyoco:echo" }\n';
  const [seq, yamlSeq, rawSeq, badSeq] = await publishDeadLetters(gw, [
    deadLetter({ job: job("old-run", { tags: ["default", "big"] }) }),
    deadLetter({
      job: job("old-yaml", {
        workflow_yaml: yaml,
        workflow_yaml_sha256: "x",
        workflow_yaml_bytes: 1,
      }),
    }),
    deadLetter({ reason: "invalid_job", job: "garbage" }),
    deadLetter({ job: job("bad", { flow_name: "" }) }),
  ]);
  const before = (await gw.reader.jsm.streams.info(gw.config.workStream)).state.messages;
  const res = await gw.request(`/dlq/${seq}/replay`, { method: "POST" });
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(body.status, "PENDING");
  assert.equal(body.replayed_from, seq);
  assert.notEqual(body.run_id, "old-run");
  const snap = (await gw.reader.runs.get(body.run_id))!.json<RunSnapshot>();
  assert.equal(snap.replayed_from, seq);
  assert.equal(snap.flow_name, "hello");
  assert.deepEqual(snap.params, { x: 1 });
  assert.deepEqual(snap.tags, ["default", "big"]);
  const msg = await gw.reader.jsm.streams.getMessage(gw.config.workStream, {
    last_by_subj: "pyoco.work.default",
  });
  assert.equal(msg!.json<Job>().run_id, body.run_id);
  assert.equal(msg!.json<Job>().replayed_from, seq);
  // Replaying twice makes a second new run (an explicit operator action each time).
  const again = await (await gw.request(`/dlq/${seq}/replay`, { method: "POST" })).json();
  assert.notEqual(again.run_id, body.run_id);
  assert.equal((await gw.reader.jsm.streams.info(gw.config.workStream)).state.messages, before + 2);

  const y = await (await gw.request(`/dlq/${yamlSeq}/replay`, { method: "POST" })).json();
  const ysnap = (await gw.reader.runs.get(y.run_id))!.json<RunSnapshot>();
  assert.equal(ysnap.workflow_yaml_bytes, new TextEncoder().encode(yaml).byteLength);
  assert.match(ysnap.workflow_yaml_sha256 ?? "", /^[0-9a-f]{64}$/);
  const yjob = (await gw.reader.jsm.streams.getMessage(gw.config.workStream, {
    last_by_subj: "pyoco.work.default",
  }))!.json<Job>();
  assert.equal(yjob.workflow_yaml, yaml);

  for (const s of [rawSeq, badSeq]) {
    const r = await gw.request(`/dlq/${s}/replay`, { method: "POST" });
    assert.equal(r.status, 422, String(s));
    assert.equal((await r.json()).err_id, "ERR-PYOCO-0002");
  }
  for (const s of ["999", "0", "abc"]) {
    const r = await gw.request(`/dlq/${s}/replay`, { method: "POST" });
    assert.equal(r.status, 404, s);
    assert.equal((await r.json()).err_id, "ERR-PYOCO-0021");
  }
});

Deno.test("GET /dlq and replay are tenant-scoped with auth", async () => {
  await using gw = await gatewayFixture({ authenticate: () => tenantAuth() });
  const [mine, theirs] = await publishDeadLetters(gw, [
    deadLetter({ job: job("a", { tenant_id: "acme", api_key_id: "k1" }) }),
    deadLetter({ job: job("b", { tenant_id: "other" }) }),
    deadLetter({ reason: "invalid_job", job: "raw" }),
  ]);
  const acme = { headers: { "x-tenant": "acme" } };
  const list = await (await gw.request("/dlq", acme)).json();
  assert.deepEqual(list.map((e: { seq: number }) => e.seq), [mine]);
  const foreign = await gw.request(`/dlq/${theirs}/replay`, { method: "POST", ...acme });
  assert.equal(foreign.status, 404);
  const own = await (await gw.request(`/dlq/${mine}/replay`, { method: "POST", ...acme })).json();
  const snap = (await gw.reader.runs.get(own.run_id))!.json<RunSnapshot>();
  assert.equal(snap.tenant_id, "acme");
  assert.equal(snap.api_key_id, "k1");
});
