// x4 upscaling of 8-bit RGB PNGs with the UpscalerJS ESRGAN models, for training/scripts/eval_js_peers.py.
//
//   node upscale.mjs --peer esrgan-thick --out OUT [--backend wasm|cpu] [--threads N] [--patch P --padding Q] DIR...
//
// Writes OUT/<peer>/<basename(DIR)>/<file>.png for every PNG of every DIR, and OUT/<peer>/run.json (backend,
// versions, seconds). The model is the package's own x4 definition (input/output range, custom layers) with the
// weights read from the installed npm package (never a CDN), run directly with tfjs: the whole image at once unless
// --patch is given, then in overlapping patches (UpscalerJS's scheme: each patch carries --padding LR pixels of
// context on every side, which is cut away after upscaling). Outputs are clipped and rounded to 8 bits.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { setThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { PNG } from 'pngjs';

const require = createRequire(import.meta.url);
const PEERS = ['esrgan-slim', 'esrgan-medium', 'esrgan-thick'];
const MODULES = fileURLToPath(new URL('node_modules/', import.meta.url));

const { values: args, positionals: dirs } = parseArgs({
  allowPositionals: true,
  options: {
    peer: { type: 'string' },
    out: { type: 'string' },
    backend: { type: 'string', default: 'wasm' },
    threads: { type: 'string', default: '1' },
    patch: { type: 'string' },
    padding: { type: 'string', default: '16' },
  },
});
if (!args.peer || !PEERS.includes(args.peer) || !args.out || dirs.length === 0) {
  console.error(`usage: node upscale.mjs --peer {${PEERS.join('|')}} --out OUT [--backend wasm|cpu] DIR...`);
  process.exit(2);
}

const version = (pkg) => JSON.parse(readFileSync(join(MODULES, pkg, 'package.json'), 'utf8')).version;

async function setBackend(name, threads) {
  if (name === 'wasm') {
    const dist = join(MODULES, '@tensorflow/tfjs-backend-wasm/dist');
    setWasmPaths(`${dist}/`);
    setThreadsCount(threads);
  }
  if (!(await tf.setBackend(name))) throw new Error(`tfjs backend ${name} did not start`);
  await tf.ready();
}

/** The package's x4 model definition and its layers model, weights from node_modules. */
async function loadPeer(peer) {
  const definition = require(`@upscalerjs/${peer}/4x`); // the ESM build has extensionless imports
  definition.setup?.(tf);
  const root = join(MODULES, '@upscalerjs', peer);
  const modelJson = join(root, definition._internals.path);
  const json = JSON.parse(readFileSync(modelJson, 'utf8'));
  const specs = json.weightsManifest.flatMap((g) => g.weights);
  const buffers = json.weightsManifest.flatMap((g) =>
    g.paths.map((p) => readFileSync(join(dirname(modelJson), p))),
  );
  const all = Buffer.concat(buffers);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  const model = await tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: json.modelTopology,
      weightSpecs: specs,
      weightData,
      format: json.format,
    }),
  );
  return { definition, model, modelJson };
}

function readPng(file) {
  const png = PNG.sync.read(readFileSync(file));
  const rgb = new Float32Array(png.width * png.height * 3);
  for (let i = 0, j = 0; i < png.data.length; i += 4, j += 3) {
    rgb[j] = png.data[i];
    rgb[j + 1] = png.data[i + 1];
    rgb[j + 2] = png.data[i + 2];
  }
  return tf.tensor4d(rgb, [1, png.height, png.width, 3]);
}

function writePng(file, u8, h, w) {
  const png = new PNG({ width: w, height: h });
  for (let i = 0, j = 0; j < u8.length; i += 4, j += 3) {
    png.data[i] = u8[j];
    png.data[i + 1] = u8[j + 1];
    png.data[i + 2] = u8[j + 2];
    png.data[i + 3] = 255;
  }
  writeFileSync(file, PNG.sync.write(png, { colorType: 2 }));
}

