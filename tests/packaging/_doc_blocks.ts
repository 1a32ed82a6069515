/**
 * Run the shell blocks a Markdown page marks as tested, so the commands the docs show stay true.
 *
 * Convention: a fenced ```sh block whose first line is the marker (`# doc-test`, or
 * `# quickstart-test` in `docs/quickstart.md`) is run as one `bash -euo pipefail` script from the
 * repository root, in page order; it must exit 0. `curl` fails on an HTTP error status
 * (`--fail-with-body` is added by a shell function), so a 4xx/5xx answer fails the block; blocks
 * that show an error answer on purpose are left unmarked. Long-running commands (servers,
 * workers) and sample output are never marked: the test starts those itself.
 *
 * @module
 */

import assert from "node:assert/strict";
import { REPO_ROOT } from "./_run.ts";

/** A marked block of a page. */
export interface MarkedBlock {
  /** 1-based line of the block's first line (the marker) in the page. */
  line: number;
  /** The block's body, marker line included. */
  script: string;
}

/**
 * The marked ```sh blocks of a Markdown text.
 *
 * @param markdown The document.
 * @param marker The first line that marks a block, e.g. `# doc-test`.
 * @returns Each block's body (marker line included) and its 1-based starting line.
 */
export function markedShellBlocks(markdown: string, marker: string): MarkedBlock[] {
  const blocks: MarkedBlock[] = [];
  const lines = markdown.split("\n");
  for (let i = 0; i < lines.length; i++) {
    if (!/^```(sh|bash|shell)\s*$/.test(lines[i]!)) continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && !/^```\s*$/.test(lines[end]!)) end++;
    const body = lines.slice(start, end);
    if (body[0]?.trim() === marker) blocks.push({ line: start + 1, script: body.join("\n") });
    i = end;
  }
  return blocks;
}

/** Options of {@linkcode runMarkedBlocks}. */
export interface RunMarkedBlocksOptions {
  /** The page, relative to the repository root (e.g. `README.md`). */
  page: string;
  /** The marker line. @default {"# doc-test"} */
  marker?: string;
  /** At least this many marked blocks must exist (guards against a marker typo). */
  minBlocks: number;
  /** Environment of every block (`NO_COLOR=1` is added). */
  env: Record<string, string>;
  /** Literal text replaced in each block before it runs (e.g. a fixed /tmp path → a temp dir). */
  replace?: Record<string, string>;
  /** Called before a block runs (start a worker it needs, wait for state it reads). */
  beforeBlock?: (block: MarkedBlock) => Promise<void>;
  /** More context for a failure message (e.g. the worker's logs). */
  logs?: () => string;
}

/**
 * Run a page's marked blocks in order, one test step each.
 *
 * @param t The test context.
 * @param options The page, marker, environment and hooks.
 * @returns Resolves once every block ran (a failing block fails its step).
 * @throws {assert.AssertionError} When the page has fewer marked blocks than `minBlocks`.
 */
export async function runMarkedBlocks(
  t: Deno.TestContext,
  options: RunMarkedBlocksOptions,
): Promise<void> {
  const markdown = await Deno.readTextFile(new URL(options.page, REPO_ROOT));
  const blocks = markedShellBlocks(markdown, options.marker ?? "# doc-test");
  assert.ok(
    blocks.length >= options.minBlocks,
    `expected at least ${options.minBlocks} marked blocks in ${options.page}, found ${blocks.length}`,
  );
  for (const block of blocks) {
    await t.step(`${options.page}:${block.line}`, async () => {
      await options.beforeBlock?.(block);
      let body = block.script;
      for (const [from, to] of Object.entries(options.replace ?? {})) {
        body = body.replaceAll(from, to);
      }
      await _runBlock(body, { where: `${options.page}:${block.line}`, ...options });
    });
  }
}

async function _runBlock(
  body: string,
  options: { where: string; env: Record<string, string>; logs?: () => string },
): Promise<void> {
  const script = [
    "set -euo pipefail",
    'curl() { command curl --fail-with-body "$@"; }',
    body,
  ].join("\n");
  const out = await new Deno.Command("bash", {
    args: ["-c", script],
    cwd: REPO_ROOT,
    env: { NO_COLOR: "1", ...options.env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  const text = `${dec.decode(out.stdout)}${dec.decode(out.stderr)}`;
  assert.equal(
    out.code,
    0,
    `block at ${options.where} exited ${out.code}:\n${body}\n--- output\n${text}\n--- logs\n${
      options.logs?.() ?? ""
    }`,
  );
}
