/**
 * Loads the oftsr model: finds the ONNX file and its manifest, checks the file against the manifest's
 * sha256, opens an onnxruntime-node session on the requested execution provider and checks the
 * session's tensor names against the I/O contract.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import {
  OftsrError,
  elementCount,
  modelFeeds,
  parseManifest,
  readOnnxMetadata,
  tensorShapes,
  validateModel,
} from '@oftsr/shared';
import type { ModelManifest } from '@oftsr/shared';

/** Execution providers this runner knows how to ask onnxruntime-node for. */
export type ExecutionProvider = 'cpu' | 'cuda' | 'tensorrt' | 'webgpu';

/** Every {@link ExecutionProvider}, for argument validation. */
export const EXECUTION_PROVIDERS: readonly ExecutionProvider[] = ['cpu', 'cuda', 'tensorrt', 'webgpu'];

/** onnxruntime's own name of each provider, as it appears in profiles. */
export const ORT_PROVIDER_NAMES: Readonly<Record<ExecutionProvider, string>> = {
  cpu: 'CPUExecutionProvider',
  cuda: 'CUDAExecutionProvider',
  tensorrt: 'TensorrtExecutionProvider',
  webgpu: 'WebGpuExecutionProvider',
};

/** Name of the model shipped in `<repo>/models/`. */
export const DEFAULT_MODEL_NAME = 'oftsr-student-x4';

/**
 * The repository's `models/` folder, resolved from this file rather than the cwd so the CLI works
 * from anywhere; in an installed package (scripts/build-cli.ts), the `models/` the package ships.
 */
export const DEFAULT_MODEL_DIR =
  [new URL('../../../../models/', import.meta.url), new URL('../models/', import.meta.url)]
    .map((url) => fileURLToPath(url))
    .find((dir) => existsSync(join(dir, `${DEFAULT_MODEL_NAME}.onnx`))) ??
  fileURLToPath(new URL('../../../../models/', import.meta.url));

/** Options for {@link loadModel}. */
export interface LoadModelOptions {
  /** The `.onnx` file or its `.json` manifest; default `<repo>/models/oftsr-student-x4.onnx`. */
  modelPath?: string;
  /** Providers to try, in order; default `['cpu']`. */
  providers?: readonly ExecutionProvider[];
  /**
   * When the first provider fails to load, try the next one instead of throwing. Off by default:
   * a request for CUDA that quietly runs on CPU is a 50× slowdown nobody asked for.
   */
  allowFallback?: boolean;
  /** onnxruntime intra-op threads; 0 or undefined lets onnxruntime choose (one per core). */
  threads?: number;
  /**
   * Profile the session until {@link warmUp} ends it, so warm-up can report which provider each
   * model node really ran on (onnxruntime silently places nodes a provider cannot run on the CPU).
   */
  profilePlacement?: boolean;
}

/** A ready-to-run model. */
export interface LoadedModel {
  session: InferenceSession;
  manifest: ModelManifest;
  /** The provider the session was actually created with. */
  provider: ExecutionProvider;
  /** Absolute path of the ONNX file. */
  modelPath: string;
  /** Absolute path of the manifest. */
  manifestPath: string;
  /** Folder the session writes its profile to, when created with `profilePlacement`. */
  profileDir?: string;
}

/** Where the default model's ONNX file lives. */
export function defaultModelPath(): string {
  return join(DEFAULT_MODEL_DIR, `${DEFAULT_MODEL_NAME}.onnx`);
}

/**
 * Resolves a model path given as either the `.onnx` file or its `.json` manifest into both paths.
 * The manifest always sits beside the model with the same base name.
 */
export function modelPaths(modelPath: string = defaultModelPath()): { onnx: string; manifest: string } {
  const abs = resolve(modelPath);
  const stem = abs.replace(/\.(onnx|json)$/i, '');
  return { onnx: `${stem}.onnx`, manifest: `${stem}.json` };
}

async function readOrThrow(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'not found' : `unreadable (${code ?? String(cause)})`;
    throw new OftsrError('model_contract', `${what} ${path}: ${why}`, { cause });
  }
}

async function createSession(
  model: Uint8Array,
  provider: ExecutionProvider,
  threads: number | undefined,
  profileDir: string | undefined,
): Promise<InferenceSession> {
  return InferenceSession.create(model, {
    executionProviders: [provider],
    graphOptimizationLevel: 'all',
    // Tiles are run one batch at a time, so inter-op parallelism buys nothing.
    interOpNumThreads: 1,
    ...(threads ? { intraOpNumThreads: threads } : {}),
    // Idle intra-op threads would otherwise spin after each run and take the cores from the
    // pixel conversion and encode that follow it (bench/runner/STAGES.md: ~2× on those stages).
    extra: { session: { intra_op: { allow_spinning: '0' } } },
    ...(profileDir ? { enableProfiling: true, profileFilePrefix: join(profileDir, 'ort') } : {}),
  });
}

/**
 * Opens the model.
 *
 * @throws OftsrError `model_contract` when a file is missing, the manifest is invalid, the sha256 or
 *   size differs, the requested provider cannot be loaded (and fallback is off), or the session's
 *   tensor names do not match the contract.
 * @example
 * const model = await loadModel({ providers: ['cuda', 'cpu'], allowFallback: true });
 * console.log(model.provider); // 'cuda' or 'cpu'
 */
