/**
 * Value parsers of the configuration table: each turns the raw text of one variable into its
 * typed value or throws a {@linkcode ConfigError} that names the variable, the value and what is
 * allowed. Private to `src/config/`.
 *
 * @module
 */

import { TAG_PATTERN } from "../contract/wire.ts";
import { ConfigError } from "./errors.ts";

export type _Parser<T> = (raw: string, name: string) => T;

export function _fail(name: string, raw: string, allowed: string, secret = false): never {
  const shown = secret ? "<hidden>" : JSON.stringify(raw);
  throw new ConfigError(name, `Invalid ${name}=${shown}: expected ${allowed}`);
}

export function _int(min: number, max = Number.MAX_SAFE_INTEGER): _Parser<number> {
  return (raw, name) => {
    const n = Number(raw.trim());
    if (!/^-?\d+$/.test(raw.trim()) || n < min || n > max) {
      _fail(name, raw, `an integer from ${min} to ${max}`);
    }
    return n;
  };
}

export function _seconds(min: number, max = 31_536_000): _Parser<number> {
  return (raw, name) => {
    const n = Number(raw.trim());
    if (raw.trim() === "" || !Number.isFinite(n) || n < min || n > max) {
      _fail(name, raw, `a number of seconds from ${min} to ${max}`);
    }
    return n;
  };
}

export const _bool: _Parser<boolean> = (raw, name) => {
  const v = raw.trim().toLowerCase();
  if (["1", "true", "yes", "on"].includes(v)) return true;
  if (["0", "false", "no", "off"].includes(v)) return false;
  return _fail(name, raw, "one of true, false, 1, 0, yes, no, on, off");
};

export function _oneOf<T extends string>(values: readonly T[], upper = false): _Parser<T> {
  return (raw, name) => {
    const v = upper ? raw.trim().toUpperCase() : raw.trim().toLowerCase();
    if (!(values as readonly string[]).includes(v)) _fail(name, raw, `one of ${values.join(", ")}`);
    return v as T;
  };
}

export function _optionalSeconds(min: number): _Parser<number | null> {
  const parse = _seconds(min);
  return (raw, name) => raw.trim() === "" ? null : parse(raw, name);
}

export const _str: _Parser<string> = (raw) => raw;
export const _optional: _Parser<string | null> = (raw) => raw === "" ? null : raw;

export const _NAME = /^[A-Za-z0-9_-]{1,128}$/;
export const _name: _Parser<string> = (raw, name) => {
  if (!_NAME.test(raw)) {
    _fail(name, raw, "a name of letters, digits, _ and - (1 to 128 characters)");
  }
  return raw;
};

export const _SUBJECT_PREFIX = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
export const _subjectPrefix: _Parser<string> = (raw, name) => {
  if (!_SUBJECT_PREFIX.test(raw)) {
    _fail(name, raw, "dot-separated tokens of letters, digits, _ and - (no *, > or spaces)");
  }
  return raw;
};

export const _tag: _Parser<string> = (raw, name) => {
  if (!TAG_PATTERN.test(raw)) _fail(name, raw, "a tag of 1 to 64 letters, digits, _ or -");
  return raw;
};

export const _urls: _Parser<string[]> = (raw, name) => {
  const urls = raw.split(",").map((s) => s.trim()).filter((s) => s !== "");
  if (urls.length === 0) _fail(name, raw, "one or more comma-separated NATS URLs");
  for (const url of urls) {
    if (!/^(nats|tls|ws|wss):\/\/[^\s]+$|^[^\s:/]+(:\d+)?$/.test(url)) {
      // Never echo credentials that may be embedded in the URL.
      _fail(name, url.replace(/\/\/[^@/]*@/, "//<credentials>@"), "nats://host:port[,…]");
    }
  }
  return urls;
};

export const _header: _Parser<string> = (raw, name) => {
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(raw)) _fail(name, raw, "an HTTP header name");
  return raw;
};
