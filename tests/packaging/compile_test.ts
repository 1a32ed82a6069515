import assert from "node:assert/strict";
import { startNatsServer } from "../_helpers/nats_server.ts";
import { poll, StopPolling } from "../_helpers/poll.ts";
import { REPO_ROOT, runProcess } from "./_run.ts";

const _DENORT_BIN = Deno.env.get("DENORT_BIN") ?? "";

/** A long-running process with captured output. */
interface _Proc {
  logs(): string;
  /** Poll the output for `pattern` until `timeoutMs`; throws with the logs on timeout or exit. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
  stop(): Promise<number>;
}

function _spawn(cmd: string, args: string[], env: Record<string, string>): _Proc {
  const child = new Deno.Command(cmd, {
    args,
    cwd: REPO_ROOT,
    env: { NO_COLOR: "1", PYOCO_ENV_FILE: "/dev/null", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  let code: number | null = null;
  const dec = new TextDecoder();
  const drain = async (s: ReadableStream<Uint8Array>) => {
    for await (const c of s) text += dec.decode(c, { stream: true });
  };
  const pump = Promise.all([drain(child.stdout), drain(child.stderr)]);
  const exited = child.status.then(async (s) => {
    await pump;
    code = s.code;
    return s.code;
  });
  return {
    logs: () => text,
    async waitFor(pattern, timeoutMs) {
      return await poll(() => {
        if (code !== null) {
          throw new StopPolling(`${cmd} did not print ${pattern} (exit ${code}):\n${text}`);
        }
        return text.match(pattern);
      }, { timeoutMs, message: () => `${cmd} to print ${pattern}:\n${text}` });
    },
    async stop() {
      if (code === null) {
        try {
          child.kill("SIGTERM");
        } catch { /* gone */ }
      }
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* gone */ }
      }, 10_000);
      const c = await exited;
      clearTimeout(timer);
      return c;
    },
  };
}

Deno.test("deno task compile rejects a DENORT_BIN that does not exist", async () => {
  const res = await runProcess(Deno.execPath(), ["task", "compile", "worker"], {
    DENORT_BIN: "/nonexistent/denort",
  });
  assert.equal(res.code, 2, res.stdout + res.stderr);
  assert.match(res.stderr, /Cannot use DENORT_BIN=\/nonexistent\/denort/);
});

Deno.test({
  name: "deno task compile explains how to set DENORT_BIN when the runtime cannot be downloaded",
  ignore: _DENORT_BIN !== "",
  async fn() {
    const out = await Deno.makeTempDir({ prefix: "pyoco-compile-" });
    try {
      // A proxy on a closed port makes the runtime download fail on any machine (unless the
      // runtime is already cached, in which case the build simply succeeds).
      const res = await runProcess(
        Deno.execPath(),
        ["task", "compile", "gateway", "--out-dir", out],
        { HTTPS_PROXY: "http://127.0.0.1:9", HTTP_PROXY: "http://127.0.0.1:9" },
      );
      if (res.code === 0) {
        await Deno.stat(`${out}/pyoco-gateway`);
        return;
      }
      assert.equal(res.code, 1, res.stdout + res.stderr);
      assert.match(res.stderr, /could not download the denort runtime/);
      assert.match(res.stderr, /DENORT_BIN=\/path\/to\/denort deno task compile/);
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});

if (_DENORT_BIN === "") {
  console.log(
    "compile_test: DENORT_BIN not set, skipping the compiled-binaries end-to-end test " +
      "(set DENORT_BIN to a denort binary of this Deno version to run it)",
  );
}

Deno.test({
  name: _DENORT_BIN === ""
    ? "compiled pyoco-gateway and pyoco-worker run a flow end to end (skipped: DENORT_BIN not set)"
    : "compiled pyoco-gateway and pyoco-worker run a flow end to end",
  ignore: _DENORT_BIN === "",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const out = await Deno.makeTempDir({ prefix: "pyoco-bin-" });
    await using nats = await startNatsServer();
    const procs: _Proc[] = [];
    try {
      const build = await runProcess(Deno.execPath(), [
        "task",
        "compile",
        "worker",
        "gateway",
        "--out-dir",
        out,
      ]);
      assert.equal(build.code, 0, `compile failed:\n${build.stdout}${build.stderr}`);

      const gateway = _spawn(`${out}/pyoco-gateway`, ["--port", "0"], {
        PYOCO_NATS_URL: nats.url,
        PYOCO_HTTP_HOST: "127.0.0.1",
      });
      procs.push(gateway);
      const url = (await gateway.waitFor(/https?:\/\/127\.0\.0\.1:\d+/, 30_000))[0];

      const workerId = `compiled-${crypto.randomUUID().slice(0, 8)}`;
      const worker = _spawn(`${out}/pyoco-worker`, [
        "--flows",
        "./examples/flows.ts",
        "--nats-url",
        nats.url,
        "--worker-id",
        workerId,
      ], {});
      procs.push(worker);
      await worker.waitFor(new RegExp(`Worker ${workerId} ready`), 30_000);

      const res = await fetch(`${url}/runs`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ flow_name: "hello", params: { x: 2 } }),
      });
      assert.equal(res.status, 200, await res.clone().text());
      const { run_id } = await res.json();
      let run: Record<string, unknown> = {};
      await poll(async () => {
        run = await (await fetch(`${url}/runs/${run_id}`)).json();
        return run.status === "COMPLETED" || run.status === "FAILED";
      }, {
        timeoutMs: 30_000,
        intervalMs: 50,
        message: () => `the run to end: ${JSON.stringify(run)}\n${worker.logs()}`,
      });
      assert.equal(run.status, "COMPLETED", `run: ${JSON.stringify(run)}\n${worker.logs()}`);
      assert.equal(run.worker_id, workerId);
      assert.deepEqual(run.outputs, { shout: "CARROT" });
    } finally {
      for (const p of procs.reverse()) await p.stop();
      await Deno.remove(out, { recursive: true });
    }
  },
});
