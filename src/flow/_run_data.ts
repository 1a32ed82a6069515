/**
 * What the tasks of one run share (SPEC §2.3): the params, the results of tasks that succeeded,
 * `scratch`, `artifacts` and the exposed env; how a task's input is found; where a result is also
 * saved (`outputs` paths); which artifacts a task wrote. Scheduling is `engine.ts`. Web APIs only.
 *
 * @module
 */

import { toJsonSafe } from "./json.ts";
import { mergeParams } from "./_run_options.ts";
import {
  type OutputPath,
  parseOutputPath,
  resolveInputs,
  type SelectorScope,
  setPath,
} from "./selectors.ts";
import type { Flow, JsonValue, Task } from "./types.ts";

/** Options of the {@linkcode RunData} constructor. */
export interface RunDataOptions {
  /** Submitted params, overlaid on the flow's defaults. @default {{}} */
  params?: Record<string, unknown>;
  /** Values for `$env.NAME` / `ctx.env`; only names in the flow's `exposeEnv` are kept. */
  env?: Record<string, unknown>;
}

/**
 * The shared data of one run.
 *
 * @example Usage
 * ```ts
 * import { RunData } from "./_run_data.ts";
 * import { flow, task } from "./task.ts";
 * import assert from "node:assert/strict";
 * const f = flow("f", { graph: "a >> b", tasks: [task("a", () => 1), task("b", () => 2)] });
 * const data = new RunData(f, { params: { x: 1 } });
 * assert.deepEqual(data.inputFor(f.tasks.get("a")!), { x: 1 });
 * data.results.a = 7;
 * assert.equal(data.inputFor(f.tasks.get("b")!), 7);
 * ```
 */
export class RunData {
  /** Flow defaults overlaid by the submitted params, cloned. */
  readonly params: Record<string, unknown>;
  /** Outputs of the tasks that SUCCEEDED so far. */
  readonly results: Record<string, unknown> = {};
  /** One scratch object per run, shared by all tasks. */
  readonly scratch: Record<string, unknown> = {};
  /** One artifacts object per run, shared by all tasks. */
  readonly artifacts: Record<string, unknown> = {};
  /** The exposed environment values (frozen). */
  readonly env: Readonly<Record<string, string>>;
  readonly #flow: Flow;
  readonly #scope: SelectorScope;
  readonly #outputPaths = new Map<string, OutputPath[]>();
  readonly #artifactKeys = new Map<string, Set<string>>();
  readonly #artifactViews = new Map<string, Record<string, unknown>>();

  /**
   * Set up the data of a run of `flow`.
   *
   * @param flow The flow.
   * @param options Submitted params and env values.
   */
  constructor(flow: Flow, options: RunDataOptions = {}) {
    this.#flow = flow;
    this.params = mergeParams(flow.defaults, options.params ?? {});
    const env: Record<string, string> = {};
    const given = options.env ?? {};
    for (const name of flow.exposeEnv) {
      if (Object.hasOwn(given, name)) env[name] = String(given[name]);
    }
    this.env = Object.freeze(env);
    this.#scope = {
      params: this.params,
      results: this.results,
      scratch: this.scratch,
      artifacts: this.artifacts,
      env: this.env,
      exposeEnv: new Set(flow.exposeEnv),
    };
    for (const [name, t] of flow.tasks) {
      this.#outputPaths.set(name, t.options.outputs.map(parseOutputPath));
    }
  }

  /**
   * A task's input: its resolved `inputs` mapping when it has one; otherwise the output of its
   * single upstream task; otherwise an object keyed by the upstream tasks that succeeded; a root
   * task receives the params.
   *
   * @param t The task.
   * @returns Its input.
   * @throws {SelectorResolutionError} When a selector of its `inputs` cannot be resolved.
   */
  inputFor(t: Task): unknown {
    if (t.options.inputs !== undefined) return resolveInputs(t.options.inputs, this.#scope);
    const upstream = this.#flow.upstream.get(t.name) ?? [];
    if (upstream.length === 0) return this.params;
    if (upstream.length === 1) return this.results[upstream[0]!];
    const input: Record<string, unknown> = {};
    for (const name of upstream) {
      if (Object.hasOwn(this.results, name)) input[name] = this.results[name];
    }
    return input;
  }

  /**
   * A view of the shared artifacts that remembers which top-level keys a task assigned.
   *
   * @param name The task.
   * @returns The same view for every call with the same task.
   */
  artifactView(name: string): Record<string, unknown> {
    let view = this.#artifactViews.get(name);
    if (view !== undefined) return view;
    const keys = this.#artifactKeysOf(name);
    view = new Proxy(this.artifacts, {
      set(target, key, value) {
        if (typeof key === "string") keys.add(key);
        return Reflect.set(target, key, value);
      },
      defineProperty(target, key, descriptor) {
        if (typeof key === "string") keys.add(key);
        return Reflect.defineProperty(target, key, descriptor);
      },
    });
    this.#artifactViews.set(name, view);
    return view;
  }

  /**
   * Save a task's result at its `outputs` paths (`scratch.x…`, `artifacts.y…`).
   *
   * @param name The task.
   * @param value Its result.
   * @throws {TypeError} When a level on the way exists but is not an object.
   */
  saveOutputs(name: string, value: unknown): void {
    for (const { target, path } of this.#outputPaths.get(name) ?? []) {
      if (target === "scratch") {
        setPath(this.scratch, path, value);
      } else {
        setPath(this.artifacts, path, value);
        this.#artifactKeysOf(name).add(path[0]!);
      }
    }
  }

  /**
   * The artifacts a task assigned, with their current values made JSON-safe.
   *
   * @param name The task.
   * @returns Key → value, or `null` when the task assigned none.
   */
  artifactsOf(name: string): Record<string, JsonValue> | null {
    const keys = this.#artifactKeys.get(name);
    if (keys === undefined) return null;
    const artifacts: Record<string, JsonValue> = {};
    for (const key of keys) {
      if (Object.hasOwn(this.artifacts, key)) {
        Object.defineProperty(artifacts, key, {
          value: toJsonSafe(this.artifacts[key]),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
    }
    return artifacts;
  }

  #artifactKeysOf(name: string): Set<string> {
    let keys = this.#artifactKeys.get(name);
    if (keys === undefined) this.#artifactKeys.set(name, keys = new Set());
    return keys;
  }
}
