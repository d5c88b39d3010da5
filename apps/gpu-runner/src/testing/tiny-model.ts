/**
 * A tiny ONNX model with the oftsr I/O contract, written byte by byte so tests that only need *a*
 * model (manifest checks, hash checks, provider handling) run in milliseconds and need no Python.
 * It computes `sr = clip(nearest4x(lr) + 0.1 · t · noise, -1, 1)`: pixel-local, so any tiling is exact.
 * Test-only: never written into `models/`.
 */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONTRACT_VERSION, MODEL_METADATA_KEYS } from '@oftsr/shared';

type Bytes = number[];

function varint(value: number | bigint): Bytes {
  let n = BigInt(value);
  if (n < 0n) n += 1n << 64n;
  const out: Bytes = [];
  do {
    let b = Number(n & 0x7fn);
    n >>= 7n;
    if (n > 0n) b |= 0x80;
    out.push(b);
  } while (n > 0n);
  return out;
}

const key = (field: number, wire: number): Bytes => varint((field << 3) | wire);
const bytes = (field: number, b: Bytes): Bytes => [...key(field, 2), ...varint(b.length), ...b];
const str = (field: number, s: string): Bytes => bytes(field, [...Buffer.from(s)]);
const int = (field: number, n: number): Bytes => [...key(field, 0), ...varint(n)];

// Field numbers below are those of onnx.proto (ModelProto, GraphProto, NodeProto, TensorProto, ...).
const dim = (d: number | string): Bytes =>
  typeof d === 'string' ? bytes(1, str(2, d)) : bytes(1, int(1, d));
const valueInfo = (name: string, dims: (number | string)[]): Bytes => [
  ...str(1, name),
  ...bytes(2, bytes(1, [...int(1, 1), ...bytes(2, dims.flatMap(dim))])),
];
const floatTensor = (name: string, dims: number[], values: number[]): Bytes => {
  const raw = Buffer.alloc(4 * values.length);
  values.forEach((v, i) => raw.writeFloatLE(v, 4 * i));
  return [...dims.flatMap((d) => int(1, d)), ...int(2, 1), ...str(8, name), ...bytes(9, [...raw])];
};
const int64Tensor = (name: string, values: number[]): Bytes => {
  const raw = Buffer.alloc(8 * values.length);
  values.forEach((v, i) => raw.writeBigInt64LE(BigInt(v), 8 * i));
  return [...int(1, values.length), ...int(2, 7), ...str(8, name), ...bytes(9, [...raw])];
};
const stringAttr = (name: string, value: string): Bytes => [
  ...str(1, name),
  ...bytes(4, [...Buffer.from(value)]),
  ...int(20, 3),
];
const node = (op: string, inputs: string[], outputs: string[], attrs: Bytes[] = []): Bytes => [
  ...inputs.flatMap((i) => str(1, i)),
  ...outputs.flatMap((o) => str(2, o)),
  ...str(4, op),
  ...attrs.flatMap((a) => bytes(5, a)),
];

/** Options for {@link tinyModelBytes}; `inputNames` lets a test break the contract on purpose. */
export interface TinyModelOptions {
  inputNames?: [string, string, string];
  outputName?: string;
  /** ONNX metadata_props, as export writes them (see MODEL_METADATA_KEYS in @oftsr/shared). */
  metadata?: Record<string, string>;
}

/** The serialised ONNX model (opset 17). */
export function tinyModelBytes(options: TinyModelOptions = {}): Buffer {
  const [lr, noise, t] = options.inputNames ?? ['lr', 'noise', 't'];
  const sr = options.outputName ?? 'sr';
  const nodes = [
    node('Resize', [lr, '', 'scales'], ['up'], [stringAttr('mode', 'nearest')]),
    node('Reshape', [t, 'tshape'], ['t4']),
    node('Mul', [noise, 't4'], ['nt']),
    node('Mul', ['nt', 'k'], ['ntk']),
    node('Add', ['up', 'ntk'], ['s']),
    node('Clip', ['s', 'lo', 'hi'], [sr]),
  ];
  const graph = [
    ...nodes.flatMap((n) => bytes(1, n)),
    ...str(2, 'tiny'),
    ...bytes(5, floatTensor('scales', [4], [1, 1, 4, 4])),
    ...bytes(5, int64Tensor('tshape', [-1, 1, 1, 1])),
    ...bytes(5, floatTensor('k', [], [0.1])),
    ...bytes(5, floatTensor('lo', [], [-1])),
    ...bytes(5, floatTensor('hi', [], [1])),
    ...bytes(11, valueInfo(lr, ['N', 3, 'H', 'W'])),
    ...bytes(11, valueInfo(noise, ['N', 3, 'H4', 'W4'])),
    ...bytes(11, valueInfo(t, ['N'])),
    ...bytes(12, valueInfo(sr, ['N', 3, 'H4', 'W4'])),
  ];
  const model = [
    ...int(1, 8),
    ...str(2, 'oftsr-tests'),
    ...bytes(7, graph),
    ...bytes(8, [...str(1, ''), ...int(2, 17)]),
    ...Object.entries(options.metadata ?? {}).flatMap(([k, v]) => bytes(14, [...str(1, k), ...str(2, v)])),
  ];
  return Buffer.from(model);
}

/** Paths written by {@link writeTinyModel}. */
export interface TinyModelFiles {
  onnxPath: string;
  manifestPath: string;
  manifest: Record<string, unknown>;
}

/**
 * Writes `tiny.onnx` and a matching manifest into `dir` (a test's temp dir).
 * `manifestOverrides` is merged last, so a test can corrupt one field.
 */
export function writeTinyModel(
  dir: string,
  manifestOverrides: Record<string, unknown> = {},
  modelOptions: TinyModelOptions = {},
): TinyModelFiles {
  const described: Record<string, unknown> = {
    contract: CONTRACT_VERSION,
    name: 'tiny',
    version: '0.0.0-test',
    file: 'tiny.onnx',
    trained: false,
    scale: 4,
    sigma_p: 0.5,
    alignment: 8,
    margin: 8,
    tile: 32,
    opset: 17,
    inputs: ['lr', 'noise', 't'],
    outputs: ['sr'],
  };
  const metadata = Object.fromEntries(MODEL_METADATA_KEYS.map((k) => [k, String(described[k])]));
  const onnx = tinyModelBytes({ metadata, ...modelOptions });
  const onnxPath = join(dir, 'tiny.onnx');
  const manifestPath = join(dir, 'tiny.json');
  writeFileSync(onnxPath, onnx);
  const manifest: Record<string, unknown> = {
    ...described,
    sha256: createHash('sha256').update(onnx).digest('hex'),
    bytes: onnx.length,
    ...manifestOverrides,
  };
  writeFileSync(manifestPath, JSON.stringify(manifest, null, 2));
  return { onnxPath, manifestPath, manifest };
}
