/**
 * Shared setup of the auth tests: a real nats-server, a connection and a fresh auth bucket.
 *
 * @module
 */

import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/nats-core";
import { type KV, Kvm } from "@nats-io/kv";
import { type NatsServerHandle, startNatsServer } from "../_helpers/nats_server.ts";

/** A server, a connection and a bucket, disposed together. */
export interface AuthFixture {
  srv: NatsServerHandle;
  nc: NatsConnection;
  kv: KV;
  /** Open another connection (and bucket handle) to the same server. */
  other(): Promise<{ nc: NatsConnection; kv: KV }>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Start a server and create the bucket `pyoco_auth_test_x` (history 1). */
export async function authFixture(bucket = "pyoco_auth_test_x"): Promise<AuthFixture> {
  const srv = await startNatsServer();
  const conns: NatsConnection[] = [];
  const open = async () => {
    const nc = await connect({
      servers: srv.url,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 100,
    });
    conns.push(nc);
    const kv = await new Kvm(nc).create(bucket, { history: 1 });
    return { nc, kv };
  };
  try {
    const { nc, kv } = await open();
    return {
      srv,
      nc,
      kv,
      other: open,
      [Symbol.asyncDispose]: async () => {
        for (const c of conns) await c.close().catch(() => {});
        await srv.stop();
      },
    };
  } catch (err) {
    await srv.stop();
    throw err;
  }
}
