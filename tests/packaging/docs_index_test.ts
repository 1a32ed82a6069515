/**
 * The README's "Documentation" index names every page of `docs/`, and the relative links of the
 * pages a newcomer starts from (README, quickstart, tutorial, own project) point at files that
 * exist (a page being renamed or not written yet shows up here, not as a dead link).
 *
 * @module
 */

import assert from "node:assert/strict";
import { REPO_ROOT } from "./_run.ts";

const _ENTRY_PAGES = [
  "README.md",
  "docs/quickstart.md",
  "docs/tutorial_multi_worker.md",
  "docs/own_project.md",
];

async function _read(path: string): Promise<string> {
  return await Deno.readTextFile(new URL(path, REPO_ROOT));
}

Deno.test("README's Documentation section lists every docs/*.md", async () => {
  const readme = await _read("README.md");
  const start = readme.indexOf("## Documentation");
  assert.ok(start >= 0, "README.md has no ## Documentation section");
  const end = readme.indexOf("\n## ", start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  const missing: string[] = [];
  for await (const entry of Deno.readDir(new URL("docs/", REPO_ROOT))) {
    if (!entry.isFile || !entry.name.endsWith(".md")) continue;
    if (!section.includes(`(docs/${entry.name})`)) missing.push(`docs/${entry.name}`);
  }
  assert.deepEqual(missing.sort(), [], "pages missing from README.md's Documentation list");
});

Deno.test("relative links of the entry pages resolve to files", async () => {
  const broken: string[] = [];
  for (const page of _ENTRY_PAGES) {
    const text = await _read(page);
    const base = new URL(page, REPO_ROOT);
    for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = m[1]!.split("#")[0]!;
      if (target === "" || /^[a-z]+:/i.test(target)) continue;
      try {
        await Deno.stat(new URL(target, base));
      } catch {
        broken.push(`${page}: ${m[1]}`);
      }
    }
  }
  assert.deepEqual(broken, [], "links to missing files");
});
