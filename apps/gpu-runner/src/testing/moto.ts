/**
 * A real S3-compatible server for tests: moto's server (`python -m moto.server`) on a free loopback
 * port, started from the repo's .venv (bin/setup installs it from requirements-dev.txt; the system
 * python3 is the fallback) and stopped by its PID.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { freePort, waitFor } from './net.ts';

const VENV_PYTHON = fileURLToPath(new URL('../../../../.venv/bin/python', import.meta.url));

/** A running moto server. */
export interface MotoServer {
  endpoint: string;
  port: number;
  /** A client with moto's dummy credentials, path-style. */
  client: S3Client;
  /** Environment for a runner process that should use this server. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

// moto accepts any credentials; the SDK needs some to sign with.
process.env.AWS_ACCESS_KEY_ID ??= 'test';
process.env.AWS_SECRET_ACCESS_KEY ??= 'test';

/** Starts moto and creates `buckets`. */
export async function startMoto(buckets: readonly string[] = []): Promise<MotoServer> {
  const python = existsSync(VENV_PYTHON) ? VENV_PYTHON : 'python3';
  const port = await freePort();
  const child: ChildProcess = spawn(python, ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    if (child.pid) process.kill(child.pid, 'SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
    if (child.exitCode === null && child.signalCode === null && child.pid) process.kill(child.pid, 'SIGKILL');
  };
  try {
    await waitFor(async () => {
      if (child.exitCode !== null) throw new Error(`moto exited with ${child.exitCode}: ${stderr}`);
      const res = await fetch(`${endpoint}/moto-api/`).catch(() => undefined);
      return res !== undefined;
    }, 30_000);
  } catch (err) {
    await stop();
    throw err;
  }
  const client = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  for (const bucket of buckets) await client.send(new CreateBucketCommand({ Bucket: bucket }));
  return {
    endpoint,
    port,
    client,
    env: {
      OFTSR_S3_ENDPOINT: endpoint,
      OFTSR_S3_REGION: 'us-east-1',
      OFTSR_S3_FORCE_PATH_STYLE: '1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
    },
    async stop() {
      client.destroy();
      await stop();
    },
  };
}
