/**
 * KServe v2 / Triton health and metadata: liveness, readiness, server and model metadata. Every
 * handler only reads state, so health never waits behind inference.
 */
import { Hono } from 'hono';
import { MODEL_INPUTS, MODEL_OUTPUTS, RUNNER_ROUTES, tensorShapes } from '@oftsr/shared';
import type { TensorShapes } from '@oftsr/shared';
import type { Config } from '../../config.ts';
import type { Upscaler } from '../../upscaler.ts';

/** The model name under /v2/models/ (the last part of {@link RUNNER_ROUTES.model}). */
export const MODEL_NAME = RUNNER_ROUTES.model.slice(RUNNER_ROUTES.model.lastIndexOf('/') + 1);

/** Health and metadata routes. */
export function healthRoutes(upscaler: Upscaler, config: Config): Hono {
  const app = new Hono();
  app.get(RUNNER_ROUTES.live, (c) => c.json({ live: true }));
  const ready = (c: { json: (body: unknown, status: 200 | 503) => Response }) =>
    upscaler.ready
      ? c.json({ ready: true, provider: upscaler.provider, model: upscaler.model?.manifest.version }, 200)
      : c.json(
          { ready: false, state: upscaler.state, ...(upscaler.failure ? { reason: upscaler.failure } : {}) },
          503,
        );
  app.get(RUNNER_ROUTES.ready, (c) => ready(c));
  app.get(RUNNER_ROUTES.modelReady, (c) => ready(c));
  app.get(RUNNER_ROUTES.server, (c) =>
    c.json({
      name: 'oftsr-gpu-runner',
      version: '0.1.0',
      extensions: ['model_repository_free', 'oftsr_jobs'],
    }),
  );
  app.get(RUNNER_ROUTES.model, (c) => {
    const model = upscaler.model;
    if (!model)
      return c.json({ error: { code: 'unavailable', message: `model not loaded (${upscaler.state})` } }, 503);
    const m = model.manifest;
    // The contract's shapes with the batch and spatial dims free (-1): only the channels are fixed.
    const shapes = tensorShapes(m, 1, m.alignment, m.alignment);
    const tensor = (name: keyof TensorShapes) => ({
      name,
      datatype: 'FP32',
      shape: shapes[name].map((d, i) => (i === 1 ? d : -1)),
    });
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
