import { z } from 'zod';
import { OftsrError } from './errors.ts';

/**
 * Default tunable strength t. 0.5 sits in the middle of the fidelity–realism curve: clearly sharper
 * than the blurry, regression-like t = 0 fidelity end, while staying away from the t = 1 end where a
 * one-step student hallucinates most texture. Users slide it from there.
 */
export const DEFAULT_T = 0.5;

/** t is quantised to this step (nearest), so near-identical requests share one cache entry. */
export const T_STEP = 0.05;

/** Output image formats; `auto` lets the server pick from the source and `Accept`. */
export const OUTPUT_FORMATS = ['auto', 'png', 'jpeg', 'webp', 'avif'] as const;

/** One of {@link OUTPUT_FORMATS}. */
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** The largest seed: seeds are uint32, like the noise field's hash input. */
export const MAX_SEED = 0xffffffff;

/** Request parameter names, in canonical (alphabetical) order. */
export const PARAM_NAMES = ['format', 'q', 'seed', 'sr', 't'] as const;

/** One of {@link PARAM_NAMES}. */
export type ParamName = (typeof PARAM_NAMES)[number];

/** The header that carries each parameter when it is not in the query (e.g. `x-oftsr-t`). */
export const PARAM_HEADERS: Readonly<Record<ParamName, string>> = {
  format: 'x-oftsr-format',
  q: 'x-oftsr-q',
  seed: 'x-oftsr-seed',
  sr: 'x-oftsr-sr',
  t: 'x-oftsr-t',
};

const ALLOWED: Readonly<Record<ParamName, string>> = {
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

/**
 * The one request schema. Numeric fields accept numbers or strictly formatted decimal text (query
 * strings and headers are text). `sr` is an integer factor, so "4.0" is rejected like any other
 * non-integer text; `t` accepts decimals ("0.70", ".7") and is rounded to the nearest {@link T_STEP}.
 * Unknown keys are rejected: callers that must tolerate them (query strings) pick the known keys first.
 */
export const RequestParams = z.strictObject({
  /** Output scale. 2 runs the x4 model, then a high-quality downscale. */
  sr: z.preprocess(textTo(INTEGER_TEXT), z.literal([2, 4])).default(4),
  /** Fidelity (0) ↔ realism (1) strength. */
  t: z.preprocess(textTo(DECIMAL_TEXT), z.number().min(0).max(1)).transform(quantizeT).default(DEFAULT_T),
  /** Seed of the noise field: same seed, same output. */
  seed: z.preprocess(textTo(INTEGER_TEXT), z.int().min(0).max(MAX_SEED)).default(0),
  format: z.enum(OUTPUT_FORMATS).default('auto'),
  /** Encoder quality for lossy formats. */
  q: z.preprocess(textTo(INTEGER_TEXT), z.int().min(1).max(100)).default(85),
});

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
  return `format=${p.format}&q=${p.q}&seed=${p.seed}&sr=${p.sr}&t=${String(t)}`;
}
