/**
 * moto's S3 server for the runner's tests: the harness's moto (@oftsr/devkit, started and stopped by
 * its PID) plus an S3 client with moto's dummy credentials, path-style.
 */
import { S3Client } from '@aws-sdk/client-s3';
import { startMoto as startMotoProcess } from '@oftsr/devkit';

/** A running moto server. */
export interface MotoServer {
  endpoint: string;
  port: number;
  /** A client with moto's dummy credentials, path-style. */
  client: S3Client;
  /** Environment for a runner process that should use this server (no bucket: the test names it). */
  env: Record<string, string>;
  stop(): Promise<void>;
}

// moto accepts any credentials; the SDK needs some to sign with.
process.env.AWS_ACCESS_KEY_ID ??= 'test';
process.env.AWS_SECRET_ACCESS_KEY ??= 'test';

/** Starts moto and creates `buckets`. */
export async function startMoto(buckets: readonly string[] = []): Promise<MotoServer> {
  const moto = await startMotoProcess({ buckets, readyTimeoutMs: 30_000 });
  const client = new S3Client({
    endpoint: moto.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  const { OFTSR_S3_BUCKET: _bucket, ...env } = moto.env;
  return {
    endpoint: moto.endpoint,
    port: moto.port,
    client,
    env,
    async stop() {
      client.destroy();
      await moto.stop();
    },
  };
}
