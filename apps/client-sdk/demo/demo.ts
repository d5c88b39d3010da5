/**
 * The demo page: the sample image or the user's own, ×2/×4 and t, and a labelled before/after split
 * (before = a real bicubic resize to the output size, drawn at the same displayed box as the result,
 * so the two sides line up at any size). Shows per-tile progress with elapsed time, where it ran and
 * why in words, a download link and errors; a new input or a new t never leaves the old result beside
 * it. Served by scripts/serve.ts.
 */
import { resizeBicubic } from '@oftsr/shared';
import { createUpscaler } from '../src/index.ts';
import type { Capabilities, ExecutionPath, Preference, Upscaler } from '../src/index.ts';

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const params = new URLSearchParams(location.search);
const cloudUrl = new URL('/cloud/', location.href).href;
// The server says what sits behind /cloud/: a runner takes dropped files; the edge takes URLs only.
const config = (await (await fetch('/config.json')).json()) as { cloud: 'runner' | 'edge' | 'none' };
const cloud =
  config.cloud === 'runner' ? { runner: cloudUrl } : config.cloud === 'edge' ? { edge: cloudUrl } : undefined;
const SAMPLE = '/samples/landscape-192x128.png';
/** Above this many output pixels the "before" is the browser's smooth resize, not our bicubic. */
const BICUBIC_MAX_PIXELS = 8_000_000;

let upscaler: Upscaler | undefined;
let preferNow: Preference | undefined;
let source: { blob: Blob; name: string } | undefined;
let controller: AbortController | undefined;
let runId = 0;
let resultUrl: string | undefined;
let ticker: ReturnType<typeof setInterval> | undefined;

const PLACES: Record<ExecutionPath, string> = {
  webgpu: "this device's GPU (WebGPU)",
  wasm: "this device's CPU (WebAssembly)",
  cloud: 'the cloud',
};

function setState(state: 'idle' | 'running' | 'done' | 'failed' | 'stopped'): void {
  document.body.dataset.state = state;
}

function showError(message: string | undefined): void {
  const box = $('error');
  box.hidden = message === undefined;
  box.textContent = message ?? '';
}

function describeCapabilities(c: Capabilities): string {
  const gpu = c.adapter
    ? `${c.adapter.vendor || 'unknown vendor'} ${c.adapter.architecture || c.adapter.description}`.trim()
    : undefined;
  const device = gpu ? `WebGPU adapter: ${gpu}.` : 'No WebGPU adapter.';
  return `Will run on ${PLACES[c.path]} — ${c.reason}. ${device}`;
}

function upscalerFor(prefer: Preference): Upscaler {
  if (upscaler && preferNow === prefer) return upscaler;
  void upscaler?.dispose();
  preferNow = prefer;
  const safePrefer = prefer === 'cloud' && !cloud ? 'auto' : prefer;
  upscaler = createUpscaler({
    model: '/models/oftsr-student-x4.json',
    ...(cloud ? { cloud } : {}),
    prefer: safePrefer,
  });
  void upscaler.capabilities().then((c) => {
    $('where').textContent = describeCapabilities(c);
    $('caps').textContent = JSON.stringify(c, null, 2);
  });
  return upscaler;
}

function clearResult(): void {
  $('result').hidden = true;
  if (resultUrl) URL.revokeObjectURL(resultUrl);
  resultUrl = undefined;
  $<HTMLImageElement>('after').removeAttribute('src');
  delete document.body.dataset.ranOn;
}

function setSource(blob: Blob, name: string): void {
  controller?.abort();
  clearResult();
  showError(undefined);
  source = { blob, name };
  $<HTMLButtonElement>('go').disabled = false;
  void run();
}

