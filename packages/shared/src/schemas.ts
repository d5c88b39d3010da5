import { z } from 'zod';
import { OftsrError } from './errors.ts';
import { ENCODED_FORMATS } from './formats.ts';
import { HEADERS } from './wire.ts';

/**
 * Default tunable strength t. 0.5 sits in the middle of the fidelity–realism curve: clearly sharper
 * than the blurry, regression-like t = 0 fidelity end, while staying away from the t = 1 end where a
 * one-step student hallucinates most texture. Users slide it from there.
 */
export const DEFAULT_T = 0.5;

/** t is quantised to this step (nearest), so near-identical requests share one cache entry. */
export const T_STEP = 0.05;

/** Output image formats; `auto` lets the server pick from the source and `Accept` (see `autoFormat`). */
export const OUTPUT_FORMATS = ['auto', ...ENCODED_FORMATS] as const;

/** One of {@link OUTPUT_FORMATS}. */
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** The largest seed: seeds are uint32, like the noise field's hash input. */
export const MAX_SEED = 0xffffffff;

/**
 * How `width`/`height` box the output (the CDN vocabulary of Cloudflare Images and imgproxy):
 * `scale-down` fits inside the box but never past the model's ×4 (the default: asking for more
 * gives ×4); `contain` fits inside the box exactly, refusing more than ×4; `cover` fills the box,
 * cropping the centre, refusing more than ×4.
 */
export const FIT_MODES = ['scale-down', 'contain', 'cover'] as const;

/** One of {@link FIT_MODES}. */
export type FitMode = (typeof FIT_MODES)[number];

/** The largest `width` or `height` a request may name (after `dpr`). */
export const MAX_DIMENSION = 16_384;

/** The largest device pixel ratio. */
export const MAX_DPR = 4;

/** Request parameter names, in canonical (alphabetical) order. */
export const PARAM_NAMES = ['dpr', 'fit', 'format', 'height', 'q', 'seed', 'sr', 't', 'width'] as const;

/** One of {@link PARAM_NAMES}. */
export type ParamName = (typeof PARAM_NAMES)[number];

/**
 * The header that carries each parameter when it is not in the query (e.g. `x-oftsr-t`). `width` and
 * `height` are the wire's `HEADERS.width`/`height`: the runner answers with the same names.
 */
export const PARAM_HEADERS: Readonly<Record<ParamName, string>> = {
  dpr: 'x-oftsr-dpr',
  fit: 'x-oftsr-fit',
  format: 'x-oftsr-format',
  height: HEADERS.height,
  q: 'x-oftsr-q',
  seed: 'x-oftsr-seed',
  sr: 'x-oftsr-sr',
  t: 'x-oftsr-t',
  width: HEADERS.width,
};

const ALLOWED: Readonly<Record<ParamName, string>> = {
  dpr: `a number in [1, ${MAX_DPR}]`,
  fit: `one of ${FIT_MODES.join(', ')}`,
  height: `an integer in [1, ${MAX_DIMENSION}]`,
  width: `an integer in [1, ${MAX_DIMENSION}]`,
  format: `one of ${OUTPUT_FORMATS.join(', ')}`,
  q: 'an integer in [1, 100]',
  seed: `an integer in [0, ${MAX_SEED}]`,
  sr: 'one of 2, 4',
  t: 'a number in [0, 1]',
};

// Strict grammars for values that arrive as text. No sign, exponent, hex, whitespace or empty
// string: Number() would accept "", " 1", "0x10" and "1e400" and silently change the request.
const INTEGER_TEXT = /^[0-9]{1,12}$/;
const DECIMAL_TEXT = /^(?:[0-9]{1,12}(?:\.[0-9]{0,20})?|\.[0-9]{1,20})$/;

function textTo(grammar: RegExp): (value: unknown) => unknown {
  return (value) => (typeof value === 'string' && grammar.test(value) ? Number(value) : value);
}

function quantizeT(t: number): number {
  return Math.round(t / T_STEP) / (1 / T_STEP);
}

const dimension = z.preprocess(textTo(INTEGER_TEXT), z.int().min(1).max(MAX_DIMENSION)).optional();

/**
 * The one request schema. Numeric fields accept numbers or strictly formatted decimal text (query
 * strings and headers are text). `sr` is an integer factor, so "4.0" is rejected like any other
 * non-integer text; `t` accepts decimals ("0.70", ".7") and is rounded to the nearest {@link T_STEP}.
 * Unknown keys are rejected: callers that must tolerate them (query strings) pick the known keys first.
 *
 * Sizing: `width` and/or `height` (CSS pixels) times `dpr` name the output box and `fit` how the
 * image fills it; the result carries the box in device pixels (`dpr` folded in and dropped, `fit`
 * defaulted), so `width=800&dpr=2` and `width=1600` are one request. A sized request takes its scale
 * from the source ({@link resolveOutputSize}); `sr` cannot be given with it, nor `dpr`/`fit` without it.
 */
