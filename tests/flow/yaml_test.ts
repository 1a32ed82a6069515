import assert from "node:assert/strict";
import { flowFromYaml, parseWorkflowYaml } from "../../src/flow/yaml.ts";
import { builtinTasks } from "../../src/flow/builtins.ts";
import {
  FlowDefinitionError,
  TaskNotFoundError,
  WorkflowYamlError,
  type WorkflowYamlReason,
} from "../../src/flow/errors.ts";
import { task } from "../../src/flow/task.ts";
import { runFlow } from "../../src/flow/engine.ts";
import type { Task } from "../../src/flow/types.ts";

const SPEC_EXAMPLE = `version: 1
flow:
  graph: |
    fetch >> (left & right) >> merge
  defaults: { x: 1 }
tasks:
  fetch: { callable: "demo:fetch", inputs: { x: $flow.x }, outputs: [scratch.fetched] }
  left:  { callable: "pyoco:sleep", inputs: { seconds: 0.1 }, retries: 1, timeout_sec: 5 }
runtime:
  expose_env: [API_TOKEN]
`;

async function rejects(
  text: string | Uint8Array,
  reason: WorkflowYamlReason,
  path: string | null,
  options: { maxBytes?: number } = {},
): Promise<WorkflowYamlError> {
  try {
    await parseWorkflowYaml(text, options);
  } catch (err) {
    assert.ok(err instanceof WorkflowYamlError, `expected WorkflowYamlError, got ${err}`);
    assert.equal(err.reason, reason, err.message);
    assert.equal(err.path, path, err.message);
    assert.match(err.message, /^[A-Z]/);
    assert.doesNotMatch(err.message, /\.$/);
    return err;
  }
  assert.fail(`expected rejection ${reason} at ${path}`);
}

Deno.test("parseWorkflowYaml() parses the SPEC example and fills in optional sections", async () => {
  const { config } = await parseWorkflowYaml(SPEC_EXAMPLE);
  assert.deepEqual(config, {
    version: 1,
    flow: { graph: "fetch >> (left & right) >> merge\n", defaults: { x: 1 } },
    tasks: {
      fetch: { callable: "demo:fetch", inputs: { x: "$flow.x" }, outputs: ["scratch.fetched"] },
      left: { callable: "pyoco:sleep", inputs: { seconds: 0.1 }, retries: 1, timeout_sec: 5 },
    },
    runtime: { expose_env: ["API_TOKEN"] },
  });
  const minimal = await parseWorkflowYaml("flow:\n  graph: a\n");
  assert.deepEqual(minimal.config, {
    version: 1,
    flow: { graph: "a", defaults: {} },
    tasks: {},
    runtime: { expose_env: [] },
  });
});

Deno.test("parseWorkflowYaml() returns the SHA-256 and size of the exact bytes", async () => {
  const text = "flow:\n  graph: a\n";
  const sha = "3c3b3be0d044ff58b35b38f1da87a3cf8bf8b681f7038bb556225387fa06ebde";
  const fromText = await parseWorkflowYaml(text);
  assert.equal(fromText.sha256, sha);
  assert.equal(fromText.size_bytes, 17);
  const fromBytes = await parseWorkflowYaml(new TextEncoder().encode(text));
  assert.equal(fromBytes.sha256, sha);
  assert.equal(fromBytes.size_bytes, 17);
  // Multi-byte characters count as bytes, not characters.
  const umlaut = await parseWorkflowYaml('flow:\n  graph: a\n  defaults: { s: "ü" }\n');
  assert.equal(umlaut.size_bytes, 41);
  assert.equal(umlaut.config.flow.defaults.s, "ü");
});

