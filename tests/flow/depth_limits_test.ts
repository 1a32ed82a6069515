/**
 * Hostile nesting (issue 12 #1, #3): every walk over a graph or a user value is bounded, and a
 * value deeper than the limit is a clear error naming the limit and where — never a stack
 * overflow.
 */
import assert from "node:assert/strict";
import { jsonDepthError, MAX_JSON_DEPTH } from "../../src/contract/limits.ts";
import { MAX_GRAPH_DEPTH, parseGraph } from "../../src/flow/dsl.ts";
import { runFlow } from "../../src/flow/engine.ts";
import { FlowDefinitionError, WorkflowYamlError } from "../../src/flow/errors.ts";
import { toJsonSafe } from "../../src/flow/json.ts";
import {
  forEachSelector,
  resolveInputs,
  SelectorResolutionError,
  SelectorSyntaxError,
} from "../../src/flow/selectors.ts";
import { flow, task } from "../../src/flow/task.ts";
import { parseWorkflowYaml } from "../../src/flow/yaml.ts";

/** `{ a: { a: … 1 } }` with `levels` objects. */
function nested(levels: number): unknown {
  let value: unknown = 1;
  for (let i = 0; i < levels; i++) value = { a: value };
  return value;
}

/** `[[[ … ]]]` with `levels` arrays. */
function nestedArrays(levels: number): unknown {
  let value: unknown = [];
  for (let i = 1; i < levels; i++) value = [value];
  return value;
}

const noop = task("a", () => 1);

Deno.test("jsonDepthError() accepts values up to the limit and rejects deeper ones", () => {
  assert.equal(MAX_JSON_DEPTH, 64);
  assert.equal(jsonDepthError(1), null);
  assert.equal(jsonDepthError(null), null);
  assert.equal(jsonDepthError("x"), null);
  assert.equal(jsonDepthError({}), null);
  assert.equal(jsonDepthError(nested(64)), null);
  assert.equal(jsonDepthError(nestedArrays(64)), null);
  const message = jsonDepthError(nested(65), { path: "params" });
  assert.ok(message !== null);
  assert.match(message, /^params is nested deeper than 64 levels/);
  assert.match(message, /at params\.a\.a/);
  assert.match(jsonDepthError(nestedArrays(65)) ?? "", /^value .*deeper than 64.* at value\.0\.0/);
});

Deno.test("jsonDepthError() measures 100,000 levels without recursion", () => {
  assert.match(jsonDepthError(nested(100_000)) ?? "", /deeper than 64 levels/);
  assert.match(jsonDepthError(nestedArrays(100_000)) ?? "", /deeper than 64 levels/);
  // A parsed body, as the gateway sees it.
  const body = JSON.parse('{"p":'.repeat(10_000) + "1" + "}".repeat(10_000));
  assert.match(jsonDepthError(body, { path: "params" }) ?? "", /^params is nested deeper/);
});

Deno.test("jsonDepthError() honours max, bounds the quoted path and treats cycles as deep", () => {
  assert.equal(jsonDepthError(nested(3), { max: 3 }), null);
  assert.match(jsonDepthError(nested(4), { max: 3 }) ?? "", /deeper than 3 levels/);
  const longKey = { ["k".repeat(10_000)]: nested(70) };
  const message = jsonDepthError(longKey)!;
  assert.ok(message.length < 400, `message too long: ${message.length}`);
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  assert.match(jsonDepthError(cyclic) ?? "", /deeper than 64 levels/);
  assert.throws(() => jsonDepthError({}, { max: -1 }), RangeError);
});

Deno.test("jsonDepthError() walks shared sub-objects once per depth, not exponentially", () => {
  let shared: unknown = 1;
  for (let i = 0; i < 60; i++) shared = [shared, shared];
  const started = performance.now();
  assert.equal(jsonDepthError(shared), null);
  assert.ok(performance.now() - started < 1000);
});

Deno.test("parseGraph() parses 64 nested levels and rejects 65 naming the limit and position", () => {
  assert.equal(MAX_GRAPH_DEPTH, 64);
  const ok = "(".repeat(64) + "a >> b" + ")".repeat(64) + " >> c";
  assert.deepEqual(parseGraph(ok).nodes.map((n) => n.name), ["a", "b", "c"]);
  assert.throws(
    () => parseGraph("x >> " + "(".repeat(65) + "a" + ")".repeat(65)),
    (e: unknown) =>
      e instanceof FlowDefinitionError &&
      /nested deeper than 64 levels at line 1, column 70/.test(e.message) &&
      e.line === 1 && e.column === 70,
  );
});

Deno.test("parseGraph() rejects 5,000 nested parentheses cleanly, not with a stack overflow", () => {
  for (const text of ["(".repeat(5000) + "a" + ")".repeat(5000), "(".repeat(100_000)]) {
    assert.throws(
      () => parseGraph(text),
      (e: unknown) => e instanceof FlowDefinitionError && /deeper than 64 levels/.test(e.message),
    );
  }
});

