/**
 * The flow catalog on the wire (SPEC §12): what a worker publishes in the `pyoco_flows` bucket
 * under `<tag>.<flow_name>`, what `GET /flows` answers, and the small pure rules both sides
 * share (the key, the callables a flow.yaml needs, "did you mean" suggestions). Web APIs only.
 *
 * @module
 */

import { TAG_PATTERN } from "./wire.ts";

/** One entry of the `pyoco_flows` bucket: a flow as the workers of one tag offer it. */
export interface FlowCatalogEntry {
  /** The flow's name. */
  flow_name: string;
  /** The tag its workers consume. */
  tag: string;
  /** Graph DSL text. */
  graph: string;
  /** Task names, in order of first appearance in the graph. */
  tasks: string[];
  /** The flow's default params. */
  defaults: Record<string, unknown>;
  /**
   * Tasks a flow.yaml run may name on this tag (`"module:export"` and bare task names): the union
   * of {@linkcode FlowCatalogEntry.worker_callables}.
   */
  callables: string[];
  /** Ids of the workers that published this entry (dead ones are dropped on the next write). */
  workers: string[];
  /** **[beyond]** Worker id → the callables that worker registers (routing of YAML jobs). */
  worker_callables?: Record<string, string[]>;
  /** Unix seconds of the last write. */
  updated_at: number;
}

/** A flow as `GET /flows` and `GET /flows/{tag}/{name}` show it. */
export interface FlowView {
  /** The flow's name. */
  flow_name: string;
  /** The tag it is offered on. */
  tag: string;
  /** Graph DSL text. */
  graph: string;
  /** Task names. */
  tasks: string[];
  /** Default params (prefill of a submit form). */
  defaults: Record<string, unknown>;
  /** Ids of the workers alive now that offer it. */
  live_workers: string[];
  /** Tasks a flow.yaml run may name on this tag. */
  callables: string[];
  /** Unix seconds of the entry's last write. */
  updated_at: number;
}

/** The built-in task module (always available, never listed in the catalog). */
export const BUILTIN_CALLABLE_PREFIX = "pyoco:";

const _KEY_TOKEN = /^[-/_=a-zA-Z0-9]+$/;
const _GRAPH_NAME = /[A-Za-z_][A-Za-z0-9_]*/g;

/**
 * The catalog key of a flow on a tag: `<tag>.<flow_name>`, or `null` when the pair cannot be a
 * KV key (a flow name with `..` or a trailing `.`; such a flow is not catalogued).
 *
 * @param tag The tag.
 * @param flowName The flow name.
 * @returns The key, or `null`.
 *
 * @example Usage
 * ```ts
 * import { catalogKey } from "./catalog.ts";
 * import assert from "node:assert/strict";
 * assert.equal(catalogKey("default", "hello"), "default.hello");
 * assert.equal(catalogKey("default", "bad."), null);
 * ```
 */
export function catalogKey(tag: string, flowName: string): string | null {
  if (!TAG_PATTERN.test(tag)) return null;
  if (flowName === "" || !flowName.split(".").every((t) => _KEY_TOKEN.test(t))) return null;
  return `${tag}.${flowName}`;
}

/**
 * Split a catalog key into its tag and flow name (the tag never holds a `.`).
 *
 * @param key A key of the `pyoco_flows` bucket.
 * @returns The tag and flow name, or `null` for a key of another shape.
 */
export function parseCatalogKey(key: string): { tag: string; flowName: string } | null {
  const dot = key.indexOf(".");
  if (dot <= 0 || dot === key.length - 1) return null;
  const tag = key.slice(0, dot);
  return TAG_PATTERN.test(tag) ? { tag, flowName: key.slice(dot + 1) } : null;
}

/**
 * The registered tasks a flow.yaml needs: for every task of the graph, its `callable` or (without
 * one) its own name; the built-ins (`pyoco:*`) are left out. The document must already be valid.
 *
 * @param config The validated flow.yaml (`flow.graph` and `tasks`).
 * @returns The distinct callables, in order of first appearance.
 *
 * @example Usage
 * ```ts
 * import { yamlCallables } from "./catalog.ts";
 * import assert from "node:assert/strict";
 * const needed = yamlCallables({
 *   flow: { graph: "fetch >> (a & merge) # comment words" },
 *   tasks: { fetch: { callable: "tasks:fetchData" }, a: { callable: "pyoco:sleep" } },
 * });
 * assert.deepEqual(needed, ["tasks:fetchData", "merge"]);
 * ```
 */
export function yamlCallables(config: {
  flow: { graph: string };
  tasks: Readonly<Record<string, { callable?: string }>>;
}): string[] {
  const names = config.flow.graph.replace(/#[^\n]*/g, "").match(_GRAPH_NAME) ?? [];
  const out = new Set<string>();
  for (const name of names) {
    const cfg = Object.hasOwn(config.tasks, name) ? config.tasks[name] : undefined;
    const callable = cfg?.callable ?? name;
    if (!callable.startsWith(BUILTIN_CALLABLE_PREFIX)) out.add(callable);
  }
  return [...out];
}

/** Longest name compared by {@linkcode closestNames} (longer ones are never suggested). */
const _MAX_COMPARED = 256;

/**
 * The candidates closest to `name` by edit distance (Levenshtein, case-insensitive): those at
 * the smallest distance found, at most `limit` of them, and only within a distance of a third of
 * the name's length (at least 2).
 *
 * @param name The name given (e.g. a mistyped flow name).
 * @param candidates The names that exist.
 * @param limit How many to return. @default {3}
 * @returns The closest names, in alphabetical order (empty when none is close).
 *
 * @example Usage
 * ```ts
 * import { closestNames } from "./catalog.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(closestNames("helo", ["hello", "fanout", "hallo2"]), ["hello"]);
 * assert.deepEqual(closestNames("zzzzzz", ["hello"]), []);
 * ```
 */
export function closestNames(name: string, candidates: Iterable<string>, limit = 3): string[] {
  if (name.length > _MAX_COMPARED) return [];
  const max = Math.max(2, Math.floor(name.length / 3));
  const scored: [number, string][] = [];
  for (const c of new Set(candidates)) {
    if (c.length > _MAX_COMPARED || Math.abs(c.length - name.length) > max) continue;
    const d = _distance(name.toLowerCase(), c.toLowerCase());
    if (d <= max) scored.push([d, c]);
  }
  scored.sort((a, b) => a[0] - b[0] || (a[1] < b[1] ? -1 : 1));
  const best = scored[0]?.[0];
  return scored.filter(([d]) => d === best).slice(0, limit).map(([, c]) => c);
}

/**
 * `did you mean "a" or "b"?` for a list of suggestions, or `""` when there are none.
 *
 * @param names The suggestions.
 * @returns The phrase.
 */
export function didYouMean(names: readonly string[]): string {
  if (names.length === 0) return "";
  const quoted = names.map((n) => JSON.stringify(n));
  const last = quoted.pop()!;
  return `did you mean ${quoted.length > 0 ? `${quoted.join(", ")} or ${last}` : last}?`;
}

function _distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row.push(Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + cost));
    }
    prev = row;
  }
  return prev[b.length]!;
}
