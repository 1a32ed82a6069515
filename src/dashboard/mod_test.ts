import assert from "node:assert/strict";
import { DASHBOARD_CSP, dashboardAssets, serveDashboard } from "./mod.ts";
import { buildDashboard, minifyCss } from "./build.ts";

function _get(path: string, headers: Record<string, string> = {}, method = "GET") {
  const req = new Request(`http://gw${path}`, { method, headers });
  return serveDashboard(req, new URL(req.url));
}

Deno.test("serveDashboard() serves the index with no-cache, an etag and a strict CSP", async () => {
  const res = _get("/")!;
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "text/html; charset=utf-8");
  assert.equal(res.headers.get("cache-control"), "no-cache");
  assert.equal(res.headers.get("content-security-policy"), DASHBOARD_CSP);
  assert.equal(res.headers.get("x-content-type-options"), "nosniff");
  assert.match(res.headers.get("etag") ?? "", /^"[0-9a-f]{12}"$/);
  const html = await res.text();
  assert.match(html, /<script type="module" src="\/ui\/app\.[0-9a-f]{12}\.js"><\/script>/);
  assert.match(html, /<link rel="stylesheet" href="\/ui\/app\.[0-9a-f]{12}\.css">/);
  assert.doesNotMatch(html, /https?:\/\//, "the index must not load anything from elsewhere");
});

Deno.test("serveDashboard() serves hashed assets as immutable with their content types", async () => {
  const types: Record<string, string> = {
    js: "text/javascript; charset=utf-8",
    css: "text/css; charset=utf-8",
    svg: "image/svg+xml",
  };
  const hashed = dashboardAssets().filter((a) => a.path !== "/");
  assert.deepEqual(hashed.map((a) => a.path.split(".").pop()).sort(), ["css", "js", "svg"]);
  for (const asset of hashed) {
    const res = _get(asset.path)!;
    assert.equal(res.status, 200, asset.path);
    assert.equal(res.headers.get("content-type"), types[asset.path.split(".").pop()!]);
    assert.equal(res.headers.get("cache-control"), "public, max-age=31536000, immutable");
    assert.equal(res.headers.get("etag"), asset.etag);
    assert.equal(res.headers.get("content-security-policy"), null);
    assert.equal(await res.text(), asset.body);
    assert.ok(asset.path.includes(asset.etag.slice(1, -1)), "the name carries the content hash");
  }
});

Deno.test("serveDashboard() answers 304 to a matching If-None-Match and gzips when asked", async () => {
  const js = dashboardAssets().find((a) => a.path.endsWith(".js"))!;
  const cached = _get(js.path, { "if-none-match": js.etag })!;
  assert.equal(cached.status, 304);
  assert.equal(cached.body, null);
  assert.equal(cached.headers.get("etag"), js.etag);
  assert.equal(_get(js.path, { "if-none-match": '"other"' })!.status, 200);

  const gz = _get(js.path, { "accept-encoding": "br, gzip;q=0.8" })!;
  assert.equal(gz.headers.get("content-encoding"), "gzip");
  assert.equal(gz.headers.get("vary"), "accept-encoding");
  assert.equal(gz.headers.get("etag"), `${js.etag.slice(0, -1)}.gz"`);
  const zipped = new Uint8Array(await gz.arrayBuffer());
  assert.ok(zipped.byteLength < js.body.length / 2, `gzip did not shrink: ${zipped.byteLength}`);
  const unzipped = await new Response(
    new Blob([zipped]).stream().pipeThrough(new DecompressionStream("gzip")),
  ).text();
  assert.equal(unzipped, js.body);
  assert.equal(
    _get(js.path, { "accept-encoding": "gzip;q=0" })!.headers.get("content-encoding"),
    null,
  );
  assert.equal(_get(js.path, { "if-none-match": `${js.etag.slice(0, -1)}.gz"` })!.status, 304);
});

Deno.test("serveDashboard() leaves other paths and methods to the gateway", async () => {
  assert.equal(_get("/runs"), null);
  assert.equal(_get("/ui/missing.js"), null);
  assert.equal(_get("/health"), null);
  assert.equal(_get("/", {}, "POST"), null);
  const head = _get("/", {}, "HEAD")!;
  assert.equal(head.status, 200);
  assert.equal(await head.text(), "");
});

Deno.test("minifyCss() drops comments and whitespace only", () => {
  assert.equal(
    minifyCss("/* x */\n.a > .b {\n  color: red;\n  margin: 0 auto;\n}\n"),
    ".a>.b{color:red;margin:0 auto}",
  );
});

Deno.test("_assets.gen.ts is what `deno task dashboard:build` makes of the sources", async () => {
  const { assets } = await buildDashboard();
  const committed = dashboardAssets();
  const hint = "src/dashboard/_assets.gen.ts is stale: run `deno task dashboard:build`";
  assert.deepEqual(committed.map((a) => a.path), assets.map((a) => a.path), hint);
  for (const [i, a] of assets.entries()) {
    assert.equal(committed[i]!.body, a.body, `${a.path}: ${hint}`);
    assert.equal(committed[i]!.etag, a.etag, `${a.path}: ${hint}`);
    assert.equal(committed[i]!.contentType, a.contentType, `${a.path}: ${hint}`);
  }
});

Deno.test("serveDashboard() names the gateway's API-key header in the index page", async () => {
  const req = new Request("http://gw/");
  const url = new URL(req.url);
  const plain = serveDashboard(req, url)!;
  assert.match(await plain.text(), /<meta name="pyoco-api-key-header" content="X-API-Key">/);
  const custom = serveDashboard(req, url, { apiKeyHeader: "X-Pyoco-Key" })!;
  const html = await custom.text();
  assert.match(html, /<meta name="pyoco-api-key-header" content="X-Pyoco-Key">/);
  assert.ok(!html.includes('content="X-API-Key"'));
  assert.notEqual(
    custom.headers.get("etag"),
    plain.headers.get("etag"),
    "another page, another etag",
  );
  const asset = new Request("http://gw" + dashboardAssets()[1]!.path);
  const a = serveDashboard(asset, new URL(asset.url), { apiKeyHeader: "X-Pyoco-Key" })!;
  const b = serveDashboard(asset, new URL(asset.url))!;
  assert.equal(a.headers.get("etag"), b.headers.get("etag"), "other assets are unchanged");
  await a.body?.cancel();
  await b.body?.cancel();
});