/** The source resized to `width`×`height` with separable bicubic (Keys a = −0.5), per channel. */
async function drawBefore(blob: Blob, width: number, height: number): Promise<string> {
  const canvas = $<HTMLCanvasElement>('before');
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext('2d') as CanvasRenderingContext2D;
  const bitmap = await createImageBitmap(blob, { premultiplyAlpha: 'none', colorSpaceConversion: 'none' });
  if (width * height > BICUBIC_MAX_PIXELS) {
    ctx.imageSmoothingQuality = 'high';
    ctx.drawImage(bitmap, 0, 0, width, height);
    bitmap.close();
    return 'before · smooth resize';
  }
  const small = new OffscreenCanvas(bitmap.width, bitmap.height).getContext('2d', {
    willReadFrequently: true,
  }) as OffscreenCanvasRenderingContext2D;
  small.drawImage(bitmap, 0, 0);
  const src = small.getImageData(0, 0, bitmap.width, bitmap.height).data;
  const n = bitmap.width * bitmap.height;
  const out = new ImageData(width, height);
  for (let ch = 0; ch < 4; ch++) {
    const plane = new Float32Array(n);
    for (let i = 0; i < n; i++) plane[i] = src[i * 4 + ch] as number;
    const big = resizeBicubic(plane, bitmap.width, bitmap.height, width, height);
    for (let i = 0; i < width * height; i++) out.data[i * 4 + ch] = big[i] as number; // clamps
  }
  bitmap.close();
  ctx.putImageData(out, 0, 0);
  return 'before · bicubic';
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

async function run(): Promise<void> {
  if (!source) return;
  controller?.abort();
  const mine = ++runId;
  const sr = Number($<HTMLSelectElement>('sr').value) as 2 | 4;
  const t = Number($<HTMLInputElement>('t').value);
  const seed = Number($<HTMLInputElement>('seed').value);
  const up = upscalerFor($<HTMLSelectElement>('prefer').value as Preference);
  const ctl = new AbortController();
  controller = ctl;
  $<HTMLButtonElement>('stop').disabled = false;
  showError(undefined);
  const bar = $<HTMLProgressElement>('bar');
  bar.max = 1;
  bar.value = 0;
  const started = performance.now();
  let line = 'starting';
  const status = $('status');
  const paint = (): void => {
    status.textContent = `${line} · ${seconds(performance.now() - started)}`;
  };
  clearInterval(ticker);
  ticker = setInterval(paint, 100);
  paint();
  setState('running');
  try {
    const result = await up.upscale(source.blob, {
      sr,
      t,
      seed,
      signal: ctl.signal,
      onProgress: (p) => {
        bar.value = p.fraction;
        line =
          p.stage === 'load'
            ? `loading the model onto ${PLACES[p.where]}`
            : p.stage === 'retry'
              ? 'the cloud is busy; retrying when it says'
              : p.where === 'cloud'
                ? `upscaling in the cloud (${p.total} tile${p.total === 1 ? '' : 's'})`
                : `tile ${p.done}/${p.total} on ${PLACES[p.where]}`;
        paint();
      },
    });
    if (mine !== runId) return; // a newer run owns the page now
    const label = await drawBefore(source.blob, result.width, result.height);
    if (mine !== runId) return;
    if (resultUrl) URL.revokeObjectURL(resultUrl);
    resultUrl = URL.createObjectURL(result.image);
    const after = $<HTMLImageElement>('after');
    after.src = resultUrl;
    await after.decode();
    if (mine !== runId) return;
    // One box for both sides (and the split slider under them): at most the output's own size,
    // and never wider than the page.
    $('frame').style.width = `min(100%, ${result.width}px)`;
    $('compare').style.aspectRatio = `${result.width} / ${result.height}`;
    $('tag-before').textContent = label;
    $('tag-after').textContent = `after · oftsr ×${sr}, t = ${t}`;
    const link = $<HTMLAnchorElement>('download');
    link.href = resultUrl;
    link.download = `${source.name.replace(/\.[^.]+$/, '')}-x${sr}-t${t}.png`;
    $('result').hidden = false;
    const total = seconds(result.timings.totalMs);
    line = `Done: ${result.width}×${result.height} in ${total}`;
    status.textContent = line;
    $('summary').textContent = `${result.tiles} tile${result.tiles === 1 ? '' : 's'}`;
    $('where').textContent = `Ran on ${PLACES[result.ranOn]} — ${result.reason}.`;
    document.body.dataset.ranOn = result.ranOn;
    document.body.dataset.runs = String(Number(document.body.dataset.runs ?? 0) + 1);
    setState('done');
  } catch (err) {
    if (mine !== runId) return;
    if (ctl.signal.aborted) {
      status.textContent = `Stopped after ${seconds(performance.now() - started)}.`;
      setState('stopped');
    } else {
      status.textContent = 'Failed.';
      showError(`The upscale failed: ${err instanceof Error ? err.message : String(err)}`);
      setState('failed');
    }
  } finally {
    if (mine === runId) {
      clearInterval(ticker);
      $<HTMLButtonElement>('stop').disabled = true;
      bar.value = bar.max;
    }
  }
}

function splitAt(percent: number): void {
  $('compare').style.setProperty('--split', `${percent}%`);
}

const tInput = $<HTMLInputElement>('t');
tInput.addEventListener('input', () => {
  $('tval').textContent = tInput.value;
});
// `change` fires when the slider is released: one run per choice, not one per pixel dragged.
tInput.addEventListener('change', () => void run());
$<HTMLSelectElement>('sr').addEventListener('change', () => void run());
const split = $<HTMLInputElement>('split');
split.addEventListener('input', () => splitAt(Number(split.value)));
// Dragging on the image moves the split too (pointer capture keeps it while the pointer leaves).
const compareBox = $('compare');
const dragTo = (e: PointerEvent): void => {
  const box = compareBox.getBoundingClientRect();
  const percent = Math.round(Math.min(100, Math.max(0, ((e.clientX - box.left) / box.width) * 100)));
  split.value = String(percent);
  splitAt(percent);
};
compareBox.addEventListener('pointerdown', (e) => {
  compareBox.setPointerCapture(e.pointerId);
  dragTo(e);
});
compareBox.addEventListener('pointermove', (e) => {
  if (compareBox.hasPointerCapture(e.pointerId)) dragTo(e);
});
$<HTMLInputElement>('file').addEventListener('change', (e) => {
  const f = (e.target as HTMLInputElement).files?.[0];
  if (f) setSource(f, f.name);
});
$('sample').addEventListener('click', () => {
  void fetch(SAMPLE)
    .then((r) => r.blob())
    .then((b) => setSource(b, 'landscape-192x128.png'));
});
const drop = $('drop');
drop.addEventListener('dragover', (e) => {
  e.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  const f = e.dataTransfer?.files[0];
  if (f) setSource(f, f.name);
});
$('go').addEventListener('click', () => void run());
$('stop').addEventListener('click', () => controller?.abort());
const preferSelect = $<HTMLSelectElement>('prefer');
const asked = params.get('prefer');
if (asked === 'auto' || asked === 'device' || asked === 'cloud') preferSelect.value = asked;
preferSelect.addEventListener('change', () => {
  upscalerFor(preferSelect.value as Preference);
  void run();
});
splitAt(50);
upscalerFor(preferSelect.value as Preference);
setState('idle');
