/**
 * Reads a request body under a byte limit, before anything decodes it: the declared
 * `Content-Length` is checked first, then the stream is counted as it arrives (chunked bodies
 * declare nothing). When the caller sent `x-oftsr-content-sha256` (the HMAC scheme signs it), the
 * body must hash to it.
 */
import { createHash } from 'node:crypto';
import { OftsrError } from '@oftsr/shared';
import { AUTH_HEADERS } from './auth.ts';

function tooLarge(size: string, maxBytes: number): OftsrError {
  return new OftsrError(
    'too_large',
    `request body is ${size}; the limit is ${maxBytes} bytes (OFTSR_MAX_INPUT_BYTES)`,
    { field: 'OFTSR_MAX_INPUT_BYTES', allowed: `at most ${maxBytes} bytes` },
  );
}

/**
 * @throws OftsrError `too_large` (413) over `maxBytes`, `unauthorized` (401) when the body does not
 *   match its signed hash.
 */
export async function readBody(request: Request, maxBytes: number): Promise<Uint8Array> {
  const declared = request.headers.get('content-length');
  if (declared !== null && /^[0-9]+$/.test(declared) && Number(declared) > maxBytes) {
    throw tooLarge(`${declared} bytes`, maxBytes);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (request.body) {
    const reader = request.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) {
        await reader.cancel();
        throw tooLarge(`over ${maxBytes} bytes`, maxBytes);
      }
      chunks.push(value);
    }
  }
  const body = Buffer.concat(chunks, size);
  const signed = request.headers.get(AUTH_HEADERS.contentSha256);
  if (signed !== null && createHash('sha256').update(body).digest('hex') !== signed.toLowerCase()) {
    throw new OftsrError('unauthorized', `the body does not match ${AUTH_HEADERS.contentSha256}`);
  }
  return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
}
