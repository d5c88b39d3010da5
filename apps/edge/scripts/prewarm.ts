// `npm run prewarm -- --edge https://img.example.com --list catalogue.txt --variant preset=hq`
//
// Pre-warms a catalogue through the edge's work queue: one `POST /_oftsr/prewarm` per (path, variant,
// Accept), authenticated with the operator token (PURGE_TOKEN). The edge resolves the key exactly as
// a GET with that query and Accept would (no second copy of the key logic) and produces the same
// work message a miss past the edge's wait produces (src/work.ts); the queue's consumer upscales
// and stores it. The CLI then polls `GET /_oftsr/work?key=…` until the output is stored (`warmed`),
// the work failed for good (`failed`, with the edge's reason) or `--timeout` passes. Bounded
// concurrency; 429/5xx and network errors are retried with backoff, honouring Retry-After; other
// 4xx are final. Exit status 0 when every entry is warm, 1 otherwise.
import { readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ErrorBody } from '@oftsr/shared';

/** One URL the edge should have cached. */
export interface PrewarmEntry {
  path: string;
  /** The query, as a page would write it (`sr=4&t=0.7` or `preset=hq`). */
  variant: string;
  accept: string;
}

/** How an entry ended: already cached, cached now, or not cached (with why). */
export type PrewarmOutcome =
  | { entry: PrewarmEntry; state: 'hit' | 'warmed'; status: number; attempts: number; contentType: string }
  | { entry: PrewarmEntry; state: 'failed'; status: number | null; attempts: number; reason: string };

export interface PrewarmOptions {
  edge: string;
  entries: readonly PrewarmEntry[];
  /** Requests in flight at once (default 4): the runner pool, not the edge, is the bottleneck. */
  concurrency?: number;
  /** Retries per entry after the first try (default 5). */
  retries?: number;
  /** First backoff in ms, doubled per retry and capped at 30 s (default 500). */
  backoffMs?: number;
  /** Time limit per entry, queueing and upscale included, ms (default 120 s: a busy pool takes a while). */
  timeoutMs?: number;
  /** The edge's operator token (`PURGE_TOKEN`), which guards the prewarm route. */
  token: string;
  /** How often a queued entry's state is polled, ms (default 500). */
  pollMs?: number;
  /**
   * Unused: the prewarm route is authenticated by the operator token, so URLs need no signature.
   * Accepted so that existing invocations keep working.
   */
  signingKey?: string;
  signal?: AbortSignal;
  onOutcome?: (outcome: PrewarmOutcome, done: number, total: number) => void;
}

/** A browser-like Accept per output format the edge negotiates (what visitors will send). */
export const ACCEPT_PRESETS: Readonly<Record<string, string>> = {
  avif: 'image/avif,image/webp,image/*,*/*;q=0.8',
  webp: 'image/webp,image/*,*/*;q=0.8',
  jpeg: 'image/jpeg,*/*;q=0.5',
  png: 'image/png',
};

/** Every (path, variant, Accept) combination, in a stable order. */
export function expandCatalogue(
  paths: readonly string[],
  variants: readonly string[],
  accepts: readonly string[],
): PrewarmEntry[] {
  return paths.flatMap((path) =>
    variants.flatMap((variant) => accepts.map((accept) => ({ path, variant, accept }))),
  );
}

