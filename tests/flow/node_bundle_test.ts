import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const modPath = fileURLToPath(new URL("../../src/flow/mod.ts", import.meta.url));

async function hasNode(): Promise<boolean> {
  try {
    const { success } = await new Deno.Command("node", { args: ["--version"], stdout: "null" })
      .output();
    return success;
  } catch {
    return false;
  }
}

const nodeAvailable = await hasNode();
if (!nodeAvailable) console.warn("node_bundle_test: skipped, `node` is not on PATH");

const script = `
import { flow, runFlow, task } from "./flow.mjs";
const source = task("source", (ctx) => ({ n: ctx.params.n }));
const double = task("double", (_ctx, input) => input.n * 2);
const square = task("square", async (_ctx, input) => input.n ** 2, { retries: 1 });
const f = flow("fan_out", { graph: "source >> (double & square)", tasks: [source, double, square] });
const result = await runFlow(f, { params: { n: 3 } });
console.log(JSON.stringify(result));
`;

Deno.test({
  name: "the flow engine bundles for the browser platform and runs in Node",
  ignore: !nodeAvailable,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "pyoco_flow_bundle_" });
    try {
      const bundle = join(dir, "flow.mjs");
      const built = await new Deno.Command(Deno.execPath(), {
        args: ["bundle", "--platform", "browser", "--format", "esm", "-o", bundle, modPath],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.ok(built.success, new TextDecoder().decode(built.stderr));
      const text = await Deno.readTextFile(bundle);
      assert.doesNotMatch(
        text,
        /\bDeno\.|from "node:/,
        "the bundle must not use Deno or node APIs",
      );

      await Deno.writeTextFile(join(dir, "main.mjs"), script);
      const run = await new Deno.Command("node", {
        args: ["main.mjs"],
        cwd: dir,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stdout = new TextDecoder().decode(run.stdout);
      assert.ok(run.success, new TextDecoder().decode(run.stderr));
      const result = JSON.parse(stdout);
      assert.equal(result.status, "COMPLETED");
      assert.deepEqual(result.tasks, {
        source: "SUCCEEDED",
        double: "SUCCEEDED",
        square: "SUCCEEDED",
      });
      assert.deepEqual(result.outputs, { double: 6, square: 9 });
      assert.equal(result.error, null);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
