import assert from "node:assert/strict";
import {
  getPath,
  parseOutputPath,
  parseSelector,
  resolveInputs,
  SelectorResolutionError,
  type SelectorScope,
  SelectorSyntaxError,
  setPath,
} from "../../src/flow/selectors.ts";
import { toJsonSafe } from "../../src/flow/json.ts";

function scope(overrides: Partial<SelectorScope> = {}): SelectorScope {
  return {
    params: { x: 2, nested: { list: [10, 20] } },
    results: { fetch: { id: 7, tags: ["a", "b"] }, count: 3 },
    scratch: { fetched: { value: "carrot" } },
    artifacts: { report: { pages: 4 } },
    env: { API_TOKEN: "secret", HIDDEN: "nope" },
    exposeEnv: new Set(["API_TOKEN", "UNSET"]),
    ...overrides,
  };
}

Deno.test("parseSelector() recognises every selector form", () => {
  assert.deepEqual(parseSelector("$flow.a.b"), { source: "params", path: ["a", "b"] });
  assert.deepEqual(parseSelector("$flow"), { source: "params", path: [] });
  assert.deepEqual(parseSelector("$ctx.params.a"), { source: "params", path: ["a"] });
  assert.deepEqual(parseSelector("$node.t.output"), { source: "node", task: "t", path: [] });
  assert.deepEqual(parseSelector("$node.t.output.x.0"), {
    source: "node",
    task: "t",
    path: ["x", "0"],
  });
  assert.deepEqual(parseSelector("$ctx.results.t"), { source: "results", task: "t", path: [] });
  assert.deepEqual(parseSelector("$ctx.results"), { source: "results", task: null, path: [] });
  assert.deepEqual(parseSelector("$ctx.scratch.a"), { source: "scratch", path: ["a"] });
  assert.deepEqual(parseSelector("$ctx.artifacts.r"), { source: "artifacts", path: ["r"] });
  assert.deepEqual(parseSelector("$env.API_TOKEN"), { source: "env", name: "API_TOKEN" });
});

Deno.test("parseSelector() treats other strings as literals", () => {
  for (const text of ["hello", "$5.00", "$flowx", "$nodes.a", "flow.x", "$", "$environment"]) {
    assert.equal(parseSelector(text), null, text);
  }
});

Deno.test("parseSelector() rejects malformed selectors", () => {
  for (
    const text of [
      "$node.a",
      "$node.a.out",
      "$ctx.other",
      "$ctx.",
      "$env.A.B",
      "$flow.a..b",
      "$flow.constructor",
      "$node.a.output.__proto__",
      "$ctx.scratch.prototype",
    ]
  ) {
    assert.throws(() => parseSelector(text), SelectorSyntaxError, text);
  }
});

Deno.test("resolveInputs() resolves each selector", () => {
  const s = scope();
  assert.deepEqual(
    resolveInputs({
      flow: "$flow.x",
      all: "$flow",
      ctxParams: "$ctx.params.nested.list.1",
      node: "$node.fetch.output.id",
      nodeWhole: "$node.count.output",
      results: "$ctx.results.fetch.tags",
      scratch: "$ctx.scratch.fetched.value",
      artifacts: "$ctx.artifacts.report",
      env: "$env.API_TOKEN",
      literal: "just text",
      number: 5,
      nil: null,
    }, s),
    {
      flow: 2,
      all: s.params,
      ctxParams: 20,
      node: 7,
      nodeWhole: 3,
      results: ["a", "b"],
      scratch: "carrot",
      artifacts: { pages: 4 },
      env: "secret",
      literal: "just text",
      number: 5,
      nil: null,
    },
  );
});

Deno.test("resolveInputs() resolves selectors nested in objects and arrays", () => {
  assert.deepEqual(
    resolveInputs(
      { outer: { list: ["$flow.x", { deep: "$node.fetch.output.tags.0" }, 1] } },
      scope(),
    ),
    { outer: { list: [2, { deep: "a" }, 1] } },
  );
});

Deno.test("resolveInputs() gives undefined for missing paths", () => {
  const out = resolveInputs(
    { a: "$flow.missing.deeper", b: "$node.ghost.output", c: "$env.UNSET" },
    scope(),
  ) as Record<string, unknown>;
  assert.equal(out.a, undefined);
  assert.equal(out.b, undefined);
  assert.equal(out.c, undefined);
});

