// Writes test/fixtures/: the landscape sample re-encoded in every source format the edge probes,
// plus header-only files for size checks. Run: node apps/edge/scripts/make-fixtures.ts
// (sharp comes from apps/gpu-runner's dependencies; the outputs are committed).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const out = fileURLToPath(new URL('../test/fixtures/', import.meta.url));
mkdirSync(out, { recursive: true });
const landscape = readFileSync(`${root}samples/landscape-192x128.png`);
const img = () => sharp(landscape);

writeFileSync(`${out}landscape.jpg`, await img().jpeg({ quality: 80 }).toBuffer());
// Progressive JPEG with a large EXIF/ICC-like APP segment before the frame header.
const exif = Buffer.alloc(40_000, 0x41);
const progressive = await img().jpeg({ quality: 80, progressive: true }).toBuffer();
const app1 = Buffer.concat([
  Buffer.from([0xff, 0xe1, (exif.length + 2) >> 8, (exif.length + 2) & 0xff]),
  exif,
]);
writeFileSync(
  `${out}landscape-app1.jpg`,
  Buffer.concat([progressive.subarray(0, 2), app1, progressive.subarray(2)]),
);
writeFileSync(`${out}landscape-lossy.webp`, await img().webp({ quality: 80 }).toBuffer());
writeFileSync(`${out}landscape-lossless.webp`, await img().webp({ lossless: true }).toBuffer());
writeFileSync(
  `${out}badge-alpha.webp`,
  await sharp(`${root}samples/badge-128x128.png`).webp({ quality: 80 }).toBuffer(),
);
writeFileSync(`${out}landscape.avif`, await img().avif({ quality: 50, effort: 0 }).toBuffer());
writeFileSync(`${out}landscape.gif`, await img().gif().toBuffer());
console.log(`fixtures written to ${out}`);