/** Catalogue paths from a text file: one per line, blank lines and `#` comments skipped. */
export function parseCatalogue(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.replace(/#.*/, '').trim())
    .filter((line) => line !== '')
    .map((line) => (line.startsWith('/') ? line : `/${line}`));
}

const RETRYABLE = new Set([408, 425, 429, 500, 502, 503, 504]);
const MAX_BACKOFF_MS = 30_000;

function retryAfterMs(res: Response): number | undefined {
  const value = res.headers.get('retry-after');
  if (value === null) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/** The edge's error message (the shared error body), else the start of whatever it sent. */
async function errorText(res: Response): Promise<string> {
  const text = await res.text().catch(() => '');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const body = ErrorBody.safeParse(json);
  return body.success ? body.data.error.message : text.slice(0, 200);
}

/** The edge's answer to `POST /_oftsr/prewarm` and `GET /_oftsr/work`. */
interface WorkAnswer {
  state: 'hit' | 'queued' | 'pending' | 'done' | 'failed' | 'none';
  key: string;
  reason?: string;
  contentType?: string;
}

async function warmOne(entry: PrewarmEntry, options: PrewarmOptions): Promise<PrewarmOutcome> {
  const base = options.edge.replace(/\/+$/, '');
  const retries = options.retries ?? 5;
  const headers = { authorization: `Bearer ${options.token}`, 'content-type': 'application/json' };
  const until = Date.now() + (options.timeoutMs ?? 120_000);
  const signal = (): AbortSignal => {
    const signals = [AbortSignal.timeout(Math.max(1, until - Date.now()))];
    if (options.signal) signals.push(options.signal);
    return AbortSignal.any(signals);
  };
  let backoff = options.backoffMs ?? 500;
  let last: { status: number | null; reason: string } = { status: null, reason: 'not tried' };
  for (let attempt = 1; attempt <= retries + 1; attempt++) {
    let wait = backoff;
    try {
      const res = await fetch(`${base}/_oftsr/prewarm`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ path: entry.path, query: entry.variant, accept: entry.accept }),
        signal: signal(),
      });
      if (res.ok) {
        const answer = (await res.json()) as WorkAnswer;
        if (answer.state === 'hit') {
          const contentType = answer.contentType ?? '';
          return { entry, state: 'hit', status: res.status, attempts: attempt, contentType };
        }
        // queued or pending: the consumer is on it; poll until it is stored or failed.
        for (;;) {
          await delay(options.pollMs ?? 500, undefined, { signal: signal() });
          const polled = await fetch(`${base}/_oftsr/work?key=${answer.key}`, { headers, signal: signal() });
          if (!polled.ok) {
            last = { status: polled.status, reason: await errorText(polled) };
            break;
          }
          const state = (await polled.json()) as WorkAnswer;
          if (state.state === 'done') {
            const contentType = state.contentType ?? '';
            return { entry, state: 'warmed', status: res.status, attempts: attempt, contentType };
          }
          if (state.state === 'failed') {
            return {
              entry,
              state: 'failed',
              status: res.status,
              attempts: attempt,
              reason: state.reason ?? 'failed',
            };
          }
          if (state.state === 'none') {
            last = { status: res.status, reason: 'the queued work ended without an output' };
            break;
          }
        }
      } else if (RETRYABLE.has(res.status)) {
        last = { status: res.status, reason: await errorText(res) };
        wait = Math.max(wait, retryAfterMs(res) ?? 0);
      } else {
        return {
          entry,
          state: 'failed',
          status: res.status,
          attempts: attempt,
          reason: await errorText(res),
        };
      }
    } catch (err) {
      if (options.signal?.aborted) throw options.signal.reason;
      last = { status: null, reason: err instanceof Error ? err.message : String(err) };
      if (Date.now() >= until) break;
    }
    if (attempt <= retries) {
      // Rejects with the caller's own reason on abort, as every other abort path here does.
      await delay(Math.min(wait, MAX_BACKOFF_MS), undefined, { signal: options.signal }).catch(
        (err: unknown) => {
          throw options.signal?.aborted ? options.signal.reason : err;
        },
      );
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    }
  }
  return { entry, state: 'failed', status: last.status, attempts: retries + 1, reason: last.reason };
}

/** Warms every entry through the edge; outcomes come back in the entries' order. */
export async function prewarm(options: PrewarmOptions): Promise<PrewarmOutcome[]> {
  const total = options.entries.length;
  const outcomes = new Array<PrewarmOutcome>(total);
  let next = 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    for (let index = next++; index < total; index = next++) {
      const entry = options.entries[index];
      if (entry === undefined) break;
      const outcome = await warmOne(entry, options);
      outcomes[index] = outcome;
      options.onOutcome?.(outcome, ++done, total);
    }
  };
  const lanes = Math.max(1, Math.min(options.concurrency ?? 4, total));
  await Promise.all(Array.from({ length: lanes }, worker));
  return outcomes;
}

/** Counts per state. */
export function summarise(outcomes: readonly PrewarmOutcome[]): Record<PrewarmOutcome['state'], number> {
  const counts = { hit: 0, warmed: 0, failed: 0 };
  for (const o of outcomes) counts[o.state]++;
  return counts;
}

