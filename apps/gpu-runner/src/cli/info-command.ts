/**
 * `oftsr info`: the model's manifest metadata and the execution provider actually in use.
 */
import type { LoadedModel } from '../inference/onnx-session.ts';
import { openModel } from './model-options.ts';
import type { ModelCliOptions } from './model-options.ts';
import type { CommandIo } from './upscale-command.ts';

/** Options of the info command. */
export interface InfoCliOptions extends ModelCliOptions {
  json?: boolean;
}

// Shown first, in this order; any other manifest keys follow, so new contract fields show up too.
const LEADING_KEYS = [
  'name',
  'version',
  'trained',
  'scale',
  'sigma_p',
  'alignment',
  'margin',
  'tile',
  'params',
];

function formatValue(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** The info text for a loaded model: `key: value` lines. */
export function describeModel(model: LoadedModel): string {
  const manifest = model.manifest as unknown as Record<string, unknown>;
  const keys = [
    ...LEADING_KEYS.filter((k) => k in manifest),
    ...Object.keys(manifest).filter((k) => !LEADING_KEYS.includes(k)),
  ];
  const width = Math.max(...keys.map((k) => k.length), 'provider'.length);
  const lines = keys.map((k) => `${k.padEnd(width)}  ${formatValue(manifest[k])}`);
  lines.push(`${'provider'.padEnd(width)}  ${model.provider}`);
  lines.push(`${'model'.padEnd(width)}  ${model.modelPath}`);
  return `${lines.join('\n')}\n`;
}

/**
 * Runs the command.
 *
 * @returns the exit code (0).
 */
export async function runInfo(options: InfoCliOptions, io: CommandIo): Promise<number> {
  const model = await openModel(options, io.stderr);
  if (options.json) {
    io.stdout.write(
      `${JSON.stringify({ ...model.manifest, provider: model.provider, model: model.modelPath }, null, 2)}\n`,
    );
  } else {
    io.stdout.write(describeModel(model));
  }
  await model.session.release();
  return 0;
}
