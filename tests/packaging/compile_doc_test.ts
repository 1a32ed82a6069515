/**
 * Checks the "worker with your own flows" recipe of `docs/compile.md`: its ```ts blocks that
 * start with `// file: NAME` are written to a temporary project (whose import map points
 * `@pyoco/server` at this repository), and `my_worker.ts` is run with the worker's permission
 * flags against a real nats-server and gateway until a `doubler` run completes.
 *
 * @module
 */

import assert from "node:assert/strict";
import { startNatsServer } from "../_helpers/nats_server.ts";
import { startGatewayProcess } from "../_helpers/gateway_process.ts";
import { poll, StopPolling } from "../_helpers/poll.ts";
import { WORKER_PERMISSIONS } from "../../src/host/permissions.ts";
import { REPO_ROOT } from "./_run.ts";

/**
 * The ```ts blocks of a Markdown text whose first line is `// file: NAME`.
 *
 * @param markdown The document.
 * @returns File name → content.
 */
export function namedTsBlocks(markdown: string): Map<string, string> {
  const files = new Map<string, string>();
  for (const m of markdown.matchAll(/^```ts\n\/\/ file: (\S+)\n([\s\S]*?)^```$/gm)) {
    files.set(m[1]!, m[2]!);
  }
  return files;
}

Deno.test({
  name: "docs/compile.md: a worker entry with static flows runs with the worker's flags",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const files = namedTsBlocks(
      await Deno.readTextFile(new URL("docs/compile.md", REPO_ROOT)),
    );
    assert.deepEqual([...files.keys()].sort(), ["my_flows.ts", "my_worker.ts"]);

    const dir = await Deno.makeTempDir({ prefix: "pyoco-compile-doc-" });
    await using nats = await startNatsServer();
    await using gateway = await startGatewayProcess({ natsUrl: nats.url });
    let child: Deno.ChildProcess | null = null;
    let logs = "";
    try {
      const repo = JSON.parse(await Deno.readTextFile(new URL("deno.json", REPO_ROOT)));
      const imports: Record<string, string> = { ...repo.imports };
      for (const [sub, path] of Object.entries(repo.exports as Record<string, string>)) {
        imports[`@pyoco/server${sub === "." ? "" : sub.slice(1)}`] = new URL(path, REPO_ROOT).href;
      }
      await Deno.writeTextFile(`${dir}/deno.json`, JSON.stringify({ imports }, null, 2));
      for (const [name, text] of files) await Deno.writeTextFile(`${dir}/${name}`, text);

      child = new Deno.Command(Deno.execPath(), {
        args: ["run", ...WORKER_PERMISSIONS, "my_worker.ts"],
        cwd: dir,
        // A short drain timeout bounds the stop (src/worker/worker.ts keeps its drain timer alive
        // for the full timeout after a clean drain; see the packaging report).
        env: { PYOCO_NATS_URL: nats.url, PYOCO_WORKER_DRAIN_TIMEOUT_SEC: "3", NO_COLOR: "1" },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const dec = new TextDecoder();
      let exited: number | null = null;
      const pump = Promise.all([child.stdout, child.stderr].map(async (s) => {
        for await (const c of s) logs += dec.decode(c, { stream: true });
      }));
      const status = child.status.then(async (s) => {
        await pump;
        exited = s.code;
        return s.code;
      });
      await poll(() => {
        if (exited !== null) {
          throw new StopPolling(`my_worker.ts did not get ready (exit ${exited}):\n${logs}`);
        }
        return /Worker \S+ ready/.test(logs);
      }, { timeoutMs: 30_000, message: () => `my_worker.ts to get ready:\n${logs}` });

      const res = await fetch(`${gateway.url}/runs`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ flow_name: "doubler", params: { x: 21 } }),
      });
      assert.equal(res.status, 200, await res.clone().text());
      const { run_id } = await res.json();
      let run: Record<string, unknown> = {};
      await poll(async () => {
        run = await (await fetch(`${gateway.url}/runs/${run_id}`)).json();
        return run.status === "COMPLETED" || run.status === "FAILED";
      }, {
        timeoutMs: 30_000,
        intervalMs: 50,
        message: () => `the run to end: ${JSON.stringify(run)}\n${logs}`,
      });
      assert.equal(run.status, "COMPLETED", `${JSON.stringify(run)}\n${logs}`);
      assert.deepEqual(run.outputs, { report: { doubled: 42 } });

      child.kill("SIGTERM");
      assert.equal(await status, 0, logs);
      child = null;
    } finally {
      if (child) {
        try {
          child.kill("SIGKILL");
        } catch { /* gone */ }
        await child.status;
      }
      await Deno.remove(dir, { recursive: true });
    }
  },
});
