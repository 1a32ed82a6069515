import assert from "node:assert/strict";
import { flow, FlowDefinitionError, task } from "../../src/flow/mod.ts";
import type { Task, TaskOptions } from "../../src/flow/mod.ts";

const t = (name: string, options?: TaskOptions): Task => task(name, () => name, options);
const tasks = (...names: string[]): Task[] => names.map((n) => t(n));

function definitionError(fn: () => unknown): FlowDefinitionError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof FlowDefinitionError, `expected FlowDefinitionError, got ${error}`);
    return error;
  }
  assert.fail("expected a FlowDefinitionError");
}

Deno.test("task() applies the documented defaults", () => {
  const a = task("fetch_data", () => 1);
  assert.equal(a.kind, "pyoco.task");
  assert.equal(a.name, "fetch_data");
  assert.deepEqual(a.options, {
    outputs: [],
    retries: 0,
    retryDelaySec: 0.1,
    retryBackoff: 2,
    failPolicy: "stop",
  });
  assert.ok(Object.isFrozen(a));
});

Deno.test("task() keeps given options", () => {
  const a = task("a", () => 1, {
    inputs: { x: "$flow.x" },
    outputs: ["scratch.a", "artifacts.report.main"],
    retries: 2,
    retryDelaySec: 0,
    retryBackoff: 1.5,
    timeoutSec: 10,
    failPolicy: "isolate",
  });
  assert.deepEqual(a.options.inputs, { x: "$flow.x" });
  assert.equal(a.options.timeoutSec, 10);
  assert.equal(a.options.failPolicy, "isolate");
});

Deno.test("task() rejects invalid names", () => {
  for (const name of ["", "1a", "a-b", "a b", "é", "__proto__", "constructor"]) {
    assert.throws(() => task(name, () => 1), FlowDefinitionError, name);
  }
});

Deno.test("task() rejects invalid options and names the option", () => {
  const cases: [TaskOptions | Record<string, unknown>, RegExp][] = [
    [{ retries: -1 }, /"retries"/],
    [{ retries: 1.5 }, /"retries"/],
    [{ retryDelaySec: -0.1 }, /"retryDelaySec"/],
    [{ retryBackoff: 0.5 }, /"retryBackoff"/],
    [{ timeoutSec: 0 }, /"timeoutSec"/],
    [{ timeoutSec: NaN }, /"timeoutSec"/],
    [{ failPolicy: "ignore" }, /"failPolicy"/],
    [{ inputs: "x" }, /"inputs"/],
    [{ outputs: ["results.x"] }, /"outputs"/],
    [{ outputs: ["scratch.__proto__"] }, /"outputs"/],
    [{ retry: 1 }, /Unknown option "retry"/],
  ];
  for (const [options, pattern] of cases) {
    const error = definitionError(() => task("a", () => 1, options as TaskOptions));
    assert.match(error.message, pattern);
  }
  assert.throws(() => task("a", "nope" as never), /fn must be a function/);
});

Deno.test("flow() accepts a single task name as a one-task flow", () => {
  const f = flow("one", { graph: "a", tasks: tasks("a") });
  assert.deepEqual(f.order, ["a"]);
  assert.deepEqual(f.sinks, ["a"]);
  assert.deepEqual(f.edges, []);
});

Deno.test("flow() exposes order, upstream, downstream, edges and sinks", () => {
  const f = flow("f", {
    graph: "a >> (b & c) >> d; a >> e",
    tasks: tasks("e", "d", "c", "b", "a"),
    defaults: { x: 1 },
  });
  assert.deepEqual(f.order, ["a", "b", "c", "e", "d"]);
  assert.deepEqual(f.upstream.get("d"), ["b", "c"]);
  assert.deepEqual(f.downstream.get("a"), ["b", "c", "e"]);
  assert.deepEqual(f.sinks, ["d", "e"]);
  assert.deepEqual(f.edges.length, 5);
  assert.deepEqual(f.defaults, { x: 1 });
  assert.deepEqual([...f.tasks.keys()], ["a", "b", "c", "d", "e"]);
});

Deno.test("flow() passes DSL errors on with their position", () => {
  const error = definitionError(() => flow("f", { graph: "a >> (b & c))", tasks: tasks("a") }));
  assert.match(error.message, /Cannot parse flow graph: unexpected "\)" at line 1, column 13/);
  assert.deepEqual([error.line, error.column], [1, 13]);
});

