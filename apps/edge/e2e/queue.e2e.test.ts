// The edge's deadline and its work queue under `wrangler dev` (real workerd, miniflare's Queues
// with the consumer and dead-letter queue of wrangler.toml's dev env, R2) with the real CPU runner.
// Between the edge and the runner sits a pass-through proxy of this test: it counts the runner
// calls per URL and, for chosen `t` values, slows an answer (so a miss outlasts the edge's wait),
// cuts one off half-way (a crash mid-job) or answers 503 (a message that can never succeed).
// Past the wait the edge's own runner call goes on in the background; its work message is
// delivered once that call is over (RUNNER_TIMEOUT_MS + 2 s after it started), as a safety net.
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sniffImage } from '../src/image-size.ts';
import {
  cleanup,
  CPU_RUNNER_ENV,
  freePort,
  MODEL_VERSION,
  ROOT,
  RUNNER_ENTRY,
  startOrigin,
  startRunnerAndEdge,
  stop,
  type Edge,
  type Runner,
} from '@oftsr/devkit';

const skip = !existsSync(RUNNER_ENTRY) || process.env.OFTSR_SKIP_E2E === '1';
if (skip) {
  console.warn(
    existsSync(RUNNER_ENTRY)
      ? 'edge queue e2e skipped: OFTSR_SKIP_E2E=1'
      : `edge queue e2e skipped: ${RUNNER_ENTRY} does not exist`,
  );
}

const WAIT_MS = 400;
/** The runner's budget at the edge: also when a background call's safety-net message arrives. */
const RUNNER_TIMEOUT_MS = 6_000;
const OPERATOR_TOKEN = 'e2e-operator-token-queue-0123456789';
const SLOW_MS = 1_500;
const SAMPLE = 'landscape-192x128.png';

/** What the proxy saw of one runner call. */
interface RunnerCall {
  t: string;
  status: number | 'cut' | 'aborted';
  /** The edge's work state of the key at the moment a retry arrived (set by `onCall`). */
  seenState?: string;
}

interface Behaviour {
  /** Delay before forwarding, ms. */
  delayMs?: number;
  /** Cut the answer of call number n (1-based) half-way. */
  cutCall?: number;
  /** Answer 503 without asking the runner. */
  fail?: boolean;
  /** Runs before a call is forwarded (e.g. to look at the edge's state). */
  onCall?: (n: number, call: RunnerCall) => Promise<void>;
}

