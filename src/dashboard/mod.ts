/**
 * The web dashboard, served by the gateway at `/` with its assets under `/ui/`. The assets are
 * built by `deno task dashboard:build` into `_assets.gen.ts` (strings in a module: no file reads,
 * so `deno compile` and the JSR package carry them). This handler only looks them up:
 *
 * - `GET`/`HEAD /` → the index page, `cache-control: no-cache` (revalidated with its `etag`),
 *   plus a strict `content-security-policy` (every script, style and request stays same-origin).
 * - `GET`/`HEAD /ui/<name>.<hash>.<ext>` → the asset with its content type and
 *   `cache-control: public, max-age=31536000, immutable` (its name changes when it does).
 * - `If-None-Match` with the current etag → 304.
 * - With `Accept-Encoding: gzip`, assets above 1 KiB are gzipped on the way out
 *   (`content-encoding: gzip`, `vary: accept-encoding`, etag suffixed `.gz`): the app is about
 *   a third of its size on the wire.
 * - Anything else → `null`: the gateway answers it (its API routes, or its JSON 404).
 *
 * The dashboard needs no key to load; its API calls carry the key the user enters, in the header
 * the gateway names in the index's `<meta name="pyoco-api-key-header">` (its
 * `PYOCO_HTTP_API_KEY_HEADER`, passed as {@linkcode ServeDashboardOptions.apiKeyHeader}).
 *
 * @module
 */

import { ASSETS } from "./_assets.gen.ts";

/** One built asset. */
export interface DashboardAsset {
  /** URL path (`/` for the index, `/ui/…` for the rest). */
  path: string;
  /** `content-type` header. */
  contentType: string;
  /** Strong `etag` (quoted content hash). */
  etag: string;
  /** Whether the name carries the content hash (cached for a year). */
  immutable: boolean;
  /** The content (every asset is text). */
  body: string;
}

/** `content-security-policy` of the index page. */
export const DASHBOARD_CSP: string =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
  "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const _BY_PATH: ReadonlyMap<string, DashboardAsset> = new Map(ASSETS.map((a) => [a.path, a]));

/** The API-key header the built index names (the gateway's default). */
export const DEFAULT_API_KEY_HEADER = "X-API-Key";

/** Options of {@linkcode serveDashboard}. */
export interface ServeDashboardOptions {
  /**
   * The header the gateway reads API keys from (`PYOCO_HTTP_API_KEY_HEADER`); written into the
   * index page so the dashboard sends keys in it.
   * @default {"X-API-Key"}
   */
  apiKeyHeader?: string;
}

const _withHeader = new Map<string, DashboardAsset>();

/** The index naming another API-key header (its etag changes with it). */
function _indexFor(asset: DashboardAsset, header: string): DashboardAsset {
  let out = _withHeader.get(header);
  if (out === undefined) {
    const meta = `<meta name="pyoco-api-key-header" content="${DEFAULT_API_KEY_HEADER}">`;
    out = {
      ...asset,
      body: asset.body.replace(meta, meta.replace(DEFAULT_API_KEY_HEADER, header)),
      etag: `${asset.etag.slice(0, -1)}-${encodeURIComponent(header)}"`,
    };
    _withHeader.set(header, out);
  }
  return out;
}

/**
 * The built assets, index first.
 *
 * @returns The assets.
 */
export function dashboardAssets(): readonly DashboardAsset[] {
  return ASSETS;
}

function _matches(ifNoneMatch: string | null, etag: string): boolean {
  if (ifNoneMatch === null) return false;
  return ifNoneMatch.split(",").some((t) => {
    const v = t.trim().replace(/^W\//, "");
    return v === "*" || v === etag;
  });
}

/**
 * Answer a dashboard request, or return `null` when the request is not for the dashboard.
 *
 * @param req The request (method and `If-None-Match` are read).
 * @param url Its parsed URL.
 * @param options The gateway's API-key header.
 * @returns The response, or `null` for any other path or method.
 *
 * @example Serve the index
 * ```ts
 * import { serveDashboard } from "./mod.ts";
 * import assert from "node:assert/strict";
 * const req = new Request("http://gw/");
 * const res = serveDashboard(req, new URL(req.url))!;
 * assert.equal(res.status, 200);
 * assert.equal(res.headers.get("content-type"), "text/html; charset=utf-8");
 * assert.equal(serveDashboard(req, new URL("http://gw/runs")), null);
 * ```
 */
export function serveDashboard(
  req: Request,
  url: URL,
  options: ServeDashboardOptions = {},
): Response | null {
  if (req.method !== "GET" && req.method !== "HEAD") return null;
  let asset = _BY_PATH.get(url.pathname);
  if (asset === undefined) return null;
  const header = options.apiKeyHeader ?? DEFAULT_API_KEY_HEADER;
  if (url.pathname === "/" && header !== DEFAULT_API_KEY_HEADER) asset = _indexFor(asset, header);
  const headers = new Headers({
    "content-type": asset.contentType,
    "cache-control": asset.immutable ? "public, max-age=31536000, immutable" : "no-cache",
    "etag": asset.etag,
    "x-content-type-options": "nosniff",
  });
  if (!asset.immutable) {
    headers.set("content-security-policy", DASHBOARD_CSP);
    headers.set("referrer-policy", "no-referrer");
    headers.set("x-frame-options", "DENY");
  }
  const gzip = asset.body.length > 1024 && _acceptsGzip(req.headers.get("accept-encoding"));
  const gzipEtag = `${asset.etag.slice(0, -1)}.gz"`;
  headers.set("vary", "accept-encoding");
  if (gzip) headers.set("etag", gzipEtag);
  const ifNoneMatch = req.headers.get("if-none-match");
  // Either variant's etag names the same content.
  if (_matches(ifNoneMatch, asset.etag) || _matches(ifNoneMatch, gzipEtag)) {
    headers.delete("content-type");
    return new Response(null, { status: 304, headers });
  }
  if (!gzip) {
    return new Response(req.method === "HEAD" ? null : asset.body, { status: 200, headers });
  }
  headers.set("content-encoding", "gzip");
  const body = req.method === "HEAD"
    ? null
    : new Blob([asset.body]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Response(body, { status: 200, headers });
}

function _acceptsGzip(header: string | null): boolean {
  if (header === null) return false;
  return header.split(",").some((part) => {
    const [coding, ...params] = part.trim().toLowerCase().split(";");
    if (coding !== "gzip" && coding !== "*") return false;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith("q="));
    return q === undefined || Number(q.slice(2)) > 0;
  });
}
