/**
 * Regenerates `<repo>/samples/*.png`: small test images drawn by the project itself from SVG
 * (shapes, gradients, text, fine stripes), so demos and tests never depend on a data set.
 * Run: `node apps/gpu-runner/scripts/make-samples.ts`.
 */
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';

const SAMPLES_DIR = fileURLToPath(new URL('../../../samples/', import.meta.url));

const stripes = (x: number, y: number, w: number, h: number, step: number): string =>
  Array.from({ length: Math.floor(w / step) }, (_, i) =>
    i % 2 === 0 ? `<rect x="${x + i * step}" y="${y}" width="${step}" height="${h}" fill="#1b1b1b"/>` : '',
  ).join('');

/** 192×128: a sunset gradient, sun, hills, a house with a striped roof, text and a stripe chart. */
const landscape = `<svg xmlns="http://www.w3.org/2000/svg" width="192" height="128">
  <defs>
    <linearGradient id="sky" x1="0" y1="0" x2="0" y2="1">
      <stop offset="0" stop-color="#1d3b8f"/><stop offset="0.6" stop-color="#f08a4b"/>
      <stop offset="1" stop-color="#ffd27a"/>
    </linearGradient>
    <radialGradient id="sun" cx="0.5" cy="0.5" r="0.5">
      <stop offset="0" stop-color="#fff7c2"/><stop offset="1" stop-color="#ffb347"/>
    </radialGradient>
  </defs>
  <rect width="192" height="128" fill="url(#sky)"/>
  <circle cx="140" cy="46" r="18" fill="url(#sun)"/>
  <path d="M0 96 Q40 70 80 92 T192 84 V128 H0 Z" fill="#2f6b3a"/>
  <path d="M0 110 Q60 92 120 108 T192 104 V128 H0 Z" fill="#24512c"/>
  <rect x="30" y="74" width="34" height="26" fill="#e9e2d0" stroke="#3b2f2f" stroke-width="1"/>
  <polygon points="26,75 47,58 68,75" fill="#8c2f39"/>
  <g>${Array.from({ length: 8 }, (_, i) => `<line x1="${30 + i * 4}" y1="${74 - i * 2}" x2="${64 - i * 4}" y2="${74 - i * 2}" stroke="#5a1c24" stroke-width="1"/>`).join('')}</g>
  <rect x="42" y="86" width="9" height="14" fill="#5b3a29"/>
  <rect x="33" y="79" width="6" height="6" fill="#9fd3ff" stroke="#3b2f2f" stroke-width="0.5"/>
  <g>${stripes(100, 104, 64, 16, 1)}${stripes(100, 104, 64, 4, 2)}</g>
  <text x="8" y="20" font-family="DejaVu Sans, sans-serif" font-size="13" font-weight="bold" fill="#ffffff">oftsr 192×128</text>
  <text x="8" y="34" font-family="DejaVu Serif, serif" font-size="8" fill="#ffe9c7">fine text · stripes · gradients</text>
</svg>`;

/** 128×128 with transparency: a colour wheel, a checkerboard, concentric rings and small text. */
const badge = `<svg xmlns="http://www.w3.org/2000/svg" width="128" height="128">
  <defs>
    <linearGradient id="g" x1="0" y1="0" x2="1" y2="1">
      <stop offset="0" stop-color="#00b3a4"/><stop offset="1" stop-color="#6a3dd8"/>
    </linearGradient>
  </defs>
  <rect x="4" y="4" width="120" height="120" rx="18" fill="url(#g)"/>
  ${Array.from({ length: 12 }, (_, i) => `<path d="M64 64 L${64 + 44 * Math.cos((i * Math.PI) / 6)} ${64 + 44 * Math.sin((i * Math.PI) / 6)} A44 44 0 0 1 ${64 + 44 * Math.cos(((i + 1) * Math.PI) / 6)} ${64 + 44 * Math.sin(((i + 1) * Math.PI) / 6)} Z" fill="hsl(${i * 30},85%,55%)"/>`).join('')}
  ${Array.from({ length: 6 }, (_, i) => `<circle cx="64" cy="64" r="${30 - i * 5}" fill="none" stroke="${i % 2 ? '#ffffff' : '#111111'}" stroke-width="1.5"/>`).join('')}
  ${Array.from({ length: 64 }, (_, i) => ((i + Math.floor(i / 8)) % 2 === 0 ? `<rect x="${8 + (i % 8) * 3}" y="${96 + Math.floor(i / 8) * 3}" width="3" height="3" fill="#000"/>` : '')).join('')}
  <text x="64" y="20" text-anchor="middle" font-family="DejaVu Sans, sans-serif" font-size="10" font-weight="bold" fill="#fff">SAMPLE</text>
  <text x="120" y="118" text-anchor="end" font-family="DejaVu Sans Mono, monospace" font-size="7" fill="#fff">x4 · t=0.5</text>
</svg>`;

mkdirSync(SAMPLES_DIR, { recursive: true });
await sharp(Buffer.from(landscape))
  .flatten({ background: '#000000' })
  .png({ compressionLevel: 9 })
  .toFile(`${SAMPLES_DIR}landscape-192x128.png`);
await sharp(Buffer.from(badge)).png({ compressionLevel: 9 }).toFile(`${SAMPLES_DIR}badge-128x128.png`);
console.log(`wrote ${SAMPLES_DIR}landscape-192x128.png and badge-128x128.png`);
