import assert from "node:assert/strict";
import {
  PyocoClient,
  PyocoHttpError,
  PyocoNetworkError,
  PyocoTimeoutError,
} from "../../src/client/mod.ts";
import type { RunSnapshot } from "../../src/client/mod.ts";
import { freePort } from "../_helpers/nats_server.ts";
import { startStack } from "./_stack.ts";
import { poll } from "../_helpers/poll.ts";

/** A fetch that records every request and passes it on to the real fetch (optionally elsewhere). */
function recordingFetch(rewrite?: (url: URL) => URL) {
  const calls: { method: string; path: string; idempotencyKey: string | null }[] = [];
  const f: typeof fetch = (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const idempotencyKey = new Headers(init?.headers).get("idempotency-key");
    calls.push({ method: init?.method ?? "GET", path: url.pathname, idempotencyKey });
    return fetch(rewrite ? rewrite(url) : url, init);
  };
  return { fetch: f, calls };
}

const FAST_RETRY = { attempts: 3, baseDelayMs: 20, maxDelayMs: 100 };

const YAML = `version: 1
flow:
  graph: |
    say >> again
  defaults: { greeting: "hi from yaml" }
tasks:
  say: { callable: "pyoco:echo", inputs: { value: $flow.greeting } }
  again: { callable: "pyoco:echo", inputs: { value: $node.say.output } }
`;