async function startRunnerProxy(
  runnerUrl: string,
  behaviours: Map<string, Behaviour>,
): Promise<{ url: string; server: Server; calls: RunnerCall[] }> {
  const calls: RunnerCall[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const url = new URL(req.url ?? '/', 'http://proxy');
        const t = url.searchParams.get('t') ?? '';
        const behaviour = behaviours.get(t) ?? {};
        const call: RunnerCall = { t, status: 'aborted' };
        calls.push(call);
        const n = calls.filter((c) => c.t === t).length;
        let gone = false;
        res.on('close', () => {
          gone = !res.writableFinished;
        });
        await behaviour.onCall?.(n, call);
        if (behaviour.delayMs !== undefined) await new Promise((r) => setTimeout(r, behaviour.delayMs));
        if (gone) return;
        if (behaviour.fail === true) {
          call.status = 503;
          res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '0' });
          res.end(JSON.stringify({ error: { code: 'unavailable', message: 'proxy: failing on purpose' } }));
          return;
        }
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
        delete headers['host'];
        delete headers['content-length'];
        const answer = await fetch(`${runnerUrl}${req.url ?? '/'}`, {
          method: req.method ?? 'POST',
          headers,
          body: Buffer.concat(chunks),
        });
        const body = Buffer.from(await answer.arrayBuffer());
        if (gone) return;
        const out: Record<string, string> = {};
        answer.headers.forEach((v, k) => {
          out[k] = v;
        });
        out['content-length'] = String(body.length);
        res.writeHead(answer.status, out);
        if (behaviour.cutCall === n) {
          call.status = 'cut';
          res.write(body.subarray(0, body.length >> 1));
          setTimeout(() => res.destroy(), 50);
          return;
        }
        call.status = answer.status;
        res.end(body);
      })().catch(() => res.destroy());
    });
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${port}`, server, calls };
}

describe.skipIf(skip)('deadline + work queue under wrangler dev (real runner)', () => {
  let origin: Awaited<ReturnType<typeof startOrigin>> | undefined;
  let runner: Runner | undefined;
  let proxy: Awaited<ReturnType<typeof startRunnerProxy>> | undefined;
  let edge: Edge | undefined;
  const behaviours = new Map<string, Behaviour>();
  const original = readFileSync(join(ROOT, 'samples', SAMPLE));
  const auth = { authorization: `Bearer ${OPERATOR_TOKEN}` };

  beforeAll(async () => {
    origin = await startOrigin(join(ROOT, 'samples'));
    const runnerPort = await freePort();
    proxy = await startRunnerProxy(`http://127.0.0.1:${runnerPort}`, behaviours);
    ({ runner, edge } = await startRunnerAndEdge({
      runner: { port: runnerPort, env: CPU_RUNNER_ENV },
      edge: {
        originUrl: origin.url,
        runnerUrl: proxy.url,
        logLevel: 'log', // the consumer's JSON events (`work_done_already`) in edge.log()
        vars: {
          EDGE_WAIT_MS: String(WAIT_MS),
          RUNNER_TIMEOUT_MS: String(RUNNER_TIMEOUT_MS),
          WORK_RETRY_BASE_S: '0',
          PURGE_TOKEN: OPERATOR_TOKEN,
        },
      },
    }));
  }, 240_000);

  afterAll(async () => {
    await Promise.all([stop(edge?.proc), stop(runner?.proc)]);
    proxy?.server.close();
    await origin?.close();
    cleanup(edge?.persistDir);
  }, 30_000);

  const callsFor = (t: string) => proxy?.calls.filter((c) => c.t === t) ?? [];

  async function keyOf(query: string, accept = '*/*'): Promise<{ state: string; key: string }> {
    const res = await fetch(`${edge?.url}/_oftsr/prewarm`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ path: `/${SAMPLE}`, query, accept }),
    });
    expect(res.status, edge?.log()).toBeLessThan(300);
    return (await res.json()) as { state: string; key: string };
  }

  async function stateOf(key: string): Promise<{ state: string; reason?: string }> {
    const res = await fetch(`${edge?.url}/_oftsr/work?key=${key}`, { headers: auth });
    return (await res.json()) as { state: string; reason?: string };
  }

  /** Waits until the edge logged `event` for `key` (the consumer's JSON log lines). */
  async function logged(
    event: string,
    key: string,
    timeoutMs = RUNNER_TIMEOUT_MS + 15_000,
  ): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    const line = new RegExp(`"event":"${event}"[^\\n]*"key":"${key}"`);
    for (;;) {
      if (line.test(edge?.log() ?? '')) return true;
      if (Date.now() > end) return false;
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  async function until(
    key: string,
    states: string[],
    timeoutMs = 30_000,
  ): Promise<{ state: string; reason?: string }> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const s = await stateOf(key);
      if (states.includes(s.state) || Date.now() > end) return s;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  it('a miss slower than the wait: the original within the wait, stored by its own call (one runner call), then a hit with X-Model-Version', async () => {
    behaviours.set('0.7', { delayMs: SLOW_MS });
    const url = `${edge?.url}/${SAMPLE}?sr=4&t=0.7`;
    const started = performance.now();
    const first = await fetch(url);
    const elapsed = performance.now() - started;
    const bytes = Buffer.from(await first.arrayBuffer());
    expect(first.status, edge?.log()).toBe(200);
    expect(first.headers.get('x-oftsr-cache')).toBe('pending');
    expect(first.headers.get('cache-control')).toBe('no-store');
    expect(bytes.equals(original)).toBe(true);
    expect(elapsed).toBeLessThan(WAIT_MS + 600);

    // The work is in flight (not started again by this call), then stored by the edge's own call.
    const { state, key } = await keyOf('sr=4&t=0.7');
    expect(state).toBe('pending');
    expect((await until(key, ['done'])).state, edge?.log()).toBe('done');
    expect(performance.now() - started).toBeLessThan(RUNNER_TIMEOUT_MS);
    expect(callsFor('0.7').map((c) => c.status)).toEqual([200]);

    const hit = await fetch(url);
    const out = new Uint8Array(await hit.arrayBuffer());
    expect(hit.headers.get('x-oftsr-cache')).toBe('hit');
    expect(hit.headers.get('x-model-version')).toBe(MODEL_VERSION);
    expect(hit.headers.get('etag')).toBe(`"${key}"`);
    expect(sniffImage(out)).toEqual({ status: 'ok', format: 'png', width: 768, height: 512 });
    // The delayed work message (the safety net) finds the key stored: acked, no second call.
    expect(await logged('work_done_already', key), edge?.log()).toBe(true);
    expect(callsFor('0.7').map((c) => c.status)).toEqual([200]);
  }, 60_000);

  it('two concurrent misses make one runner call, within the wait and past it', async () => {
    // Within the wait: one miss, one hit from R2, one runner call.
    const fast = `${edge?.url}/${SAMPLE}?sr=2&t=0.6&wait=20000`;
    const both = await Promise.all([fetch(fast), fetch(fast)]);
    await Promise.all(both.map((r) => r.arrayBuffer()));
    expect(both.map((r) => r.headers.get('x-oftsr-cache')).sort()).toEqual(['hit', 'miss']);
    expect(callsFor('0.6')).toHaveLength(1);

    // Past the wait: both answer the original; the runner is asked once, by the edge that holds the
    // key, and a third request (the operator's) finds the work in flight.
    behaviours.set('0.55', { delayMs: SLOW_MS });
    const slow = `${edge?.url}/${SAMPLE}?sr=2&t=0.55`;
    const pending = await Promise.all([fetch(slow), fetch(slow)]);
    await Promise.all(pending.map((r) => r.arrayBuffer()));
    expect(pending.map((r) => r.headers.get('x-oftsr-cache'))).toEqual(['pending', 'pending']);
    const { state, key } = await keyOf('sr=2&t=0.55');
    expect(state).toBe('pending');
    expect((await until(key, ['done'])).state).toBe('done');
    expect(await logged('work_done_already', key), edge?.log()).toBe(true);
    expect(callsFor('0.55').map((c) => c.status)).toEqual([200]);
  }, 60_000);

  it('a background call cut off stores nothing; the delayed message makes the consumer do it', async () => {
    let key = '';
    behaviours.set('0.65', {
      delayMs: SLOW_MS,
      cutCall: 1,
      onCall: async (n, call) => {
        if (n === 2) call.seenState = (await stateOf(key)).state;
      },
    });
    const view = await fetch(`${edge?.url}/${SAMPLE}?sr=4&t=0.65`, { headers: { accept: 'image/png' } });
    await view.arrayBuffer();
    expect(view.headers.get('x-oftsr-cache')).toBe('pending');
    const inFlight = await keyOf('sr=4&t=0.65', 'image/png'); // the edge's call is still running
    expect(inFlight.state).toBe('pending');
    key = inFlight.key;
    expect((await until(key, ['done'], RUNNER_TIMEOUT_MS + 20_000)).state, edge?.log()).toBe('done');
    const calls = callsFor('0.65');
    expect(calls.map((c) => c.status)).toEqual(['cut', 200]);
    expect(calls[1]?.seenState).toBe('pending'); // no object was left by the cut call
  }, 60_000);

  it('a consumer cut off mid-job stores nothing, and the message is retried to completion', async () => {
    let key = '';
    behaviours.set('0.85', {
      cutCall: 1,
      onCall: async (n, call) => {
        if (n === 2) call.seenState = (await stateOf(key)).state;
      },
    });
    const queued = await keyOf('sr=4&t=0.85', 'image/png');
    key = queued.key;
    expect(queued.state).toBe('queued');
    expect((await until(key, ['done'])).state, edge?.log()).toBe('done');
    const calls = callsFor('0.85');
    expect(calls.map((c) => c.status)).toEqual(['cut', 200]);
    // When the retry arrived, the cut attempt had left no object behind.
    expect(calls[1]?.seenState).toBe('pending');
    const hit = await fetch(`${edge?.url}/${SAMPLE}?sr=4&t=0.85`, { headers: { accept: 'image/png' } });
    const out = new Uint8Array(await hit.arrayBuffer());
    expect(hit.headers.get('x-oftsr-cache')).toBe('hit');
    expect(sniffImage(out)).toEqual({ status: 'ok', format: 'png', width: 768, height: 512 });
  }, 60_000);

  it('a message that keeps failing lands in the dead-letter queue after max_retries', async () => {
    behaviours.set('0.95', { fail: true });
    const { state, key } = await keyOf('sr=4&t=0.95');
    expect(state).toBe('queued');
    const dead = await until(key, ['failed']);
    expect(dead, edge?.log()).toEqual({
      key,
      state: 'failed',
      reason: expect.stringMatching(/dead-letter/),
      at: expect.any(Number),
    });
    // wrangler.toml [env.dev]: max_retries = 3, so four deliveries.
    expect(callsFor('0.95')).toHaveLength(4);
    // A view afterwards tries again (nothing is stuck): the runner is asked, the original served.
    const view = await fetch(`${edge?.url}/${SAMPLE}?sr=4&t=0.95`);
    await view.arrayBuffer();
    expect(view.headers.get('x-oftsr-cache')).toBe('fallback');
    expect(callsFor('0.95')).toHaveLength(5);
  }, 60_000);
});
