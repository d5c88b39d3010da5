// Browser entry for the UpscalerJS peers (bundled by run.ts with esbuild): tfjs (WebGL backend) +
// upscaler + esrgan-slim/-medium ×4, weights served locally from /peers/ (never their CDN).
import * as tf from '@tensorflow/tfjs';
import Upscaler from 'upscaler';
import slim from '@upscalerjs/esrgan-slim/4x';
import medium from '@upscalerjs/esrgan-medium/4x';

const MODELS = {
  'esrgan-slim': { ...slim, path: '/peers/@upscalerjs/esrgan-slim/models/x4/model.json' },
  'esrgan-medium': { ...medium, path: '/peers/@upscalerjs/esrgan-medium/models/x4/model.json' },
};

/** Times one ×4 upscale of `img` (after a warm-up) on tfjs's best backend here. */
async function run(
  name: keyof typeof MODELS,
  img: ImageData,
  patchSize: number,
): Promise<Record<string, unknown>> {
  await tf.ready();
  const upscaler = new Upscaler({ model: MODELS[name] as never });
  await upscaler.warmup([{ patchSize, padding: 2 }]);
  const input = tf.browser.fromPixels(img);
  const t0 = performance.now();
  const out = (await upscaler.execute(input, {
    patchSize,
    padding: 2,
    output: 'tensor',
  } as never)) as unknown as tf.Tensor;
  // tfjs-webgl runs lazily: the time counts until the pixels are read back, as the SDK's does.
  await out.data();
  const ms = performance.now() - t0;
  out.dispose();
  input.dispose();
  await upscaler.dispose();
  return { backend: tf.getBackend(), ms };
}

(globalThis as unknown as { peers: unknown }).peers = { run, tf };
