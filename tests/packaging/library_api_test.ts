import assert from "node:assert/strict";
import { REPO_ROOT, runProcess } from "./_run.ts";

const _ENTRY_POINTS = [
  "mod.ts",
  "src/flow/mod.ts",
  "src/client/mod.ts",
  "src/worker/mod.ts",
  "src/gateway/mod.ts",
];

/** Exported symbol names of a module, from `deno doc --json`. */
async function _exports(path: string): Promise<string[]> {
  const res = await runProcess(Deno.execPath(), ["doc", "--json", path]);
  assert.equal(res.code, 0, `deno doc --json ${path} failed:\n${res.stderr}`);
  // Deno 2.9: `{ version, nodes: { [moduleUrl]: { symbols: [{ name, … }] } } }`.
  const doc = JSON.parse(res.stdout) as {
    nodes: Record<string, { symbols?: { name: string }[] }>;
  };
  const names = Object.values(doc.nodes).flatMap((m) => (m.symbols ?? []).map((s) => s.name));
  return [...new Set(names.filter((n) => n && n !== "default"))];
}

Deno.test("docs/library_api.md names every export of the five entry points", async () => {
  const text = await Deno.readTextFile(new URL("docs/library_api.md", REPO_ROOT));
  const missing: string[] = [];
  for (const path of _ENTRY_POINTS) {
    const names = await _exports(path);
    assert.ok(names.length > 0, `no exports found in ${path}`);
    for (const name of names) {
      if (!new RegExp(`\\b${name}\\b`).test(text)) missing.push(`${path}: ${name}`);
    }
  }
  assert.deepEqual(missing, [], "exports missing from docs/library_api.md");
});

Deno.test("docs/library_api.md examples type-check and run", async () => {
  const res = await runProcess(Deno.execPath(), [
    "test",
    "--doc",
    "--allow-all",
    "docs/library_api.md",
  ]);
  assert.equal(
    res.code,
    0,
    `deno test --doc docs/library_api.md failed:\n${res.stdout}${res.stderr}`,
  );
});
