import { DEFAULT_MAX_INPUT_PIXELS, MAX_WAIT_MS, OftsrError } from '@oftsr/shared';
import type { Bindings } from './bindings.ts';

/** What an unsigned URL may do. */
export type SigningMode = 'off' | 'presets' | 'required';

/** What the edge serves when the runner is down, slow or failing. */
export type FallbackMode = 'serve' | 'redirect';

/** The edge's configuration, parsed once per `env` from wrangler vars and secrets. */
export interface EdgeConfig {
  modelVersion: string;
  /** Base URL that request paths are appended to; absent when only `SOURCE_BUCKET` serves sources. */
  originUrl?: URL;
  /**
   * Origins (scheme://host[:port], as `URL.origin` spells them) sources may be fetched from: the
   * origin's own plus `ORIGIN_ALLOWED_HOSTS`.
   */
  allowedOrigins: ReadonlySet<string>;
  allowPrivateOrigins: boolean;
  runnerUrl?: string;
  runnerTimeoutMs: number;
  maxSourceBytes: number;
  maxSourcePixels: number;
  maxRedirects: number;
  avifMaxOutputPixels: number;
  fallbackMode: FallbackMode;
  fallbackTtlS: number;
  /** How long a permanent runner refusal (415/422) is remembered and answered without a runner call. */
  refusalTtlS: number;
  /** Time budget of one source fetch (headers and body), ms. */
  sourceTimeoutMs: number;
  /**
   * How long a miss waits for the runner before the edge answers the original and the upscale goes
   * on through `WORK_QUEUE`, ms (`EDGE_WAIT_MS`; a URL's `wait` may ask for less or more, up to the
   * runner timeout). Without a `WORK_QUEUE` binding a miss waits for the runner as long as it takes.
   */
  edgeWaitMs: number;
  /** First retry delay of a failed background upscale, s; doubled per attempt (`WORK_RETRY_BASE_S`). */
  workRetryBaseS: number;
  /** How long a source record stays fresh before a conditional request revalidates it, s. */
  sourceTtlS: number;
  signingMode: SigningMode;
  signingKeys: readonly string[];
  /** Preset name → query string (validated by the shared schema when used). */
  presets: ReadonlyMap<string, string>;
  /** Pages that may read responses cross-origin: any (`*`), these origins, or none (undefined). */
  corsOrigins?: '*' | readonly string[];
}

function configError(name: string, message: string): OftsrError {
  return new OftsrError('internal', `configuration ${name}: ${message}`);
}

function positiveInt(name: string, value: string | undefined, fallback: number, min = 1): number {
  if (value === undefined || value === '') return fallback;
  if (!/^[0-9]{1,15}$/.test(value) || Number(value) < min) {
    throw configError(name, `must be an integer ≥ ${min} (got ${JSON.stringify(value)})`);
  }
  return Number(value);
}

function boundedInt(name: string, value: string | undefined, fallback: number, max: number): number {
  const parsed = positiveInt(name, value, fallback, 0);
  if (parsed > max) throw configError(name, `must be at most ${max} (got ${JSON.stringify(value)})`);
  return parsed;
}

function oneOf<T extends string>(
  name: string,
  value: string | undefined,
  allowed: readonly T[],
  fallback: T,
): T {
  if (value === undefined || value === '') return fallback;
  if (!(allowed as readonly string[]).includes(value)) {
    throw configError(name, `must be one of ${allowed.join(', ')} (got ${JSON.stringify(value)})`);
  }
  return value as T;
}

function parsePresets(text: string | undefined): Map<string, string> {
  const presets = new Map<string, string>();
  if (text === undefined || text.trim() === '') return presets;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw new OftsrError('internal', 'configuration PRESETS: not JSON', { cause });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw configError('PRESETS', 'must be a JSON object of name → query string');
  }
  for (const [name, query] of Object.entries(parsed)) {
    if (typeof query !== 'string') throw configError('PRESETS', `preset ${name} must be a query string`);
    presets.set(name, query);
  }
  return presets;
}

function parseOrigin(value: string | undefined): URL | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch (cause) {
    throw new OftsrError('internal', 'configuration ORIGIN_URL: not an absolute URL', { cause });
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw configError('ORIGIN_URL', 'must be http(s)');
  }
  if (url.username !== '' || url.password !== '')
    throw configError('ORIGIN_URL', 'must not carry credentials');
  url.search = '';
  url.hash = '';
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return url;
}

function parseCorsOrigins(value: string | undefined): '*' | string[] | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  if (value.trim() === '*') return '*';
  return value.split(',').map((entry) => {
    const text = entry.trim();
    let origin: string;
    try {
      origin = new URL(text).origin;
    } catch (cause) {
      throw new OftsrError(
        'internal',
        `configuration CORS_ALLOW_ORIGINS: ${JSON.stringify(text)} is not a URL`,
        {
          cause,
        },
      );
    }
    // A browser sends the bare origin; anything longer could never match and hides a typo.
    if (origin === 'null' || origin !== text.replace(/\/$/, '')) {
      throw configError(
        'CORS_ALLOW_ORIGINS',
        `${JSON.stringify(text)} is not an origin (scheme://host[:port])`,
      );
    }
    return origin;
  });
}