export const RequestParams = z
  .strictObject({
    /** Output scale. 2 runs the x4 model, then a high-quality downscale. */
    sr: z.preprocess(textTo(INTEGER_TEXT), z.literal([2, 4])).default(4),
    /** Fidelity (0) ↔ realism (1) strength. */
    t: z.preprocess(textTo(DECIMAL_TEXT), z.number().min(0).max(1)).transform(quantizeT).default(DEFAULT_T),
    /** Seed of the noise field: same seed, same output. */
    seed: z.preprocess(textTo(INTEGER_TEXT), z.int().min(0).max(MAX_SEED)).default(0),
    format: z.enum(OUTPUT_FORMATS).default('auto'),
    /** Encoder quality for lossy formats. */
    q: z.preprocess(textTo(INTEGER_TEXT), z.int().min(1).max(100)).default(85),
    /** Output box width, CSS pixels (times `dpr`). */
    width: dimension,
    /** Output box height, CSS pixels (times `dpr`). */
    height: dimension,
    /** Device pixel ratio: multiplies `width` and `height`. */
    dpr: z.preprocess(textTo(DECIMAL_TEXT), z.number().min(1).max(MAX_DPR)).optional(),
    /** How the image fills the `width`×`height` box. */
    fit: z.enum(FIT_MODES).optional(),
  })
  .transform(
    (
      { dpr, width, height, fit, ...rest },
      ctx,
    ): typeof rest & { width?: number; height?: number; fit?: FitMode } => {
      if (width === undefined && height === undefined) {
        for (const [field, value] of [
          ['dpr', dpr],
          ['fit', fit],
        ] as const) {
          if (value !== undefined) {
            ctx.addIssue({ code: 'custom', path: [field], message: `${field} needs width or height` });
          }
        }
        return rest;
      }
      const scale = dpr ?? 1;
      const box: { width?: number; height?: number } = {};
      for (const [field, value] of [
        ['width', width],
        ['height', height],
      ] as const) {
        if (value === undefined) continue;
        const px = Math.round(value * scale);
        if (px > MAX_DIMENSION) {
          ctx.addIssue({
            code: 'custom',
            path: [field],
            message: `${field} × dpr must be at most ${MAX_DIMENSION} (got ${px})`,
          });
        }
        box[field] = px;
      }
      return { ...rest, ...box, fit: fit ?? 'scale-down' };
    },
  );

/** Validated, defaulted, quantised request parameters. */
export type RequestParams = z.output<typeof RequestParams>;

/** What callers may send before defaults and quantisation. */
export type RequestParamsInput = z.input<typeof RequestParams>;

function isParamName(key: string): key is ParamName {
  return (PARAM_NAMES as readonly string[]).includes(key);
}

function badParam(field: string, message: string, allowed?: string): OftsrError {
  return new OftsrError('bad_param', message, allowed === undefined ? { field } : { field, allowed });
}

function parseRecord(raw: Record<string, unknown>): RequestParams {
  if (raw.sr !== undefined && (raw.width !== undefined || raw.height !== undefined)) {
    throw badParam(
      'sr',
      'sr cannot be combined with width or height (a sized request takes its scale from the source)',
    );
  }
  const result = RequestParams.safeParse(raw);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  if (issue?.code === 'unrecognized_keys') {
    const key = issue.keys[0] ?? '';
    throw badParam(key, `unknown parameter "${key}" (allowed: ${PARAM_NAMES.join(', ')})`);
  }
  const field = String(issue?.path[0] ?? '');
  if (!isParamName(field)) throw badParam(field, `invalid parameters: ${issue?.message ?? 'unknown'}`);
  const allowed = ALLOWED[field];
  if (issue?.code === 'custom') throw badParam(field, issue.message, allowed);
  throw badParam(field, `${field} must be ${allowed} (got ${JSON.stringify(raw[field])})`, allowed);
}

/** The subset of `URLSearchParams` the parser needs. */
export interface QueryLike {
  getAll(name: string): string[];
}

/** The subset of `Headers` the parser needs. */
export interface HeadersLike {
  get(name: string): string | null;
}

/**
 * Parses parameters from a query string. Unknown query keys are ignored, because CDN URLs carry
 * their own (cache busters, signatures); a known key given twice is ambiguous and rejected.
 *
 * @throws {OftsrError} `bad_param` (400) naming the field and its allowed range.
 * @example parseParamsFromQuery(new URL('https://x/cat.jpg?sr=4&t=0.7').searchParams)
 */
