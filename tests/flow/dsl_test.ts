import assert from "node:assert/strict";
import { joinExprKey, parseGraph } from "../../src/flow/dsl.ts";
import { FlowDefinitionError } from "../../src/flow/errors.ts";

/** Requirements of every task as compact keys, e.g. `{ d: ["all(b,c)"] }`. */
function reqs(text: string): Record<string, string[]> {
  const graph = parseGraph(text);
  const out: Record<string, string[]> = {};
  for (const node of graph.nodes) {
    out[node.name] = graph.requirements.get(node.name)!.map((r) => joinExprKey(r.when));
  }
  return out;
}

function parseError(text: string): FlowDefinitionError {
  try {
    parseGraph(text);
  } catch (error) {
    assert.ok(error instanceof FlowDefinitionError, `expected FlowDefinitionError, got ${error}`);
    return error;
  }
  assert.fail(`expected ${JSON.stringify(text)} to be rejected`);
}

Deno.test("parseGraph() reads a single name as a one-task graph", () => {
  assert.deepEqual(reqs("a"), { a: [] });
  assert.deepEqual(parseGraph("  a  ").nodes, [{ name: "a", line: 1, column: 3 }]);
});

Deno.test("parseGraph() chains >> left to right", () => {
  assert.deepEqual(reqs("a >> b >> c"), { a: [], b: ["a"], c: ["b"] });
});

Deno.test("parseGraph() binds & and | tighter than >>", () => {
  assert.deepEqual(reqs("a >> b & c >> d"), {
    a: [],
    b: ["a"],
    c: ["a"],
    d: ["all(b,c)"],
  });
  assert.deepEqual(reqs("a >> b | c >> d"), {
    a: [],
    b: ["a"],
    c: ["a"],
    d: ["any(b,c)"],
  });
});

Deno.test("parseGraph() makes an AND-join for a >> (b & c) >> d", () => {
  assert.deepEqual(reqs("a >> (b & c) >> d"), {
    a: [],
    b: ["a"],
    c: ["a"],
    d: ["all(b,c)"],
  });
});

Deno.test("parseGraph() makes an OR-join for (b | c) >> d", () => {
  assert.deepEqual(reqs("(b | c) >> d"), { b: [], c: [], d: ["any(b,c)"] });
});

Deno.test("parseGraph() keeps nested joins exact", () => {
  assert.deepEqual(reqs("((a | b) & c) >> d").d, ["all(any(a,b),c)"]);
  assert.deepEqual(reqs("((a & b) | c) >> d").d, ["any(all(a,b),c)"]);
  // Same-kind nesting flattens without changing the meaning.
  assert.deepEqual(reqs("((a & b) & c) >> d").d, ["all(a,b,c)"]);
});

Deno.test("parseGraph() takes the exit of a parenthesised chain and its entry", () => {
  // (a >> b): entry a, exit b. So x precedes a, and y follows b.
  assert.deepEqual(reqs("x >> (a >> b) >> y"), { x: [], a: ["x"], b: ["a"], y: ["b"] });
  // (a >> b) | c: entries a and c; exit any(b, c).
  assert.deepEqual(reqs("((a >> b) | c) >> d"), { a: [], b: ["a"], c: [], d: ["any(b,c)"] });
});

Deno.test("parseGraph() adds every group member as an entry", () => {
  assert.deepEqual(reqs("a >> (b | c)"), { a: [], b: ["a"], c: ["a"] });
  assert.deepEqual(reqs("(a & b) >> (c & d)"), {
    a: [],
    b: [],
    c: ["all(a,b)"],
    d: ["all(a,b)"],
  });
});

Deno.test("parseGraph() merges statements separated by newlines and ; into one DAG", () => {
  const expected = { a: [], b: ["a"], c: ["a"], d: ["all(b,c)"] };
  assert.deepEqual(reqs("a >> b; a >> c; (b & c) >> d"), expected);
  assert.deepEqual(reqs("a >> b\na >> c\n(b & c) >> d\n"), expected);
});

