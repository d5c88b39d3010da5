import { z } from 'zod';
import { OftsrError } from './errors.ts';

/**
 * Version of the model I/O contract described here; bumped on any incompatible change. 2: every
 * image gets `margin` pixels of replicated context on its right and bottom before tiling
 * (`frameSize`), so output pixels no longer depend on the tile list.
 */
export const CONTRACT_VERSION = 2;

/** Model input names, in order: LR tile, noise at output pixels, strength t. */
export const MODEL_INPUTS = ['lr', 'noise', 't'] as const;

/** Model output names. */
export const MODEL_OUTPUTS = ['sr'] as const;

/** Keys that must also appear in the ONNX file's metadata_props (values as strings). */
export const MODEL_METADATA_KEYS = [
  'contract',
  'version',
  'scale',
  'sigma_p',
  'alignment',
  'margin',
  'tile',
  'trained',
] as const;

const positiveInt = z.int().min(1);

/**
 * The JSON manifest shipped beside each model (`models/<name>.json` next to `models/<name>.onnx`).
 * Unknown keys are dropped, so training can add fields without breaking the apps.
 */
export const ModelManifest = z
  .object({
    contract: z.literal(CONTRACT_VERSION, {
      error: `this runtime reads contract ${CONTRACT_VERSION} (re-export the model with training/export.py)`,
    }),
    name: z.string().min(1),
    version: z.string().min(1),
    /** File name of the ONNX model, relative to the manifest. */
    file: z.string().regex(/\.onnx$/, 'must end in .onnx'),
    /** Lowercase hex SHA-256 of the ONNX file. */
    sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits'),
    bytes: positiveInt,
    /** False for an untrained (random or identity) model used only in tests. */
    trained: z.boolean(),
    scale: z.literal(4),
    /** Noise level of the teacher's prior the student was distilled at. */
    sigma_p: z.number().positive(),
    /** LR pixels: input height and width must be multiples of it. */
    alignment: positiveInt,
    /** LR pixels of context an output pixel depends on (receptive-field radius). */
    margin: z.int().min(0),
    /** Recommended LR tile size; a multiple of alignment. */
    tile: positiveInt,
    opset: positiveInt,
    inputs: z.tuple([z.literal('lr'), z.literal('noise'), z.literal('t')]),
    outputs: z.tuple([z.literal('sr')]),
    /** Number of model parameters, for information. */
    params: z.int().min(0).optional(),
    /** Free-form training provenance (run id, config, metrics). */
    training: z.record(z.string(), z.unknown()).optional(),
  })
  .refine((m) => m.tile % m.alignment === 0, {
    message: 'tile must be a multiple of alignment',
    path: ['tile'],
  });

/** A validated model manifest. */
export type ModelManifest = z.infer<typeof ModelManifest>;

/**
 * Validates a parsed manifest JSON.
 *
 * @throws {OftsrError} `model_contract` listing every problem with its key.
 */
export function parseManifest(json: unknown): ModelManifest {
  const result = ModelManifest.safeParse(json);
  if (result.success) return result.data;
  const problems = result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
  throw new OftsrError('model_contract', `invalid model manifest: ${problems.join('; ')}`);
}

/** What {@link validateModel} needs from an inference session (onnxruntime-node/-web both fit). */
export interface SessionLike {
  inputNames: readonly string[];
  outputNames: readonly string[];
}

function compareNames(kind: string, expected: readonly string[], actual: readonly string[]): string[] {
  const problems: string[] = [];
  for (const name of expected) if (!actual.includes(name)) problems.push(`missing ${kind} "${name}"`);
  for (const name of actual) if (!expected.includes(name)) problems.push(`unexpected ${kind} "${name}"`);
  return problems;
}

/**
 * Checks a loaded session (and, when given, the ONNX metadata_props) against the manifest.
 *
 * @throws {OftsrError} `model_contract` naming every mismatch, not just the first.
 */
export function validateModel(
  manifest: ModelManifest,
  session: SessionLike,
  metadata?: Readonly<Record<string, string>>,
): void {
  const problems = [
    ...compareNames('input', manifest.inputs, session.inputNames),
    ...compareNames('output', manifest.outputs, session.outputNames),
  ];
  if (metadata) {
    for (const key of MODEL_METADATA_KEYS) {
      const want = String(manifest[key]);
      const got = metadata[key];
      if (got === undefined) problems.push(`metadata "${key}" is missing`);
      else if (got !== want && Number(got) !== Number(want))
        problems.push(`metadata "${key}" is "${got}", manifest says "${want}"`);
    }
  }
  if (problems.length > 0) {
    throw new OftsrError(
      'model_contract',
      `model ${manifest.name}@${manifest.version} breaks the contract: ${problems.join('; ')}`,
    );
  }
}

/** Tensor shapes of one model call, `[N, C, H, W]` style. */
export interface TensorShapes {
  lr: [number, number, number, number];
  noise: [number, number, number, number];
  t: [number];
  sr: [number, number, number, number];
}

/**
 * Shapes of the model's tensors for a batch of `n` LR tiles of `h`×`w`.
 *
 * @throws {OftsrError} `model_contract` when h or w is not a positive multiple of the alignment.
 */
export function tensorShapes(manifest: ModelManifest, n: number, h: number, w: number): TensorShapes {
  const a = manifest.alignment;
  for (const [name, v] of [
    ['n', n],
    ['h', h],
    ['w', w],
  ] as const) {
    if (!Number.isInteger(v) || v < 1)
      throw new OftsrError('model_contract', `${name} must be a positive integer, got ${v}`);
  }
  if (h % a !== 0 || w % a !== 0) {
    throw new OftsrError('model_contract', `tile ${h}×${w} is not a multiple of the model alignment ${a}`);
  }
  const s = manifest.scale;
  return { lr: [n, 3, h, w], noise: [n, 3, s * h, s * w], t: [n], sr: [n, 3, s * h, s * w] };
}

/** One of {@link MODEL_INPUTS}. */
export type ModelInput = (typeof MODEL_INPUTS)[number];

/**
 * The feeds of one model call, named and shaped by the contract: `make(name, dims)` builds each
 * input's tensor (an onnxruntime-node or -web `Tensor`, a GPU-buffer tensor, …) from its dims in
 * `shapes` (see {@link tensorShapes}), so no runtime spells the input names or dims itself.
 *
 * @example
 * const shapes = tensorShapes(manifest, 1, 64, 64);
 * session.run(modelFeeds(shapes, (name, dims) => new Tensor('float32', data[name], dims)));
 */
export function modelFeeds<T>(
  shapes: TensorShapes,
  make: (name: ModelInput, dims: readonly number[]) => T,
): Record<ModelInput, T> {
  return { lr: make('lr', shapes.lr), noise: make('noise', shapes.noise), t: make('t', shapes.t) };
}

/** The number of elements of a tensor of `dims`, e.g. `elementCount(shapes.lr)`. */
export function elementCount(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/**
 * Checks the model's output against the contract: a float32 `sr` of exactly `shapes.sr`.
 *
 * @throws {OftsrError} `model_contract` naming the shape it got and the one expected.
 */
export function expectOutputShape(
  shapes: TensorShapes,
  sr: { readonly type: string; readonly dims: readonly number[] } | undefined,
): void {
  if (sr?.type !== 'float32' || sr.dims.join() !== shapes.sr.join()) {
    const got = sr === undefined ? 'is missing' : `is ${sr.type} [${sr.dims.join(', ')}]`;
    throw new OftsrError(
      'model_contract',
      `model output sr ${got}, expected float32 [${shapes.sr.join(', ')}]`,
    );
  }
}
