/**
 * The demo page: pick or drop an image, choose ×2/×4 and t, and compare before/after with a split
 * slider; shows progress, where it ran and how long it took. Served by scripts/serve.ts.
 */
import { createUpscaler } from '../src/index.ts';
import type { Preference, Upscaler } from '../src/index.ts';

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const params = new URLSearchParams(location.search);
const cloudUrl = new URL('/cloud/', location.href).href;
// The server says what sits behind /cloud/: a runner takes dropped files; the edge takes URLs only.
const config = (await (await fetch('/config.json')).json()) as { cloud: 'runner' | 'edge' | 'none' };
const cloud =
  config.cloud === 'runner' ? { runner: cloudUrl } : config.cloud === 'edge' ? { edge: cloudUrl } : undefined;
let upscaler: Upscaler | undefined;
let preferNow: Preference | undefined;
let source: Blob | undefined;
let controller: AbortController | undefined;

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
    $('caps').textContent = JSON.stringify(c, null, 2);
  });
  return upscaler;
}

function setSource(blob: Blob): void {
  source = blob;
  const before = $<HTMLImageElement>('before');
  before.src = URL.createObjectURL(blob);
  $<HTMLButtonElement>('go').disabled = false;
  $('status').textContent = 'ready';
}

async function run(): Promise<void> {
  if (!source) return;
  const sr = Number($<HTMLSelectElement>('sr').value) as 2 | 4;
  const t = Number($<HTMLInputElement>('t').value);
  const seed = Number($<HTMLInputElement>('seed').value);
  const up = upscalerFor($<HTMLSelectElement>('prefer').value as Preference);
  controller = new AbortController();
  $<HTMLButtonElement>('stop').disabled = false;
  $<HTMLButtonElement>('go').disabled = true;
  const bar = $<HTMLProgressElement>('bar');
  bar.value = 0;
  $('status').textContent = 'working…';
  document.body.dataset.state = 'running';
  try {
    const result = await up.upscale(source, {
      sr,
      t,
      seed,
      signal: controller.signal,
      onProgress: (p) => {
        bar.max = p.total;
        bar.value = p.done;
        $('status').textContent = `${p.done}/${p.total} tiles on ${p.where}`;
      },
    });
    const after = $<HTMLImageElement>('after');
    const before = $<HTMLImageElement>('before');
    after.src = URL.createObjectURL(result.image);
    await after.decode();
    before.style.width = `${result.width}px`;
    before.style.height = `${result.height}px`;
    $('status').textContent =
      `${result.width}×${result.height} on ${result.ranOn} in ${Math.round(result.timings.totalMs)} ms` +
      ` (${result.tiles} tiles; ${result.reason})`;
    document.body.dataset.state = 'done';
    document.body.dataset.ranOn = result.ranOn;
  } catch (err) {
    $('status').textContent = `failed: ${err instanceof Error ? err.message : String(err)}`;
    document.body.dataset.state = 'failed';
  } finally {
    $<HTMLButtonElement>('stop').disabled = true;
    $<HTMLButtonElement>('go').disabled = false;
  }
}

function splitAt(percent: number): void {
  $('after-wrap').style.width = `${percent}%`;
}

$<HTMLInputElement>('t').addEventListener('input', (e) => {
  $('tval').textContent = (e.target as HTMLInputElement).value;
});
$<HTMLInputElement>('split').addEventListener('input', (e) =>
  splitAt(Number((e.target as HTMLInputElement).value)),
);
$<HTMLInputElement>('file').addEventListener('change', (e) => {
  const f = (e.target as HTMLInputElement).files?.[0];
  if (f) setSource(f);
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
  if (f) setSource(f);
});
$('go').addEventListener('click', () => void run());
$('stop').addEventListener('click', () => controller?.abort());
splitAt(50);
upscalerFor((params.get('prefer') as Preference | null) ?? 'auto');
$('status').textContent = 'pick an image';
