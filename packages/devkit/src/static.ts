/**
 * Static serving on loopback (sirv), for the stack's origin, the SDK's demo page and the browser
 * tests: URL prefixes mapped to folders, each request counted and recorded.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { lookup } from 'mrmime';
import sirv from 'sirv';
import { freePort } from './net.ts';

/** Options of {@link startStaticServer}. */
export interface StaticOptions {
  /** URL prefix (starting and ending with `/`) → folder; the longest matching prefix serves. */
  mounts: Record<string, string>;
  /** Port on `host` (default: a free one). */
  port?: number;
  host?: string;
  /** Answers a request itself (returns true), or rewrites `req.url` (returns false), before the mounts. */
  handle?: (req: IncomingMessage, res: ServerResponse, url: URL) => boolean;
}

/** A running static server. */
export interface StaticServer {
  /** `http://host:port`, without a trailing slash. */
  url: string;
  server: Server;
  /** `METHOD /path` of every request seen, e.g. to assert a cloud was (not) called. */
  readonly requests: string[];
  close(): Promise<void>;
}

/**
 * Serves `mounts` read-only. sirv's dev mode reads the folders live (a rebuilt bundle is served at
 * once) with `no-cache` and an ETag, and refuses paths outside a folder; an extension sirv's MIME
 * table lacks (`.onnx`) is sent as application/octet-stream. No directory listings, no index files.
 */
export async function startStaticServer(options: StaticOptions): Promise<StaticServer> {
  const mounts = Object.entries(options.mounts)
    .sort(([a], [b]) => b.length - a.length)
    .map(([prefix, dir]) => ({
      prefix,
      serve: sirv(dir, {
        dev: true,
        etag: true,
        extensions: [],
        setHeaders: (res, pathname) => {
          if (lookup(pathname) === undefined) res.setHeader('content-type', 'application/octet-stream');
        },
      }),
    }));
  const requests: string[] = [];
  const notFound = (res: ServerResponse): void => {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
  };
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    requests.push(`${req.method} ${url.pathname}`);
    if (options.handle?.(req, res, url) === true) return;
    const { pathname, search } = new URL(req.url ?? '/', 'http://localhost');
    const mount = mounts.find((m) => pathname.startsWith(m.prefix));
    if (mount === undefined || (req.method !== 'GET' && req.method !== 'HEAD')) return notFound(res);
    req.url = `/${pathname.slice(mount.prefix.length)}${search}`;
    mount.serve(req, res, () => notFound(res));
  });
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? (await freePort());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    url: `http://${host}:${port}`,
    server,
    requests,
    close: () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}

/** A read-only static server of one folder (the stack's origin), counting requests. */
export interface Origin {
  /** `http://127.0.0.1:port/`, with the trailing slash (an ORIGIN_URL). */
  url: string;
  server: Server;
  hits(): number;
  close(): Promise<void>;
}

/** Serves `dir` at `/` on 127.0.0.1 (`port` 0 = any free port). */
export async function startOrigin(dir: string, port = 0): Promise<Origin> {
  const s = await startStaticServer({ mounts: { '/': dir }, ...(port === 0 ? {} : { port }) });
  return { url: `${s.url}/`, server: s.server, hits: () => s.requests.length, close: s.close };
}
