/**
 * The micro-batching tile queue: tiles of one shape, from any number of concurrent requests, are
 * stacked into model calls of at most `maxBatch` tiles, waiting at most `maxDelayMs` for a batch to
 * fill. Tiles whose signal aborts (deadline passed, client gone) while queued are dropped before
 * they cost any inference. Knows nothing of HTTP or metrics libraries: it reports through `onBatch`.
 */
import type { TileExecutor, TileInput } from '@oftsr/shared';

/** Runs equal-shaped tiles in one model call; outputs in input order, each `3 × s·h × s·w`. */
export type RunBatch = (tiles: readonly TileInput[]) => Promise<Float32Array[]>;

/** Options of {@link MicroBatcher}. */
export interface BatcherOptions {
  /** Runs one batch of equal-shaped tiles and returns their outputs in order. */
  runBatch: RunBatch;
  /** Most tiles per model call (≥ 1). */
  maxBatch: number;
  /** Longest a queued tile waits for its batch to fill; 0 still groups tiles submitted in one tick. */
  maxDelayMs: number;
  /** Model calls in flight at once; default 1 (one session: more only helps on some GPUs). */
  concurrency?: number;
  /** Called after every model call, for metrics. */
  onBatch?: (info: BatchInfo) => void;
}

/** What {@link BatcherOptions.onBatch} is told about one model call. */
export interface BatchInfo {
  /** `HxW` of the LR tiles. */
  shape: string;
  size: number;
  /** Milliseconds each tile waited in the queue. */
  waitMs: number[];
  /** Milliseconds the model call took. */
  runMs: number;
  ok: boolean;
}

interface Item {
  tile: TileInput;
  shape: string;
  enqueuedAt: number;
  resolve: (out: Float32Array) => void;
  reject: (err: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/**
 * A {@link TileExecutor} that batches equal-shaped tiles across callers.
 *
 * @example
 * const batcher = new MicroBatcher({ runBatch: (tiles) => runTileBatch(model, tiles), maxBatch: 4, maxDelayMs: 5 });
 * const out = await batcher.run(tile, signal);
 */
export class MicroBatcher implements TileExecutor {
  private readonly options: Required<Omit<BatcherOptions, 'onBatch'>> & Pick<BatcherOptions, 'onBatch'>;
  private readonly queues = new Map<string, Item[]>();
  private queued = 0;
  private active = 0;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private kickPending = false;
  private idleWaiters: (() => void)[] = [];

  constructor(options: BatcherOptions) {
    if (!Number.isInteger(options.maxBatch) || options.maxBatch < 1)
      throw new RangeError('maxBatch must be ≥ 1');
    if (!(options.maxDelayMs >= 0)) throw new RangeError('maxDelayMs must be ≥ 0');
    this.options = { concurrency: 1, ...options };
  }

  /** Tiles waiting for a model call. */
  get queuedTiles(): number {
    return this.queued;
  }

  /** Model calls in progress. */
  get running(): number {
    return this.active;
  }

  /** Queues one tile; resolves with its output, or rejects with the signal's reason if it aborts first. */
  run(tile: TileInput, signal?: AbortSignal): Promise<Float32Array> {
    return new Promise<Float32Array>((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const item: Item = {
        tile,
        shape: `${tile.height}x${tile.width}`,
        enqueuedAt: performance.now(),
        resolve,
        reject,
        signal,
        onAbort: undefined,
      };
      if (signal) {
        item.onAbort = () => this.drop(item);
        signal.addEventListener('abort', item.onAbort, { once: true });
      }
      const queue = this.queues.get(item.shape);
      if (queue) queue.push(item);
      else this.queues.set(item.shape, [item]);
      this.queued += 1;
      this.kick();
    });
  }

  /** Resolves once nothing is queued or running. */
  idle(): Promise<void> {
    if (this.queued === 0 && this.active === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private drop(item: Item): void {
    const queue = this.queues.get(item.shape);
    const at = queue ? queue.indexOf(item) : -1;
    if (!queue || at === -1) return; // already dispatched: its result is simply discarded by the caller
    queue.splice(at, 1);
    if (queue.length === 0) this.queues.delete(item.shape);
    this.queued -= 1;
    item.reject(item.signal?.reason);
    this.settleIdle();
  }

  // Deferred to the next macrotask so that tiles submitted together in one tick share a batch.
  private kick(): void {
    if (this.kickPending) return;
    this.kickPending = true;
    setImmediate(() => {
      this.kickPending = false;
      this.schedule();
    });
  }

  private schedule(): void {
    while (this.active < this.options.concurrency) {
      let oldest: Item[] | undefined;
      for (const queue of this.queues.values()) {
        if (!oldest || (queue[0] as Item).enqueuedAt < (oldest[0] as Item).enqueuedAt) oldest = queue;
      }
      if (!oldest) return;
      const head = oldest[0] as Item;
      const dueAt = head.enqueuedAt + this.options.maxDelayMs;
      const full = oldest.length >= this.options.maxBatch;
      if (!full && performance.now() < dueAt) {
        this.armTimer(dueAt);
        return;
      }
      const items = oldest.splice(0, this.options.maxBatch);
      if (oldest.length === 0) this.queues.delete(head.shape);
      this.queued -= items.length;
      void this.dispatch(items);
    }
  }

  private armTimer(at: number): void {
    if (this.timer && this.timerAt <= at) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.timerAt = Infinity;
        this.schedule();
      },
      Math.max(0, at - performance.now()),
    );
  }

  private async dispatch(items: Item[]): Promise<void> {
    this.active += 1;
    const start = performance.now();
    for (const item of items) {
      if (item.signal && item.onAbort) item.signal.removeEventListener('abort', item.onAbort);
    }
    let ok = false;
    try {
      const outputs = await this.options.runBatch(items.map((i) => i.tile));
      ok = true;
      items.forEach((item, k) => item.resolve(outputs[k] as Float32Array));
    } catch (err) {
      for (const item of items) item.reject(err);
    } finally {
      this.active -= 1;
      this.options.onBatch?.({
        shape: (items[0] as Item).shape,
        size: items.length,
        waitMs: items.map((i) => start - i.enqueuedAt),
        runMs: performance.now() - start,
        ok,
      });
      this.schedule();
      this.settleIdle();
    }
  }

  private settleIdle(): void {
    if (this.queued !== 0 || this.active !== 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