Deno.test("PyocoClient against a real gateway and worker", async (t) => {
  await using stack = await startStack();
  const client = new PyocoClient({ baseUrl: stack.url, retry: FAST_RETRY });
  let completedRunId = "";

  try {
    await t.step("health() answers ok with NATS connected", async () => {
      const health = await client.health();
      assert.equal(health.status, "ok");
      assert.equal(health.nats, "connected");
    });

    await t.step(
      "submitRun() then waitForRun() resolves COMPLETED (watch stream, or polling without one)",
      async () => {
        const rec = recordingFetch();
        const watching = new PyocoClient({ baseUrl: stack.url, fetch: rec.fetch });
        const { run_id, status } = await watching.submitRun({
          flowName: "hello",
          params: { x: 2 },
        });
        assert.equal(status, "PENDING");
        const updates: RunSnapshot[] = [];
        const final = await watching.waitForRun(run_id, {
          timeoutMs: 20_000,
          onUpdate: (s) => updates.push(s),
        });
        assert.equal(final.status, "COMPLETED", stack.logs());
        assert.equal(final.run_id, run_id);
        assert.equal(updates.at(-1)?.status, "COMPLETED");
        // Each update differs from the previous one.
        for (let i = 1; i < updates.length; i++) {
          assert.notDeepEqual(
            [updates[i]!.status, updates[i]!.tasks],
            [updates[i - 1]!.status, updates[i - 1]!.tasks],
          );
        }
        const watchCalls = rec.calls.filter((c) => c.path.endsWith("/watch"));
        const polls = rec.calls.filter((c) => c.path === `/runs/${run_id}`);
        assert.equal(watchCalls.length, 1);
        const probe = await fetch(`${stack.url}/runs/${run_id}/watch`);
        const hasWatch = (probe.headers.get("content-type") ?? "").includes("text/event-stream");
        await probe.body?.cancel();
        if (hasWatch) {
          assert.equal(polls.length, 0, "the watch stream served the wait; nothing was polled");
        } else {
          console.warn("This gateway has no GET /runs/{id}/watch yet: the wait polled");
          assert.equal(probe.status, 404);
          assert.ok(polls.length >= 1);
        }
        completedRunId = run_id;
      },
    );

    await t.step("waitForRun() falls back to polling when the watch route is absent", async () => {
      // The real gateway answers a path it has no route for with 404 ERR-PYOCO-0019.
      const rec = recordingFetch((url) => {
        if (url.pathname.endsWith("/watch")) url.pathname = "/no-such-route" + url.pathname;
        return url;
      });
      const polling = new PyocoClient({ baseUrl: stack.url, fetch: rec.fetch });
      const { run_id } = await polling.submitRun({ flowName: "hello", params: { x: 3 } });
      const seen: string[] = [];
      const final = await polling.waitForRun(run_id, {
        timeoutMs: 20_000,
        pollIntervalMs: 50,
        onUpdate: (s) => seen.push(s.status),
      });
      assert.equal(final.status, "COMPLETED");
      assert.equal(seen.at(-1), "COMPLETED");
      assert.equal(rec.calls.filter((c) => c.path.endsWith("/watch")).length, 1);
      assert.ok(rec.calls.filter((c) => c.path === `/runs/${run_id}`).length >= 1);
    });

    await t.step(
      "waitForRun() falls back to polling when the answer is not an event stream",
      async () => {
        const rec = recordingFetch((url) => {
          if (url.pathname.endsWith("/watch")) url.pathname = "/health";
          return url;
        });
        const polling = new PyocoClient({ baseUrl: stack.url, fetch: rec.fetch });
        const final = await polling.waitForRun(completedRunId, { pollIntervalMs: 50 });
        assert.equal(final.status, "COMPLETED");
        assert.equal(rec.calls.filter((c) => c.path === `/runs/${completedRunId}`).length, 1);
      },
    );

    await t.step("getRun() leaves task_records out unless included", async () => {
      const plain = await client.getRun(completedRunId);
      assert.equal(plain.status, "COMPLETED");
      assert.equal(plain.task_records, undefined);
      assert.ok(Object.keys(plain.tasks).length > 0);
      assert.equal(typeof plain.worker_alive, "boolean");
      const full = await client.getRun(completedRunId, { include: ["records"] });
      const names = Object.keys(full.tasks);
      assert.deepEqual(Object.keys(full.task_records ?? {}).sort(), names.sort());
      for (const name of names) {
        assert.equal(full.task_records?.[name]?.state, "SUCCEEDED");
        assert.ok((full.task_records?.[name]?.attempts ?? 0) >= 1);
      }
    });

    await t.step("getTasks() returns states and records", async () => {
      const view = await client.getTasks(completedRunId);
      assert.equal(view.run_id, completedRunId);
      assert.equal(view.status, "COMPLETED");
      assert.deepEqual(Object.keys(view.task_records).sort(), Object.keys(view.tasks).sort());
    });

    await t.step("submitRunYaml() runs a flow.yaml with pyoco:echo", async () => {
      for (const workflowYaml of [YAML, new TextEncoder().encode(YAML)]) {
        const { run_id } = await client.submitRunYaml({ workflowYaml, flowName: "yaml_echo" });
        const final = await client.waitForRun(run_id, { timeoutMs: 20_000 });
        assert.equal(final.status, "COMPLETED", `${final.error}\n${stack.logs()}`);
        assert.equal(final.flow_name, "yaml_echo");
        assert.equal(typeof final.workflow_yaml_sha256, "string");
        assert.equal(final.workflow_yaml_bytes, new TextEncoder().encode(YAML).length);
        const tasks = await client.getTasks(run_id);
        assert.equal(tasks.task_records.again?.output, "hi from yaml");
      }
    });

    await t.step("submitRunYaml() with an unknown key → 422 naming it", async () => {
      const err = await client.submitRunYaml({
        workflowYaml: new Blob([YAML + "bogus: 1\n"]),
        flowName: "yaml_bad",
      }).catch((e) => e);
      assert.ok(err instanceof PyocoHttpError, String(err));
      assert.equal(err.status, 422);
      assert.equal(err.errId, "ERR-PYOCO-0002");
      assert.match(JSON.stringify([err.detail, err.errors]), /bogus/);
    });

    await t.step("listRuns() filters by flow, tag, status and limit", async () => {
      // Runs on a tag no worker serves stay PENDING.
      const a = await client.submitRun({ flowName: "hello", tag: "nobody_a" });
      const b = await client.submitRun({ flowName: "other_flow", tag: "nobody_b" });
      const byTag = await client.listRuns({ tag: "nobody_a" });
      assert.deepEqual(byTag.map((r) => r.run_id), [a.run_id]);
      const byFlow = await client.listRuns({ flow: "other_flow" });
      assert.deepEqual(byFlow.map((r) => r.run_id), [b.run_id]);
      assert.equal(byFlow[0]?.status, "PENDING");
      const completed = await client.listRuns({ status: "COMPLETED" });
      assert.ok(completed.length >= 2);
      assert.ok(completed.every((r) => r.status === "COMPLETED"));
      assert.ok(completed.some((r) => r.run_id === completedRunId));
      const one = await client.listRuns({ limit: 1 });
      assert.equal(one.length, 1);
      const all = await client.listRuns();
      for (let i = 1; i < all.length; i++) {
        assert.ok(all[i - 1]!.updated_at >= all[i]!.updated_at, "newest first");
      }
    });

    await t.step("listRuns() with a bad limit → PyocoHttpError 422", async () => {
      const err = await client.listRuns({ limit: 0 }).catch((e) => e);
      assert.ok(err instanceof PyocoHttpError);
      assert.equal(err.status, 422);
      assert.equal(err.errId, "ERR-PYOCO-0002");
    });

    await t.step("submitRun() with an invalid body → PyocoHttpError 422 with errors", async () => {
      const err = await client.submitRun({ flowName: "", tag: "no spaces allowed" }).catch((e) =>
        e
      );
      assert.ok(err instanceof PyocoHttpError, String(err));
      assert.equal(err.status, 422);
      assert.equal(err.errId, "ERR-PYOCO-0002");
      assert.equal(err.msgId, "MSG-PYOCO-0002");
      const paths = err.errors.map((e) => e.path);
      assert.ok(paths.some((p) => p.includes("flow_name")), JSON.stringify(err.errors));
      assert.ok(paths.some((p) => p.includes("tag")), JSON.stringify(err.errors));
    });

    await t.step("getRun() of an unknown run → PyocoHttpError 404 ERR-PYOCO-0005", async () => {
      const err = await client.getRun("no-such-run").catch((e) => e);
      assert.ok(err instanceof PyocoHttpError);
      assert.equal(err.status, 404);
      assert.equal(err.errId, "ERR-PYOCO-0005");
      const waitErr = await client.waitForRun("no-such-run", { timeoutMs: 5000 }).catch((e) => e);
      assert.ok(waitErr instanceof PyocoHttpError, String(waitErr));
      assert.equal(waitErr.errId, "ERR-PYOCO-0005");
    });

    await t.step("submitRun() sends Idempotency-Key only when given", async () => {
      const rec = recordingFetch();
      const keyed = new PyocoClient({ baseUrl: stack.url, fetch: rec.fetch });
      await keyed.submitRun({ flowName: "hello", tag: "nobody_k", idempotencyKey: "k-1" });
      await keyed.submitRun({ flowName: "hello", tag: "nobody_k" });
      assert.deepEqual(rec.calls.map((c) => c.idempotencyKey), ["k-1", null]);
    });

    await t.step(
      "waitForRun() times out with PyocoTimeoutError and the last snapshot",
      async () => {
        const { run_id } = await client.submitRun({ flowName: "hello", tag: "nobody_c" });
        const err = await client.waitForRun(run_id, { timeoutMs: 300 }).catch((e) => e);
        assert.ok(err instanceof PyocoTimeoutError, String(err));
        assert.equal(err.runId, run_id);
        assert.equal(err.lastSnapshot?.status, "PENDING");
        const viaPolling = new PyocoClient({
          baseUrl: stack.url,
          fetch: recordingFetch((url) => {
            if (url.pathname.endsWith("/watch")) url.pathname = "/nope";
            return url;
          }).fetch,
        });
        const err2 = await viaPolling.waitForRun(run_id, { timeoutMs: 300, pollIntervalMs: 20 })
          .catch((e) => e);
        assert.ok(err2 instanceof PyocoTimeoutError, String(err2));
      },
    );

    await t.step("waitForRun() rejects with the signal's reason when aborted", async () => {
      const { run_id } = await client.submitRun({ flowName: "hello", tag: "nobody_d" });
      const controller = new AbortController();
      const reason = new Error("user gave up");
      // No timeoutMs: only the abort can end this wait.
      const err = await client.waitForRun(run_id, {
        signal: controller.signal,
        onUpdate: () => controller.abort(reason),
      }).catch((e) => e);
      assert.equal(err, reason);
    });

    await t.step("listWorkers() lists the running worker", async () => {
      const workers = await poll(async () => {
        const list = await client.listWorkers();
        return list.length > 0 ? list : null;
      }, { message: "a worker record" });
      assert.equal(typeof workers[0]?.worker_id, "string");
      assert.ok(workers[0]?.tags.includes("default"));
    });

    await t.step("metrics() returns Prometheus text", async () => {
      const text = await client.metrics();
      assert.match(text, /pyoco_runs_total/);
    });
  } catch (err) {
    console.error(stack.logs());
    throw err;
  }
});

