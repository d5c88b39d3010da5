import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { portOr } from './net.ts';
import { startOrigin, startStaticServer, type StaticServer } from './static.ts';

/** A GET with the path sent as written (fetch would resolve `..` before sending). */
function rawGet(base: string, path: string): Promise<{ status: number; type: string; body: string }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    request({ hostname, port, path, method: 'GET' }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }),
      );
    })
      .on('error', reject)
      .end();
  });
}

describe('static serving', () => {
  let dir: string;
  let server: StaticServer;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'oftsr-devkit-'));
    mkdirSync(join(dir, 'site'));
    mkdirSync(join(dir, 'site-secret'));
    writeFileSync(join(dir, 'site/a.png'), 'png');
    writeFileSync(join(dir, 'site/m.onnx'), 'onnx');
    writeFileSync(join(dir, 'site-secret/key.txt'), 'secret');
    writeFileSync(join(dir, 'top.txt'), 'top');
    server = await startStaticServer({ mounts: { '/s/': join(dir, 'site') } });
  });

  afterAll(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves a mounted file with its type; unknown extensions as octet-stream', async () => {
    expect(await rawGet(server.url, '/s/a.png?x=1')).toMatchObject({
      status: 200,
      type: 'image/png',
      body: 'png',
    });
    expect(await rawGet(server.url, '/s/m.onnx')).toMatchObject({
      status: 200,
      type: 'application/octet-stream',
    });
    expect(server.requests).toContain('GET /s/a.png');
  });

  it('nothing outside the folder: .., encoded .. and /, a sibling folder sharing the prefix', async () => {
    for (const path of [
      '/s/../top.txt',
      '/s/%2e%2e/top.txt',
      '/s/..%2ftop.txt',
      '/s/..%2f..%2fsite-secret%2fkey.txt',
      '/s/../site-secret/key.txt',
      '/s/',
      '/s',
      '/x',
    ]) {
      const res = await rawGet(server.url, path);
      expect(res.status, path).toBe(404);
      expect(res.body, path).not.toMatch(/top|secret/);
    }
  });

  it('an origin serves one folder at / and counts its requests', async () => {
    const origin = await startOrigin(join(dir, 'site'));
    try {
      expect(origin.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      expect((await fetch(`${origin.url}a.png`)).status).toBe(200);
      expect((await rawGet(origin.url, '/../top.txt')).status).toBe(404);
      expect(origin.hits()).toBe(2);
    } finally {
      await origin.close();
    }
  });
});

describe('ports', () => {
  it('portOr keeps a free preferred port and replaces a busy one', async () => {
    const busy = createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    const taken = (busy.address() as { port: number }).port;
    try {
      const other = await portOr(taken);
      expect(other).not.toBe(taken);
      busy.close();
      await new Promise((r) => busy.once('close', r));
      expect(await portOr(taken)).toBe(taken);
    } finally {
      busy.close();
    }
  });
});