const USAGE = `usage: npm run prewarm -- --edge URL --list FILE [options]

  --edge URL          the edge's base URL (https://img.example.com)
  --list FILE         catalogue: one image path per line (# comments); - reads stdin
  --variant QUERY     a variant to warm, repeatable (default: sr=4); e.g. preset=hq, "sr=2&t=0.3"
  --format NAME       which negotiated formats to warm, repeatable: ${Object.keys(ACCEPT_PRESETS).join(', ')}
                      (default: avif webp, what current browsers ask for)
  --concurrency N     requests in flight (default 4)
  --retries N         retries per entry on 429/5xx/fallback/network errors (default 5)
  --token TOKEN       the edge's operator token (PURGE_TOKEN); or OFTSR_PURGE_TOKEN (required)
  --timeout S         seconds per entry, queueing and upscale included (default 120)
  --signing-key KEY   accepted for older invocations; unused (the route is authenticated by the token)
  --json              print the outcomes as JSON instead of a summary`;

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      edge: { type: 'string' },
      list: { type: 'string' },
      variant: { type: 'string', multiple: true },
      format: { type: 'string', multiple: true },
      concurrency: { type: 'string' },
      retries: { type: 'string' },
      'signing-key': { type: 'string' },
      token: { type: 'string' },
      timeout: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (values.edge === undefined || values.list === undefined) {
    console.error(`prewarm: --edge and --list are required\n\n${USAGE}`);
    return 2;
  }
  const formats = values.format ?? ['avif', 'webp'];
  const unknown = formats.filter((f) => !Object.hasOwn(ACCEPT_PRESETS, f));
  if (unknown.length > 0) {
    console.error(
      `prewarm: unknown --format ${unknown.join(', ')} (allowed: ${Object.keys(ACCEPT_PRESETS).join(', ')})`,
    );
    return 2;
  }
  const count = (name: string, value: string | undefined, fallback: number): number => {
    if (value === undefined) return fallback;
    if (!/^\d+$/.test(value)) throw new Error(`prewarm: --${name} must be a whole number (got ${value})`);
    return Number(value);
  };
  const paths = parseCatalogue(readFileSync(values.list === '-' ? 0 : values.list, 'utf8'));
  const entries = expandCatalogue(
    paths,
    values.variant ?? ['sr=4'],
    formats.map((f) => ACCEPT_PRESETS[f] ?? ''),
  );
  const signingKey = values['signing-key'] ?? process.env.OFTSR_SIGNING_KEY;
  const token = values.token ?? process.env.OFTSR_PURGE_TOKEN ?? '';
  if (token === '') {
    console.error(`prewarm: --token (or OFTSR_PURGE_TOKEN) is required: the edge's PURGE_TOKEN\n\n${USAGE}`);
    return 2;
  }
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort(new Error('interrupted')));
  const started = performance.now();
  const outcomes = await prewarm({
    edge: values.edge,
    entries,
    concurrency: Math.max(1, count('concurrency', values.concurrency, 4)),
    retries: count('retries', values.retries, 5),
    ...(signingKey === undefined || signingKey === '' ? {} : { signingKey }),
    token,
    timeoutMs: count('timeout', values.timeout, 120) * 1000,
    signal: controller.signal,
    onOutcome: (o, done, total) => {
      if (!values.json) {
        const what =
          o.state === 'failed' ? `FAILED ${o.status ?? '-'} ${o.reason}` : `${o.state} ${o.contentType}`;
        process.stderr.write(`[${done}/${total}] ${o.entry.path}?${o.entry.variant} ${what}\n`);
      }
    },
  });
  const counts = summarise(outcomes);
  if (values.json) {
    console.log(JSON.stringify({ counts, outcomes }, null, 1));
  } else {
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    console.log(
      `prewarm: ${entries.length} entries in ${seconds} s — ${counts.warmed} warmed, ${counts.hit} already cached, ${counts.failed} failed`,
    );
  }
  return counts.failed === 0 ? 0 : 1;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(err instanceof Error ? err.message : String(err));
      process.exit(2);
    },
  );
}