/** [1, h, w, 3] in [0, 255] -> [1, 4h, 4w, 3] in [0, 255] (float), through the model's own value ranges. */
function predict({ definition, model }, x) {
  const inMax = definition.inputRange[1];
  const outMax = definition.outputRange[1];
  return tf.tidy(() => {
    const y = model.predict(inMax === 255 ? x : x.div(255));
    return outMax === 255 ? y : y.mul(255);
  });
}

/** Overlapping patches: `patch` LR pixels of output each, `padding` more of context per side, cut after. */
function predictPatched(peer, x, patch, padding) {
  const [, h, w] = x.shape;
  const rows = [];
  for (let y0 = 0; y0 < h; y0 += patch) {
    const cols = [];
    for (let x0 = 0; x0 < w; x0 += patch) {
      const ph = Math.min(patch, h - y0);
      const pw = Math.min(patch, w - x0);
      const ty = Math.max(0, y0 - padding);
      const tx = Math.max(0, x0 - padding);
      const by = Math.min(h, y0 + ph + padding);
      const bx = Math.min(w, x0 + pw + padding);
      const out = predict(peer, x.slice([0, ty, tx, 0], [1, by - ty, bx - tx, 3]));
      cols.push(tf.tidy(() => out.slice([0, (y0 - ty) * 4, (x0 - tx) * 4, 0], [1, ph * 4, pw * 4, 3])));
      out.dispose();
    }
    rows.push(tf.concat(cols, 2));
    tf.dispose(cols);
  }
  const full = tf.concat(rows, 1);
  tf.dispose(rows);
  return full;
}

await setBackend(args.backend, Number(args.threads));
const peer = await loadPeer(args.peer);
const patch = args.patch ? Number(args.patch) : undefined;
const padding = Number(args.padding);
const outRoot = join(args.out, args.peer);
const perSet = {};
const t0 = performance.now();
for (const dir of dirs) {
  const setOut = join(outRoot, basename(dir));
  mkdirSync(setOut, { recursive: true });
  const ts = performance.now();
  let pixels = 0;
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith('.png'))
    .sort()) {
    const x = readPng(join(dir, file));
    const [, h, w] = x.shape;
    const y = patch ? predictPatched(peer, x, patch, padding) : predict(peer, x);
    if (y.shape[1] !== 4 * h || y.shape[2] !== 4 * w || y.shape[3] !== 3) {
      throw new Error(`${args.peer} ${file}: output ${y.shape} is not 4x the input ${x.shape}`);
    }
    const u8 = tf.tidy(() => y.clipByValue(0, 255).round().cast('int32')).dataSync();
    writePng(join(setOut, file), Uint8Array.from(u8), 4 * h, 4 * w);
    pixels += 16 * h * w;
    tf.dispose([x, y]);
  }
  const seconds = Math.round(performance.now() - ts) / 1000;
  perSet[basename(dir)] = { seconds, output_megapixels: pixels / 1e6 };
  console.log(`${args.peer} ${basename(dir)}: ${seconds.toFixed(1)} s`);
}
writeFileSync(
  join(outRoot, 'run.json'),
  JSON.stringify(
    {
      peer: args.peer,
      package: `@upscalerjs/${args.peer}@${version(`@upscalerjs/${args.peer}`)}`,
      weights: peer.modelJson.slice(peer.modelJson.indexOf('@upscalerjs')),
      input_range: peer.definition.inputRange,
      output_range: peer.definition.outputRange,
      tfjs: version('@tensorflow/tfjs'),
      backend: tf.getBackend(),
      threads: args.backend === 'wasm' ? Number(args.threads) : 1,
      patch: patch ? { patch, padding } : 'whole image',
      node: process.version,
      seconds: Math.round(performance.now() - t0) / 1000,
      sets: perSet,
    },
    null,
    1,
  ),
);
