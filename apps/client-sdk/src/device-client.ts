/**
 * The main thread's side of the inference worker: starts the worker for one provider (which loads
 * the model), sends it upscale and warm-up requests, routes its answers by request id and stops
 * it. Knows nothing of the cloud or of when to fall back to it (see upscaler.ts).
 */
import { OftsrError } from '@oftsr/shared';
import type { ModelManifest, RequestParams } from '@oftsr/shared';
import type { DecodedInput } from './image.ts';
import type {
  DeviceProvider,
  ReadyMessage,
  ResultMessage,
  WorkerRequest,
  WorkerResponse,
} from './protocol.ts';

/** Where the worker and the model come from. */
export interface DeviceClientOptions {
  workerUrl: string;
  manifestUrl: string;
  wasmPaths: string;
  graphCapture: boolean;
}

/** Codes that are the caller's fault: the cloud would refuse them too, so no fallback. */
const CALLER_ERRORS = new Set(['bad_param', 'bad_image', 'too_large', 'unsupported_format']);

/** The reason of an aborted signal, or an `AbortError`. */
export function abortError(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('The upscale was aborted', 'AbortError');
}

/**
 * An error from the device that the cloud may not share (a lost device, a failed model load, a
 * runtime fault), as opposed to the caller's own (a bad image, a bad parameter).
 */
export function isDeviceFailure(err: unknown): boolean {
  const e = err as { loadFailure?: boolean; deviceFailure?: boolean } | null;
  return e?.loadFailure === true || e?.deviceFailure === true;
}

/** Whether the model failed to load (as opposed to failing mid-run). */
export function isLoadFailure(err: unknown): boolean {
  return (err as { loadFailure?: boolean } | null)?.loadFailure === true;
}

/** What a request's `settle` returns for an answer that does not end it. */
const PENDING = Symbol('pending');

interface RunningWorker {
  worker: Worker;
  provider: DeviceProvider;
  ready: Promise<ReadyMessage>;
  listeners: Map<number, (msg: WorkerResponse) => void>;
}

/**
 * One inference worker at a time, on one provider. Every request is abortable; aborting an upscale
 * or a warm-up terminates the worker, which stops the tile in flight at once and frees its GPU
 * device (the next request starts a fresh one).
 */
export class DeviceClient {
  readonly #options: DeviceClientOptions;
  #current: RunningWorker | undefined;
  #nextId = 1;
  #manifest: ModelManifest | undefined;
  #modelCached: boolean | undefined;

  constructor(options: DeviceClientOptions) {
    this.#options = options;
  }

  /** Whether a worker (and so its GPU device) exists now. */
  get alive(): boolean {
    return this.#current !== undefined;
  }

  /** The manifest of the last model loaded, if any. */
  get manifest(): ModelManifest | undefined {
    return this.#manifest;
  }

  /** Whether the last model loaded came from Cache Storage. */
  get modelCached(): boolean | undefined {
    return this.#modelCached;
  }