Deno.test("flow() rejects a deeply nested graph and too deep defaults with FlowDefinitionError", () => {
  const deepGraph = "(".repeat(5000) + "a" + ")".repeat(5000);
  assert.throws(
    () => flow("deep", { graph: deepGraph, tasks: [noop] }),
    (e: unknown) => e instanceof FlowDefinitionError && /deeper than 64 levels/.test(e.message),
  );
  assert.throws(
    () => flow("deep", { graph: "a", tasks: [noop], defaults: nested(10_000) as never }),
    (e: unknown) =>
      e instanceof FlowDefinitionError && /"defaults".*deeper than 64 levels/.test(e.message),
  );
  const deepInputs = task("a", () => 1, { inputs: { x: nested(10_000) } as never });
  assert.throws(
    () => flow("deep", { graph: "a", tasks: [deepInputs] }),
    (e: unknown) =>
      e instanceof FlowDefinitionError && /inputs.*deeper than 64 levels/.test(e.message),
  );
});

Deno.test("parseWorkflowYaml() rejects a graph of 5,000 nested parentheses as invalid_value", async () => {
  const graph = "(".repeat(5000) + "a" + ")".repeat(5000);
  await assert.rejects(
    parseWorkflowYaml(`flow:\n  graph: "${graph}"\n`),
    (e: unknown) =>
      e instanceof WorkflowYamlError && e.reason === "invalid_value" &&
      e.path === "flow.graph" && /deeper than 64 levels/.test(e.message),
  );
});

/** A block-style YAML mapping nested `levels` deep under `key`. */
function deepYaml(key: string, indent: string, levels: number): string {
  let out = "";
  for (let i = 0; i < levels; i++) out += `${indent}${"  ".repeat(i)}k${i}:\n`;
  return `${indent.slice(2)}${key}:\n${out}${indent}${"  ".repeat(levels)}leaf: 1\n`;
}

Deno.test("parseWorkflowYaml() bounds the depth of flow.defaults and task inputs", async () => {
  const defaults = `flow:\n  graph: a\n${deepYaml("defaults", "    ", 70)}`;
  await assert.rejects(
    parseWorkflowYaml(defaults),
    (e: unknown) =>
      e instanceof WorkflowYamlError && e.reason === "invalid_value" &&
      e.path === "flow.defaults" &&
      /flow\.defaults is nested deeper than 64 levels .* at flow\.defaults\.k0\.k1/.test(e.message),
  );
  const inputs = `flow:\n  graph: a\ntasks:\n  a:\n    callable: "pyoco:echo"\n${
    deepYaml("inputs", "      ", 70)
  }`;
  await assert.rejects(
    parseWorkflowYaml(inputs),
    (e: unknown) =>
      e instanceof WorkflowYamlError && e.path === "tasks.a.inputs" &&
      /tasks\.a\.inputs is nested deeper than 64 levels/.test(e.message),
  );
  // 63 levels below the mapping itself (64 in all) are fine.
  const { config } = await parseWorkflowYaml(
    `flow:\n  graph: a\n${deepYaml("defaults", "    ", 62)}`,
  );
  assert.ok(config.flow.defaults.k0 !== undefined);
});

Deno.test("selector walks over inputs are bounded", () => {
  const scope = {
    params: {},
    results: {},
    scratch: {},
    artifacts: {},
    env: {},
    exposeEnv: new Set<string>(),
  };
  assert.deepEqual(resolveInputs(nested(64), scope), nested(64));
  assert.throws(
    () => resolveInputs(nested(100_000), scope),
    (e: unknown) =>
      e instanceof SelectorResolutionError && /inputs is nested deeper than 64/.test(e.message),
  );
  const found: string[] = [];
  forEachSelector({ b: ["$flow.x", { c: "$node.a.output" }], d: "$ctx.scratch.y" }, (_s, path) => {
    found.push(path);
  });
  assert.deepEqual(found, ["b.0", "b.1.c", "d"]);
  assert.throws(
    () => forEachSelector(nested(100_000), () => {}),
    (e: unknown) => e instanceof SelectorSyntaxError && /deeper than 64 levels/.test(e.message),
  );
});

Deno.test("runFlow() rejects params nested deeper than the limit", async () => {
  const f = flow("f", { graph: "a", tasks: [noop] });
  await assert.rejects(
    runFlow(f, { params: { p: nested(10_000) } as never }),
    (e: unknown) => e instanceof RangeError && /params is nested deeper than 64/.test(e.message),
  );
});

Deno.test("toJsonSafe() is bounded on 100,000 levels and validates maxDepth", () => {
  const safe = toJsonSafe(nested(100_000));
  assert.match(JSON.stringify(safe), /\[MaxDepth\]/);
  assert.deepEqual(toJsonSafe(nested(2), { maxDepth: 1 }), { a: "[MaxDepth]" });
  assert.throws(() => toJsonSafe({}, { maxDepth: 1_000_000 }), RangeError);
  assert.throws(() => toJsonSafe({}, { maxDepth: 1.5 }), RangeError);
});