Deno.test("flow() rejects a cycle and names its path", () => {
  const error = definitionError(() =>
    flow("f", { graph: "a >> b >> c\nc >> a", tasks: tasks("a", "b", "c") })
  );
  assert.match(error.message, /Cycle in the graph of flow "f": a >> b >> c >> a/);
  assert.match(error.message, /line 2, column 6/);
  assert.deepEqual([error.line, error.column], [2, 6]);
});

Deno.test("flow() rejects a self-loop", () => {
  const error = definitionError(() => flow("f", { graph: "a >> a", tasks: tasks("a") }));
  assert.match(error.message, /Cycle .*: a >> a/);
});

Deno.test("flow() rejects a cycle through a join", () => {
  const error = definitionError(() =>
    flow("f", { graph: "a >> (b | c) >> d; d >> c", tasks: tasks("a", "b", "c", "d") })
  );
  assert.match(error.message, /Cycle .*: (c >> d >> c|d >> c >> d) /);
});

Deno.test("flow() rejects a graph name that is not a given task, with its position", () => {
  const error = definitionError(() =>
    flow("f", { graph: "a >> b\nb >> zed", tasks: tasks("a", "b") })
  );
  assert.match(error.message, /Unknown task "zed" .* at line 2, column 6/);
  assert.deepEqual([error.line, error.column], [2, 6]);
});

Deno.test("flow() rejects a given task that is not in the graph", () => {
  const error = definitionError(() => flow("f", { graph: "a", tasks: tasks("a", "b") }));
  assert.match(error.message, /Task "b" of flow "f" is not in the graph/);
});

Deno.test("flow() rejects duplicate task names", () => {
  const error = definitionError(() =>
    flow("f", { graph: "a >> b", tasks: [t("a"), t("b"), t("a")] })
  );
  assert.match(error.message, /Duplicate task name "a"/);
});

Deno.test("flow() rejects a $node selector naming a task that is not upstream", () => {
  const late = t("b", { inputs: { x: "$node.c.output" } });
  const error = definitionError(() =>
    flow("f", { graph: "a >> b >> c", tasks: [t("a"), late, t("c")] })
  );
  assert.match(error.message, /input "x" of task "b"/);
  assert.match(error.message, /\$node\.c is not upstream of "b"/);

  // A sibling branch is not upstream either.
  const sibling = t("b", { inputs: { deep: [{ x: "$node.c.output.id" }] } });
  const error2 = definitionError(() =>
    flow("f", { graph: "a >> (b & c)", tasks: [t("a"), sibling, t("c")] })
  );
  assert.match(error2.message, /input "deep\.0\.x" of task "b"/);
});

Deno.test("flow() rejects a $node selector naming an unknown task", () => {
  const b = t("b", { inputs: { x: "$node.nope.output" } });
  const error = definitionError(() => flow("f", { graph: "a >> b", tasks: [t("a"), b] }));
  assert.match(error.message, /\$node\.nope names a task that is not in the flow/);
});

Deno.test("flow() accepts $node selectors for transitive upstream tasks", () => {
  const d = t("d", { inputs: { a: "$node.a.output", b: "$node.b.output.x.0" } });
  const f = flow("f", { graph: "a >> (b | c) >> d", tasks: [t("a"), t("b"), t("c"), d] });
  assert.deepEqual(f.order, ["a", "b", "c", "d"]);
});

Deno.test("flow() rejects malformed selectors", () => {
  for (const selector of ["$node.a", "$node.a.result", "$ctx.nope", "$env.A-B", "$flow.a..b"]) {
    const b = t("b", { inputs: { x: selector } });
    const error = definitionError(() => flow("f", { graph: "a >> b", tasks: [t("a"), b] }));
    assert.match(error.message, /Invalid inputs of task "b"/, selector);
  }
  const proto = t("b", { inputs: { x: "$flow.__proto__.polluted" } });
  assert.throws(
    () => flow("f", { graph: "a >> b", tasks: [t("a"), proto] }),
    /"__proto__" is not allowed/,
  );
});

Deno.test("flow() rejects invalid flow options", () => {
  assert.throws(() => flow("", { graph: "a", tasks: tasks("a") }), FlowDefinitionError);
  assert.throws(() => flow("f", { graph: "a", tasks: [{}] as never }), /item 0 is not a task/);
  assert.throws(
    () => flow("f", { graph: "a", tasks: tasks("a"), defaults: [] as never }),
    /"defaults"/,
  );
  assert.throws(
    () => flow("f", { graph: "a", tasks: tasks("a"), exposeEnv: [1] as never }),
    /"exposeEnv"/,
  );
  assert.throws(() => flow("f", { graph: 1 as never, tasks: tasks("a") }), FlowDefinitionError);
});