export async function loadModel(options: LoadModelOptions = {}): Promise<LoadedModel> {
  const paths = modelPaths(options.modelPath);
  const manifestBytes = await readOrThrow(paths.manifest, 'model manifest');
  let json: unknown;
  try {
    json = JSON.parse(manifestBytes.toString('utf8'));
  } catch (cause) {
    throw new OftsrError('model_contract', `model manifest ${paths.manifest} is not JSON`, { cause });
  }
  const manifest = parseManifest(json);
  // The manifest names its model file; it must be the one beside it, not something elsewhere.
  const onnxPath = join(dirname(paths.manifest), basename(manifest.file));
  const model = await readOrThrow(onnxPath, 'model file');
  if (model.length !== manifest.bytes) {
    throw new OftsrError(
      'model_contract',
      `model file ${onnxPath} has ${model.length} bytes, manifest says ${manifest.bytes}`,
    );
  }
  const sha256 = createHash('sha256').update(model).digest('hex');
  if (sha256 !== manifest.sha256) {
    throw new OftsrError(
      'model_contract',
      `model file ${onnxPath} sha256 ${sha256} does not match manifest (${manifest.sha256})`,
    );
  }

  const providers = options.providers?.length ? options.providers : (['cpu'] as const);
  const failures: string[] = [];
  for (const [i, provider] of providers.entries()) {
    let session: InferenceSession;
    const profileDir = options.profilePlacement ? await mkdtemp(join(tmpdir(), 'oftsr-ort-')) : undefined;
    try {
      session = await createSession(model, provider, options.threads, profileDir);
    } catch (cause) {
      if (profileDir) await rm(profileDir, { recursive: true, force: true });
      const reason = cause instanceof Error ? cause.message.split('\n')[0] : String(cause);
      failures.push(`${provider}: ${reason}`);
      const last = i === providers.length - 1;
      if (!options.allowFallback || last) {
        throw new OftsrError(
          'model_contract',
          `cannot create an onnxruntime session (${failures.join('; ')})` +
            (options.allowFallback ? '' : '; fallback to the next provider is disabled'),
          { cause },
        );
      }
      continue;
    }
    try {
      validateModel(manifest, session, readOnnxMetadata(model));
    } catch (err) {
      await session.release();
      if (profileDir) await rm(profileDir, { recursive: true, force: true });
      throw err;
    }
    return {
      session,
      manifest,
      provider,
      modelPath: onnxPath,
      manifestPath: paths.manifest,
      ...(profileDir ? { profileDir } : {}),
    };
  }
  // Unreachable: the loop returns or throws on its last provider.
  throw new OftsrError('internal', 'no execution provider tried');
}

/** What {@link warmUp} found. */
export interface WarmUpReport {
  /** Warmed LR tile shapes, `HxW`, each at batch sizes 1 and `maxBatch`. */
  shapes: string[];
  milliseconds: number;
  /**
   * Model nodes per onnxruntime provider name (e.g. `{ CPUExecutionProvider: 286 }`), from the
   * session profile; absent when the session was not created with `profilePlacement`.
   */
  nodesByProvider?: Record<string, number>;
  /** Heavy nodes (Conv, MatMul, Gemm, ...) that ran on another provider than the session's. */
  misplacedHeavyNodes?: number;
}

const HEAVY_OPS = /^(Conv|ConvTranspose|FusedConv|MatMul|FusedMatMul|Gemm|NhwcConv)/;

async function readPlacement(
  profileDir: string,
  provider: ExecutionProvider,
): Promise<Pick<WarmUpReport, 'nodesByProvider' | 'misplacedHeavyNodes'>> {
  const files = (await readdir(profileDir)).filter((f) => f.endsWith('.json'));
  const nodesByProvider: Record<string, number> = {};
  let misplacedHeavyNodes = 0;
  const seen = new Set<string>();
  for (const file of files) {
    const events = JSON.parse(await readFile(join(profileDir, file), 'utf8')) as {
      cat?: string;
      name?: string;
      args?: { provider?: string; op_name?: string };
    }[];
    for (const e of events) {
      const where = e.args?.provider;
      if (e.cat !== 'Node' || !where || !e.name || seen.has(e.name)) continue;
      seen.add(e.name);
      nodesByProvider[where] = (nodesByProvider[where] ?? 0) + 1;
      if (where !== ORT_PROVIDER_NAMES[provider] && HEAVY_OPS.test(e.args?.op_name ?? ''))
        misplacedHeavyNodes++;
    }
  }
  await rm(profileDir, { recursive: true, force: true });
  return { nodesByProvider, misplacedHeavyNodes };
}

/**
 * Runs every tile shape once at batch 1 and once at `maxBatch`, so no request pays for kernel
 * selection or memory planning. When the session was created with `profilePlacement`, ends the
 * profile and reports where the nodes ran.
 *
 * @example
 * const report = await warmUp(model, [{ width: 128, height: 128 }], 4);
 */
export async function warmUp(
  model: LoadedModel,
  shapes: readonly { width: number; height: number }[],
  maxBatch: number,
): Promise<WarmUpReport> {
  const start = performance.now();
  for (const { width: w, height: h } of shapes) {
    for (const n of new Set([1, maxBatch])) {
      const feeds = modelFeeds(tensorShapes(model.manifest, n, h, w), (name, dims) => {
        const data = new Float32Array(elementCount(dims));
        return new Tensor('float32', name === 't' ? data.fill(0.5) : data, dims);
      });
      await model.session.run(feeds);
    }
  }
  const report: WarmUpReport = {
    shapes: shapes.map((x) => `${x.height}x${x.width}`),
    milliseconds: performance.now() - start,
  };
  if (model.profileDir) {
    model.session.endProfiling();
    Object.assign(report, await readPlacement(model.profileDir, model.provider));
    delete model.profileDir;
  }
  return report;
}
