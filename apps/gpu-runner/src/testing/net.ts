/**
 * Loopback helpers for tests: a free port, polling, and a TCP proxy that can stall or cut a
 * connection mid-transfer (to kill a write half-way through, or make S3 vanish).
 */
import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Polls `check` until it returns true, or throws after `timeoutMs`. */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  everyMs = 50,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > until) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A loopback TCP proxy in front of `targetPort`. */
export interface TcpProxy {
  port: number;
  /** Bytes sent from clients towards the target so far. */
  readonly upstreamBytes: number;
  /** Stop forwarding client bytes once this many have passed (connections stay open, stalled). */
  stallAfter(bytes: number): void;
  /** Destroy every open connection and refuse new ones. */
  cut(): void;
  close(): Promise<void>;
}

/** Starts a proxy to 127.0.0.1:`targetPort`. */
export async function startProxy(targetPort: number): Promise<TcpProxy> {
  const { connect } = await import('node:net');
  let forwarded = 0;
  let limit = Infinity;
  let refusing = false;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    const upstream = connect(targetPort, '127.0.0.1');
    sockets.add(client);
    sockets.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.on('data', (chunk: Buffer) => {
      const room = Math.max(0, limit - forwarded);
      const part = chunk.subarray(0, room);
      forwarded += part.length;
      if (part.length > 0) upstream.write(part);
    });
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    port,
    get upstreamBytes() {
      return forwarded;
    },
    stallAfter(bytes) {
      limit = forwarded + bytes;
    },
    cut() {
      refusing = true;
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
    close() {
      refusing = true;
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
