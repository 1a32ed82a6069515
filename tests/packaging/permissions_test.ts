import assert from "node:assert/strict";
import {
  ADMIN_PERMISSIONS,
  GATEWAY_PERMISSIONS,
  PYOCO_PERMISSIONS,
  WORKER_PERMISSIONS,
} from "../../src/host/permissions.ts";
import { COMPILE_TARGETS, compileArgs } from "../../scripts/compile.ts";
import { REPO_ROOT } from "./_run.ts";

const _EXPECTED: Record<string, { entry: string; flags: readonly string[] }> = {
  worker: { entry: "cli/worker.ts", flags: WORKER_PERMISSIONS },
  gateway: { entry: "cli/gateway.ts", flags: GATEWAY_PERMISSIONS },
  admin: { entry: "cli/admin.ts", flags: ADMIN_PERMISSIONS },
  pyoco: { entry: "cli/pyoco.ts", flags: PYOCO_PERMISSIONS },
};

Deno.test("deno.json tasks use exactly the flags of src/host/permissions.ts", async () => {
  const { tasks } = JSON.parse(await Deno.readTextFile(new URL("deno.json", REPO_ROOT)));
  for (const [name, { entry, flags }] of Object.entries(_EXPECTED)) {
    assert.equal(
      tasks[name],
      ["deno", "run", ...flags, entry].join(" "),
      `deno task ${name} drifted from src/host/permissions.ts`,
    );
  }
});

Deno.test("compileArgs() bakes the same flags into every binary", () => {
  assert.deepEqual(COMPILE_TARGETS.map((t) => t.binary), [
    "pyoco-gateway",
    "pyoco-worker",
    "pyoco-admin",
    "pyoco",
  ]);
  for (const target of COMPILE_TARGETS) {
    const expected = _EXPECTED[target.name]!;
    assert.equal(target.entry, expected.entry);
    const args = compileArgs(target, { outDir: "out/" });
    assert.deepEqual(args.slice(0, 1 + expected.flags.length), ["compile", ...expected.flags]);
    assert.deepEqual(args.slice(-3), ["--output", `out/${target.binary}`, expected.entry]);
    // No flag beyond the task's, --include and --output.
    const rest = args.slice(1 + expected.flags.length, -3);
    assert.deepEqual(rest, target.include.flatMap((i) => ["--include", i]));
  }
  const worker = COMPILE_TARGETS.find((t) => t.name === "worker")!;
  assert.deepEqual(worker.include, ["examples/"]);
  assert.ok(!WORKER_PERMISSIONS.some((f) => /^--allow-(write|run|ffi|sys|all)|^-A$/.test(f)));
});
