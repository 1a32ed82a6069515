/**
 * `deno task screenshots`: runs the dashboard browser tests with their screenshots going to a
 * temporary folder, then copies them to `docs/images/`. The only way the tracked screenshots
 * change: `deno task test` leaves them alone.
 *
 * Exits 1 when the browser test fails or is skipped (no Chromium), leaving `docs/images/` as it
 * was.
 *
 * @module
 */

const _ROOT = new URL("../../", import.meta.url);
const _IMAGES = new URL("docs/images/", _ROOT);
/** The pages the browser tests photograph (`tests/browser/*_test.ts`). */
const _PAGES = [
  "overview",
  "runs",
  "runs_mobile",
  "run",
  "run_pending",
  "run_timeline",
  "run_wide",
  "submit",
  "workers",
  "dead_letters",
  "schedules",
];

/**
 * Run the browser test into a temporary folder and copy its screenshots to `docs/images/`.
 *
 * @returns The exit code: 0 when every screenshot was copied.
 */
async function main(): Promise<number> {
  const dir = await Deno.makeTempDir({ prefix: "pyoco-screenshots-" });
  try {
    const { code } = await new Deno.Command(Deno.execPath(), {
      args: ["test", "--allow-all", "tests/browser/"],
      cwd: _ROOT,
      env: { PYOCO_SCREENSHOTS_DIR: dir },
      stdin: "null",
      stdout: "inherit",
      stderr: "inherit",
    }).output();
    if (code !== 0) {
      console.error(`The browser tests failed (exit ${code}): docs/images/ is unchanged`);
      return 1;
    }
    const missing = [];
    for (const name of _PAGES) {
      try {
        await Deno.stat(`${dir}/${name}.png`);
      } catch {
        missing.push(name);
      }
    }
    if (missing.length > 0) {
      console.error(
        `No screenshot of ${missing.join(", ")} (was the browser test skipped for want of ` +
          "Chromium?): docs/images/ is unchanged",
      );
      return 1;
    }
    await Deno.mkdir(_IMAGES, { recursive: true });
    for (const name of _PAGES) {
      await Deno.copyFile(`${dir}/${name}.png`, new URL(`${name}.png`, _IMAGES));
    }
    console.log(`Copied ${_PAGES.length} screenshots to docs/images/`);
    return 0;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) Deno.exit(await main());
