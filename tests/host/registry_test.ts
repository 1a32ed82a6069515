import assert from "node:assert/strict";
import { join, relative } from "node:path";
import { pathToFileURL } from "node:url";
import {
  isFlow,
  isTask,
  loadRegistry,
  ModuleLoadError,
  moduleStem,
  RegistryConflictError,
} from "../../src/host/registry.ts";
import { fetchData, shout } from "../../examples/tasks.ts";
import { hello } from "../../examples/flows.ts";

const TASK_TS = new URL("../../src/flow/task.ts", import.meta.url).href;

/** Write a module into a fresh temp dir; returns its absolute path. */
async function writeModule(dir: string, file: string, body: string): Promise<string> {
  const path = join(dir, file);
  await Deno.writeTextFile(path, `import { flow, task } from "${TASK_TS}";\n${body}\n`);
  return path;
}

Deno.test("loadRegistry() registers the examples' flows and tasks", async () => {
  const registry = await loadRegistry(["./examples/flows.ts", "./examples/tasks.ts"]);
  for (const name of ["hello", "fanout", "race", "retry_demo", "sleepy"]) {
    assert.ok(registry.flows.has(name), `flow ${name}`);
  }
  assert.equal(registry.flows.get("hello"), hello);
  // Exported tasks: "<module-stem>:<export>" and the task name.
  assert.equal(registry.tasks.get("tasks:fetchData"), fetchData);
  assert.equal(registry.tasks.get("fetch_data"), fetchData);
  assert.equal(registry.tasks.get("tasks:shout"), shout);
  assert.equal(registry.tasks.get("shout"), shout);
  // Tasks of exported flows, by task name only.
  assert.equal(registry.tasks.get("quick")?.name, "quick");
  assert.equal(registry.tasks.get("nap1")?.name, "nap1");
  assert.equal(registry.tasks.has("flows:quick"), false);
  for (const [key, t] of registry.tasks) assert.ok(isTask(t), key);
  for (const f of registry.flows.values()) assert.ok(isFlow(f));
});

Deno.test("loadRegistry() resolves relative and absolute paths and file URLs", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pyoco_registry_" });
  try {
    const abs = await writeModule(dir, "paths_mod.ts", 'export const one = task("one", () => 1);');
    const rel = relative(Deno.cwd(), abs);
    assert.equal((await loadRegistry([rel])).tasks.get("paths_mod:one")?.name, "one");
    assert.equal((await loadRegistry([abs])).tasks.get("paths_mod:one")?.name, "one");
    const url = pathToFileURL(abs).href;
    assert.equal((await loadRegistry([url])).tasks.get("paths_mod:one")?.name, "one");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadRegistry() ignores exports that are neither tasks nor flows", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pyoco_registry_" });
  try {
    const path = await writeModule(
      dir,
      "mixed.ts",
      `export const n = 1;
export const fn = () => 2;
export const fake = { kind: "something.else", name: "x" };
export default task("dflt", () => 3);
export const real = task("real", () => 4);`,
    );
    const registry = await loadRegistry([path]);
    assert.deepEqual([...registry.flows.keys()], []);
    assert.deepEqual([...registry.tasks.keys()].sort(), [
      "dflt",
      "mixed:default",
      "mixed:real",
      "real",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadRegistry() rejects two different flows with one name, naming both modules", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pyoco_registry_" });
  try {
    const body = 'export const f = flow("same", { graph: "a", tasks: [task("a", () => 1)] });';
    const first = await writeModule(dir, "dup_one.ts", body);
    const second = await writeModule(dir, "dup_two.ts", body);
    await assert.rejects(loadRegistry([first, second]), (err: unknown) => {
      assert.ok(err instanceof RegistryConflictError);
      assert.equal(err.kind, "flow");
      assert.equal(err.key, "same");
      assert.deepEqual(err.modules, [first, second]);
      assert.ok(err.message.includes(first) && err.message.includes(second), err.message);
      return true;
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadRegistry() accepts the same flow re-exported by another module", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pyoco_registry_" });
  try {
    const origin = await writeModule(
      dir,
      "origin.ts",
      'export const f = flow("shared", { graph: "a", tasks: [task("a", () => 1)] });',
    );
    const again = join(dir, "again.ts");
    await Deno.writeTextFile(again, `export { f as alias } from "./origin.ts";\n`);
    const registry = await loadRegistry([origin, again]);
    assert.deepEqual([...registry.flows.keys()], ["shared"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadRegistry() rejects one task key for two tasks (same module stem)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pyoco_registry_" });
  try {
    await Deno.mkdir(join(dir, "a"));
    await Deno.mkdir(join(dir, "b"));
    const first = await writeModule(dir, "a/stem.ts", 'export const t = task("t1", () => 1);');
    const second = await writeModule(dir, "b/stem.ts", 'export const t = task("t2", () => 2);');
    await assert.rejects(loadRegistry([first, second]), (err: unknown) => {
      assert.ok(err instanceof RegistryConflictError);
      assert.equal(err.kind, "task");
      assert.equal(err.key, "stem:t");
      assert.deepEqual(err.modules, [first, second]);
      return true;
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadRegistry() gives exported tasks' names precedence over flows' tasks", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pyoco_registry_" });
  try {
    const flows = await writeModule(
      dir,
      "prec_flows.ts",
      'export const f = flow("prec", { graph: "work", tasks: [task("work", () => "inner")] });',
    );
    const tasks = await writeModule(
      dir,
      "prec_tasks.ts",
      'export const work = task("work", () => "exported");',
    );
    const registry = await loadRegistry([flows, tasks]);
    assert.equal(registry.tasks.get("work"), registry.tasks.get("prec_tasks:work"));
    assert.notEqual(registry.tasks.get("work"), registry.flows.get("prec")?.tasks.get("work"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadRegistry() names the path of a missing or broken module", async () => {
  await assert.rejects(loadRegistry(["./no/such/module.ts"]), (err: unknown) => {
    assert.ok(err instanceof ModuleLoadError);
    assert.equal(err.path, "./no/such/module.ts");
    assert.match(err.message, /^Cannot load module "\.\/no\/such\/module\.ts": /);
    return true;
  });
  const dir = await Deno.makeTempDir({ prefix: "pyoco_registry_" });
  try {
    const path = join(dir, "throws.ts");
    await Deno.writeTextFile(path, 'throw new Error("Boom at import");\n');
    await assert.rejects(loadRegistry([path]), (err: unknown) => {
      assert.ok(err instanceof ModuleLoadError);
      assert.equal(err.path, path);
      assert.match(err.message, /Boom at import/);
      assert.ok(err.cause instanceof Error);
      return true;
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("moduleStem() is the file name without its last extension", () => {
  assert.equal(moduleStem("examples/tasks.ts"), "tasks");
  assert.equal(moduleStem("./a/b/my_tasks.mjs"), "my_tasks");
  assert.equal(moduleStem("C:\\work\\flows.ts"), "flows");
  assert.equal(moduleStem("file:///x/y/jobs.v2.ts"), "jobs.v2");
  assert.equal(moduleStem("noext"), "noext");
});
