import { describe, expect, it } from 'vitest';
import { MicroBatcher } from './batcher.ts';
import type { TileInput } from './pipeline.ts';

function tile(size: number, value: number): TileInput {
  return { lr: new Float32Array([value]), noise: new Float32Array(0), t: 0.5, width: size, height: size };
}

/** A fake model: records each batch and answers with the tiles' first LR value. */
function recorder(delayMs = 0) {
  const batches: number[][] = [];
  const runBatch = async (tiles: readonly TileInput[]) => {
    batches.push(tiles.map((t) => t.lr[0] as number));
    if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
    return tiles.map((t) => new Float32Array([(t.lr[0] as number) * 10]));
  };
  return { batches, runBatch };
}

describe('MicroBatcher', () => {
  it('groups equal shapes from different callers, up to maxBatch, and keeps each result with its tile', async () => {
    const { batches, runBatch } = recorder();
    const batcher = new MicroBatcher({ runBatch, maxBatch: 3, maxDelayMs: 0 });
    const outs = await Promise.all([1, 2, 3, 4, 5].map((v) => batcher.run(tile(8, v))));
    expect(outs.map((o) => o[0])).toEqual([10, 20, 30, 40, 50]);
    expect(batches).toEqual([
      [1, 2, 3],
      [4, 5],
    ]);
  });

  it('never mixes shapes in one batch', async () => {
    const { batches, runBatch } = recorder();
    const batcher = new MicroBatcher({ runBatch, maxBatch: 8, maxDelayMs: 0 });
    await Promise.all([batcher.run(tile(8, 1)), batcher.run(tile(16, 2)), batcher.run(tile(8, 3))]);
    expect(batches.map((b) => b.sort())).toEqual(expect.arrayContaining([[1, 3], [2]]));
  });

  it('waits up to maxDelayMs for a batch to fill', async () => {
    const { batches, runBatch } = recorder();
    const batcher = new MicroBatcher({ runBatch, maxBatch: 4, maxDelayMs: 80 });
    const first = batcher.run(tile(8, 1));
    await new Promise((r) => setTimeout(r, 20));
    const second = batcher.run(tile(8, 2));
    await Promise.all([first, second]);
    expect(batches).toEqual([[1, 2]]);
  });

  it('drops tiles whose signal aborts while queued, before any inference', async () => {
    const { batches, runBatch } = recorder(50);
    const batcher = new MicroBatcher({ runBatch, maxBatch: 1, maxDelayMs: 0 });
    const busy = batcher.run(tile(8, 1));
    const controller = new AbortController();
    const dropped = batcher.run(tile(8, 2), controller.signal);
    await new Promise((r) => setImmediate(r));
    expect(batcher.queuedTiles).toBe(1);
    controller.abort(new Error('deadline'));
    await expect(dropped).rejects.toThrow('deadline');
    expect(batcher.queuedTiles).toBe(0);
    await busy;
    await batcher.idle();
    expect(batches).toEqual([[1]]);
  });

  it('rejects every tile of a failed batch and carries on', async () => {
    let calls = 0;
    const batcher = new MicroBatcher({
      runBatch: async (tiles) => {
        calls += 1;
        if (calls === 1) throw new Error('model failed');
        return tiles.map(() => new Float32Array(1));
      },
      maxBatch: 2,
      maxDelayMs: 0,
    });
    const results = await Promise.allSettled([batcher.run(tile(8, 1)), batcher.run(tile(8, 2))]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    await expect(batcher.run(tile(8, 3))).resolves.toHaveLength(1);
  });
});
