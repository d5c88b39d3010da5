/** moto's S3 server from .venv (python3 when there is no venv), for the runner's bucket. */
import { existsSync } from 'node:fs';
import { freePort, waitForUrl } from './net.ts';
import { LOCAL_BUCKET, VENV_PYTHON } from './paths.ts';
import { spawnGroup, stop, type Child } from './processes.ts';

/** A running moto S3 server. */
export interface Moto extends Child {
  endpoint: string;
  port: number;
  /** Environment that points a runner at this server (its first bucket as OFTSR_S3_BUCKET). */
  env: Record<string, string>;
  /** Stops it (SIGTERM to its process group, SIGKILL after 3 s). */
  stop(): Promise<void>;
}

/**
 * Starts moto on `port` (default: a free one) and creates `buckets` (moto accepts any credentials
 * and checks no signatures: an unsigned path-style PUT creates a bucket).
 */
export async function startMoto(
  options: { port?: number; buckets?: readonly string[]; readyTimeoutMs?: number } = {},
): Promise<Moto> {
  const buckets = options.buckets ?? [LOCAL_BUCKET];
  const port = options.port ?? (await freePort());
  const python = existsSync(VENV_PYTHON) ? VENV_PYTHON : 'python3';
  const child = spawnGroup(python, ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(port)], {
    ...process.env,
  });
  const endpoint = `http://127.0.0.1:${port}`;
  try {
    await waitForUrl(`${endpoint}/moto-api/`, options.readyTimeoutMs ?? 60_000, child);
    for (const bucket of buckets) {
      const res = await fetch(`${endpoint}/${bucket}`, { method: 'PUT' });
      await res.arrayBuffer();
      if (!res.ok) throw new Error(`moto: creating bucket ${bucket} answered ${res.status}`);
    }
  } catch (err) {
    await stop(child.proc);
    throw err;
  }
  return {
    ...child,
    endpoint,
    port,
    env: {
      OFTSR_S3_ENDPOINT: endpoint,
      OFTSR_S3_REGION: 'us-east-1',
      OFTSR_S3_FORCE_PATH_STYLE: '1',
      ...(buckets[0] === undefined ? {} : { OFTSR_S3_BUCKET: buckets[0] }),
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
    },
    stop: () => stop(child.proc, 'SIGTERM', 3_000),
  };
}
