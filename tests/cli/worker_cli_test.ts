import assert from "node:assert/strict";
import { PyocoClient } from "../../src/client/mod.ts";
import { WORKER_PERMISSIONS } from "../../src/host/permissions.ts";
import { startGatewayProcess } from "../_helpers/gateway_process.ts";
import { startNatsServer } from "../_helpers/nats_server.ts";
import { poll } from "../_helpers/poll.ts";
import { REPO_ROOT, startWorkerProcess, type WorkerProcess } from "../_helpers/worker_process.ts";

/** Run the worker CLI with its least permissions and these arguments; it must exit by itself. */
async function worker(args: string[]): Promise<{ code: number; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...WORKER_PERMISSIONS, "cli/worker.ts", ...args],
    cwd: REPO_ROOT,
    env: { NO_COLOR: "1" },
    stdin: "null",
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

/** Log records at WARNING or above, and any text a stack trace would leave. */
function noise(w: WorkerProcess): string[] {
  const loud = w.records().filter((r) => r.level === "WARNING" || r.level === "ERROR");
  const text = w.logs();
  const found = loud.map((r) => JSON.stringify(r));
  if (/DrainingConnectionError|ClosedConnectionError/.test(text)) found.push("connection error");
  if (/^\s+at .+:\d+:\d+/m.test(text)) found.push("stack trace");
  return found;
}

Deno.test("pyoco-worker flags: a typo gets a suggestion, exit 2", async () => {
  const typo = await worker(["--flos", "examples/flows.ts"]);
  assert.equal(typo.code, 2);
  assert.match(typo.stderr, /^pyoco-worker: Unknown option "--flos"\. Did you mean "--flows"\?$/m);
  const missing = await worker(["--concurrency"]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /Option "--concurrency" needs a value/);
  const positional = await worker(["examples/flows.ts"]);
  assert.equal(positional.code, 2);
  assert.match(positional.stderr, /Unexpected argument "examples\/flows\.ts"/);
  const bad = await worker(["--concurrency", "0"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /Invalid --concurrency "0"/);
});

Deno.test("a clean worker shutdown and a flow-not-found log no noise", async (t) => {
  await using nats = await startNatsServer();
  // Submit validation off: the unknown flow reaches the worker (SPEC §12 off switch).
  const gateway = await startGatewayProcess({
    natsUrl: nats.url,
    env: { PYOCO_SUBMIT_FLOW_CHECK: "off" },
  });
  const client = new PyocoClient({ baseUrl: gateway.url });
  const start = () => startWorkerProcess({ natsUrl: nats.url, flows: ["examples/flows.ts"] });
  try {
    await t.step("SIGTERM while idle: exit 0, nothing above INFO", async () => {
      const w = await start();
      const run = await client.submitRun({ flowName: "hello", params: { x: 1 } });
      assert.equal(
        (await client.waitForRun(run.run_id, { timeoutMs: 20_000 })).status,
        "COMPLETED",
      );
      assert.equal(await w.stop("SIGTERM"), 0, w.logs());
      assert.deepEqual(noise(w), [], w.logs());
      assert.match(w.logs(), /Worker stopped/);
    });

    await t.step("SIGTERM during a run: it finishes, exit 0, nothing above INFO", async () => {
      const w = await start();
      const run = await client.submitRun({ flowName: "race" });
      await poll(async () => (await client.getRun(run.run_id)).status === "RUNNING", {
        timeoutMs: 20_000,
        message: "the run to be RUNNING",
      });
      assert.equal(await w.stop("SIGTERM"), 0, w.logs());
      assert.equal((await client.getRun(run.run_id)).status, "COMPLETED");
      assert.deepEqual(noise(w), [], w.logs());
    });

    await t.step("a flow the worker lacks: one line with err_id, no stack", async () => {
      const w = await start();
      try {
        const run = await client.submitRun({ flowName: "no_such_flow" });
        const final = await client.waitForRun(run.run_id, { timeoutMs: 20_000 });
        assert.equal(final.status, "FAILED");
        assert.match(final.error ?? "", /^flow_not_found: /);
        const lines = await poll(() => {
          const found = w.records().filter((r) => r.err_id === "ERR-PYOCO-0006");
          return found.length > 0 ? found : null;
        }, { message: () => `the flow_not_found log line in:\n${w.logs()}` });
        assert.equal(lines.length, 1, w.logs());
        assert.match(String(lines[0]!.error), /no_such_flow/);
        assert.equal(lines[0]!.exc_traceback, undefined);
        assert.doesNotMatch(w.logs(), /^\s+at .+:\d+:\d+/m);
      } finally {
        await w.stop();
      }
    });
  } catch (err) {
    console.error(gateway.logs());
    throw err;
  } finally {
    await gateway.stop();
  }
});

Deno.test("Ctrl-C on the dev stack (SIGINT to all, then the supervisor's SIGTERM, NATS going away too) logs no noise", async () => {
  const nats = await startNatsServer();
  const gateway = await startGatewayProcess({ natsUrl: nats.url });
  let w: WorkerProcess | undefined;
  try {
    w = await startWorkerProcess({ natsUrl: nats.url, flows: ["examples/flows.ts"] });
    const client = new PyocoClient({ baseUrl: gateway.url });
    const run = await client.submitRun({ flowName: "hello", params: { x: 2 } });
    await client.waitForRun(run.run_id, { timeoutMs: 20_000 });
    // The terminal's SIGINT reaches every process of the group; `deno task dev` then sends
    // SIGTERM to its children: one stop request for the worker.
    Deno.kill(w.pid, "SIGINT");
    const [code] = await Promise.all([w.stop("SIGTERM"), gateway.stop(), nats.stop()]);
    assert.equal(code, 0, w.logs());
    assert.deepEqual(noise(w), [], w.logs());
    assert.ok(!w.logs().includes("Second signal"), w.logs());
  } finally {
    await w?.[Symbol.asyncDispose]();
    await gateway.stop();
    await nats.stop();
  }
});
