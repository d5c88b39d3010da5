/**
 * The runner as a real process on loopback: SIGTERM drains in-flight work before exiting, and a
 * job killed (SIGKILL) in the middle of its S3 write leaves no object under the destination key.
 * Every process started here is stopped by its PID in afterAll.
 */
import { HeadObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from './jobs/job-service.ts';
import { startMoto } from './testing/moto.ts';
import type { MotoServer } from './testing/moto.ts';
import { startProxy, startRunner, waitFor } from '@oftsr/devkit';
import type { Runner, TcpProxy } from '@oftsr/devkit';
import { patternImage } from './testing/fixtures.ts';
import { TEST_TOKEN, testEnv } from './testing/runtime.ts';

const BUCKET = 'oftsr-server-test';
const AUTH = { authorization: `Bearer ${TEST_TOKEN}` };
const runners: Runner[] = [];
let moto: MotoServer;
let proxy: TcpProxy;

beforeAll(async () => {
  moto = await startMoto([BUCKET]);
  proxy = await startProxy(moto.port);
}, 60_000);

afterAll(async () => {
  for (const r of runners) await r.kill();
  await proxy?.close();
  await moto?.stop();
});

async function queueDepth(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('oftsr_queue_depth '));
  return Number(line?.split(' ')[1] ?? 0);
}

describe('runner process', () => {
  it('SIGTERM: turns not ready, refuses new work, finishes in-flight work, exits 0', async () => {
    const runner = await startRunner({
      env: testEnv({ OFTSR_DRAIN_TIMEOUT_MS: '30000' }),
      readyTimeoutMs: 60_000,
    });
    runners.push(runner);
    const body = await patternImage(300, 120);
    const inflight = fetch(`${runner.url}/v1/upscale`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'image/png', ...AUTH },
    });
    await waitFor(async () => (await queueDepth(runner.url)) >= 1, 20_000, 20);
    process.kill(runner.proc.pid as number, 'SIGTERM');
    await waitFor(async () => (await fetch(`${runner.url}/v2/health/ready`)).status === 503, 5_000, 20);
    expect((await fetch(`${runner.url}/v2/health/live`)).status).toBe(200);
    const refused = await fetch(`${runner.url}/v1/upscale`, {
      method: 'POST',
      body: await patternImage(8, 8),
      headers: { 'content-type': 'image/png', ...AUTH },
    });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).not.toBeNull();
    const res = await inflight;
    expect(res.status).toBe(200);
    expect((await res.arrayBuffer()).byteLength).toBeGreaterThan(1000);
    expect(await runner.exited).toBe(0);
    expect(runner.log()).toMatch(/"msg":"drained"/);
  });

  it('a job killed in the middle of its S3 write leaves no object under the destination key', async () => {
    const runner = await startRunner({
      env: testEnv({
        OFTSR_S3_ENDPOINT: `http://127.0.0.1:${proxy.port}`,
        OFTSR_S3_REGION: 'us-east-1',
        OFTSR_S3_FORCE_PATH_STYLE: '1',
        OFTSR_S3_BUCKET: BUCKET,
        AWS_ACCESS_KEY_ID: 'test',
        AWS_SECRET_ACCESS_KEY: 'test',
      }),
      readyTimeoutMs: 60_000,
    });
    runners.push(runner);
    await moto.client.send(
      new PutObjectCommand({ Bucket: BUCKET, Key: 'in/killed.png', Body: await patternImage(100, 100) }),
    );
    // The source read (a small request) passes; the result's upload stalls after 20 kB.
    proxy.stallAfter(20_000);
    const before = proxy.upstreamBytes;
    const res = await fetch(`${runner.url}/v1/jobs`, {
      method: 'POST',
      body: JSON.stringify({
        source: 'in/killed.png',
        destination: 'out/killed.png',
        params: { format: 'png' },
      }),
      headers: { 'content-type': 'application/json', ...AUTH },
    });
    expect(res.status).toBe(202);
    const job = (await res.json()) as Job;
    await waitFor(() => proxy.upstreamBytes >= before + 20_000, 30_000, 20);
    const running = (await (await fetch(`${runner.url}/v1/jobs/${job.id}`, { headers: AUTH })).json()) as Job;
    expect(running.state).toBe('running');
    await runner.kill();
    proxy.cut();
    await expect(
      moto.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'out/killed.png' })),
    ).rejects.toThrow();
    const listed = await moto.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'out/' }));
    expect(listed.Contents ?? []).toEqual([]);
  });
});
