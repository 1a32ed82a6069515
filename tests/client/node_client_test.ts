import assert from "node:assert/strict";
import { startStack } from "./_stack.ts";

const ROOT = new URL("../../", import.meta.url);

function _nodeOnPath(): boolean {
  try {
    const out = new Deno.Command("node", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync();
    return out.success;
  } catch {
    return false;
  }
}

const hasNode = _nodeOnPath();
if (!hasNode) console.warn("node_client_test: skipped, `node` is not on PATH");

Deno.test({
  name: "PyocoClient bundled for the browser platform runs under Node against a real gateway",
  ignore: !hasNode,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "pyoco-node-client-" });
    try {
      const bundle = await new Deno.Command(Deno.execPath(), {
        args: [
          "bundle",
          "--platform",
          "browser",
          "--format",
          "esm",
          "-o",
          `${dir}/client.mjs`,
          "src/client/mod.ts",
        ],
        cwd: ROOT,
      }).output();
      assert.ok(bundle.success, new TextDecoder().decode(bundle.stderr));
      const code = await Deno.readTextFile(`${dir}/client.mjs`);
      assert.doesNotMatch(code, /\bDeno\./, "the client bundle uses no Deno APIs");
      assert.doesNotMatch(code, /from\s+["']node:/, "the client bundle imports no node: modules");

      await Deno.writeTextFile(
        `${dir}/main.mjs`,
        `import { PyocoClient } from "./client.mjs";
const client = new PyocoClient({ baseUrl: process.argv[2] });
const { run_id } = await client.submitRun({ flowName: "hello", params: { x: 5 } });
const updates = [];
const final = await client.waitForRun(run_id, { timeoutMs: 20000, onUpdate: (s) => updates.push(s.status) });
console.log(JSON.stringify({ status: final.status, run_id, updates }));
`,
      );
      await using stack = await startStack();
      const run = await new Deno.Command("node", {
        args: [`${dir}/main.mjs`, stack.url],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stdout = new TextDecoder().decode(run.stdout);
      const stderr = new TextDecoder().decode(run.stderr);
      assert.ok(run.success, `${stdout}\n${stderr}\n${stack.logs()}`);
      const result = JSON.parse(stdout.trim().split("\n").at(-1)!);
      assert.equal(result.status, "COMPLETED");
      assert.equal(result.updates.at(-1), "COMPLETED");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
