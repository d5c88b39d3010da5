/**
 * The main-thread side of worker-thread.ts: starts the worker, waits for load and warm-up, and
 * sends batches of tiles (their buffers transferred, not copied). One worker per runner; the worker
 * runs one model call at a time, in arrival order.
 */
import { Worker } from 'node:worker_threads';
import { ErrorCode, OftsrError } from '@oftsr/shared';
import type { TileInput } from './pipeline.ts';
import type { LoadModelOptions, LoadedModel, WarmUpReport } from './onnx-session.ts';

/** What the worker is started with. */
export interface WorkerInit {
  load: LoadModelOptions;
  shapes: { width: number; height: number }[];
  maxBatch: number;
}

/** Main → worker. */
export type WorkerRequest = { type: 'run'; id: number; tiles: TileInput[] } | { type: 'close'; id: number };

/** Worker → main. */
export type WorkerReply =
  | { type: 'ready'; id: 0; model: Omit<LoadedModel, 'session'>; report: WarmUpReport }
  | { type: 'result'; id: number; outputs: Float32Array[] }
  | { type: 'error'; id: number; message: string; code?: string };

/** A model loaded and warmed in a worker thread. */
export class WorkerSession {
  readonly model: Omit<LoadedModel, 'session'>;
  readonly report: WarmUpReport;
  private readonly worker: Worker;
  private readonly pending = new Map<
    number,
    { resolve: (o: Float32Array[]) => void; reject: (e: unknown) => void }
  >();
  private nextId = 1;

  private constructor(worker: Worker, model: Omit<LoadedModel, 'session'>, report: WarmUpReport) {
    this.worker = worker;
    this.model = model;
    this.report = report;
    worker.on('message', (reply: WorkerReply) => {
      const call = this.pending.get(reply.id);
      if (!call) return;
      this.pending.delete(reply.id);
      if (reply.type === 'result') call.resolve(reply.outputs);
      else if (reply.type === 'error') call.reject(toError(reply));
    });
    const failAll = (err: unknown) => {
      for (const call of this.pending.values()) call.reject(err);
      this.pending.clear();
    };
    worker.on('error', failAll);
    worker.on('exit', (code) => failAll(new OftsrError('internal', `inference worker exited (${code})`)));
  }

  /**
   * Starts a worker that loads the model and warms `shapes`.
   *
   * @throws OftsrError (`model_contract` and the like) when loading or warm-up fails; the worker is gone then.
   */
  static async start(init: WorkerInit): Promise<WorkerSession> {
    const worker = new Worker(new URL('./worker-thread.ts', import.meta.url), { workerData: init });
    const first = await new Promise<WorkerReply>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
      worker.once('exit', (code) =>
        reject(new OftsrError('internal', `inference worker exited (${code}) while loading`)),
      );
    });
    if (first.type !== 'ready') {
      await worker.terminate();
      throw first.type === 'error' ? toError(first) : new OftsrError('internal', 'unexpected worker reply');
    }
    return new WorkerSession(worker, first.model, first.report);
  }

  /** Runs one batch of equal-shaped tiles; the tiles' buffers move to the worker. */
  runBatch(tiles: readonly TileInput[]): Promise<Float32Array[]> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      const transfer = tiles.flatMap((t) => [t.lr.buffer, t.noise.buffer]) as ArrayBuffer[];
      this.worker.postMessage({ type: 'run', id, tiles: [...tiles] } satisfies WorkerRequest, [
        ...new Set(transfer),
      ]);
    });
  }

  /** Releases the session and stops the worker. */
  async close(): Promise<void> {
    this.worker.postMessage({ type: 'close', id: 0 } satisfies WorkerRequest);
    await Promise.race([
      new Promise((resolve) => this.worker.once('exit', resolve)),
      new Promise((resolve) => setTimeout(resolve, 2000)),
    ]);
    await this.worker.terminate();
  }
}

function toError(reply: { message: string; code?: string }): OftsrError {
  const code = reply.code !== undefined && reply.code in ErrorCode ? (reply.code as ErrorCode) : 'internal';
  return new OftsrError(code, reply.message);
}
