/// <reference lib="dom" />
/**
 * What every browser test shares: where Chromium is (and the skip when it is not), one launch
 * with the flags a container needs, the stack's API called with the key, a page that already
 * holds the key, screenshots into a temporary folder (or `PYOCO_SCREENSHOTS_DIR`), and small
 * waits on the run page.
 *
 * @module
 */

import assert from "node:assert/strict";
import { type Browser, chromium, type Page } from "playwright-core";
import { type Stack, type StackOptions, startStack } from "./_stack.ts";

/** The Chromium binary (`PYOCO_CHROMIUM_BIN`, else Debian's). */
export const CHROMIUM: string = Deno.env.get("PYOCO_CHROMIUM_BIN") ?? "/usr/bin/chromium";
/** Where the screenshots go: a folder that `deno task screenshots` names, or "" (a temp one). */
export const SHOTS_DIR: string = Deno.env.get("PYOCO_SCREENSHOTS_DIR") ?? "";
/** Playwright wait options of every step. */
export const WAIT = { timeout: 20_000 } as const;

function _hasChromium(): boolean {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
}

/** `true` when Chromium is missing: the browser tests are skipped (with a message). */
export const SKIP: boolean = !_hasChromium();
if (SKIP) {
  console.warn(
    `tests/browser: SKIPPED, no Chromium at ${CHROMIUM} (apt-get install -y chromium, or set ` +
      "PYOCO_CHROMIUM_BIN)",
  );
}

/** An answer of the stack's API: status and parsed body (`null` when not JSON). */
export interface ApiAnswer<T> {
  /** HTTP status. */
  status: number;
  /** The parsed JSON body. */
  body: T;
}

/**
 * Call the stack's API with the key (acme's, unless `init` names another); any status is
 * returned.
 *
 * @param stack The stack.
 * @param path Path and query.
 * @param init Method and body.
 * @returns Status and body.
 */
export async function apiRaw<T>(
  stack: Stack,
  path: string,
  init: RequestInit = {},
): Promise<ApiAnswer<T>> {
  const headers = new Headers(init.headers);
  if (!headers.has("X-API-Key")) headers.set("X-API-Key", stack.apiKey);
  if (init.body) headers.set("content-type", "application/json");
  const res = await fetch(`${stack.url}${path}`, { ...init, headers });
  const text = await res.text();
  let body: unknown = null;
  try {
    body = JSON.parse(text);
  } catch { /* not JSON */ }
  return { status: res.status, body: body as T };
}

/**
 * Call the stack's API with the key and fail on a non-2xx answer.
 *
 * @param stack The stack.
 * @param path Path and query.
 * @param init Method and body.
 * @returns The parsed body.
 */
export async function api<T>(stack: Stack, path: string, init: RequestInit = {}): Promise<T> {
  const { status, body } = await apiRaw<T>(stack, path, init);
  assert.ok(
    status >= 200 && status < 300,
    `${init.method ?? "GET"} ${path} answered ${status}: ${JSON.stringify(body)}`,
  );
  return body;
}

/**
 * Submit a run by flow name.
 *
 * @param stack The stack.
 * @param body The `POST /runs` body.
 * @returns The run id.
 */
export async function submit(stack: Stack, body: Record<string, unknown>): Promise<string> {
  return (await api<{ run_id: string }>(stack, "/runs", {
    method: "POST",
    body: JSON.stringify(body),
  })).run_id;
}

/**
 * Save a screenshot of the page (without a focus ring).
 *
 * @param page The page.
 * @param dir The folder.
 * @param name The file name without `.png`.
 */
export async function shot(page: Page, dir: string, name: string): Promise<void> {
  await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
  await page.screenshot({ path: `${dir}/${name}.png` });
}

/**
 * The run id of the run page the browser is on.
 *
 * @param page The page.
 * @returns The id.
 */
export function runIdOf(page: Page): string {
  const m = /#\/runs\/([\w-]+)$/.exec(page.url());
  assert.ok(m, `not on a run page: ${page.url()}`);
  return m[1]!;
}

/**
 * Wait until the graph has `count` boxes, all in `state`.
 *
 * @param page The page.
 * @param count Boxes.
 * @param state Their state.
 */
export async function allNodes(page: Page, count: number, state: string): Promise<void> {
  await page.waitForFunction(
    ([n, s]) => {
      const nodes = [...document.querySelectorAll(".dag-node")];
      return nodes.length === n && nodes.every((e) => e.getAttribute("data-state") === s);
    },
    [count, state] as const,
    WAIT,
  );
}

/**
 * Wait for the run page's status chip to say `status`.
 *
 * @param page The page.
 * @param status The run status.
 */
export async function runStatus(page: Page, status: string): Promise<void> {
  await page.locator(`.page-head .chip[data-status="${status}"]`).waitFor(WAIT);
}

/** What a browser test body gets. */
export interface BrowserRun {
  /** The stack. */
  stack: Stack;
  /** A page at 1280×800 that already holds the API key. */
  page: Page;
  /** The screenshot folder. */
  shots: string;
  /** Run one step; a failed step ends the test (later ones build on it). */
  step: (name: string, fn: () => Promise<void>) => Promise<void>;
}

/** Options of {@linkcode withBrowser}. */
export interface WithBrowserOptions {
  /**
   * Put the stack's key in the tab's session storage before the first page load.
   *
   * @default {true}
   */
  withKey?: boolean;
  /** How the stack is started (isolation mode, tenants). @default {{}} */
  stack?: StackOptions;
}

/**
 * Start a stack and Chromium, give the page the key, run `body`, and check that the page threw
 * nothing. Screenshots go to a temporary folder removed when the test passes (kept and named
 * in the output when it fails), or to `PYOCO_SCREENSHOTS_DIR`.
 *
 * @param t The test context.
 * @param body The steps.
 * @param options Whether the page starts with the key, and how the stack is started.
 */
export async function withBrowser(
  t: Deno.TestContext,
  body: (run: BrowserRun) => Promise<void>,
  options: WithBrowserOptions = {},
): Promise<void> {
  const shots = SHOTS_DIR || await Deno.makeTempDir({ prefix: "pyoco-screenshots-" });
  await Deno.mkdir(shots, { recursive: true });
  let passed = false;
  await using stack = await startStack(options.stack);
  let browser: Browser | null = null;
  try {
    browser = await launchChromium();
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    if (options.withKey ?? true) {
      await context.addInitScript((key) => {
        if (sessionStorage.getItem("pyoco.apiKey") === null) {
          sessionStorage.setItem("pyoco.apiKey", key);
        }
      }, stack.apiKey);
    }
    const page = await context.newPage();
    const pageErrors: string[] = [];
    page.on("pageerror", (err) => pageErrors.push(err.message));
    const step = async (name: string, fn: () => Promise<void>) => {
      if (!(await t.step(name, fn))) throw new Error(`Step failed: ${name}`);
    };
    await body({ stack, page, shots, step });
    assert.deepEqual(pageErrors, [], "the page threw");
    passed = true;
  } catch (err) {
    console.error(stack.logs().slice(-4000));
    console.error(`tests/browser: screenshots so far are in ${shots}`);
    throw err;
  } finally {
    await browser?.close();
    if (passed && !SHOTS_DIR) await Deno.remove(shots, { recursive: true });
  }
}

/**
 * Launch headless Chromium with the flags a container needs.
 *
 * @returns The browser.
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}
