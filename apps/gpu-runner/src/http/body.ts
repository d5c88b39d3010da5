/**
 * Reads a request body under a byte limit and a time limit, before anything decodes it: the
 * declared `Content-Length` is checked first, then the stream is counted as it arrives (chunked
 * bodies declare nothing); a body that has not fully arrived within `timeoutMs` is refused (408), so
 * a stalled upload holds nothing for long. When the caller sent `x-oftsr-content-sha256` (the HMAC scheme signs it), the
 * body must hash to it.
 */
import { createHash } from 'node:crypto';
import { OftsrError } from '@oftsr/shared';
import { AUTH_HEADERS } from './request-signing.ts';

function tooLarge(size: string, maxBytes: number): OftsrError {
  return new OftsrError(
    'too_large',
    `request body is ${size}; the limit is ${maxBytes} bytes (OFTSR_MAX_INPUT_BYTES)`,
    { field: 'OFTSR_MAX_INPUT_BYTES', allowed: `at most ${maxBytes} bytes` },
  );
}

/** A body that did not arrive in time: 408, naming the setting. */
function bodyTimeout(timeoutMs: number): OftsrError {
  return new OftsrError(
    'timeout',
    `the request body did not arrive within ${timeoutMs} ms (OFTSR_BODY_TIMEOUT_MS)`,
    { status: 408, field: 'OFTSR_BODY_TIMEOUT_MS', allowed: `a body sent within ${timeoutMs} ms` },
  );
}

/**
 * @throws OftsrError `too_large` (413) over `maxBytes`, `timeout` (408) past `timeoutMs`,
 *   `unauthorized` (401) when the body does not match its signed hash.
 */
export async function readBody(
  request: Request,
  maxBytes: number,
  timeoutMs = Number.POSITIVE_INFINITY,
): Promise<Uint8Array> {
  const declared = request.headers.get('content-length');
  if (declared !== null && /^[0-9]+$/.test(declared) && Number(declared) > maxBytes) {
    throw tooLarge(`${declared} bytes`, maxBytes);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (request.body) {
    const reader = request.body.getReader();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<'expired'>((resolve) => {
      if (Number.isFinite(timeoutMs)) timer = setTimeout(() => resolve('expired'), timeoutMs);
    });
    try {
      for (;;) {
        const next = await Promise.race([reader.read(), expired]);
        if (next === 'expired') {
          reader.cancel().catch(() => {});
          throw bodyTimeout(timeoutMs);
        }
        const { done, value } = next;
        if (done) break;
        size += value.byteLength;
        if (size > maxBytes) {
          await reader.cancel();
          throw tooLarge(`over ${maxBytes} bytes`, maxBytes);
        }
        chunks.push(value);
      }
    } finally {
      clearTimeout(timer);
    }
  }
  const body = Buffer.concat(chunks, size);
  const signed = request.headers.get(AUTH_HEADERS.contentSha256);
  if (signed !== null && createHash('sha256').update(body).digest('hex') !== signed.toLowerCase()) {
    throw new OftsrError('unauthorized', `the body does not match ${AUTH_HEADERS.contentSha256}`);
  }
  return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
}
