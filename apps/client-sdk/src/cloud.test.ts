import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseParamsFromJson } from '@oftsr/shared';
import { cloudUpscale, retryAfterMs } from './cloud.ts';
import type { CloudEvent } from './cloud.ts';

/** A real HTTP runner stand-in: answers the scripted statuses in order, then a PNG. */
let script: { status: number; retryAfter?: string; cache?: string }[] = [];
let hits: number[] = [];
const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    hits.push(Date.now());
    const next = script.shift();
    if (next?.cache !== undefined) {
      res.writeHead(next.status, { 'content-type': 'image/png', 'x-oftsr-cache': next.cache });
      res.end(Buffer.from('ORIGINAL'));
      return;
    }
    if (next) {
      res.writeHead(next.status, {
        'content-type': 'application/json',
        ...(next.retryAfter === undefined ? {} : { 'retry-after': next.retryAfter }),
      });
      res.end(JSON.stringify({ error: { code: 'overloaded', message: 'queue full' } }));
      return;
    }
    res.writeHead(200, { 'content-type': 'image/png', 'x-oftsr-width': '8', 'x-oftsr-height': '4' });
    res.end(Buffer.from('PNG'));
  });
});
let runner: string;
beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  runner = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const params = parseParamsFromJson({ t: 0.5 });
const bytes = new Blob([new Uint8Array([1, 2, 3])], { type: 'image/png' });

describe('the edge path', () => {
  it('a pending answer (the original while the edge upscales) is not a result', async () => {
    script = [{ status: 200, cache: 'pending' }];
    await expect(
      cloudUpscale({ edge: runner }, { url: 'https://origin.example/cat.png' }, params),
    ).rejects.toMatchObject({
      code: 'unavailable',
      message: expect.stringMatching(/still upscaling/),
    });
  });
});

describe('cloud retries', () => {
  it('waits the Retry-After of a 429 and a 503, then succeeds', async () => {
    script = [
      { status: 429, retryAfter: '1' },
      { status: 503, retryAfter: '0' },
    ];
    hits = [];
    const events: CloudEvent[] = [];
    const out = await cloudUpscale({ runner }, { bytes }, params, undefined, (e) => events.push(e));
    expect(out.width).toBe(8);
    expect(hits).toHaveLength(3);
    expect((hits[1] as number) - (hits[0] as number)).toBeGreaterThanOrEqual(950);
    expect(events.map((e) => e.type)).toEqual(['sent', 'retry', 'sent', 'retry', 'sent', 'answered']);
  });

  it('gives up after `retries`, and at once when Retry-After is longer than maxWaitS', async () => {
    script = [0, 1, 2].map(() => ({ status: 503, retryAfter: '0' }));
    hits = [];
    await expect(cloudUpscale({ runner, retries: 2 }, { bytes }, params)).rejects.toMatchObject({
      code: 'unavailable',
      message: expect.stringMatching(/503: queue full \(still busy after 3 tries\)/),
    });
    expect(hits).toHaveLength(3);
    script = [{ status: 429, retryAfter: '120' }];
    hits = [];
    await expect(cloudUpscale({ runner }, { bytes }, params)).rejects.toMatchObject({ code: 'overloaded' });
    expect(hits).toHaveLength(1);
  });

  it('an abort during the wait rejects at once', async () => {
    script = [{ status: 429, retryAfter: '10' }];
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(new Error('stopped')), 200);
    await expect(cloudUpscale({ runner }, { bytes }, params, controller.signal)).rejects.toThrow('stopped');
    expect(Date.now() - started).toBeLessThan(2000);
    script = [];
  });

  it('reads Retry-After as seconds or an HTTP date', () => {
    expect(retryAfterMs('3')).toBe(3000);
    expect(retryAfterMs(new Date(10_000).toUTCString(), 4_000)).toBe(6000);
    expect(retryAfterMs(null)).toBe(1000);
    expect(retryAfterMs('soon')).toBe(1000);
  });
});
