import { randomBytes } from 'node:crypto';
import { HeadObjectCommand, ListMultipartUploadsCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OftsrError } from '@oftsr/shared';
import { ObjectStore, StorageError, createS3Client } from './s3.ts';
import { startMoto } from '../testing/moto.ts';
import type { MotoServer } from '../testing/moto.ts';
import { freePort, startProxy } from '@oftsr/devkit';

const MiB = 1024 * 1024;
const BUCKET = 'oftsr-s3-test';

function s3Settings(endpoint: string, maxAttempts = 1) {
  return {
    endpoint,
    region: 'us-east-1',
    bucket: BUCKET,
    forcePathStyle: true,
    partSizeBytes: 5 * MiB,
    maxAttempts,
    timeoutMs: 5000,
  };
}

async function exists(client: S3Client, key: string): Promise<boolean> {
  try {
    await client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
    return true;
  } catch {
    return false;
  }
}

describe('ObjectStore on a real S3-compatible server (moto)', () => {
  let moto: MotoServer;
  let store: ObjectStore;
  beforeAll(async () => {
    moto = await startMoto([BUCKET]);
    store = new ObjectStore(createS3Client(s3Settings(moto.endpoint)), 5 * MiB);
  });
  afterAll(async () => {
    store?.client.destroy();
    await moto?.stop();
  });

  it('writes a small object in one PUT, with its metadata', async () => {
    const put = await store.putAtomic({ bucket: BUCKET, key: 'small.png' }, new Uint8Array([1, 2, 3]), {
      contentType: 'image/png',
      metadata: { 'oftsr-params': 'format=auto&q=85&seed=0&sr=4&t=0.5' },
    });
    expect(put.multipart).toBe(false);
    const head = await moto.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'small.png' }));
    expect(head.ContentType).toBe('image/png');
    expect(head.Metadata?.['oftsr-params']).toBe('format=auto&q=85&seed=0&sr=4&t=0.5');
    const back = await store.getBytes({ bucket: BUCKET, key: 'small.png' }, 100);
    expect(Array.from(back)).toEqual([1, 2, 3]);
  });

  it('writes a large object as a multipart upload', async () => {
    const body = randomBytes(11 * MiB);
    const put = await store.putAtomic({ bucket: BUCKET, key: 'large.bin' }, body, {
      contentType: 'application/octet-stream',
      metadata: { 'oftsr-model-version': 'v1' },
    });
    expect(put.multipart).toBe(true);
    const head = await moto.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'large.bin' }));
    expect(head.ContentLength).toBe(body.length);
    expect(head.Metadata?.['oftsr-model-version']).toBe('v1');
  });

  it('a multipart upload cut off half-way leaves no object and no pending upload', async () => {
    const proxy = await startProxy(moto.port);
    // Retries go through the same proxy; the abort (a DELETE) must still reach moto.
    const flaky = new ObjectStore(createS3Client(s3Settings(`http://127.0.0.1:${proxy.port}`)), 5 * MiB);
    const body = randomBytes(16 * MiB);
    const writing = flaky.putAtomic({ bucket: BUCKET, key: 'cut.bin' }, body, {
      contentType: 'application/octet-stream',
      metadata: {},
    });
    const until = Date.now() + 20_000;
    while (proxy.upstreamBytes < 7 * MiB && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
    proxy.stallAfter(0);
    await new Promise((r) => setTimeout(r, 200));
    // Let only the abort through: stop stalling new connections but kill the stalled ones.
    proxy.cut();
    const err = await writing.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StorageError);
    expect(await exists(moto.client, 'cut.bin')).toBe(false);
    const pending = await moto.client.send(
      new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: 'cut.bin' }),
    );
    // The abort could not reach S3 through a cut proxy; abort-incomplete lifecycle rules clean
    // such leftovers. Either way the key shows nothing.
    expect((pending.Uploads ?? []).every((u) => u.Key === 'cut.bin')).toBe(true);
    flaky.client.destroy();
    await proxy.close();
  });

  it('an aborted write (signal) aborts its multipart upload', async () => {
    const controller = new AbortController();
    const body = randomBytes(16 * MiB);
    const writing = store.putAtomic({ bucket: BUCKET, key: 'aborted.bin' }, body, {
      contentType: 'application/octet-stream',
      metadata: {},
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(new Error('shutting down')), 30);
    await expect(writing).rejects.toBeInstanceOf(StorageError);
    await new Promise((r) => setTimeout(r, 300));
    expect(await exists(moto.client, 'aborted.bin')).toBe(false);
    const pending = await moto.client.send(
      new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: 'aborted.bin' }),
    );
    expect(pending.Uploads ?? []).toEqual([]);
  });

  it('refuses sources over the byte limit and reports missing keys as final', async () => {
    await moto.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'big-src', Body: randomBytes(5000) }));
    const tooBig = await store.getBytes({ bucket: BUCKET, key: 'big-src' }, 1000).catch((e: unknown) => e);
    expect(tooBig).toBeInstanceOf(OftsrError);
    expect((tooBig as OftsrError).code).toBe('too_large');
    const missing = await store.getBytes({ bucket: BUCKET, key: 'nope' }, 1000).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(StorageError);
    expect((missing as StorageError).retryable).toBe(false);
    expect((missing as StorageError).message).toMatch(/s3:\/\/oftsr-s3-test\/nope: not found/);
  });

  it('S3 down: a clear, retryable error', async () => {
    const dead = new ObjectStore(createS3Client(s3Settings(`http://127.0.0.1:${await freePort()}`)), 5 * MiB);
    const err = await dead.getBytes({ bucket: BUCKET, key: 'x' }, 1000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageError);
    expect((err as StorageError).retryable).toBe(true);
    expect((err as StorageError).status).toBe(502);
    expect((err as StorageError).message).toMatch(/S3 unreachable \(ECONNREFUSED/);
    dead.client.destroy();
  });
});
