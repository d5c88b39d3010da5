/**
 * A small in-repo load balancer for a pool of runners on loopback: each `POST /v1/upscale` goes to
 * the runner with the fewest requests in flight (ties: round robin), the signal a queue-depth
 * autoscaler also uses. A runner holds at most `maxInflightPerRunner` (its OFTSR_MAX_QUEUE): when
 * every runner is full the dispatcher answers 429 with `Retry-After` itself, as the runner would.
 * Runners join and leave at run time; a leaving runner gets no new work and is reported drained once
 * its in-flight requests are done. For the pool benchmark (bench/pool/run.ts), not for production:
 * there the edge → load balancer → runner Service (infra/k8s) or a queue consumer does this job.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { HEADERS } from '@oftsr/shared';

/** One backend as the dispatcher sees it. */
interface Backend {
  url: string;
  inflight: number;
  draining: boolean;
  served: number;
  onIdle?: () => void;
}

/** A running dispatcher. */
export interface Dispatcher {
  url: string;
  /** Adds a ready runner to the pool. */
  add(url: string): void;
  /** Stops routing to `url`; resolves when its in-flight requests have finished. */
  remove(url: string): Promise<void>;
  /** Runners taking new work, and all requests in flight. */
  stats(): { runners: number; inflight: number; perRunner: Record<string, number> };
  close(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function reply(res: ServerResponse, status: number, code: string, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json', 'retry-after': '1' });
  res.end(JSON.stringify({ error: { code, message } }));
}

/** Starts a dispatcher on 127.0.0.1:`port` (0 = any). */
export async function startDispatcher(options: {
  maxInflightPerRunner: number;
  port?: number;
}): Promise<Dispatcher> {
  const backends: Backend[] = [];
  let turn = 0;

  function pick(): Backend | undefined {
    const open = backends.filter((b) => !b.draining && b.inflight < options.maxInflightPerRunner);
    if (open.length === 0) return undefined;
    const least = Math.min(...open.map((b) => b.inflight));
    const tied = open.filter((b) => b.inflight === least);
    turn = (turn + 1) % tied.length;
    return tied[turn];
  }

  const server: Server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      const backend = pick();
      if (backend === undefined) {
        reply(res, 429, 'overloaded', 'every runner in the pool is full');
        return;
      }
      backend.inflight++;
      try {
        const headers: Record<string, string> = {};
        for (const name of ['authorization', 'content-type', HEADERS.deadlineMs, HEADERS.requestId]) {
          const v = req.headers[name];
          if (typeof v === 'string') headers[name] = v;
        }
        const upstream = await fetch(`${backend.url}${req.url ?? '/'}`, {
          method: req.method,
          headers,
          body,
        });
        const bytes = Buffer.from(await upstream.arrayBuffer());
        const out: Record<string, string> = { 'x-pool-runner': backend.url };
        for (const [k, v] of upstream.headers)
          if (k !== 'content-length' && k !== 'transfer-encoding') out[k] = v;
        res.writeHead(upstream.status, out);
        res.end(bytes);
        backend.served++;
      } catch (err) {
        reply(res, 502, 'upstream', `runner ${backend.url} failed: ${String(err)}`);
      } finally {
        backend.inflight--;
        if (backend.draining && backend.inflight === 0) backend.onIdle?.();
      }
    })();
  });
  await new Promise<void>((r) => server.listen(options.port ?? 0, '127.0.0.1', r));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;

  return {
    url: `http://127.0.0.1:${port}`,
    add(url) {
      backends.push({ url, inflight: 0, draining: false, served: 0 });
    },
    remove(url) {
      const b = backends.find((x) => x.url === url && !x.draining);
      if (b === undefined) return Promise.resolve();
      b.draining = true;
      const gone = (): void => {
        backends.splice(backends.indexOf(b), 1);
      };
      if (b.inflight === 0) {
        gone();
        return Promise.resolve();
      }
      return new Promise<void>((resolve) => {
        b.onIdle = () => {
          gone();
          resolve();
        };
      });
    },
    stats() {
      const live = backends.filter((b) => !b.draining);
      return {
        runners: live.length,
        inflight: backends.reduce((a, b) => a + b.inflight, 0),
        perRunner: Object.fromEntries(backends.map((b) => [b.url, b.served])),
      };
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