Deno.test("parseGraph() gives a task one requirement per statement that leads to it", () => {
  assert.deepEqual(reqs("a >> c; b >> c").c, ["a", "b"]);
  // The same requirement twice counts once.
  assert.deepEqual(reqs("a >> c; a >> c").c, ["a"]);
});

Deno.test("parseGraph() ignores blank lines, empty statements and comments", () => {
  assert.deepEqual(reqs("\n# the pipeline\n\na >> b ;; # trailing\n\n"), { a: [], b: ["a"] });
});

Deno.test("parseGraph() continues a statement across lines inside parentheses or at operators", () => {
  assert.deepEqual(reqs("a >>\n  (b &\n   c)\n  >> d"), {
    a: [],
    b: ["a"],
    c: ["a"],
    d: ["all(b,c)"],
  });
});

Deno.test("parseGraph() records node positions and requirement positions", () => {
  const graph = parseGraph("a >> b\n  c >> b");
  assert.deepEqual(graph.nodes, [
    { name: "a", line: 1, column: 1 },
    { name: "b", line: 1, column: 6 },
    { name: "c", line: 2, column: 3 },
  ]);
  assert.deepEqual(
    graph.requirements.get("b")!.map((r) => [r.line, r.column]),
    [[1, 6], [2, 8]],
  );
});

Deno.test("parseGraph() rejects an unexpected closing parenthesis with its position", () => {
  const error = parseError("a >> (b & c))");
  assert.match(error.message, /^Cannot parse flow graph: unexpected "\)" at line 1, column 13/);
  assert.equal(error.line, 1);
  assert.equal(error.column, 13);
});

Deno.test("parseGraph() rejects an empty group", () => {
  const error = parseError("a >> ()");
  assert.match(error.message, /unexpected "\)" at line 1, column 7/);
});

Deno.test("parseGraph() rejects an unclosed parenthesis at the opening one", () => {
  const error = parseError("a >> (b & c");
  assert.match(error.message, /unclosed "\(" at line 1, column 6/);
  assert.deepEqual([error.line, error.column], [1, 6]);
});

Deno.test("parseGraph() rejects a dangling operator", () => {
  assert.match(parseError("a >>").message, /unexpected end of graph at line 1, column 5/);
  assert.match(parseError("a &").message, /unexpected end of graph at line 1, column 4/);
  assert.match(parseError("a >> b\n>> ").message, /unexpected end of graph at line 2, column 4/);
  assert.match(parseError(">> a").message, /unexpected ">>" at line 1, column 1/);
  assert.match(parseError("a >> | b").message, /unexpected "\|" at line 1, column 6/);
});

Deno.test("parseGraph() rejects two names without an operator", () => {
  assert.match(parseError("a b").message, /unexpected "b" at line 1, column 3/);
  assert.match(parseError("(a) (b)").message, /unexpected "\(" at line 1, column 5/);
});

Deno.test("parseGraph() rejects mixing & and | without parentheses", () => {
  const error = parseError("a & b | c");
  assert.match(
    error.message,
    /"&" and "\|" cannot be mixed without parentheses at line 1, column 7/,
  );
  assert.match(parseError("x >> a | b & c").message, /at line 1, column 12/);
  // With parentheses it is fine.
  assert.deepEqual(reqs("(a & b) | c >> d").d, ["any(all(a,b),c)"]);
});

Deno.test("parseGraph() rejects characters outside the grammar", () => {
  assert.match(parseError("a > b").message, /unexpected character ">" at line 1, column 3/);
  assert.match(parseError("a >>> b").message, /unexpected character ">" at line 1, column 5/);
  assert.match(parseError("a >> b-c").message, /unexpected character "-" at line 1, column 7/);
  assert.match(parseError("a\n >> 1b").message, /unexpected character "1" at line 2, column 5/);
  assert.match(parseError("a >> é").message, /unexpected character "é" at line 1, column 6/);
});

Deno.test("parseGraph() rejects ; inside parentheses", () => {
  assert.match(parseError("(a; b)").message, /unexpected ";" at line 1, column 3/);
});

Deno.test("parseGraph() rejects an empty graph", () => {
  assert.match(parseError("").message, /graph is empty/);
  assert.match(parseError(" \n ; # nothing\n").message, /graph is empty/);
});