export function parseParamsFromQuery(query: QueryLike): RequestParams {
  const raw: Record<string, unknown> = {};
  for (const name of PARAM_NAMES) {
    const values = query.getAll(name);
    if (values.length > 1) throw badParam(name, `${name} given ${values.length} times; give it once`);
    if (values.length === 1) raw[name] = values[0];
  }
  return parseRecord(raw);
}

/**
 * Parses parameters from `x-oftsr-*` headers (see {@link PARAM_HEADERS}); other headers are ignored.
 *
 * @throws {OftsrError} `bad_param` (400) naming the field and its allowed range.
 */
export function parseParamsFromHeaders(headers: HeadersLike): RequestParams {
  const raw: Record<string, unknown> = {};
  for (const name of PARAM_NAMES) {
    const value = headers.get(PARAM_HEADERS[name]);
    if (value !== null) raw[name] = value;
  }
  return parseRecord(raw);
}

/**
 * Parses parameters from a JSON body. Unlike the query, unknown keys are rejected: a JSON body is
 * written for us, so an unknown key is a typo (e.g. `"strength"`) that must not be silently dropped.
 *
 * @throws {OftsrError} `bad_param` (400).
 */
export function parseParamsFromJson(json: unknown): RequestParams {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw badParam('', 'request body must be a JSON object');
  }
  return parseRecord(json as Record<string, unknown>);
}

/**
 * A stable text form of validated parameters: every key, alphabetical, shortest number spelling,
 * e.g. `format=auto&q=85&seed=0&sr=4&t=0.7`. Equal requests give equal strings; it is also a valid
 * query string that parses back to the same parameters.
 */
export function canonicalizeParams(p: RequestParams): string {
  const t = quantizeT(p.t);
  if (p.width === undefined && p.height === undefined) {
    return `format=${p.format}&q=${p.q}&seed=${p.seed}&sr=${p.sr}&t=${String(t)}`;
  }
  // A sized request: the box and fit replace sr (dpr is already folded into the box).
  const h = p.height === undefined ? '' : `&height=${p.height}`;
  const w = p.width === undefined ? '' : `&width=${p.width}`;
  return `fit=${p.fit ?? 'scale-down'}&format=${p.format}${h}&q=${p.q}&seed=${p.seed}&t=${String(t)}${w}`;
}

/** The largest upscale a sized request may need: the model's factor. */
export const MAX_SCALE = 4;

/** Where a request's output lands for a given source: the model path and the final size. */
export interface OutputSize {
  /** The model path: 2 (×4, then a Lanczos-3 reduction) or 4. */
  sr: 2 | 4;
  /** Final width and height in pixels. */
  width: number;
  height: number;
  /** `cover`: resize to cover the box, then crop its centre to exactly `width`×`height`. */
  crop: boolean;
}

/**
 * Resolves a request against its source's size. Without `width`/`height` it is `sr` times the
 * source. With them, the scale is the box's (`contain`/`scale-down`: the smaller ratio; `cover`:
 * the larger), the model path ×2 when that scale is at most 2, else ×4, and the result resized to
 * the box. More than ×{@link MAX_SCALE} is refused for `contain` and `cover` and capped for
 * `scale-down`.
 *
 * @throws {OftsrError} `bad_param` (400) naming `width` or `height` when the box needs more than ×4.
 * @example resolveOutputSize(parseParamsFromQuery(new URLSearchParams('width=800')), 200, 150)
 *   // { sr: 4, width: 800, height: 600, crop: false }
 */
export function resolveOutputSize(p: RequestParams, srcWidth: number, srcHeight: number): OutputSize {
  if (p.width === undefined && p.height === undefined) {
    return { sr: p.sr, width: srcWidth * p.sr, height: srcHeight * p.sr, crop: false };
  }
  const fit = p.fit ?? 'scale-down';
  const ratios: { field: 'width' | 'height'; ratio: number }[] = [];
  if (p.width !== undefined) ratios.push({ field: 'width', ratio: p.width / srcWidth });
  if (p.height !== undefined) ratios.push({ field: 'height', ratio: p.height / srcHeight });
  ratios.sort((a, b) => a.ratio - b.ratio);
  const pick = fit === 'cover' ? ratios[ratios.length - 1] : ratios[0];
  let scale = pick?.ratio ?? 1;
  if (scale > MAX_SCALE + 1e-9) {
    if (fit !== 'scale-down') {
      const field = pick?.field ?? 'width';
      throw badParam(
        field,
        `${field}=${String(p[field])} needs ×${scale.toFixed(2)} of this ${srcWidth}x${srcHeight} source; ` +
          `the model upscales at most ×${MAX_SCALE} (fit=scale-down caps it there)`,
        `at most ${MAX_SCALE} × the source's ${field} (${MAX_SCALE * (field === 'width' ? srcWidth : srcHeight)})`,
      );
    }
    scale = MAX_SCALE;
  }
  const sr = scale <= 2 ? 2 : 4;
  const crop = fit === 'cover' && p.width !== undefined && p.height !== undefined;
  if (crop) return { sr, width: p.width ?? 0, height: p.height ?? 0, crop };
  return {
    sr,
    width: Math.max(1, Math.round(srcWidth * scale)),
    height: Math.max(1, Math.round(srcHeight * scale)),
    crop,
  };
}

