/**
 * Loopback networking for the harness: free ports (get-port), polling, and a TCP proxy that can
 * stall or cut a connection mid-transfer (to kill a write half-way through, or make S3 vanish).
 */
import { connect, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import getPort from 'get-port';
import type { Child } from './processes.ts';

/** A port that was free a moment ago on 127.0.0.1 (get-port also never hands out one twice in a row). */
export function freePort(): Promise<number> {
  return getPort({ host: '127.0.0.1' });
}

/** `preferred` when it is free on 127.0.0.1, else any free port. */
export function portOr(preferred: number | undefined): Promise<number> {
  if (preferred === undefined || preferred === 0) return freePort();
  return getPort({ host: '127.0.0.1', port: preferred });
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

/** Polls `url` every 100 ms until it answers `status` (or `timeoutMs` passes, or `child` dies). */
export async function waitForUrl(url: string, timeoutMs: number, child?: Child, status = 200): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const proc = child?.proc;
    if (proc !== undefined && (proc.exitCode !== null || proc.signalCode !== null)) {
      throw new Error(
        `process exited (${proc.exitCode ?? proc.signalCode}) before ${url} was ready:\n${child?.log() ?? ''}`,
      );
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      await res.arrayBuffer();
      if (res.status === status) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${url}:\n${child?.log() ?? ''}`);
    await new Promise((r) => setTimeout(r, 100));
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
