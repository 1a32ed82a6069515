/**
 * When may a task start? Each task's join requirements (SPEC §2.2) compiled into a small tree of
 * AND/OR counters; when a task settles, only the counters that refer to it are updated. Every
 * counter resolves at most once, so a whole run costs O(tasks + graph size). Web APIs only.
 *
 * @module
 */

import type { Flow, JoinExpr } from "./types.ts";

/** A node of a task's compiled requirement tree: counts child outcomes until it resolves. */
interface _JoinNode {
  kind: "all" | "any";
  total: number;
  trues: number;
  falses: number;
  done: boolean;
  /** `null` for the root, which belongs to `owner`. */
  parent: _JoinNode | null;
  owner: string;
}

/** A task that can no longer start, and the settled task whose failure decided it. */
export interface BlockedTask {
  /** The task that ends FAILED without running. */
  task: string;
  /** The upstream task whose outcome made its requirements impossible. */
  culprit: string;
}

/** What one settled task changed: tasks now ready, tasks now impossible. */
export interface JoinUpdate {
  /** Tasks whose requirements now all hold, in the order they resolved. */
  ready: string[];
  /** Tasks whose requirements can no longer hold, in the order they resolved. */
  blocked: BlockedTask[];
}

/**
 * The requirement trees of one run.
 *
 * @example Usage
 * ```ts
 * import { JoinTracker } from "./_join.ts";
 * import { flow, task } from "./task.ts";
 * import assert from "node:assert/strict";
 * const t = (name: string) => task(name, () => null);
 * const f = flow("f", { graph: "(a | b) >> c", tasks: [t("a"), t("b"), t("c")] });
 * const joins = new JoinTracker(f);
 * assert.deepEqual(joins.initial, ["a", "b"]);
 * assert.deepEqual(joins.settle("a", false), { ready: [], blocked: [] });
 * assert.deepEqual(joins.settle("b", true), { ready: ["c"], blocked: [] });
 * ```
 */
export class JoinTracker {
  /** Tasks without requirements, ready at once, in the flow's order. */
  readonly initial: string[] = [];
  /** Upstream task name → the requirement nodes its outcome feeds. */
  readonly #leaves = new Map<string, _JoinNode[]>();

  /**
   * Compile the requirement trees of every task of `flow`.
   *
   * @param flow The flow of the run.
   * @param options `settled`: tasks that are done before the run starts (resumed): they get no
   *   tree, so they are never ready nor blocked; feed their outcome with `settle()`.
   */
  constructor(flow: Flow, options: { settled?: ReadonlySet<string> } = {}) {
    const settled = options.settled ?? new Set<string>();
    for (const name of flow.order) this.#leaves.set(name, []);
    for (const name of flow.order) {
      if (!settled.has(name)) this.#compile(name, flow.requirements.get(name) ?? []);
    }
  }

  #compile(name: string, reqs: readonly { when: JoinExpr }[]): void {
    if (reqs.length === 0) {
      this.initial.push(name);
      return;
    }
    const root = _node("all", { total: reqs.length, parent: null, owner: name });
    // Iterative: a requirement's depth is bounded by the DSL, but no walk here needs the stack.
    const stack: [JoinExpr, _JoinNode][] = reqs.map((req) => [req.when, root]);
    while (stack.length > 0) {
      const [expr, parent] = stack.pop()!;
      if (expr.kind === "task") {
        this.#leaves.get(expr.name)!.push(parent);
        continue;
      }
      const node = _node(expr.kind, { total: expr.of.length, parent, owner: name });
      for (const sub of expr.of) stack.push([sub, node]);
    }
  }

  /**
   * Feed a settled task's outcome into the trees that refer to it. A task made impossible is fed
   * on in turn as a failure (iteratively, no recursion).
   *
   * @param name The task that settled.
   * @param ok Whether it SUCCEEDED.
   * @returns The tasks now ready and the tasks now blocked.
   */
  settle(name: string, ok: boolean): JoinUpdate {
    const update: JoinUpdate = { ready: [], blocked: [] };
    const settled: [string, boolean][] = [[name, ok]];
    while (settled.length > 0) {
      const [from, success] = settled.pop()!;
      for (const leafParent of this.#leaves.get(from) ?? []) {
        const owner = _feed(leafParent, success);
        if (owner === null) continue;
        if (owner.ok) {
          update.ready.push(owner.task);
        } else {
          update.blocked.push({ task: owner.task, culprit: from });
          settled.push([owner.task, false]);
        }
      }
    }
    return update;
  }
}

function _node(
  kind: "all" | "any",
  init: { total: number; parent: _JoinNode | null; owner: string },
): _JoinNode {
  return { kind, trues: 0, falses: 0, done: false, ...init };
}

/** Counts one outcome up a tree; returns the owning task's verdict when its root resolves. */
function _feed(start: _JoinNode, success: boolean): { task: string; ok: boolean } | null {
  let node: _JoinNode | null = start;
  let value = success;
  while (node !== null && !node.done) {
    if (value) node.trues++;
    else node.falses++;
    const result = node.kind === "all"
      ? (!value ? false : node.trues === node.total ? true : null)
      : (value ? true : node.falses === node.total ? false : null);
    if (result === null) return null;
    node.done = true;
    if (node.parent === null) return { task: node.owner, ok: result };
    node = node.parent;
    value = result;
  }
  return null;
}
