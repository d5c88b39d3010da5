/**
 * S3/R2 access for jobs, with @aws-sdk/client-s3: bounded reads of the source, and writes that
 * never leave a partial object under the destination key. Large bodies go up as a multipart upload
 * (@aws-sdk/lib-storage `Upload`), which stays invisible until completed and is aborted on any
 * failure; small ones as one PutObject, which S3 applies atomically. Errors become OftsrErrors
 * that say whether retrying can help.
 */
import { GetObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { OftsrError, encodeMetadataValue } from '@oftsr/shared';
import type { Config } from '../config.ts';

/** An S3 failure, with whether the same request may succeed later. */
export class StorageError extends OftsrError {
  readonly retryable: boolean;

  constructor(message: string, retryable: boolean, cause: unknown) {
    super('upstream', message, { cause });
    this.name = 'StorageError';
    this.retryable = retryable;
  }
}

/** Creates the client from the `OFTSR_S3_*` settings; credentials come from the AWS default chain. */
export function createS3Client(s3: Config['s3']): S3Client {
  return new S3Client({
    region: s3.region,
    ...(s3.endpoint ? { endpoint: s3.endpoint } : {}),
    forcePathStyle: s3.forcePathStyle,
    maxAttempts: s3.maxAttempts,
    requestHandler: { connectionTimeout: Math.min(s3.timeoutMs, 5000), requestTimeout: s3.timeoutMs },
  });
}

const NOT_RETRYABLE = new Set([
  'NoSuchKey',
  'NotFound',
  'NoSuchBucket',
  'AccessDenied',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'InvalidBucketName',
  'InvalidArgument',
]);

/**
 * Classifies an SDK error: 4xx answers (missing key, denied) are final; network failures,
 * timeouts, throttling and 5xx are retryable.
 */
export function storageError(action: string, url: string, err: unknown): StorageError {
  if (err instanceof StorageError) return err;
  if (err instanceof S3ServiceException) {
    const status = err.$metadata?.httpStatusCode ?? 0;
    const retryable = !NOT_RETRYABLE.has(err.name) && (status === 0 || status >= 500 || status === 429);
    const what =
      err.name === 'NoSuchKey' || err.name === 'NotFound' ? 'not found' : `${err.name} (HTTP ${status})`;
    return new StorageError(`cannot ${action} ${url}: ${what}`, retryable, err);
  }
  const e = err as { code?: string; name?: string; message?: string };
  if (err instanceof TypeError || /^ERR_INVALID/.test(e.code ?? '')) {
    // The request could not even be built (e.g. a header value Node refuses): the same request
    // can never succeed, so it is not retryable.
    const detail = (e.message ?? String(err)).split('\n')[0];
    return new StorageError(`cannot ${action} ${url}: invalid request (${detail})`, false, err);
  }
  const why = e.code ?? e.name ?? 'error';
  const detail = (e.message ?? String(err)).split('\n')[0];
  return new StorageError(`cannot ${action} ${url}: S3 unreachable (${why}: ${detail})`, true, err);
}

/** A location in a bucket. */
export interface ObjectRef {
  bucket: string;
  key: string;
}

/** Options of {@link ObjectStore.putAtomic}. */
export interface PutOptions {
  contentType: string;
  /** S3 user metadata (`x-amz-meta-*`); values are stored with `encodeMetadataValue` (shared). */
  metadata: Record<string, string>;
  signal?: AbortSignal;
}

/** What a completed write reports. */
export interface PutResult {
  etag: string | undefined;
  /** Whether it went up as a multipart upload (bodies larger than the part size). */
  multipart: boolean;
}

/** Bounded reads and all-or-nothing writes. */
export class ObjectStore {
  readonly client: S3Client;
  readonly partSizeBytes: number;

  constructor(client: S3Client, partSizeBytes: number) {
    this.client = client;
    this.partSizeBytes = partSizeBytes;
  }

  /**
   * Reads an object, refusing it from its declared length (and while streaming) when it exceeds
   * `maxBytes`.
   *
   * @throws StorageError (upstream, retryable or not); OftsrError `too_large` over the limit.
   */
  async getBytes(ref: ObjectRef, maxBytes: number, signal?: AbortSignal): Promise<Uint8Array> {
    const url = `s3://${ref.bucket}/${ref.key}`;
    try {
      const res = await this.client.send(
        new GetObjectCommand({ Bucket: ref.bucket, Key: ref.key }),
        signal ? { abortSignal: signal } : {},
      );
      const tooLarge = (size: string) =>
        new OftsrError(
          'too_large',
          `${url} is ${size}; the limit is ${maxBytes} bytes (OFTSR_MAX_INPUT_BYTES)`,
          {
            field: 'OFTSR_MAX_INPUT_BYTES',
            allowed: `at most ${maxBytes} bytes`,
          },
        );
      if ((res.ContentLength ?? 0) > maxBytes) {
        res.Body?.transformToWebStream()
          .cancel()
          .catch(() => {});
        throw tooLarge(`${res.ContentLength} bytes`);
      }
      const chunks: Uint8Array[] = [];
      let size = 0;
      const body = res.Body as AsyncIterable<Uint8Array> | undefined;
      for await (const chunk of body ?? []) {
        size += chunk.byteLength;
        if (size > maxBytes) throw tooLarge(`over ${maxBytes} bytes`);
        chunks.push(chunk);
      }
      return new Uint8Array(Buffer.concat(chunks, size));
    } catch (err) {
      if (err instanceof OftsrError) throw err;
      throw storageError('read', url, err);
    }
  }

  /**
   * Writes `body` so that the key shows either the complete object or nothing new: a multipart
   * upload above the part size (aborted on failure or on `signal`), one PutObject below it.
   *
   * @throws StorageError when the write fails; nothing is left visible under the key.
   */
  async putAtomic(ref: ObjectRef, body: Uint8Array, options: PutOptions): Promise<PutResult> {
    const url = `s3://${ref.bucket}/${ref.key}`;
    const upload = new Upload({
      client: this.client,
      params: {
        Bucket: ref.bucket,
        Key: ref.key,
        Body: body,
        ContentType: options.contentType,
        Metadata: Object.fromEntries(
          Object.entries(options.metadata).map(([k, v]) => [k, encodeMetadataValue(v)]),
        ),
      },
      partSize: this.partSizeBytes,
      queueSize: 2,
      // The default, stated: a failed multipart upload is aborted, so no parts linger billed.
      leavePartsOnError: false,
    });
    const onAbort = () => void upload.abort().catch(() => {});
    options.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      options.signal?.throwIfAborted();
      const res = await upload.done();
      return { etag: res.ETag, multipart: body.byteLength > this.partSizeBytes };
    } catch (err) {
      if (options.signal?.aborted) throw storageError('write', url, options.signal.reason);
      throw storageError('write', url, err);
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
    }
  }
}