/**
 * One `ORIGIN_ALLOWED_HOSTS` entry as an origin: `https://cdn.example.com:8443` as given, or a bare
 * `host[:port]`, which means HTTPS. Scheme, host and port must all match (a redirect from an
 * allowed host to another port on it, e.g. a metrics endpoint, is refused).
 */
function allowedOrigin(entry: string): string {
  let url: URL;
  try {
    url = new URL(entry.includes('://') ? entry : `https://${entry}`);
  } catch (cause) {
    throw new OftsrError(
      'internal',
      `configuration ORIGIN_ALLOWED_HOSTS: ${JSON.stringify(entry)} is not a host`,
      {
        cause,
      },
    );
  }
  if (
    (url.protocol !== 'https:' && url.protocol !== 'http:') ||
    url.pathname !== '/' ||
    url.username !== ''
  ) {
    throw configError(
      'ORIGIN_ALLOWED_HOSTS',
      `${JSON.stringify(entry)} is not host[:port] or scheme://host[:port]`,
    );
  }
  return url.origin;
}

const cache = new WeakMap<object, EdgeConfig>();

/**
 * Reads and validates the configuration from the Worker's bindings (memoised per `env` object).
 * Defaults: 16 MiB / 4 MP sources, 3 redirects, 30 s runner timeout, AVIF up to 4 MP outputs,
 * fallback `serve` with a 60 s TTL, refusals remembered a day, 10 s source fetches, a 5 s edge
 * wait, 10 s first retry delay of background work, signing `off`, no CORS.
 *
 * @throws {OftsrError} `internal` (500) naming the misconfigured variable.
 */
export function readConfig(env: Bindings): EdgeConfig {
  const cached = cache.get(env);
  if (cached !== undefined) return cached;
  const originUrl = parseOrigin(env.ORIGIN_URL);
  const allowedOrigins = new Set<string>();
  if (originUrl !== undefined) allowedOrigins.add(originUrl.origin);
  for (const entry of (env.ORIGIN_ALLOWED_HOSTS ?? '').split(',')) {
    if (entry.trim() !== '') allowedOrigins.add(allowedOrigin(entry.trim()));
  }
  const modelVersion = env.MODEL_VERSION ?? '';
  if (modelVersion === '') throw configError('MODEL_VERSION', 'must be set');
  const config: EdgeConfig = {
    modelVersion,
    ...(originUrl === undefined ? {} : { originUrl }),
    allowedOrigins,
    allowPrivateOrigins: env.ALLOW_PRIVATE_ORIGINS === 'true',
    ...(env.RUNNER_URL ? { runnerUrl: env.RUNNER_URL.replace(/\/+$/, '') } : {}),
    runnerTimeoutMs: positiveInt('RUNNER_TIMEOUT_MS', env.RUNNER_TIMEOUT_MS, 30_000),
    maxSourceBytes: positiveInt('MAX_SOURCE_BYTES', env.MAX_SOURCE_BYTES, 16 * 1024 * 1024),
    maxSourcePixels: positiveInt('MAX_SOURCE_PIXELS', env.MAX_SOURCE_PIXELS, DEFAULT_MAX_INPUT_PIXELS),
    maxRedirects: positiveInt('MAX_REDIRECTS', env.MAX_REDIRECTS, 3, 0),
    avifMaxOutputPixels: positiveInt('AVIF_MAX_OUTPUT_PIXELS', env.AVIF_MAX_OUTPUT_PIXELS, 4_000_000),
    fallbackMode: oneOf('FALLBACK_MODE', env.FALLBACK_MODE, ['serve', 'redirect'], 'serve'),
    fallbackTtlS: positiveInt('FALLBACK_TTL_S', env.FALLBACK_TTL_S, 60),
    refusalTtlS: positiveInt('REFUSAL_TTL_S', env.REFUSAL_TTL_S, 86_400),
    sourceTimeoutMs: positiveInt('SOURCE_TIMEOUT_MS', env.SOURCE_TIMEOUT_MS, 10_000),
    sourceTtlS: positiveInt('SOURCE_TTL_S', env.SOURCE_TTL_S, 300, 0),
    edgeWaitMs: boundedInt('EDGE_WAIT_MS', env.EDGE_WAIT_MS, 5_000, MAX_WAIT_MS),
    workRetryBaseS: boundedInt('WORK_RETRY_BASE_S', env.WORK_RETRY_BASE_S, 10, 3_600),
    signingMode: oneOf('SIGNING_MODE', env.SIGNING_MODE, ['off', 'presets', 'required'], 'off'),
    signingKeys: (env.SIGNING_KEYS ?? '')
      .split(',')
      .map((k) => k.trim())
      .filter((k) => k !== ''),
    presets: parsePresets(env.PRESETS),
  };
  const corsOrigins = parseCorsOrigins(env.CORS_ALLOW_ORIGINS);
  if (corsOrigins !== undefined) config.corsOrigins = corsOrigins;
  if (config.signingMode !== 'off' && config.signingKeys.length === 0) {
    throw configError(
      'SIGNING_KEYS',
      `must hold at least one key when SIGNING_MODE is ${config.signingMode}`,
    );
  }
  cache.set(env, config);
  return config;
}
