/**
 * The runner's process entry: read the configuration, listen, load the model, and on SIGTERM or
 * SIGINT stop being ready, drain in-flight work up to OFTSR_DRAIN_TIMEOUT_MS and exit.
 * Logs are JSON lines on stderr.
 */
import { serve } from '@hono/node-server';
import { loadConfig } from './config.ts';
import { createRuntime } from './runtime.ts';

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

let config;
try {
  config = loadConfig(process.env);
} catch (err) {
  log(JSON.stringify({ level: 'fatal', msg: (err as Error).message }));
  process.exit(2);
}
const runtime = createRuntime(config);
const server = serve({ fetch: runtime.app.fetch, hostname: config.host, port: config.port }, (info) => {
  log(JSON.stringify({ level: 'info', msg: 'listening', host: info.address, port: info.port }));
});

runtime.start(log).catch((err: unknown) => {
  log(JSON.stringify({ level: 'fatal', msg: 'start failed', error: (err as Error).message }));
  process.exit(1);
});

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  log(JSON.stringify({ level: 'info', msg: 'draining', signal, timeoutMs: runtime.config.drainTimeoutMs }));
  const drained = await runtime.drain(runtime.config.drainTimeoutMs);
  log(
    JSON.stringify({
      level: drained ? 'info' : 'warn',
      msg: drained ? 'drained' : 'drain timed out',
      signal,
    }),
  );
  server.close();
  await runtime.close();
  process.exit(drained ? 0 : 1);
}
process.once('SIGTERM', () => void shutdown('SIGTERM'));
process.once('SIGINT', () => void shutdown('SIGINT'));
