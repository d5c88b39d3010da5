/**
 * Loads the oftsr model: finds the ONNX file and its manifest, checks the file against the manifest's
 * sha256, opens an onnxruntime-node session on the requested execution provider and checks the
 * session's tensor names against the I/O contract.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InferenceSession } from 'onnxruntime-node';
import { OftsrError, parseManifest, validateModel } from '@oftsr/shared';
import type { ModelManifest } from '@oftsr/shared';

/** Execution providers this runner knows how to ask onnxruntime-node for. */
export type ExecutionProvider = 'cpu' | 'cuda' | 'tensorrt';

/** Every {@link ExecutionProvider}, for argument validation. */
export const EXECUTION_PROVIDERS: readonly ExecutionProvider[] = ['cpu', 'cuda', 'tensorrt'];

/** Name of the model shipped in `<repo>/models/`. */
export const DEFAULT_MODEL_NAME = 'oftsr-student-x4';

/**
 * The repository's `models/` folder, resolved from this file rather than the cwd so the CLI works
 * from anywhere.
 */
export const DEFAULT_MODEL_DIR = fileURLToPath(new URL('../../../models/', import.meta.url));

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
): Promise<InferenceSession> {
  return InferenceSession.create(model, {
    executionProviders: [provider],
    graphOptimizationLevel: 'all',
    // Tiles are run one batch at a time, so inter-op parallelism buys nothing.
    interOpNumThreads: 1,
    ...(threads ? { intraOpNumThreads: threads } : {}),
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
    try {
      session = await createSession(model, provider, options.threads);
    } catch (cause) {
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
      validateModel(manifest, session);
    } catch (err) {
      await session.release();
      throw err;
    }
    return { session, manifest, provider, modelPath: onnxPath, manifestPath: paths.manifest };
  }
  // Unreachable: the loop returns or throws on its last provider.
  throw new OftsrError('internal', 'no execution provider tried');
}
