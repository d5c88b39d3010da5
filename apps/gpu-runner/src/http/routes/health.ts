/**
 * KServe v2 / Triton health and metadata: liveness, readiness, server and model metadata. Every
 * handler only reads state, so health never waits behind inference.
 */
import { Hono } from 'hono';
import { MODEL_INPUTS, MODEL_OUTPUTS } from '@oftsr/shared';
import type { Config } from '../../config.ts';
import type { Upscaler } from '../../upscaler.ts';

/** The model name under /v2/models/. */
export const MODEL_NAME = 'oftsr';

/** Health and metadata routes. */
export function healthRoutes(upscaler: Upscaler, config: Config): Hono {
  const app = new Hono();
  app.get('/v2/health/live', (c) => c.json({ live: true }));
  const ready = (c: { json: (body: unknown, status: 200 | 503) => Response }) =>
    upscaler.ready
      ? c.json({ ready: true, provider: upscaler.provider, model: upscaler.model?.manifest.version }, 200)
      : c.json(
          { ready: false, state: upscaler.state, ...(upscaler.failure ? { reason: upscaler.failure } : {}) },
          503,
        );
  app.get('/v2/health/ready', (c) => ready(c));
  app.get(`/v2/models/${MODEL_NAME}/ready`, (c) => ready(c));
  app.get('/v2', (c) =>
    c.json({
      name: 'oftsr-gpu-runner',
      version: '0.1.0',
      extensions: ['model_repository_free', 'oftsr_jobs'],
    }),
  );
  app.get(`/v2/models/${MODEL_NAME}`, (c) => {
    const model = upscaler.model;
    if (!model)
      return c.json({ error: { code: 'unavailable', message: `model not loaded (${upscaler.state})` } }, 503);
    const m = model.manifest;
    const dims: Record<string, number[]> = {
      lr: [-1, 3, -1, -1],
      noise: [-1, 3, -1, -1],
      t: [-1],
      sr: [-1, 3, -1, -1],
    };
    const tensor = (name: string) => ({ name, datatype: 'FP32', shape: dims[name] });
    return c.json({
      name: MODEL_NAME,
      versions: [m.version],
      platform: 'onnxruntime_onnx',
      inputs: MODEL_INPUTS.map(tensor),
      outputs: MODEL_OUTPUTS.map(tensor),
      parameters: {
        model: m.name,
        trained: m.trained,
        scale: m.scale,
        alignment: m.alignment,
        margin: m.margin,
        contract: m.contract,
        execution_provider: model.provider,
        tile_sizes: config.tileSizes,
        max_batch: config.maxBatch,
        warmup_ms: Math.round(upscaler.warmup?.milliseconds ?? 0),
        ...(upscaler.warmup?.nodesByProvider ? { nodes_by_provider: upscaler.warmup.nodesByProvider } : {}),
      },
    });
  });
  return app;
}