Deno.test("PyocoClient retries on 503 only where it is safe", async (t) => {
  await using stack = await startStack({ worker: false });
  const rec = recordingFetch();
  const client = new PyocoClient({ baseUrl: stack.url, fetch: rec.fetch, retry: FAST_RETRY });
  await stack.nats.kill();
  await poll(async () => (await client.health()).nats === "disconnected", { message: "NATS down" });

  await t.step("a GET is retried on 503, then fails with the 503", async () => {
    rec.calls.length = 0;
    const err = await client.listRuns().catch((e) => e);
    assert.ok(err instanceof PyocoHttpError, String(err));
    assert.equal(err.status, 503);
    assert.equal(err.errId, "ERR-PYOCO-0003");
    assert.equal(rec.calls.length, 3);
  });

  await t.step("POST /runs without an idempotency key is not retried", async () => {
    rec.calls.length = 0;
    const err = await client.submitRun({ flowName: "hello" }).catch((e) => e);
    assert.ok(err instanceof PyocoHttpError, String(err));
    assert.equal(err.status, 503);
    assert.equal(rec.calls.length, 1);
  });

  await t.step("POST /runs with an idempotency key is retried", async () => {
    rec.calls.length = 0;
    const err = await client.submitRun({ flowName: "hello", idempotencyKey: "k" }).catch((e) => e);
    assert.ok(err instanceof PyocoHttpError, String(err));
    assert.equal(err.status, 503);
    assert.equal(rec.calls.length, 3);
  });

  await t.step("a retried GET succeeds once NATS is back", async () => {
    await stack.nats.restart();
    const patient = new PyocoClient({
      baseUrl: stack.url,
      retry: { attempts: 40, baseDelayMs: 100, maxDelayMs: 250 },
    });
    const runs = await patient.listRuns();
    assert.ok(Array.isArray(runs));
  });
});

