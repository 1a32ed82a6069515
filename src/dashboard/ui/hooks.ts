/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * Small Preact hooks shared by the pages: the ticking clock, the auth state, a tab-visibility
 * aware interval, and the hash route.
 *
 * @module
 */

import { useEffect, useState } from "preact/hooks";
import { type ApiError, apiKey, authProblem, onAuthChange } from "./api.ts";

/**
 * The current time, re-rendering every `ms` milliseconds (ages keep counting).
 *
 * @param ms Tick interval.
 * @returns Milliseconds since the epoch.
 */
export function useNow(ms = 1000): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}

/** The stored key, the last auth problem, and a counter that changes when either does. */
export interface AuthState {
  /** The stored key. */
  key: string | null;
  /** The last 401/403. */
  problem: ApiError | null;
  /** Changes on every key or problem change (an effect dependency that reloads data). */
  epoch: number;
}

let _epoch = 0;

/**
 * The auth state, re-rendering on change.
 *
 * @returns The state.
 */
export function useAuth(): AuthState {
  const [state, setState] = useState<AuthState>(() => ({
    key: apiKey(),
    problem: authProblem(),
    epoch: _epoch,
  }));
  useEffect(
    () =>
      onAuthChange(() => {
        const key = apiKey();
        if (key !== state.key) _epoch++;
        setState({ key, problem: authProblem(), epoch: _epoch });
      }),
    [state.key],
  );
  return state;
}

/**
 * Run `fn` now and every `ms` while the tab is visible (no requests from hidden tabs).
 *
 * @param fn The refresh.
 * @param ms Interval.
 * @param deps Restart when these change.
 */
export function usePoll(fn: () => void, ms: number, deps: unknown[]): void {
  useEffect(() => {
    let t: ReturnType<typeof setInterval> | undefined;
    const start = () => {
      clearInterval(t);
      t = setInterval(() => {
        if (document.visibilityState === "visible") fn();
      }, ms);
    };
    const onVisible = () => {
      if (document.visibilityState === "visible") fn();
    };
    fn();
    start();
    document.addEventListener("visibilitychange", onVisible);
    return () => {
      clearInterval(t);
      document.removeEventListener("visibilitychange", onVisible);
    };
  }, deps);
}

/** A parsed hash route: `#/runs/abc?status=FAILED` → `["runs", "abc"]` and the query. */
export interface Route {
  /** Path segments. */
  parts: string[];
  /** Query parameters. */
  query: URLSearchParams;
}

/**
 * Parse a location hash.
 *
 * @param hash `location.hash`.
 * @returns The route.
 */
export function parseRoute(hash: string): Route {
  const text = hash.replace(/^#\/?/, "");
  const [path = "", query = ""] = text.split("?", 2);
  return {
    parts: path.split("/").filter((p) => p !== "").map((p) => decodeURIComponent(p)),
    query: new URLSearchParams(query),
  };
}

/**
 * The current hash route, re-rendering on navigation.
 *
 * @returns The route.
 */
export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const on = () => setRoute(parseRoute(location.hash));
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return route;
}

/**
 * Go to a route.
 *
 * @param path `/runs/abc`.
 * @param query Query parameters (empty values dropped).
 * @param replace Replace the history entry instead of pushing one.
 */
export function navigate(path: string, query: Record<string, string> = {}, replace = false): void {
  const q = new URLSearchParams(Object.entries(query).filter(([, v]) => v !== "")).toString();
  const hash = `#${path}${q ? `?${q}` : ""}`;
  if (location.hash === hash) return;
  if (replace) history.replaceState(null, "", hash);
  else history.pushState(null, "", hash);
  dispatchEvent(new HashChangeEvent("hashchange"));
}