Deno.test("parseWorkflowYaml() rejects documents above maxBytes as too_large", async () => {
  const text = "flow:\n  graph: a\n";
  await rejects(text, "too_large", null, { maxBytes: 16 });
  await rejects(new TextEncoder().encode(text), "too_large", null, { maxBytes: 16 });
  assert.equal((await parseWorkflowYaml(text, { maxBytes: 17 })).size_bytes, 17);
  // The default cap is 256 KiB.
  const big = text + `# ${"x".repeat(262144)}\n`;
  await rejects(big, "too_large", null);
  await assert.rejects(parseWorkflowYaml(text, { maxBytes: 0 }), RangeError);
});

Deno.test("parseWorkflowYaml() rejects bytes that are not UTF-8 as not_utf8", async () => {
  const bytes = new Uint8Array([...new TextEncoder().encode("flow:\n  graph: a\n# "), 0xff, 0xfe]);
  await rejects(bytes, "not_utf8", null);
});

Deno.test("parseWorkflowYaml() rejects invalid YAML as syntax", async () => {
  await rejects("flow: [a, b\n", "syntax", null);
  await rejects("flow:\n  graph: a\n---\nflow:\n  graph: b\n", "syntax", null);
  await rejects("flow:\n  graph: *nowhere\n", "syntax", null);
});

Deno.test("parseWorkflowYaml() rejects deep nesting quickly without crashing", async () => {
  await rejects(`flow: ${"[".repeat(100000)}`, "syntax", null);
  await rejects(`flow: ${"{a: ".repeat(20000)}`, "syntax", null);
  // Moderate nesting, and brackets inside quotes or comments, are fine.
  const ok = await parseWorkflowYaml(`flow:
  graph: a # [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[
  defaults:
    deep: ${"[".repeat(40)}1${"]".repeat(40)}
    quoted: "${"[".repeat(70)}"
    single: '${"{".repeat(70)}'
`);
  assert.equal((ok.config.flow.defaults.quoted as string).length, 70);
});

Deno.test("parseWorkflowYaml() rejects duplicate keys as duplicate_key", async () => {
  const err = await rejects("flow:\n  graph: a\n  graph: b\n", "duplicate_key", null);
  assert.match(err.message, /graph/);
  await rejects("flow:\n  graph: a\nflow:\n  graph: b\n", "duplicate_key", null);
  await rejects(
    "flow:\n  graph: a\n  defaults: { x: 1, x: 2 }\n",
    "duplicate_key",
    null,
  );
});

