import assert from "node:assert/strict";
import { DAG_GEOMETRY, DAG_MIN_SCALE, fitDag, layoutDag } from "./dag.ts";

Deno.test("layoutDag() puts each task one layer right of its furthest upstream task", () => {
  const layout = layoutDag(["a", "b", "c", "d"], "a >> (b & c) >> d; a >> d");
  assert.equal(layout.hasEdges, true);
  const layer = Object.fromEntries(layout.nodes.map((n) => [n.name, n.layer]));
  assert.deepEqual(layer, { a: 0, b: 1, c: 1, d: 2 });
  assert.deepEqual(
    layout.edges.map((e) => `${e.from}>${e.to}:${e.kind}`).sort(),
    ["a>b:and", "a>c:and", "a>d:and", "b>d:and", "c>d:and"],
  );
  const { nodeWidth, gapX, pad } = DAG_GEOMETRY;
  assert.equal(layout.width, pad * 2 + 3 * nodeWidth + 2 * gapX);
  const [b, c] = [
    layout.nodes.find((n) => n.name === "b")!,
    layout.nodes.find((n) => n.name === "c")!,
  ];
  assert.equal(b.x, c.x);
  assert.ok(b.y < c.y, "siblings keep the order of the graph text");
});

Deno.test("layoutDag() marks OR-join edges and keeps tasks missing from the graph", () => {
  const layout = layoutDag(["quick", "steady", "first", "extra"], "(quick | steady) >> first");
  assert.deepEqual(
    layout.edges.map((e) => `${e.from}>${e.to}:${e.kind}`),
    ["quick>first:or", "steady>first:or"],
  );
  assert.equal(layout.nodes.find((n) => n.name === "extra")?.layer, 0);
});

Deno.test("layoutDag() without graph text lays tasks out in start order, without edges", () => {
  const layout = layoutDag(["x", "y", "z"], null, ["z", "x"]);
  assert.equal(layout.hasEdges, false);
  assert.deepEqual(layout.edges, []);
  assert.deepEqual(layout.nodes.map((n) => n.name), ["z", "x", "y"]);
  const broken = layoutDag(["x"], "x >>");
  assert.equal(broken.hasEdges, false, "bad graph text falls back to the grid");
  assert.deepEqual(broken.nodes.map((n) => n.name), ["x"]);
});

Deno.test("fitDag() shrinks a graph down to the minimum scale, then lets it scroll", () => {
  assert.deepEqual(fitDag(600, 0), { scale: 1, overflow: false });
  assert.deepEqual(fitDag(600, 600), { scale: 1, overflow: false });
  const four = layoutDag(["a", "b", "c", "d"], "a >> b >> c >> d");
  const fit = fitDag(four.width, 770);
  assert.equal(fit.overflow, false);
  assert.ok(fit.scale < 1 && fit.scale * four.width <= 770);
  assert.deepEqual(fitDag(4000, 800), { scale: DAG_MIN_SCALE, overflow: true });
});
