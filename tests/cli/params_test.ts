import assert from "node:assert/strict";
import { join } from "node:path";
import { parseParams, readParams, readParamsFile } from "../../src/cli/params.ts";
import { UsageError } from "../../src/cli/usage.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "pyoco_params_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("readParamsFile() reads JSON and YAML mappings alike", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "p.json"), '{"x": 2, "name": "bob"}');
    await Deno.writeTextFile(join(dir, "p.yaml"), "x: 2\nname: bob\n");
    const json = await readParamsFile(join(dir, "p.json"));
    const yaml = await readParamsFile(join(dir, "p.yaml"));
    assert.deepEqual(json, { x: 2, name: "bob" });
    assert.deepEqual(yaml, json);
  });
});

Deno.test("readParams() lays --param pairs over the file", async () => {
  await withDir(async (dir) => {
    const file = join(dir, "p.yml");
    await Deno.writeTextFile(file, "x: 1\nkeep: true\n");
    assert.deepEqual(await readParams({ file, pairs: ["x=5", "s=text"] }), {
      x: 5,
      keep: true,
      s: "text",
    });
  });
});

Deno.test("readParamsFile() rejects what is not a mapping, naming the file", async () => {
  await withDir(async (dir) => {
    const cases: [string, RegExp][] = [
      ["- 1\n- 2\n", /expected a mapping of param names to values/],
      ["a: [1, 2\n", /Cannot parse --params-file ".*" as JSON or YAML/],
      [`x: ${"[".repeat(80)}${"]".repeat(80)}\n`, /nested deeper than 64 levels/],
    ];
    for (const [text, message] of cases) {
      const file = join(dir, "bad.yaml");
      await Deno.writeTextFile(file, text);
      await assert.rejects(() => readParamsFile(file), (err) => {
        assert.ok(err instanceof UsageError);
        assert.match(err.message, message);
        return true;
      });
    }
    await assert.rejects(
      () => readParamsFile(join(dir, "missing.json")),
      /Cannot read --params-file/,
    );
  });
});

Deno.test("parseParams() keeps __proto__ as a plain key", () => {
  const params = parseParams(['__proto__={"polluted":true}']);
  assert.deepEqual(Object.keys(params), ["__proto__"]);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.throws(() => parseParams(["novalue"]), /--param expects KEY=VALUE, got "novalue"/);
});
