// `npm run prewarm -- --edge https://img.example.com --list catalogue.txt --variant preset=hq`
//
// Pre-warms a catalogue through the edge itself: one GET per (path, variant, Accept), so every entry
// lands in R2 under exactly the key the edge computes (no second copy of the key logic), and the
// first visitor gets a hit. Bounded concurrency; 429/5xx, network errors and fallback answers (which
// the edge does not cache) are retried with backoff, honouring Retry-After; 4xx are final. Exit
// status 0 when every entry is warm, 1 otherwise. docs/ARCHITECTURE.md ("Pre-warming a catalogue")
// compares this with the queue route that writes R2 from the runners directly.
import { readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ErrorBody, HEADERS } from '@oftsr/shared';
import { signUrl } from '../src/signing.ts';

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
  /** Per-request time limit in ms (default 120 s: a cold miss on a busy pool takes a while). */
  timeoutMs?: number;
  /** HMAC key when the edge requires signed URLs (`SIGNING_MODE=required`). */
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

async function warmOne(entry: PrewarmEntry, options: PrewarmOptions): Promise<PrewarmOutcome> {
  const base = options.edge.replace(/\/+$/, '');
  const unsigned = `${base}${entry.path}?${entry.variant}`;
  const url = options.signingKey === undefined ? unsigned : await signUrl(unsigned, options.signingKey);
  const retries = options.retries ?? 5;
  let backoff = options.backoffMs ?? 500;
  let last: { status: number | null; reason: string } = { status: null, reason: 'not tried' };
  for (let attempt = 1; attempt <= retries + 1; attempt++) {
    let wait = backoff;
    try {
      const signals = [AbortSignal.timeout(options.timeoutMs ?? 120_000)];
      if (options.signal) signals.push(options.signal);
      const res = await fetch(url, { headers: { accept: entry.accept }, signal: AbortSignal.any(signals) });
      const cache = res.headers.get(HEADERS.cache);
      if (res.ok && (cache === 'hit' || cache === 'miss')) {
        // Drain the body: the edge stores the result while it streams it to us.
        await res.arrayBuffer();
        const state = cache === 'hit' ? 'hit' : 'warmed';
        const contentType = res.headers.get('content-type') ?? '';
        return { entry, state, status: res.status, attempts: attempt, contentType };
      }
      if (res.ok) {
        await res.body?.cancel();
        const why = res.headers.get(HEADERS.fallbackReason) ?? 'unknown';
        last = { status: res.status, reason: `edge served its fallback (${why}); nothing cached` };
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
  --signing-key KEY   sign URLs (SIGNING_MODE=required); or OFTSR_SIGNING_KEY
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
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort(new Error('interrupted')));
  const started = performance.now();
  const outcomes = await prewarm({
    edge: values.edge,
    entries,
    concurrency: Math.max(1, count('concurrency', values.concurrency, 4)),
    retries: count('retries', values.retries, 5),
    ...(signingKey === undefined || signingKey === '' ? {} : { signingKey }),
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