Deno.test("PyocoClient reports unreachable and hanging gateways", async (t) => {
  await t.step("a closed port → PyocoNetworkError after the retry budget", async () => {
    const rec = recordingFetch();
    const client = new PyocoClient({
      baseUrl: `http://127.0.0.1:${freePort()}`,
      fetch: rec.fetch,
      retry: FAST_RETRY,
    });
    const err = await client.getRun("x").catch((e) => e);
    assert.ok(err instanceof PyocoNetworkError, String(err));
    assert.equal(err.attempts, 3);
    assert.equal(err.timedOut, false);
    assert.ok(err.cause instanceof Error);
    assert.match(err.message, /Cannot reach the gateway at http:\/\/127\.0\.0\.1:\d+/);
    assert.equal(rec.calls.length, 3);
  });

  await t.step("a POST without an idempotency key is tried once", async () => {
    const rec = recordingFetch();
    const client = new PyocoClient({
      baseUrl: `http://127.0.0.1:${freePort()}`,
      fetch: rec.fetch,
      retry: FAST_RETRY,
    });
    const err = await client.submitRun({ flowName: "hello" }).catch((e) => e);
    assert.ok(err instanceof PyocoNetworkError);
    assert.equal(err.attempts, 1);
    assert.equal(rec.calls.length, 1);
  });

  // A server that accepts connections and never answers.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  const accepting = (async () => {
    try {
      for await (const conn of listener) conns.push(conn);
    } catch { /* closed */ }
  })();
  const url = `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`;
  try {
    await t.step("aborting a call rejects with the signal's reason", async () => {
      const client = new PyocoClient({ baseUrl: url });
      const controller = new AbortController();
      const reason = new Error("stop");
      const pending = client.health({ signal: controller.signal }).catch((e) => e);
      await poll(() => conns.length > 0, { message: "the request to arrive" });
      controller.abort(reason);
      assert.equal(await pending, reason);
    });

    await t.step("a request longer than timeoutMs → PyocoNetworkError with timedOut", async () => {
      const client = new PyocoClient({ baseUrl: url, timeoutMs: 100, retry: false });
      const err = await client.health().catch((e) => e);
      assert.ok(err instanceof PyocoNetworkError, String(err));
      assert.equal(err.timedOut, true);
      assert.equal(err.attempts, 1);
    });
  } finally {
    listener.close();
    await accepting;
    for (const c of conns) c.close();
  }
});

Deno.test("new PyocoClient() rejects invalid options, naming them", () => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{}, /"baseUrl"/],
    [{ baseUrl: "not a url" }, /"baseUrl"/],
    [{ baseUrl: "ftp://host" }, /"baseUrl"/],
    [{ baseUrl: "http://h", timeoutMs: 0 }, /"timeoutMs"/],
    [{ baseUrl: "http://h", apiKey: "" }, /"apiKey"/],
    [{ baseUrl: "http://h", apiKeyHeader: "bad header" }, /"apiKeyHeader"/],
    [{ baseUrl: "http://h", fetch: "nope" }, /"fetch"/],
    [{ baseUrl: "http://h", retry: { attempts: 1.5 } }, /"retry.attempts"/],
    [{ baseUrl: "http://h", retry: { baseDelayMs: 500, maxDelayMs: 100 } }, /"retry.maxDelayMs"/],
  ];
  for (const [options, pattern] of bad) {
    assert.throws(() => new PyocoClient(options as never), pattern);
  }
  const ok = new PyocoClient({ baseUrl: "http://127.0.0.1:8000/prefix/" });
  assert.equal(ok.baseUrl, "http://127.0.0.1:8000/prefix");
});
