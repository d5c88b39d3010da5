import {
  METADATA_PARAM,
  OftsrError,
  ONERROR_PARAM,
  PARAM_NAMES,
  parseParamsFromQuery,
  WAIT_PARAM,
  type RequestParams,
} from '@oftsr/shared';
import type { EdgeConfig } from './config.ts';
import { EXP_PARAM, SIG_PARAM } from './signing.ts';

/** Query key naming a preset from the `PRESETS` var. */
export const PRESET_PARAM = 'preset';

/** Every query key this edge reads: the request schema's, `preset`, `onerror`, `metadata`, `wait` and the signature's. */
export const KNOWN_QUERY_KEYS: readonly string[] = [
  ...PARAM_NAMES,
  PRESET_PARAM,
  ONERROR_PARAM,
  METADATA_PARAM,
  WAIT_PARAM,
  SIG_PARAM,
  EXP_PARAM,
];

/**
 * The one rule for unknown query keys: they are ignored (cache busters and analytics tags keep
 * working, and they never split the cache), and named in `X-Oftsr-Ignored-Params` on the answer,
 * so a parameter a user expected to work (`blur`, `quality`) is never a silent 200.
 */
export function ignoredParams(query: URLSearchParams): string[] {
  // Percent-encoded: a header value must be ASCII (browsers throw on anything else), keys are not.
  return [...new Set(query.keys())]
    .filter((key) => !KNOWN_QUERY_KEYS.includes(key))
    .map((key) => encodeURIComponent(key))
    .sort();
}

/**
 * The request's parameters: `?preset=NAME` expands to that preset's query; otherwise the URL's own
 * query is used. Both go through the one shared schema (`parseParamsFromQuery`), so presets cannot
 * hold values a URL could not. In `presets` signing mode an unsigned URL must name a preset and
 * nothing else; in `required` mode it is refused outright.
 *
 * @throws {OftsrError} 400 `bad_param` naming the field; 403 for what the signing mode forbids.
 */
export function resolveParams(query: URLSearchParams, signed: boolean, config: EdgeConfig): RequestParams {
  const presetNames = query.getAll(PRESET_PARAM);
  const explicit = PARAM_NAMES.filter((name) => query.has(name));
  if (!signed && config.signingMode === 'required') {
    throw new OftsrError('unauthorized', 'this edge only serves signed URLs (add sig=…)', {
      status: 403,
      field: 'sig',
    });
  }
  if (!signed && config.signingMode === 'presets' && (presetNames.length === 0 || explicit.length > 0)) {
    throw new OftsrError(
      'unauthorized',
      `unsigned URLs may only use ${PRESET_PARAM}=NAME, with no other parameters`,
      {
        status: 403,
        field: 'sig',
        allowed: [...config.presets.keys()].join(', '),
      },
    );
  }
  if (presetNames.length === 0) return parseParamsFromQuery(query);
  const allowed = [...config.presets.keys()].join(', ');
  if (presetNames.length > 1) {
    throw new OftsrError('bad_param', `${PRESET_PARAM} given ${presetNames.length} times; give it once`, {
      field: PRESET_PARAM,
      allowed,
    });
  }
  if (explicit.length > 0) {
    throw new OftsrError('bad_param', `${PRESET_PARAM} cannot be combined with ${explicit.join(', ')}`, {
      field: PRESET_PARAM,
    });
  }
  const name = presetNames[0] ?? '';
  const presetQuery = config.presets.get(name);
  if (presetQuery === undefined) {
    throw new OftsrError('bad_param', `unknown preset ${JSON.stringify(name)}`, {
      field: PRESET_PARAM,
      allowed,
    });
  }
  try {
    return parseParamsFromQuery(new URLSearchParams(presetQuery));
  } catch (cause) {
    throw new OftsrError('internal', `configuration PRESETS: preset ${name} is invalid`, { cause });
  }
}