Deno.test("parseWorkflowYaml() rejects a billion-laughs alias bomb fast and cheaply", async () => {
  const lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  for (let i = 1; i < 9; i++) {
    const prev = String.fromCharCode(96 + i);
    const name = String.fromCharCode(97 + i);
    lines.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(",")}]`);
  }
  const bomb = `flow:\n  graph: x\n  defaults:\n${lines.map((l) => `    ${l}`).join("\n")}\n`;
  const heapBefore = Deno.memoryUsage().heapUsed;
  const started = performance.now();
  await rejects(bomb, "alias_limit", null);
  const elapsedMs = performance.now() - started;
  const heapGrowth = Deno.memoryUsage().heapUsed - heapBefore;
  // Expanded, the bomb is 9^9 (387 million) strings; rejected, it costs next to nothing.
  assert.ok(elapsedMs < 2000, `took ${elapsedMs} ms`);
  assert.ok(heapGrowth < 64 * 1024 * 1024, `heap grew by ${heapGrowth} bytes`);
});

Deno.test("parseWorkflowYaml() allows a few aliases", async () => {
  const { config } = await parseWorkflowYaml(
    "flow:\n  graph: a\n  defaults:\n    base: &b { n: 1 }\n    copy: *b\n",
  );
  assert.deepEqual(config.flow.defaults, { base: { n: 1 }, copy: { n: 1 } });
});

Deno.test("parseWorkflowYaml() keeps __proto__ and constructor keys harmless", async () => {
  const text = `flow:
  graph: constructor
  defaults:
    __proto__: { polluted: true }
    constructor: { prototype: { polluted: true } }
    nested: { __proto__: { polluted: true } }
tasks:
  constructor:
    callable: "pyoco:echo"
    inputs: { __proto__: { polluted: true }, value: 1 }
`;
  const { config } = await parseWorkflowYaml(text);
  const probe: Record<string, unknown> = {};
  assert.equal(probe.polluted, undefined);
  assert.equal((Object.prototype as Record<string, unknown>).polluted, undefined);
  const defaults = config.flow.defaults;
  assert.equal(Object.getPrototypeOf(defaults), Object.prototype);
  assert.ok(Object.hasOwn(defaults, "__proto__"));
  assert.deepEqual(Object.keys(defaults), ["__proto__", "constructor", "nested"]);
  assert.ok(Object.hasOwn(defaults.nested as object, "__proto__"));
  assert.equal(Object.getPrototypeOf(defaults.nested), Object.prototype);
  assert.ok(Object.hasOwn(config.tasks, "constructor"));
  assert.equal(config.tasks["constructor"]?.callable, "pyoco:echo");
  assert.ok(Object.hasOwn(config.tasks["constructor"]?.inputs ?? {}, "__proto__"));
  // A top-level __proto__ is just an unknown key.
  await rejects("__proto__: { x: 1 }\nflow:\n  graph: a\n", "unknown_key", "__proto__");
});

Deno.test("parseWorkflowYaml() rejects unknown keys naming key and path", async () => {
  const base = "flow:\n  graph: a\n";
  let err = await rejects(`${base}extra: 1\n`, "unknown_key", "extra");
  assert.match(err.message, /"extra"/);
  err = await rejects("flow:\n  graph: a\n  name: x\n", "unknown_key", "flow.name");
  assert.match(err.message, /"name"/);
  assert.match(err.message, /flow\.name/);
  await rejects(
    `${base}tasks:\n  a: { callable: "m:e", retry: 1 }\n`,
    "unknown_key",
    "tasks.a.retry",
  );
  await rejects(`${base}runtime:\n  env: [X]\n`, "unknown_key", "runtime.env");
});

Deno.test("parseWorkflowYaml() rejects flows and discovery as forbidden_key", async () => {
  const err = await rejects("flows:\n  a: { graph: a }\n", "forbidden_key", "flows");
  assert.match(err.message, /exactly one flow/);
  await rejects("flow:\n  graph: a\ndiscovery: { packages: [x] }\n", "forbidden_key", "discovery");
});

Deno.test("parseWorkflowYaml() rejects missing keys as missing_key", async () => {
  await rejects("", "missing_key", "flow");
  await rejects("version: 1\n", "missing_key", "flow");
  await rejects("flow:\n  defaults: {}\n", "missing_key", "flow.graph");
});

Deno.test("parseWorkflowYaml() rejects bad values as invalid_value naming the path", async () => {
  const base = "flow:\n  graph: a >> b\n";
  const cases: [string, string | null][] = [
    ["- a\n- b\n", null],
    ["version: 2\nflow:\n  graph: a\n", "version"],
    ['version: "1"\nflow:\n  graph: a\n', "version"],
    ["flow: a >> b\n", "flow"],
    ["flow:\n  graph: ''\n", "flow.graph"],
    ["flow:\n  graph: [a, b]\n", "flow.graph"],
    ["flow:\n  graph: a >>\n", "flow.graph"],
    ["flow:\n  graph: a\n  defaults: [1]\n", "flow.defaults"],
    ["flow:\n  graph: a\n  defaults: { x: .inf }\n", "flow.defaults.x"],
    [`${base}tasks: [a]\n`, "tasks"],
    [`${base}tasks:\n  a: 1\n`, "tasks.a"],
    [`${base}tasks:\n  c: { callable: "m:e" }\n`, "tasks.c"],
    [`${base}tasks:\n  "1a": { callable: "m:e" }\n`, "tasks.1a"],
    [`${base}tasks:\n  a: { callable: "nocolon" }\n`, "tasks.a.callable"],
    [`${base}tasks:\n  a: { callable: 5 }\n`, "tasks.a.callable"],
    [`${base}tasks:\n  a: { inputs: [1] }\n`, "tasks.a.inputs"],
    [`${base}tasks:\n  a: { outputs: scratch.x }\n`, "tasks.a.outputs"],
    [`${base}tasks:\n  a: { outputs: [scratch.x, 3] }\n`, "tasks.a.outputs.1"],
    [`${base}tasks:\n  a: { retries: -1 }\n`, "tasks.a.retries"],
    [`${base}tasks:\n  a: { retries: 1.5 }\n`, "tasks.a.retries"],
    [`${base}tasks:\n  a: { retries: "2" }\n`, "tasks.a.retries"],
    [`${base}tasks:\n  a: { retry_delay_sec: -0.5 }\n`, "tasks.a.retry_delay_sec"],
    [`${base}tasks:\n  a: { timeout_sec: 0 }\n`, "tasks.a.timeout_sec"],
    [`${base}tasks:\n  a: { timeout_sec: .nan }\n`, "tasks.a.timeout_sec"],
    [`${base}tasks:\n  a: { fail_policy: maybe }\n`, "tasks.a.fail_policy"],
    [`${base}tasks:\n  a: { outputs: [result.x] }\n`, "tasks.a.outputs.0"],
    [`${base}tasks:\n  a: { inputs: { v: { w: "$env.1X" } } }\n`, "tasks.a.inputs.v.w"],
    [`${base}tasks:\n  a: { retries: 1001 }\n`, "tasks.a.retries"],
    [`${base}runtime: [X]\n`, "runtime"],
    [`${base}runtime:\n  expose_env: API_TOKEN\n`, "runtime.expose_env"],
    [`${base}runtime:\n  expose_env: [OK, "1BAD"]\n`, "runtime.expose_env.1"],
  ];
  for (const [text, path] of cases) await rejects(text, "invalid_value", path);
});

Deno.test("parseWorkflowYaml() accepts every task option", async () => {
  const { config } = await parseWorkflowYaml(`flow:
  graph: a
tasks:
  a:
    callable: "tasks:add"
    inputs: { a: 1, b: [1, { c: null }] }
    outputs: [scratch.sum, artifacts.sum]
    retries: 3
    retry_delay_sec: 0
    timeout_sec: 1.5
    fail_policy: isolate
`);
  assert.deepEqual(config.tasks.a, {
    callable: "tasks:add",
    inputs: { a: 1, b: [1, { c: null }] },
    outputs: ["scratch.sum", "artifacts.sum"],
    retries: 3,
    retry_delay_sec: 0,
    timeout_sec: 1.5,
    fail_policy: "isolate",
  });
});

// ---------------------------------------------------------------------------------------------
// flowFromYaml

const fetchTask = task("fetch", (_ctx, input: { x?: number }) => ({ value: `v${input?.x ?? 0}` }), {
  retries: 2,
  timeoutSec: 30,
});
const shoutTask = task("shout", (_ctx, input: { value: string }) => input.value.toUpperCase());
const registered = new Map<string, Task>([
  ["demo:fetch", fetchTask],
  ["fetch", fetchTask],
  ["demo:shout", shoutTask],
  ["shout", shoutTask],
]);

Deno.test("flowFromYaml() resolves callables, bare names and built-ins", async () => {
  const parsed = await parseWorkflowYaml(`flow:
  graph: load >> (shout & pause) >> done
  defaults: { x: 7 }
tasks:
  load: { callable: "demo:fetch", inputs: { x: $flow.x } }
  pause: { callable: "pyoco:sleep", inputs: { seconds: 0 } }
  done: { callable: "pyoco:echo", inputs: { value: $node.shout.output } }
runtime:
  expose_env: [HOME]
`);
  const f = flowFromYaml(parsed, { flowName: "demo_yaml", tasks: registered });
  assert.equal(f.name, "demo_yaml");
  assert.deepEqual([...f.tasks.keys()], ["load", "shout", "pause", "done"]);
  assert.equal(f.tasks.get("load")?.fn, fetchTask.fn);
  assert.equal(f.tasks.get("shout")?.fn, shoutTask.fn);
  assert.equal(f.tasks.get("pause")?.fn, builtinTasks.get("pyoco:sleep")?.fn);
  assert.equal(f.tasks.get("done")?.fn, builtinTasks.get("pyoco:echo")?.fn);
  assert.deepEqual(f.defaults, { x: 7 });
  assert.deepEqual([...f.exposeEnv], ["HOME"]);

  const result = await runFlow(f, {});
  assert.equal(result.status, "COMPLETED", result.error ?? "");
  assert.deepEqual(result.outputs, { done: "V7" });
  assert.deepEqual(result.task_records.pause?.output, { slept: 0 });
});

Deno.test("flowFromYaml() accepts a plain object of tasks", async () => {
  const parsed = await parseWorkflowYaml("flow:\n  graph: fetch >> shout\n");
  const f = flowFromYaml(parsed, {
    flowName: "plain",
    tasks: { fetch: fetchTask, shout: shoutTask },
  });
  const result = await runFlow(f, {});
  assert.deepEqual(result.outputs, { shout: "V0" });
});

Deno.test("flowFromYaml() lets YAML options override the registered task's", async () => {
  const parsed = await parseWorkflowYaml(`flow:
  graph: a >> b
tasks:
  a:
    callable: "demo:fetch"
    inputs: { x: 1 }
    outputs: [scratch.a]
    retries: 0
    retry_delay_sec: 0.5
    timeout_sec: 2
    fail_policy: isolate
  b: { callable: "demo:fetch" }
`);
  const f = flowFromYaml(parsed, { flowName: "o", tasks: registered });
  const a = f.tasks.get("a")!;
  assert.equal(a.name, "a");
  assert.deepEqual(a.options.inputs, { x: 1 });
  assert.deepEqual([...a.options.outputs], ["scratch.a"]);
  assert.equal(a.options.retries, 0);
  assert.equal(a.options.retryDelaySec, 0.5);
  assert.equal(a.options.timeoutSec, 2);
  assert.equal(a.options.failPolicy, "isolate");
  // Without overrides the registered options stay.
  const b = f.tasks.get("b")!;
  assert.equal(b.name, "b");
  assert.equal(b.options.retries, 2);
  assert.equal(b.options.timeoutSec, 30);
  assert.equal(b.options.failPolicy, fetchTask.options.failPolicy);
  // The registered task itself is untouched.
  assert.equal(fetchTask.name, "fetch");
  assert.equal(fetchTask.options.retries, 2);
});

Deno.test("flowFromYaml() throws TaskNotFoundError for an unknown callable or name", async () => {
  const unknownCallable = await parseWorkflowYaml(
    'flow:\n  graph: a\ntasks:\n  a: { callable: "demo:nope" }\n',
  );
  assert.throws(
    () => flowFromYaml(unknownCallable, { flowName: "x", tasks: registered }),
    (err: unknown) => {
      assert.ok(err instanceof TaskNotFoundError);
      assert.equal(err.callable, "demo:nope");
      assert.match(err.message, /"demo:nope"/);
      return true;
    },
  );
  // pyoco:* only has the built-ins.
  const unknownBuiltin = await parseWorkflowYaml(
    'flow:\n  graph: a\ntasks:\n  a: { callable: "pyoco:exec" }\n',
  );
  assert.throws(
    () => flowFromYaml(unknownBuiltin, { flowName: "x", tasks: registered }),
    (err: unknown) => err instanceof TaskNotFoundError && err.callable === "pyoco:exec",
  );
  // A graph name without a callable resolves by name only.
  const unknownName = await parseWorkflowYaml("flow:\n  graph: fetch >> mystery\n");
  assert.throws(
    () => flowFromYaml(unknownName, { flowName: "x", tasks: registered }),
    (err: unknown) => err instanceof TaskNotFoundError && err.callable === "mystery",
  );
  // Bare names never fall back to the built-ins.
  const bareBuiltin = await parseWorkflowYaml("flow:\n  graph: sleep\n");
  assert.throws(
    () => flowFromYaml(bareBuiltin, { flowName: "x", tasks: registered }),
    TaskNotFoundError,
  );
});

Deno.test("flowFromYaml() lets flow definition errors propagate", async () => {
  const parsed = await parseWorkflowYaml(
    'flow:\n  graph: a >> b\ntasks:\n  a: { callable: "pyoco:echo", inputs: { value: $node.b.output } }\n  b: { callable: "pyoco:echo" }\n',
  );
  assert.throws(
    () => flowFromYaml(parsed, { flowName: "x", tasks: registered }),
    FlowDefinitionError,
  );
});

Deno.test("flowFromYaml() runs built-in failures and sleeps as tasks", async () => {
  const parsed = await parseWorkflowYaml(`flow:
  graph: start >> boom
tasks:
  start: { callable: "pyoco:echo", inputs: { value: go } }
  boom: { callable: "pyoco:fail", inputs: { message: "Boom on purpose" }, retries: 1, retry_delay_sec: 0 }
`);
  const f = flowFromYaml(parsed, { flowName: "x", tasks: new Map() });
  const result = await runFlow(f, {});
  assert.equal(result.status, "FAILED");
  assert.equal(result.task_records.start?.output, "go");
  assert.equal(result.task_records.boom?.attempts, 2);
  assert.match(result.task_records.boom?.error ?? "", /Boom on purpose/);
});

Deno.test("pyoco:sleep honours the run's signal", async () => {
  const parsed = await parseWorkflowYaml(`flow:
  graph: nap
tasks:
  nap: { callable: "pyoco:sleep", inputs: { seconds: 60 } }
`);
  const f = flowFromYaml(parsed, { flowName: "x", tasks: new Map() });
  const controller = new AbortController();
  const result = await runFlow(f, {
    signal: controller.signal,
    onEvent: (event) => {
      // Abort once the attempt is under way (the event is emitted just before it starts).
      if (event.type === "task.started") queueMicrotask(() => controller.abort());
    },
  });
  assert.equal(result.status, "CANCELLED");
  assert.equal(result.tasks.nap, "CANCELLED");
  // The sleep itself stopped: the engine did not have to give up on it.
  assert.doesNotMatch(result.task_records.nap?.error ?? "", /did not stop/);
});

Deno.test("parseWorkflowYaml() explains the env permission the yaml package needs", async () => {
  const yamlTs = new URL("../../src/flow/yaml.ts", import.meta.url).href;
  const config = new URL("../../deno.json", import.meta.url).pathname;
  const dir = await Deno.makeTempDir({ prefix: "pyoco_yaml_" });
  try {
    const script = `${dir}/parse.ts`;
    await Deno.writeTextFile(
      script,
      `import { parseWorkflowYaml } from "${yamlTs}";
try {
  console.log((await parseWorkflowYaml("flow:\\n  graph: a\\n")).size_bytes);
} catch (err) {
  console.log((err as Error).message);
}\n`,
    );
    const run = async (allowEnv: string) => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--config", config, "--allow-read", `--allow-env=${allowEnv}`, script],
        stdout: "piped",
        stderr: "piped",
      }).output();
      return new TextDecoder().decode(out.stdout).trim();
    };
    // The worker's minimal permissions: a clear message instead of a bare NotCapable.
    assert.match(await run("PYOCO_*,NATS_*"), /LOG_TOKENS and LOG_STREAM; add them to --allow-env/);
    assert.equal(await run("PYOCO_*,NATS_*,LOG_TOKENS,LOG_STREAM"), "17");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
