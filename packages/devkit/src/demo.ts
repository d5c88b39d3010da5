/** The SDK's demo page (`npm run demo -w @oftsr/client-sdk`) as a child process on loopback. */
import { alive, spawnGroup, stop, type Child } from './processes.ts';

/** A running demo page server. */
export interface Demo extends Child {
  url: string;
}

/**
 * Starts the SDK's demo page on `port`, telling it the edge's URL (`OFTSR_EDGE_URL`, the SDK's
 * cloud fallback). The port goes in `PORT`, `DEMO_PORT` and `OFTSR_DEMO_PORT`; a different URL
 * printed by the server is used when that one never answers.
 */
export async function startDemo(options: {
  port: number;
  edgeUrl: string;
  readyTimeoutMs?: number;
}): Promise<Demo> {
  const npmCli = process.env.npm_execpath;
  const [cmd, pre] =
    npmCli !== undefined && npmCli.endsWith('.js') ? [process.execPath, [npmCli]] : ['npm', [] as string[]];
  const child = spawnGroup(cmd, [...pre, 'run', 'demo', '-w', '@oftsr/client-sdk', '--silent'], {
    ...process.env,
    HOST: '127.0.0.1',
    PORT: String(options.port),
    DEMO_PORT: String(options.port),
    OFTSR_DEMO_PORT: String(options.port),
    OFTSR_EDGE_URL: options.edgeUrl,
  });
  const expected = `http://127.0.0.1:${options.port}/`;
  const deadline = Date.now() + (options.readyTimeoutMs ?? 120_000);
  try {
    for (;;) {
      const printed = /https?:\/\/(?:127\.0\.0\.1|localhost):\d+\/?[^\s'"]*/.exec(child.log())?.[0];
      for (const url of printed === undefined ? [expected] : [expected, printed]) {
        try {
          const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
          await res.arrayBuffer();
          if (res.ok) return { ...child, url };
        } catch {
          // not yet
        }
      }
      if (!alive(child.proc)) throw new Error(`demo server exited (${child.proc.exitCode}):\n${child.log()}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for the demo page:\n${child.log()}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  } catch (err) {
    await stop(child.proc);
    throw err;
  }
}
