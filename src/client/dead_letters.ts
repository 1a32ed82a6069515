/**
 * The dead-letter queue of the gateway (`/dlq` routes **[beyond]**, SPEC §15), reached as
 * `client.deadLetters`: list (each entry with `replayed_as`), read, replay one or many, delete.
 * Web APIs only.
 *
 * @module
 */

import type { DeadLetter, ErrorBody, SubmitResponse } from "../contract/mod.ts";
import type { CallOptions } from "./types.ts";
import { pathSegment as _seg, type Transport } from "./_transport.ts";

/** Filters of {@linkcode DeadLetterClient.list} and {@linkcode DeadLetterClient.replayMany}. */
export interface DeadLetterFilter extends CallOptions {
  /** Only this tag. */
  tag?: string;
  /** Only this reason (`invalid_job`, `flow_not_found`, `execution_error`). */
  reason?: string;
  /** Only this flow. */
  flow?: string;
  /** At most this many (list: 1..1000, default 50; replayMany: 1..100, default 20). */
  limit?: number;
}

/** Options of {@linkcode DeadLetterClient.replayMany}. */
export interface ReplayManyOptions extends DeadLetterFilter {
  /** Replay entries that were replayed before too. @default {false} */
  includeReplayed?: boolean;
}

/** A replay's answer: the new run. */
export interface ReplayResponse extends SubmitResponse {
  /** The dead letter it came from. */
  replayed_from: number;
  /** Every run the entry was replayed as so far, oldest first. */
  replayed_as: string[];
}

/** One entry's answer in {@linkcode DeadLetterClient.replayMany}. */
export type ReplayManyItem =
  | { seq: number; run_id: string; status: string; replayed_from: number }
  | { seq: number; error: ErrorBody };

/** The answer of {@linkcode DeadLetterClient.replayMany}. */
export interface ReplayManyResponse {
  /** One item per entry, in the order they were submitted (oldest first). */
  items: ReplayManyItem[];
  /** How many became runs. */
  replayed: number;
  /** How many failed (see their `error`). */
  failed: number;
  /** Matching entries left out because they were replayed before. */
  skipped_replayed: number;
}

/**
 * The `/dlq` routes of a gateway.
 *
 * @example Replay every failed `orders` run once
 * ```ts ignore
 * const { items } = await client.deadLetters.replayMany({ flow: "orders" });
 * for (const item of items) console.log(item.seq, "error" in item ? item.error.detail : item.run_id);
 * ```
 */
export class DeadLetterClient {
  readonly #http: Transport;

  /**
   * Made by `PyocoClient` (use `client.deadLetters`).
   *
   * @param http The client's transport.
   */
  constructor(http: Transport) {
    this.#http = http;
  }

  /**
   * `GET /dlq`: dead letters, newest first, each with `replayed_as`.
   *
   * @param options Filters and limit.
   * @returns The entries.
   * @throws {PyocoHttpError} 422 for a bad filter; 503 when NATS is down.
   */
  list(options: DeadLetterFilter = {}): Promise<DeadLetter[]> {
    const query = new URLSearchParams();
    for (const k of ["tag", "reason", "flow"] as const) {
      if (options[k] !== undefined) query.set(k, options[k]!);
    }
    if (options.limit !== undefined) query.set("limit", String(options.limit));
    return this.#http.json("GET", "/dlq", { signal: options.signal, query, retryable: true });
  }

  /**
   * `GET /dlq/{seq}`: one dead letter.
   *
   * @param seq Its stream sequence.
   * @param options `signal` to abort.
   * @returns The entry, with `replayed_as`.
   * @throws {PyocoHttpError} 404 (`ERR-PYOCO-0021`) when there is none.
   */
  get(seq: number, options: CallOptions = {}): Promise<DeadLetter> {
    return this.#http.json("GET", `/dlq/${_seg("seq", String(seq))}`, {
      ...options,
      retryable: true,
    });
  }

  /**
   * `POST /dlq/{seq}/replay`: submit the entry's job again as a new run.
   *
   * @param seq Its stream sequence.
   * @param options `signal` to abort.
   * @returns The new run, `replayed_from` and `replayed_as`.
   * @throws {PyocoHttpError} 404 when there is none; 422 when its job cannot be replayed.
   */
  replay(seq: number, options: CallOptions = {}): Promise<ReplayResponse> {
    return this.#http.json("POST", `/dlq/${_seg("seq", String(seq))}/replay`, {
      ...options,
      retryable: false,
    });
  }

  /**
   * `POST /dlq/replay`: replay every entry that matches the filter (entries replayed before
   * only with `includeReplayed`), each answered in its place.
   *
   * @param options Filters, limit, `includeReplayed`, `signal`.
   * @returns The items and counts.
   * @throws {PyocoHttpError} 422 for a bad filter; 503 when NATS is down.
   */
  replayMany(options: ReplayManyOptions = {}): Promise<ReplayManyResponse> {
    const body: Record<string, unknown> = {};
    for (const k of ["tag", "reason", "flow", "limit"] as const) {
      if (options[k] !== undefined) body[k] = options[k];
    }
    if (options.includeReplayed !== undefined) body.include_replayed = options.includeReplayed;
    return this.#http.json("POST", "/dlq/replay", {
      signal: options.signal,
      json: body,
      retryable: false,
    });
  }

  /**
   * `DELETE /dlq/{seq}`: remove the entry (and its replay marks).
   *
   * @param seq Its stream sequence.
   * @param options `signal` to abort.
   * @returns `{ seq, deleted: true }`.
   * @throws {PyocoHttpError} 404 (`ERR-PYOCO-0021`) when there is none.
   */
  delete(seq: number, options: CallOptions = {}): Promise<{ seq: number; deleted: true }> {
    return this.#http.json("DELETE", `/dlq/${_seg("seq", String(seq))}`, {
      ...options,
      retryable: true,
    });
  }
}
