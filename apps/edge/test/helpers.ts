import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { vi } from 'vitest';
import { HEADERS } from '@oftsr/shared';
import app from '../src/index.ts';
import type { Bindings } from '../src/bindings.ts';

const fixtures = JSON.parse(env.TEST_FIXTURES) as Record<string, string>;

/** A source image's bytes: the samples/ PNGs and test/fixtures/ re-encodings. */
export function fixture(name: string): Uint8Array {
  const b64 = fixtures[name];
  if (b64 === undefined) throw new Error(`no fixture ${name}`);
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

/** The model version the tests configure (read from models/oftsr-student-x4.json). */
export const MODEL_VERSION = env.MODEL_VERSION;

/** One recorded outbound call. */
export interface Call {
  url: URL;
  method: string;
  headers: Headers;
  body: Uint8Array;
}

/** A handler for one host of the outbound fetch mock. */
export type HostHandler = (req: Request, url: URL) => Response | Promise<Response>;

/** What the fake runner answers: bytes derived from the query, so equal params give equal bytes. */
export function fakeRunner(
  options: { modelVersion?: string; delayMs?: number; status?: number; code?: string } = {},
): HostHandler {
  return async (req, url) => {
    if (options.delayMs !== undefined) {
      await new Promise((r) => setTimeout(r, options.delayMs));
    }
    if (options.status !== undefined && options.status !== 200) {
      const code = options.code ?? 'internal';
      return Response.json({ error: { code, message: 'boom' } }, { status: options.status });
    }
    const format = url.searchParams.get('format') ?? 'png';
    const input = new Uint8Array(await req.arrayBuffer());
    const body = new TextEncoder().encode(`UPSCALED ${url.search} from ${input.length} bytes`);
    return new Response(body, {
      headers: {
        'content-type': `image/${format}`,
        'content-length': String(body.length),
        [HEADERS.modelVersion]: options.modelVersion ?? MODEL_VERSION,
        [HEADERS.executionProvider]: 'cpu',
      },
    });
  };
}

/** An origin serving fixtures by file name under /images/. */
export function fakeOrigin(files: Record<string, Uint8Array | (() => Response)>): HostHandler {
  return (_req, url) => {
    const name = decodeURIComponent(url.pathname.split('/').pop() ?? '');
    // Own keys only: a path like `/valueOf` must be a 404, not Object.prototype.valueOf.
    if (!Object.hasOwn(files, name)) return new Response('not found', { status: 404 });
    const file = files[name];
    if (file === undefined) return new Response('not found', { status: 404 });
    if (typeof file === 'function') return file();
    return new Response(file, { headers: { 'content-type': 'application/octet-stream' } });
  };
}

/**
 * Mocks outbound `fetch` by host (the Worker runs in the test's isolate, so the spy sees its
 * calls). Unknown hosts fail like an unreachable network. Returns the calls per host.
 */
export function mockFetch(hosts: Record<string, HostHandler>): Record<string, Call[]> {
  const calls: Record<string, Call[]> = {};
  vi.spyOn(globalThis, 'fetch').mockImplementation(async (input: RequestInfo | URL, init?: RequestInit) => {
    const req = new Request(input, init);
    const url = new URL(req.url);
    const body = new Uint8Array(await req.clone().arrayBuffer());
    (calls[url.host] ??= []).push({ url, method: req.method, headers: req.headers, body });
    const handler = Object.hasOwn(hosts, url.host) ? hosts[url.host] : undefined;
    if (handler === undefined) throw new TypeError(`network error: ${url.host} unreachable`);
    if (init?.signal?.aborted) throw init.signal.reason;
    const answer = handler(req, url);
    if (init?.signal === undefined || init.signal === null) return answer;
    const signal = init.signal;
    return Promise.race([
      answer,
      new Promise<Response>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))),
    ]);
  });
  return calls;
}

/** Calls the Worker in-process with `overrides` on top of the test env, and waits for `waitUntil`s. */
export async function call(
  path: string,
  init: RequestInit & { env?: Partial<Record<keyof Bindings, unknown>>; wait?: boolean } = {},
): Promise<Response> {
  const ctx = createExecutionContext();
  const request = new Request(new URL(path, 'https://img.example.com'), init);
  const bindings = { ...env, ...init.env } as unknown as Bindings;
  const response = await app.fetch(request, bindings, ctx);
  if (init.wait !== false) {
    const bytes = await response.arrayBuffer();
    await waitOnExecutionContext(ctx);
    return new Response(request.method === 'HEAD' || response.status === 304 ? null : bytes, response);
  }
  return response;
}

/** A unique path per test so cached outputs never leak between tests. */
export function uniquePath(name: string): string {
  return `/${crypto.randomUUID()}/${name}`;
}
