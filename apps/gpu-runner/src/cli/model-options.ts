/**
 * The model-related CLI options every command takes, and opening the model from them with the
 * untrained-model warning.
 */
import { OftsrError } from '@oftsr/shared';
import { EXECUTION_PROVIDERS, loadModel } from '../inference/onnx-session.ts';
import type { ExecutionProvider, LoadedModel } from '../inference/onnx-session.ts';

/** Parsed model options (commander's camel-cased names). */
export interface ModelCliOptions {
  model?: string;
  provider?: string;
  allowFallback?: boolean;
  threads?: number;
}

/** Where warnings go. */
export interface WarningSink {
  write(chunk: string): boolean;
}

/**
 * Parses `--provider cuda,cpu` into a provider list.
 *
 * @throws OftsrError `bad_param` (field `provider`) on an unknown name.
 */
export function parseProviders(text: string): ExecutionProvider[] {
  const names = text
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s.length > 0);
  for (const name of names) {
    if (!(EXECUTION_PROVIDERS as readonly string[]).includes(name)) {
      throw new OftsrError(
        'bad_param',
        `unknown execution provider "${name}" (allowed: ${EXECUTION_PROVIDERS.join(', ')})`,
        { field: 'provider', allowed: EXECUTION_PROVIDERS.join(', ') },
      );
    }
  }
  if (names.length === 0) {
    throw new OftsrError('bad_param', 'provider list is empty', { field: 'provider' });
  }
  return names as ExecutionProvider[];
}

/** The banner printed whenever the model in use is a provisional, untrained one. */
export function untrainedWarning(model: LoadedModel): string {
  return (
    `warning: the model ${model.manifest.name} ${model.manifest.version} is UNTRAINED ` +
    `(its manifest says "trained": false); its output is a placeholder, not real super-resolution.`
  );
}

/**
 * Opens the model named by the options (default: the one in `<repo>/models/`) and prints the
 * untrained-model warning when it applies.
 */
export async function openModel(options: ModelCliOptions, warnings: WarningSink): Promise<LoadedModel> {
  const model = await loadModel({
    ...(options.model === undefined ? {} : { modelPath: options.model }),
    providers: parseProviders(options.provider ?? 'cpu'),
    allowFallback: options.allowFallback === true,
    ...(options.threads === undefined ? {} : { threads: options.threads }),
  });
  if (!model.manifest.trained) warnings.write(`${untrainedWarning(model)}\n`);
  return model;
}
