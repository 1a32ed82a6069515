import assert from "node:assert/strict";
import { REPO_ROOT, runProcess } from "./_run.ts";

const _EXCLUDED = ["tests/", "bench/", "examples/", ".ci/", "docs/images/", "bin/"];

Deno.test("deno publish --dry-run passes and leaves tests, bench and examples out", async () => {
  const res = await runProcess(Deno.execPath(), ["publish", "--dry-run", "--allow-dirty"]);
  const output = res.stdout + res.stderr;
  assert.equal(res.code, 0, `deno publish --dry-run failed:\n${output}`);
  const root = REPO_ROOT.href;
  const files = [...output.matchAll(/^\s+(file:\/\/\S+)/gm)].map((m) => m[1]!.slice(root.length));
  assert.ok(files.length > 10, `no file list in the output:\n${output}`);
  for (const f of files) {
    for (const prefix of _EXCLUDED) {
      assert.ok(!f.startsWith(prefix), `${f} is published but ${prefix} must be excluded`);
    }
  }
  for (
    const entry of [
      "mod.ts",
      "src/flow/mod.ts",
      "src/client/mod.ts",
      "src/worker/mod.ts",
      "src/gateway/mod.ts",
      "LICENSE",
      "README.md",
    ]
  ) {
    assert.ok(files.includes(entry), `${entry} is missing from the package`);
  }
  assert.doesNotMatch(output, /^error\[/m, "deno publish reported errors");
});

Deno.test("deno.json exports the five entry points", async () => {
  const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", REPO_ROOT)));
  assert.deepEqual(config.exports, {
    ".": "./mod.ts",
    "./flow": "./src/flow/mod.ts",
    "./client": "./src/client/mod.ts",
    "./worker": "./src/worker/mod.ts",
    "./gateway": "./src/gateway/mod.ts",
  });
  for (const prefix of ["tests/", "bench/", "examples/", ".ci/", "docs/images/"]) {
    assert.ok(config.publish.exclude.includes(prefix), `publish.exclude lacks ${prefix}`);
  }
});

Deno.test("deno doc --lint passes on every entry point (./, ./flow, ./client, ./worker, ./gateway)", async () => {
  const res = await runProcess(Deno.execPath(), [
    "doc",
    "--lint",
    "mod.ts",
    "src/flow/mod.ts",
    "src/client/mod.ts",
    "src/worker/mod.ts",
    "src/gateway/mod.ts",
  ]);
  assert.equal(res.code, 0, `deno doc --lint failed:\n${res.stdout}${res.stderr}`);
});
