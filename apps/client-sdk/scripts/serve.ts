/**
 * A small static server for the demo and the browser tests: the bundled SDK (`/sdk/`), the models
 * (`/models/`), the demo page (`/`), and `/cloud/*` proxied to a runner or edge (so the page needs no
 * CORS, and a runner token can stay on the server).
 *
 * Usage: node apps/client-sdk/scripts/serve.ts  (env: PORT / DEMO_PORT / OFTSR_DEMO_PORT = 5173,
 * OFTSR_CLOUD_URL + OFTSR_CLOUD_TOKEN for a runner, or OFTSR_EDGE_URL for the edge; OFTSR_DEMO_NO_BUILD=1
 * skips the esbuild step)
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { startStaticServer } from '@oftsr/devkit';

const APP = fileURLToPath(new URL('..', import.meta.url));
const ROOT = join(APP, '../..');

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

/** Starts the server (port 0 = any free port); the static folders are served by the harness (sirv). */
export function startServer(options: ServeOptions = {}): Promise<StaticServer> {
  return startStaticServer({
    mounts: {
      '/sdk/': join(APP, 'dist'),
      '/models/': join(ROOT, 'models'),
      '/samples/': join(ROOT, 'samples'),
      '/demo/': join(APP, 'demo'),
      ...options.mounts,
    },
    ...(options.port === undefined || options.port === 0 ? {} : { port: options.port }),
    ...(options.host === undefined ? {} : { host: options.host }),
    handle: (req, res, url) => {
      if (url.pathname.startsWith('/cloud/')) {
        void proxy(req, res, options, url.pathname.slice('/cloud'.length) + url.search);
        return true;
      }
      if (url.pathname === '/' || url.pathname === '/index.html') {
        req.url = '/demo/index.html';
        return false;
      }
      if (url.pathname === '/config.json') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ cloud: options.cloudUrl ? (options.cloudKind ?? 'runner') : 'none' }));
        return true;
      }
      if (url.pathname === '/blank.html') {
        res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>oftsr test</title>');
        return true;
      }
      return false;
    },
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