/**
 * `onerror`, an edge-only query key (how the edge answers, not what the image is: never in the
 * cache key, never sent to the runner): when the upscale fails, `original` serves the source bytes,
 * `redirect` a 302 to the source's public URL.
 */
export const ONERROR_MODES = ['original', 'redirect'] as const;

/** One of {@link ONERROR_MODES}. */
export type OnErrorMode = (typeof ONERROR_MODES)[number];

/** The query key of {@link ONERROR_MODES}. */
export const ONERROR_PARAM = 'onerror';

/**
 * The URL's `onerror`, if given.
 *
 * @throws {OftsrError} `bad_param` (400) for another value or a repeated key.
 */
export function parseOnError(query: QueryLike): OnErrorMode | undefined {
  const values = query.getAll(ONERROR_PARAM);
  if (values.length === 0) return undefined;
  const allowed = `one of ${ONERROR_MODES.join(', ')}`;
  const value = values[0] ?? '';
  if (values.length > 1 || !(ONERROR_MODES as readonly string[]).includes(value)) {
    throw badParam(
      ONERROR_PARAM,
      `${ONERROR_PARAM} must be ${allowed} (got ${JSON.stringify(values.join(','))})`,
      allowed,
    );
  }
  return value as OnErrorMode;
}

/** The query key of `metadata`, an edge-only key like `onerror` (outputs never carry it through). */
export const METADATA_PARAM = 'metadata';

/**
 * The URL's `metadata`. Outputs never carry the source's EXIF, XMP or ICC profile (pixels are
 * decoded to sRGB and re-encoded), so `none` — the default — is what every output is, and `keep`
 * is refused rather than answered with a stripped image.
 *
 * @throws {OftsrError} `bad_param` (400) for `keep`, another value or a repeated key.
 */
export function parseMetadata(query: QueryLike): 'none' {
  const values = query.getAll(METADATA_PARAM);
  if (values.length === 0) return 'none';
  if (values.length === 1 && values[0] === 'none') return 'none';
  if (values.length === 1 && values[0] === 'keep') {
    throw badParam(
      METADATA_PARAM,
      'metadata=keep is not supported: outputs carry no EXIF, XMP or ICC profile (pixels are re-encoded as sRGB); use metadata=none or leave it out',
      'none',
    );
  }
  throw badParam(METADATA_PARAM, `metadata must be none (got ${JSON.stringify(values.join(','))})`, 'none');
}

/**
 * `wait`, an edge-only query key like `onerror` (how long the edge waits for the upscale, not what
 * the image is: never in the cache key, never sent to the runner): milliseconds, 0 to
 * {@link MAX_WAIT_MS}. Past it the edge answers the original and finishes the upscale in the
 * background. `wait=0` answers at once.
 */
export const WAIT_PARAM = 'wait';

/** The longest `wait` a URL may ask for, ms (the edge also caps it at its runner timeout). */
export const MAX_WAIT_MS = 60_000;

/**
 * The URL's `wait`, if given.
 *
 * @throws {OftsrError} `bad_param` (400) for anything but an integer in [0, {@link MAX_WAIT_MS}], or a repeated key.
 */
export function parseWait(query: QueryLike): number | undefined {
  const values = query.getAll(WAIT_PARAM);
  if (values.length === 0) return undefined;
  const allowed = `an integer number of milliseconds in [0, ${MAX_WAIT_MS}]`;
  const value = values[0] ?? '';
  if (values.length > 1 || !/^[0-9]{1,5}$/.test(value) || Number(value) > MAX_WAIT_MS) {
    throw badParam(
      WAIT_PARAM,
      `${WAIT_PARAM} must be ${allowed} (got ${JSON.stringify(values.join(','))})`,
      allowed,
    );
  }
  return Number(value);
}
