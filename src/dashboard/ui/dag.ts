/**
 * Layout of a run's task graph for the run page: layers from left to right (a task sits one
 * layer right of its furthest upstream task), nodes ordered inside a layer by the position of
 * their upstream tasks. With the flow's graph text the edges come from {@linkcode parseGraph};
 * without it the tasks are laid out as a grid without edges, in the order they started. Pure and
 * web-only, so the layout is unit-tested without a browser.
 *
 * @module
 */

import { joinExprTasks, parseGraph } from "../../flow/dsl.ts";

/** One laid-out task. */
export interface DagNode {
  /** Task name. */
  name: string;
  /** Left edge (px). */
  x: number;
  /** Top edge (px). */
  y: number;
  /** Layer (column) index. */
  layer: number;
}

/** One dependency: `to` waits on `from`; `or` for an OR-join (`(a | b) >> c`). */
export interface DagEdge {
  /** Upstream task. */
  from: string;
  /** Downstream task. */
  to: string;
  /** `and`: `to` needs `from`; `or`: `to` needs one of several, `from` among them. */
  kind: "and" | "or";
}

/** The laid-out graph. */
export interface DagLayout {
  /** Nodes with positions. */
  nodes: DagNode[];
  /** Edges (empty without graph text). */
  edges: DagEdge[];
  /** Total width (px). */
  width: number;
  /** Total height (px). */
  height: number;
  /** Whether edges are known (the snapshot carried the graph text). */
  hasEdges: boolean;
}

/** Node box size and gaps (px). */
export const DAG_GEOMETRY = {
  nodeWidth: 168,
  nodeHeight: 48,
  gapX: 56,
  gapY: 20,
  pad: 12,
} as const;

/** The smallest scale a graph is shrunk to before it scrolls instead (text stays readable). */
export const DAG_MIN_SCALE = 0.7;

/**
 * How to show a graph `contentWidth` wide in a box `boxWidth` wide: shrunk to fit when that
 * keeps the scale at or above {@linkcode DAG_MIN_SCALE}, else at that scale and scrolled.
 *
 * @param contentWidth The layout's width (px).
 * @param boxWidth The visible width (px; 0 before it is measured).
 * @returns The scale (at most 1) and whether the graph is wider than the box.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fitDag } from "./dag.ts";
 * assert.deepEqual(fitDag(800, 1000), { scale: 1, overflow: false });
 * assert.deepEqual(fitDag(1000, 800), { scale: 0.8, overflow: false });
 * assert.deepEqual(fitDag(3000, 900), { scale: 0.7, overflow: true });
 * ```
 */
export function fitDag(
  contentWidth: number,
  boxWidth: number,
): { scale: number; overflow: boolean } {
  if (contentWidth <= 0 || boxWidth <= 0 || contentWidth <= boxWidth) {
    return { scale: 1, overflow: false };
  }
  const scale = boxWidth / contentWidth;
  if (scale >= DAG_MIN_SCALE) return { scale: Math.floor(scale * 1000) / 1000, overflow: false };
  return { scale: DAG_MIN_SCALE, overflow: true };
}

/**
 * Lay out a run's tasks.
 *
 * @param taskNames Task names of the run (the snapshot's `tasks` keys).
 * @param graph The flow's graph DSL text, when known.
 * @param startOrder Task names in the order they started (for the layout without edges).
 * @returns Positions and edges.
 */
export function layoutDag(
  taskNames: readonly string[],
  graph?: string | null,
  startOrder: readonly string[] = [],
): DagLayout {
  const preds = new Map<string, { from: string; kind: "and" | "or" }[]>();
  let order: string[] = [];
  let hasEdges = false;
  if (typeof graph === "string" && graph.trim() !== "") {
    try {
      const parsed = parseGraph(graph);
      order = parsed.nodes.map((n) => n.name);
      for (const [name, reqs] of parsed.requirements) {
        const list: { from: string; kind: "and" | "or" }[] = [];
        for (const req of reqs) {
          const kind = req.when.kind === "any" ? "or" : "and";
          for (const from of joinExprTasks(req.when)) {
            if (!list.some((p) => p.from === from)) list.push({ from, kind });
          }
        }
        preds.set(name, list);
      }
      hasEdges = true;
    } catch {
      order = [];
    }
  }
  for (const name of taskNames) if (!order.includes(name)) order.push(name);
  if (!hasEdges) return _grid(order, startOrder);

  const layerOf = new Map<string, number>();
  const visit = (name: string, depth: number): number => {
    const known = layerOf.get(name);
    if (known !== undefined) return known;
    if (depth > order.length) return 0; // a cycle cannot come from a valid flow: stop anyway
    const ps = preds.get(name) ?? [];
    const layer = ps.length === 0 ? 0 : 1 + Math.max(...ps.map((p) => visit(p.from, depth + 1)));
    layerOf.set(name, layer);
    return layer;
  };
  for (const name of order) visit(name, 0);
  const layers: string[][] = [];
  for (const name of order) (layers[layerOf.get(name)!] ??= []).push(name);

  // Order each layer by the mean position of its upstream tasks (fewer crossings).
  const rank = new Map<string, number>();
  layers.forEach((layer, i) => {
    if (i > 0) {
      const score = (n: string) => {
        const ps = (preds.get(n) ?? []).map((p) => rank.get(p.from) ?? 0);
        return ps.length === 0 ? 0 : ps.reduce((a, b) => a + b, 0) / ps.length;
      };
      layer.sort((a, b) => score(a) - score(b) || order.indexOf(a) - order.indexOf(b));
    }
    layer.forEach((n, j) => rank.set(n, j));
  });

  const { nodeWidth, nodeHeight, gapX, gapY, pad } = DAG_GEOMETRY;
  const tallest = Math.max(1, ...layers.map((l) => l?.length ?? 0));
  const height = pad * 2 + tallest * nodeHeight + (tallest - 1) * gapY;
  const nodes: DagNode[] = [];
  layers.forEach((layer, i) => {
    const span = layer.length * nodeHeight + (layer.length - 1) * gapY;
    const top = (height - span) / 2;
    layer.forEach((name, j) => {
      nodes.push({
        name,
        layer: i,
        x: pad + i * (nodeWidth + gapX),
        y: top + j * (nodeHeight + gapY),
      });
    });
  });
  const edges: DagEdge[] = [];
  for (const name of order) {
    for (const p of preds.get(name) ?? []) edges.push({ from: p.from, to: name, kind: p.kind });
  }
  const width = pad * 2 + layers.length * nodeWidth + (layers.length - 1) * gapX;
  return { nodes, edges, width, height, hasEdges: true };
}

function _grid(order: readonly string[], startOrder: readonly string[]): DagLayout {
  const names = [
    ...startOrder.filter((n) => order.includes(n)),
    ...order.filter((n) => !startOrder.includes(n)),
  ];
  const { nodeWidth, nodeHeight, gapX, gapY, pad } = DAG_GEOMETRY;
  const columns = Math.max(1, Math.min(4, names.length));
  const rows = Math.max(1, Math.ceil(names.length / columns));
  const nodes = names.map((name, i) => ({
    name,
    layer: i % columns,
    x: pad + (i % columns) * (nodeWidth + gapX / 2),
    y: pad + Math.floor(i / columns) * (nodeHeight + gapY),
  }));
  return {
    nodes,
    edges: [],
    width: pad * 2 + columns * nodeWidth + (columns - 1) * (gapX / 2),
    height: pad * 2 + rows * nodeHeight + (rows - 1) * gapY,
    hasEdges: false,
  };
}