Deno.test("resolveInputs() fails for an environment variable that is not exposed", () => {
  assert.throws(
    () => resolveInputs({ token: "$env.HIDDEN" }, scope()),
    (error: unknown) => {
      assert.ok(error instanceof SelectorResolutionError);
      assert.match(error.message, /HIDDEN is not exposed/);
      assert.equal(error.selector, "$env.HIDDEN");
      return true;
    },
  );
});

Deno.test("resolveInputs() keeps __proto__ keys as plain data", () => {
  const inputs = JSON.parse('{"__proto__": {"polluted": "$flow.x"}}');
  const out = resolveInputs(inputs, scope()) as Record<string, unknown>;
  assert.ok(Object.hasOwn(out, "__proto__"));
  assert.equal(Object.getPrototypeOf(out), Object.prototype);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

Deno.test("getPath() follows own properties only", () => {
  assert.equal(getPath({ a: { b: [1, 2] } }, ["a", "b", "1"]), 2);
  assert.equal(getPath({ a: 1 }, ["a", "b"]), undefined);
  assert.equal(getPath({}, ["toString"]), undefined);
  assert.equal(getPath({}, ["__proto__"]), undefined);
  assert.equal(getPath({ a: {} }, ["a", "constructor", "prototype"]), undefined);
  assert.equal(getPath(null, ["a"]), undefined);
});

Deno.test("parseOutputPath() accepts scratch and artifacts paths only", () => {
  assert.deepEqual(parseOutputPath("scratch.fetched"), { target: "scratch", path: ["fetched"] });
  assert.deepEqual(parseOutputPath("artifacts.report.main"), {
    target: "artifacts",
    path: ["report", "main"],
  });
  for (const bad of ["scratch", "results.x", "fetched", "scratch..x", "artifacts.__proto__"]) {
    assert.throws(() => parseOutputPath(bad), SelectorSyntaxError, bad);
  }
});

Deno.test("setPath() creates missing levels and refuses to go through a non-object", () => {
  const root: Record<string, unknown> = { n: 1 };
  setPath(root, ["a", "b"], 5);
  assert.deepEqual(root, { n: 1, a: { b: 5 } });
  assert.throws(() => setPath(root, ["n", "x"], 1), /"n" is not an object/);
});

Deno.test("toJsonSafe() stringifies values JSON cannot hold", () => {
  const cyclic: Record<string, unknown> = { ok: 1 };
  cyclic.self = cyclic;
  const shared = { s: 1 };
  function named() {}
  const out = toJsonSafe({
    fn: named,
    anon: (() => () => {})(),
    sym: Symbol("tag"),
    big: 12345678901234567890n,
    date: new Date(0),
    bad: new Date(NaN),
    map: new Map<unknown, unknown>([["k", 1], [2, new Set([1])]]),
    set: new Set(["a"]),
    error: new TypeError("boom"),
    nan: NaN,
    inf: -Infinity,
    undef: undefined,
    list: [undefined, shared, shared],
    cyclic,
    bytes: new Uint8Array([1, 2]),
    custom: { toJSON: () => ({ custom: true }) },
  });
  assert.deepEqual(out, {
    fn: "[Function: named]",
    anon: "[Function (anonymous)]",
    sym: "Symbol(tag)",
    big: "12345678901234567890",
    date: "1970-01-01T00:00:00.000Z",
    bad: "Invalid Date",
    map: { k: 1, 2: [1] },
    set: ["a"],
    error: "TypeError: boom",
    nan: "NaN",
    inf: "-Infinity",
    list: [null, { s: 1 }, { s: 1 }],
    cyclic: { ok: 1, self: "[Circular]" },
    bytes: [1, 2],
    custom: { custom: true },
  });
  assert.doesNotThrow(() => JSON.stringify(out));
});

Deno.test("toJsonSafe() bounds the depth and survives throwing getters", () => {
  let deep: Record<string, unknown> = { leaf: true };
  for (let i = 0; i < 100; i++) deep = { next: deep };
  const text = JSON.stringify(toJsonSafe(deep, { maxDepth: 5 }));
  assert.equal(text, '{"next":{"next":{"next":{"next":{"next":"[MaxDepth]"}}}}}');
  const hostile = {
    get boom(): never {
      throw new Error("nope");
    },
  };
  assert.deepEqual(toJsonSafe({ hostile }), { hostile: "[Unserializable]" });
  assert.equal(toJsonSafe(undefined), null);
  assert.equal(toJsonSafe(() => 1), "[Function (anonymous)]");
});
