/**
 * A small static server for the demo and the browser tests: the bundled SDK (`/sdk/`), the models
 * (`/models/`), the demo page (`/`), and `/cloud/*` proxied to a runner or edge (so the page needs no
 * CORS, and a runner token can stay on the server).
 *
 * Usage: node apps/client-sdk/scripts/serve.ts  (env: PORT / DEMO_PORT / OFTSR_DEMO_PORT = 5173,
 * OFTSR_CLOUD_URL + OFTSR_CLOUD_TOKEN for a runner, or OFTSR_EDGE_URL for the edge; OFTSR_DEMO_NO_BUILD=1
 * skips the esbuild step)
 */
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';

const APP = fileURLToPath(new URL('..', import.meta.url));
const ROOT = join(APP, '../..');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.map': 'application/json',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.onnx': 'application/octet-stream',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.css': 'text/css',
};

/** Options of {@link startServer}. */
export interface ServeOptions {
  port?: number;
  host?: string;
  /** Runner or edge base URL that `/cloud/*` forwards to. */
  cloudUrl?: string;
  /** What `cloudUrl` is: a runner (POST the image) or the edge (GET by URL); told to the demo page. */
  cloudKind?: 'runner' | 'edge';
  /** Bearer token added to forwarded requests (a runner's `OFTSR_AUTH_TOKENS` entry). */
  cloudToken?: string;
  /** Extra static roots: URL prefix → folder. */
  mounts?: Record<string, string>;
}

/** A running server. */
export interface StaticServer {
  url: string;
  server: Server;
  /** Requests seen, e.g. to assert the cloud was (not) called. */
  readonly requests: string[];
  close(): Promise<void>;
}

function sendFile(res: ServerResponse, root: string, rel: string): void {
  const path = normalize(join(root, rel));
  if (!path.startsWith(root + sep) && path !== root) {
    res.writeHead(403).end();
    return;
  }
  if (!existsSync(path) || !statSync(path).isFile()) {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    return;
  }
  res.writeHead(200, {
    'content-type': TYPES[extname(path)] ?? 'application/octet-stream',
    'content-length': statSync(path).size,
    'cache-control': 'no-cache',
  });
  createReadStream(path).pipe(res);
}

async function proxy(
  req: IncomingMessage,
  res: ServerResponse,
  options: ServeOptions,
  path: string,
): Promise<void> {
  if (!options.cloudUrl) {
    res.writeHead(503, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({ error: { code: 'unavailable', message: 'no cloud configured (OFTSR_CLOUD_URL)' } }),
    );
    return;
  }
  const headers = new Headers();
  for (const [k, v] of Object.entries(req.headers)) {
    if (typeof v === 'string' && !['host', 'connection', 'content-length'].includes(k)) headers.set(k, v);
  }
  if (options.cloudToken) headers.set('authorization', `Bearer ${options.cloudToken}`);
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
  const body = hasBody ? Buffer.concat(await Array.fromAsync(req as AsyncIterable<Buffer>)) : undefined;
  try {
    const upstream = await fetch(options.cloudUrl.replace(/\/$/, '') + path, {
      method: req.method ?? 'GET',
      headers,
      ...(body ? { body } : {}),
    });
    const out: Record<string, string> = {};
    upstream.headers.forEach((v, k) => {
      if (!['content-encoding', 'transfer-encoding', 'connection'].includes(k)) out[k] = v;
    });
    res.writeHead(upstream.status, out);
    if (upstream.body) Readable.fromWeb(upstream.body as never).pipe(res);
    else res.end();
  } catch (err) {
    res.writeHead(502, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { code: 'upstream', message: `cloud unreachable: ${String(err)}` } }));
  }
}

/** Starts the server (port 0 = any free port). */
export function startServer(options: ServeOptions = {}): Promise<StaticServer> {
  const requests: string[] = [];
  const mounts: Record<string, string> = {
    '/sdk/': join(APP, 'dist'),
    '/models/': join(ROOT, 'models'),
    '/samples/': join(ROOT, 'samples'),
    '/demo/': join(APP, 'demo'),
    ...options.mounts,
  };
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    requests.push(`${req.method} ${url.pathname}`);
    if (url.pathname.startsWith('/cloud/')) {
      void proxy(req, res, options, url.pathname.slice('/cloud'.length) + url.search);
      return;
    }
    if (url.pathname === '/' || url.pathname === '/index.html')
      return sendFile(res, join(APP, 'demo'), 'index.html');
    if (url.pathname === '/config.json') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ cloud: options.cloudUrl ? (options.cloudKind ?? 'runner') : 'none' }));
      return;
    }
    if (url.pathname === '/blank.html') {
      res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>oftsr test</title>');
      return;
    }
    for (const [prefix, root] of Object.entries(mounts)) {
      if (url.pathname.startsWith(prefix))
        return sendFile(res, root, decodeURIComponent(url.pathname.slice(prefix.length)));
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
  });
  const host = options.host ?? '127.0.0.1';
  return new Promise((resolve) => {
    server.listen(options.port ?? 0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      resolve({
        url: `http://${host}:${port}`,
        server,
        requests,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  if (process.env.OFTSR_DEMO_NO_BUILD !== '1') {
    const { buildSdk } = await import('./build.ts');
    await buildSdk();
  }
  const env = process.env;
  const cloudUrl = env.OFTSR_CLOUD_URL ?? env.OFTSR_EDGE_URL;
  const s = await startServer({
    port: Number(env.OFTSR_DEMO_PORT ?? env.DEMO_PORT ?? env.PORT ?? 5173),
    host: env.HOST ?? '127.0.0.1',
    ...(cloudUrl ? { cloudUrl, cloudKind: env.OFTSR_CLOUD_URL ? 'runner' : 'edge' } : {}),
    ...(env.OFTSR_CLOUD_TOKEN ? { cloudToken: env.OFTSR_CLOUD_TOKEN } : {}),
  });
  console.log(
    `oftsr demo: ${s.url}/  (cloud: ${cloudUrl ?? 'none; set OFTSR_CLOUD_URL (runner) or OFTSR_EDGE_URL'})`,
  );
}
