/**
 * The bare model's rate per tile pixel by tile size (CPU, batch 1): sizes alternate within one
 * process, so machine noise hits all of them. Says whether big tiles pay for their fewer seams.
 *
 *   node bench/runner/tile-rate.ts [sizes, default 256,320,440,568,640] [rounds, default 3]
 *   → bench/runner/tile-rate.json
 */
import { writeFileSync } from 'node:fs';
import { Tensor } from 'onnxruntime-node';
import { loadModel } from '../../apps/gpu-runner/src/inference/onnx-session.ts';
import { machineInfo } from '../stats.ts';

const sizes = (process.argv[2] ?? '256,320,440,568,640').split(',').map(Number);
const rounds = Number(process.argv[3] ?? 3);
const model = await loadModel({ providers: ['cpu'] });
const ms: Record<number, number[]> = {};
const run = async (n: number) => {
  const t = performance.now();
  await model.session.run({
    lr: new Tensor('float32', new Float32Array(3 * n * n).fill(0.1), [1, 3, n, n]),
    noise: new Tensor('float32', new Float32Array(3 * 16 * n * n).fill(0.2), [1, 3, 4 * n, 4 * n]),
    t: new Tensor('float32', new Float32Array([0.5]), [1]),
  });
  return performance.now() - t;
};
for (const n of sizes) await run(n);
for (let r = 0; r < rounds; r++) for (const n of sizes) (ms[n] ??= []).push(await run(n));
const rows = sizes.map((n) => {
  const v = [...(ms[n] as number[])].sort((a, b) => a - b);
  const med = v[Math.floor(v.length / 2)] as number;
  return { tile: n, median_ms: Math.round(med), lr_px_per_ms: Math.round((n * n) / med) };
});
const out = { date: new Date().toISOString(), machine: machineInfo(), rounds, rows };
writeFileSync(new URL('./tile-rate.json', import.meta.url), `${JSON.stringify(out, null, 2)}\n`);
console.log(JSON.stringify(rows));
