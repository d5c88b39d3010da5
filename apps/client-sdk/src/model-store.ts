/**
 * Fetches the model once: the manifest, then the ONNX bytes, checked against the manifest's sha256
 * and size, and kept in Cache Storage under the URL plus the hash (so a new model never reads an
 * old entry). Works in windows and workers.
 */
import { OftsrError, parseManifest } from '@oftsr/shared';
import type { ModelManifest } from '@oftsr/shared';

/** The Cache Storage bucket the SDK uses. */
export const MODEL_CACHE = 'oftsr-models-v1';

/** A loaded, verified model. */
export interface StoredModel {
  manifest: ModelManifest;
  bytes: Uint8Array;
  /** Whether the bytes came from Cache Storage. */
  cached: boolean;
}

/** Lowercase hex SHA-256 (WebCrypto). */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** The Cache Storage key of a model: its URL with the expected hash as fragment-free query. */
export function cacheKeyOf(modelUrl: string, sha256: string): string {
  const url = new URL(modelUrl);
  url.searchParams.set('oftsr-sha256', sha256);
  return url.href;
}

async function fetchOk(url: string, what: string): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(url);
  } catch (err) {
    throw new OftsrError('upstream', `could not fetch the ${what} at ${url}`, { cause: err });
  }
  if (!res.ok) throw new OftsrError('upstream', `fetching the ${what} at ${url} answered ${res.status}`);
  return res;
}

/**
 * Loads and verifies the model the manifest at `manifestUrl` describes.
 *
 * @throws OftsrError `model_contract` when the manifest is invalid or the bytes do not match its
 *   sha256/size; `upstream` when a fetch fails.
 */
export async function loadModel(manifestUrl: string): Promise<StoredModel> {
  const manifest = parseManifest(await (await fetchOk(manifestUrl, 'model manifest')).json());
  const modelUrl = new URL(manifest.file, manifestUrl).href;
  const key = cacheKeyOf(modelUrl, manifest.sha256);
  const cache =
    typeof caches === 'undefined' ? undefined : await caches.open(MODEL_CACHE).catch(() => undefined);
  const hit = await cache?.match(key);
  if (hit) {
    const bytes = new Uint8Array(await hit.arrayBuffer());
    if ((await sha256Hex(bytes)) === manifest.sha256) return { manifest, bytes, cached: true };
    await cache?.delete(key);
  }
  const bytes = new Uint8Array(await (await fetchOk(modelUrl, 'model')).arrayBuffer());
  const sha = await sha256Hex(bytes);
  if (sha !== manifest.sha256 || bytes.length !== manifest.bytes) {
    throw new OftsrError(
      'model_contract',
      `model ${modelUrl} does not match its manifest: sha256 ${sha} (${bytes.length} bytes), expected ${manifest.sha256} (${manifest.bytes} bytes)`,
    );
  }
  await cache
    ?.put(
      key,
      new Response(bytes as Uint8Array<ArrayBuffer>, {
        headers: { 'content-type': 'application/octet-stream' },
      }),
    )
    .catch(() => undefined);
  return { manifest, bytes, cached: false };
}
