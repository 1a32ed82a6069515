/**
 * Build the dashboard: bundle `ui/main.tsx` (Preact, TSX) with `deno bundle --minify` for the
 * browser, minify the stylesheet, name every asset after its content hash, fill the hashed
 * names into `ui/index.html`, and write them all into `_assets.gen.ts` as strings, so the
 * gateway serves them without read permission and `deno compile` and the JSR package carry them.
 *
 * Run it with `deno task dashboard:build` after changing anything under `src/dashboard/ui/` (or
 * the graph DSL it bundles). The build is deterministic: `mod_test.ts` rebuilds in memory and
 * fails when the committed `_assets.gen.ts` differs.
 *
 * @module
 */

import { sha256Hex } from "../contract/_util.ts";
import type { DashboardAsset } from "./mod.ts";

const _HERE = new URL("./", import.meta.url);
const _UI = new URL("ui/", _HERE);
const _OUT = new URL("_assets.gen.ts", _HERE);

/** What {@linkcode buildDashboard} produces. */
export interface BuiltDashboard {
  /** Every asset, index first. */
  assets: DashboardAsset[];
  /** Gzipped size of each asset in bytes, by path. */
  gzipBytes: Record<string, number>;
}

/** The build failed (the bundler's output is in the message). */
export class DashboardBuildError extends Error {
  /**
   * Create the error.
   *
   * @param message What failed and why.
   * @param options `cause`.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DashboardBuildError";
  }
}

async function _gzipSize(text: string): Promise<number> {
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"));
  return (await new Response(stream).arrayBuffer()).byteLength;
}

/**
 * Minify CSS conservatively: comments, indentation and spaces around punctuation.
 *
 * @param css The stylesheet.
 * @returns The smaller stylesheet.
 */
export function minifyCss(css: string): string {
  return css
    .replace(/\/\*[\s\S]*?\*\//g, "")
    .replace(/\s+/g, " ")
    .replace(/\s*([{};,>])\s*/g, "$1")
    .replace(/:\s+/g, ":")
    .replace(/;}/g, "}")
    .trim();
}

async function _bundle(entry: URL): Promise<string> {
  const res = await new Deno.Command(Deno.execPath(), {
    args: [
      "bundle",
      "--quiet",
      "--platform",
      "browser",
      "--format",
      "esm",
      "--minify",
      entry.pathname,
    ],
    cwd: new URL("../../", _HERE).pathname,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(res.stdout);
  if (!res.success || text.trim() === "") {
    const why = new TextDecoder().decode(res.stderr);
    throw new DashboardBuildError(`Cannot bundle the dashboard: deno bundle failed\n${why}`);
  }
  return text.trimEnd() + "\n";
}

async function _asset(
  name: string,
  ext: string,
  contentType: string,
  body: string,
): Promise<DashboardAsset> {
  const hash = (await sha256Hex(body)).slice(0, 12);
  return {
    path: `/ui/${name}.${hash}.${ext}`,
    contentType,
    etag: `"${hash}"`,
    immutable: true,
    body,
  };
}

/**
 * Bundle and hash the dashboard's assets (nothing is written).
 *
 * @returns The assets, index first, and their gzipped sizes.
 * @throws {DashboardBuildError} When `deno bundle` fails.
 */
export async function buildDashboard(): Promise<BuiltDashboard> {
  const js = await _asset(
    "app",
    "js",
    "text/javascript; charset=utf-8",
    await _bundle(new URL("main.tsx", _UI)),
  );
  const css = await _asset(
    "app",
    "css",
    "text/css; charset=utf-8",
    minifyCss(await Deno.readTextFile(new URL("styles.css", _UI))) + "\n",
  );
  const icon = await _asset(
    "favicon",
    "svg",
    "image/svg+xml",
    (await Deno.readTextFile(new URL("favicon.svg", _UI))).trim() + "\n",
  );
  const names: Record<string, string> = {
    "app.js": js.path.slice(4),
    "app.css": css.path.slice(4),
    "favicon.svg": icon.path.slice(4),
  };
  const template = await Deno.readTextFile(new URL("index.html", _UI));
  const html = template.replace(/\{\{([\w.]+)\}\}/g, (m, key: string) => names[key] ?? m);
  const index: DashboardAsset = {
    path: "/",
    contentType: "text/html; charset=utf-8",
    etag: `"${(await sha256Hex(html)).slice(0, 12)}"`,
    immutable: false,
    body: html,
  };
  const assets = [index, js, css, icon];
  const gzipBytes: Record<string, number> = {};
  for (const a of assets) gzipBytes[a.path] = await _gzipSize(a.body);
  return { assets, gzipBytes };
}

/**
 * The text of `_assets.gen.ts` for the built assets.
 *
 * @param assets The assets.
 * @returns TypeScript source.
 */
export function renderAssetsModule(assets: readonly DashboardAsset[]): string {
  const items = assets.map((a) =>
    [
      "  {",
      `    path: ${JSON.stringify(a.path)},`,
      `    contentType: ${JSON.stringify(a.contentType)},`,
      `    etag: ${JSON.stringify(a.etag)},`,
      `    immutable: ${a.immutable},`,
      `    body: ${JSON.stringify(a.body)},`,
      "  },",
    ].join("\n")
  );
  return [
    "// Generated by `deno task dashboard:build` from src/dashboard/ui/. Do not edit.",
    "// deno-fmt-ignore-file",
    "// deno-lint-ignore-file",
    "",
    'import type { DashboardAsset } from "./mod.ts";',
    "",
    "/** The dashboard's built assets: the index first, then the content-hashed files. */",
    "export const ASSETS: readonly DashboardAsset[] = [",
    ...items,
    "];",
    "",
  ].join("\n");
}

async function _main(): Promise<number> {
  const { assets, gzipBytes } = await buildDashboard();
  await Deno.writeTextFile(_OUT, renderAssetsModule(assets));
  let total = 0;
  let totalGz = 0;
  for (const a of assets) {
    const bytes = new TextEncoder().encode(a.body).byteLength;
    total += bytes;
    totalGz += gzipBytes[a.path]!;
    console.log(
      `${a.path.padEnd(34)} ${String(bytes).padStart(7)} B  ${
        String(gzipBytes[a.path]).padStart(6)
      } B gzipped`,
    );
  }
  console.log(
    `${"total".padEnd(34)} ${String(total).padStart(7)} B  ${
      String(totalGz).padStart(6)
    } B gzipped`,
  );
  console.log(`Wrote ${_OUT.pathname}`);
  return 0;
}

if (import.meta.main) {
  try {
    Deno.exit(await _main());
  } catch (err) {
    console.error(err instanceof DashboardBuildError ? err.message : err);
    Deno.exit(1);
  }
}
