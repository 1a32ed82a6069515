/**
 * The flow and task registry of a worker (and of the local runner): the flows and tasks that
 * the operator's modules export. A submitter can only ever run what is registered here (and the
 * built-in `pyoco:*` tasks); nothing is loaded on a submitter's behalf.
 *
 * Deno: modules are loaded with a dynamic `import()`, paths resolved against the current
 * directory.
 *
 * @module
 */

import { isAbsolute, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { Flow, Task } from "../flow/mod.ts";

/** What {@linkcode loadRegistry} found. */
export interface Registry {
  /** Flow name → flow: every exported `Flow`. */
  flows: Map<string, Flow>;
  /**
   * `"<module-stem>:<export>"` and bare task name → task: every exported `Task`, and the tasks of
   * every exported `Flow` by task name. A bare name refers to the first task registered under it
   * (exported tasks before the tasks of flows, modules in the given order); use
   * `"<module-stem>:<export>"` to be unambiguous.
   */
  tasks: Map<string, Task>;
}

/**
 * A module given to {@linkcode loadRegistry} cannot be loaded: the file is missing, it does not
 * compile, or it throws while being evaluated.
 */
export class ModuleLoadError extends Error {
  /** The module path as given. */
  readonly path: string;

  /**
   * Build the error for a module that cannot be loaded.
   *
   * @param path The module path as given.
   * @param options `cause`: the import error.
   */
  constructor(path: string, options: ErrorOptions = {}) {
    const why = options.cause instanceof Error
      ? options.cause.message.split("\n")[0]
      : String(options.cause ?? "unknown error");
    super(`Cannot load module "${path}": ${why}`, options);
    this.name = "ModuleLoadError";
    this.path = path;
  }
}

/**
 * Two different flows (or two different tasks under one `"<module-stem>:<export>"` key) are
 * registered under the same name. Rename one of them, or the module file.
 */
export class RegistryConflictError extends Error {
  /** What collided. */
  readonly kind: "flow" | "task";
  /** The flow name or task key registered twice. */
  readonly key: string;
  /** The module registered first, and the module that collided with it. */
  readonly modules: readonly [string, string];

  /**
   * Build the error for a name registered twice.
   *
   * @param kind What collided.
   * @param key The flow name or task key.
   * @param modules The first module and the colliding one.
   * @param options `cause`.
   */
  constructor(
    kind: "flow" | "task",
    key: string,
    modules: readonly [string, string],
    options: ErrorOptions = {},
  ) {
    const where = modules[0] === modules[1]
      ? `twice in module "${modules[0]}"`
      : `in both "${modules[0]}" and "${modules[1]}"`;
    super(`Cannot register ${kind} "${key}": a different ${kind} has that name ${where}`, options);
    this.name = "RegistryConflictError";
    this.kind = kind;
    this.key = key;
    this.modules = modules;
  }
}

/**
 * Whether a value is a {@linkcode Task} (made by `task()`).
 *
 * @param value Any value.
 * @returns `true` for a task.
 */
export function isTask(value: unknown): value is Task {
  return typeof value === "object" && value !== null &&
    (value as { kind?: unknown }).kind === "pyoco.task";
}

/**
 * Whether a value is a {@linkcode Flow} (made by `flow()`).
 *
 * @param value Any value.
 * @returns `true` for a flow.
 */
export function isFlow(value: unknown): value is Flow {
  return typeof value === "object" && value !== null &&
    (value as { kind?: unknown }).kind === "pyoco.flow";
}

/**
 * The stem of a module path: its file name without the last extension
 * (`examples/tasks.ts` → `tasks`).
 *
 * @param modulePath A path or file URL.
 * @returns The stem.
 */
export function moduleStem(modulePath: string): string {
  const file = modulePath.replace(/[?#].*$/, "").split(/[\\/]/).pop() ?? modulePath;
  const dot = file.lastIndexOf(".");
  return dot > 0 ? file.slice(0, dot) : file;
}

/**
 * Import modules and register what they export: every exported `Flow` by its name; every
 * exported `Task` as `"<module-stem>:<export>"` and by its task name; and the tasks of every
 * exported `Flow` by task name. Values are recognised by their `kind` field.
 *
 * @example Load the examples
 * ```ts ignore
 * import { loadRegistry } from "./registry.ts";
 * const registry = await loadRegistry(["./examples/flows.ts", "./examples/tasks.ts"]);
 * registry.flows.get("hello");       // the exported flow named "hello"
 * registry.tasks.get("tasks:shout"); // the task exported as `shout` from tasks.ts
 * ```
 *
 * @param modulePaths Module paths (relative to the current directory, absolute, or URLs).
 * @returns The registry.
 * @throws {ModuleLoadError} When a module cannot be imported; the message names its path.
 * @throws {RegistryConflictError} When two different flows share a name (or two different
 * tasks share a `"<module-stem>:<export>"` key); the message names both modules.
 */
export async function loadRegistry(modulePaths: readonly string[]): Promise<Registry> {
  const flows = new Map<string, Flow>();
  const tasks = new Map<string, Task>();
  const flowOrigin = new Map<string, string>();
  const keyOrigin = new Map<string, string>();
  const exportedTasks: Task[] = [];
  const flowTasks: Task[] = [];

  for (const path of modulePaths) {
    let mod: Record<string, unknown>;
    try {
      mod = await import(_specifier(path));
    } catch (err) {
      throw new ModuleLoadError(path, { cause: err });
    }
    const stem = moduleStem(path);
    for (const [exportName, value] of Object.entries(mod)) {
      if (isFlow(value)) {
        const existing = flows.get(value.name);
        if (existing !== undefined && existing !== value) {
          throw new RegistryConflictError("flow", value.name, [flowOrigin.get(value.name)!, path]);
        }
        flows.set(value.name, value);
        flowOrigin.set(value.name, path);
        flowTasks.push(...value.tasks.values());
      } else if (isTask(value)) {
        const key = `${stem}:${exportName}`;
        const existing = tasks.get(key);
        if (existing !== undefined && existing !== value) {
          throw new RegistryConflictError("task", key, [keyOrigin.get(key)!, path]);
        }
        tasks.set(key, value);
        keyOrigin.set(key, path);
        exportedTasks.push(value);
      }
    }
  }
  // Bare names: exported tasks first, then the tasks of flows; the first one registered wins.
  for (const t of [...exportedTasks, ...flowTasks]) {
    if (!tasks.has(t.name)) tasks.set(t.name, t);
  }
  return { flows, tasks };
}

function _specifier(path: string): string {
  if (/^(file|https?|data):/.test(path)) return path;
  return pathToFileURL(isAbsolute(path) ? path : resolve(path)).href;
}