  /**
   * Waits for the model on `provider`, starting its worker unless one already runs there (a worker
   * on another provider is stopped first). A load failure is marked (see {@link isLoadFailure}).
   * With `stopOnAbort`, an abort also stops the worker; otherwise the load goes on for the next call.
   */
  async ready(provider: DeviceProvider, signal?: AbortSignal, stopOnAbort = false): Promise<ReadyMessage> {
    const running = this.#start(provider);
    return this.#abortable(running, signal, stopOnAbort, () =>
      running.ready.catch((err: unknown) => {
        throw Object.assign(err instanceof Error ? err : new Error(String(err)), { loadFailure: true });
      }),
    );
  }

  /**
   * Upscales one decoded image on the worker that {@link ready} started. `onTile` hears each tile.
   *
   * @throws OftsrError the caller's own code (`bad_image`, …) or `internal` marked as a device failure.
   */
  run(
    image: DecodedInput,
    params: RequestParams,
    tile: number,
    signal: AbortSignal | undefined,
    onTile: (done: number, total: number) => void,
  ): Promise<ResultMessage> {
    const running = this.#require();
    return this.#abortable(running, signal, true, () =>
      this.#request<ResultMessage>(
        running,
        (id) => {
          const pixels = new Uint8ClampedArray(image.pixels);
          const request: WorkerRequest = {
            type: 'upscale',
            id,
            pixels,
            width: image.width,
            height: image.height,
            alpha: image.alpha,
            sr: params.sr as 2 | 4,
            t: params.t,
            seed: params.seed,
            tile,
          };
          running.worker.postMessage(request, [pixels.buffer]);
        },
        (msg) => {
          if (msg.type === 'result') return msg;
          if (msg.type === 'error') {
            const caller = CALLER_ERRORS.has(msg.code);
            throw Object.assign(
              new OftsrError(caller ? (msg.code as 'bad_param') : 'internal', msg.message),
              {
                deviceFailure: !caller,
              },
            );
          }
          if (msg.type === 'progress') onTile(msg.done, msg.total);
          return PENDING;
        },
      ),
    );
  }

  /** Opens (compiles and runs once) the session for `tile` on the running worker. */
  warm(tile: number, signal?: AbortSignal): Promise<void> {
    const running = this.#require();
    return this.#abortable(running, signal, true, () =>
      this.#request<undefined>(
        running,
        (id) => running.worker.postMessage({ type: 'warmup', id, tile } satisfies WorkerRequest),
        (msg) => {
          if (msg.type === 'error') throw new OftsrError('internal', msg.message);
          return msg.type === 'warm' ? undefined : PENDING;
        },
      ),
    );
  }

  /** Terminates the worker, if any; the next {@link ready} starts a fresh one. */
  stop(): void {
    this.#current?.worker.terminate();
    this.#current = undefined;
  }

  #require(): RunningWorker {
    if (!this.#current) throw new OftsrError('internal', 'the inference worker is not running');
    return this.#current;
  }

  #start(provider: DeviceProvider): RunningWorker {
    if (this.#current && this.#current.provider === provider) return this.#current;
    this.stop();
    const worker = new Worker(this.#options.workerUrl, { type: 'module', name: 'oftsr-inference' });
    const listeners = new Map<number, (msg: WorkerResponse) => void>();
    worker.onmessage = (event: MessageEvent<WorkerResponse>) => listeners.get(event.data.id)?.(event.data);
    const id = this.#nextId++;
    const ready = new Promise<ReadyMessage>((resolve, reject) => {
      worker.onerror = (event) =>
        reject(new OftsrError('internal', `the inference worker failed: ${event.message}`));
      listeners.set(id, (msg) => {
        listeners.delete(id);
        if (msg.type === 'ready') resolve(msg);
        else if (msg.type === 'error')
          reject(new OftsrError(msg.code === 'device' ? 'internal' : (msg.code as 'internal'), msg.message));
      });
    });
    const request: WorkerRequest = {
      type: 'init',
      id,
      manifestUrl: this.#options.manifestUrl,
      wasmPaths: this.#options.wasmPaths,
      provider,
      graphCapture: this.#options.graphCapture,
    };
    worker.postMessage(request);
    ready.then(
      (msg) => {
        this.#manifest = msg.manifest;
        this.#modelCached = msg.cached;
      },
      () => undefined,
    );
    this.#current = { worker, provider, ready, listeners };
    return this.#current;
  }

  /**
   * Sends one request; each answer with its id goes to `settle`, which returns the result, throws,
   * or returns {@link PENDING} to wait for the next answer (progress).
   */
  #request<T>(
    running: RunningWorker,
    send: (id: number) => void,
    settle: (msg: WorkerResponse) => T | typeof PENDING,
  ): Promise<T> {
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      running.listeners.set(id, (msg) => {
        let value: T | typeof PENDING;
        try {
          value = settle(msg);
        } catch (err) {
          running.listeners.delete(id);
          reject(err);
          return;
        }
        if (value === PENDING) return;
        running.listeners.delete(id);
        resolve(value);
      });
      send(id);
    });
  }

  /** `work()`, rejected with the abort reason when `signal` fires first (and the worker stopped). */
  #abortable<T>(
    running: RunningWorker,
    signal: AbortSignal | undefined,
    stopOnAbort: boolean,
    work: () => Promise<T>,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => {
        if (stopOnAbort && this.#current === running) this.stop();
        reject(abortError(signal as AbortSignal));
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      work()
        .then(resolve, reject)
        .finally(() => signal?.removeEventListener('abort', onAbort));
    });
  }
}
