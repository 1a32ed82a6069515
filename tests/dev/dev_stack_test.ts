import assert from "node:assert/strict";
import { freePort } from "../_helpers/nats_server.ts";
import { poll } from "../_helpers/poll.ts";

const root = new URL("../../", import.meta.url);

function startDev(args: string[], env: Record<string, string> = {}) {
  const proc = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-env",
      "--allow-read",
      "--allow-write",
      "--allow-run",
      "cli/dev.ts",
      ...args,
    ],
    cwd: root,
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).spawn();
  let output = "";
  const pump = Promise.all([proc.stdout, proc.stderr].map(async (stream) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) output += chunk;
  }));
  return { proc, output: () => output, pump };
}

Deno.test("deno task dev runs NATS, gateway and worker, completes a run and stops on SIGINT", async () => {
  const port = freePort();
  const natsPort = freePort();
  const dev = startDev(["--port", String(port), "--nats-port", String(natsPort)]);
  try {
    await poll(() => dev.output().includes("Press Ctrl-C"), {
      timeoutMs: 60_000,
      message: () => `the ready banner:\n${dev.output()}`,
    });
    const url = `http://127.0.0.1:${port}`;
    assert.ok(dev.output().includes(`Gateway:   ${url}`));
    assert.ok(dev.output().includes(`Dashboard: ${url}/`), "it prints the dashboard URL");
    const page = await fetch(`${url}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-type") ?? "", /text\/html/);
    await page.body?.cancel();
    assert.match(dev.output(), /curl -s -X POST http:\/\/127\.0\.0\.1:\d+\/runs/);
    assert.ok(!dev.output().includes("JETSTREAM"), "the nats-server banner is not echoed");
    const store = dev.output().match(/temp store (\S+)\)/)?.[1];
    assert.ok(store, "it says where the temp store is");

    const submitted = await fetch(`${url}/runs`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ flow_name: "hello", params: { x: 2 } }),
    }).then((r) => r.json());
    let status = "";
    await poll(async () => {
      const run = await fetch(`${url}/runs/${submitted.run_id}`).then((r) => r.json());
      status = run.status;
      return status === "COMPLETED" || status === "FAILED";
    }, { timeoutMs: 30_000, message: "the run to finish" });
    assert.equal(status, "COMPLETED");

    dev.proc.kill("SIGINT");
    const { code } = await dev.proc.status;
    await dev.pump;
    assert.equal(code, 0, dev.output());
    assert.match(dev.output(), /Stopping \(SIGINT\)/);
    await assert.rejects(Deno.stat(store!), Deno.errors.NotFound, "the temp store is removed");
    await assert.rejects(
      fetch(url).then((r) => r.body?.cancel()),
      "the gateway is gone",
    );
  } finally {
    try {
      dev.proc.kill("SIGKILL");
    } catch { /* already exited */ }
    await dev.proc.status;
  }
});

Deno.test("deno task dev says how to install nats-server when it is missing", async () => {
  const dev = startDev(["--port", String(freePort()), "--nats-port", String(freePort())], {
    PYOCO_NATS_SERVER_BIN: "/nonexistent/nats-server",
  });
  const { code } = await dev.proc.status;
  await dev.pump;
  assert.equal(code, 1);
  assert.match(dev.output(), /Cannot find nats-server/);
  assert.match(dev.output(), /apt-get install -y nats-server/);
});

Deno.test("deno task dev says the port is taken instead of an AddrInUse stack", async () => {
  using held = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (held.addr as Deno.NetAddr).port;
  const dev = startDev(["--port", String(port), "--nats-port", String(freePort())]);
  const { code } = await dev.proc.status;
  await dev.pump;
  assert.equal(code, 1, dev.output());
  assert.match(dev.output(), new RegExp(`Port ${port} is in use .*pass --port N`));
  assert.doesNotMatch(dev.output(), /AddrInUse|^\s+at /m);
});

Deno.test("deno task dev answers a mistyped flag with a suggestion and exit 2", async () => {
  const dev = startDev(["--prot", "8000"]);
  const { code } = await dev.proc.status;
  await dev.pump;
  assert.equal(code, 2);
  assert.match(dev.output(), /Unknown option "--prot"\. Did you mean "--port"\?/);
});
