/**
 * The `oftsr` command-line interface: commander definitions only; each command's work lives in its
 * own module.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { DEFAULT_T, MAX_SEED, OUTPUT_FORMATS } from '@oftsr/shared';
import { DEFAULT_MAX_INPUT_PIXELS } from '../io/image-io.ts';
import { EXECUTION_PROVIDERS, defaultModelPath } from '../inference/onnx-session.ts';
import { runInfo } from './info-command.ts';
import type { InfoCliOptions } from './info-command.ts';
import pkg from '../../package.json' with { type: 'json' };
import { runUpscale } from './upscale-command.ts';
import type { CommandIo, UpscaleCliOptions } from './upscale-command.ts';

function positiveInteger(name: string): (value: string) => number {
  return (value) => {
    if (!/^[0-9]+$/.test(value) || Number(value) < 1) {
      throw new InvalidArgumentError(`${name} must be a positive integer (got "${value}")`);
    }
    return Number(value);
  };
}

function nonNegativeInteger(name: string): (value: string) => number {
  return (value) => {
    if (!/^[0-9]+$/.test(value))
      throw new InvalidArgumentError(`${name} must be an integer ≥ 0 (got "${value}")`);
    return Number(value);
  };
}

function addModelOptions(command: Command): Command {
  return command
    .option('--model <path>', `model .onnx or manifest .json (default: ${defaultModelPath()})`)
    .option(
      '--provider <list>',
      `execution providers to use, in order, comma-separated (${EXECUTION_PROVIDERS.join(', ')})`,
      'cpu',
    )
    .option('--allow-fallback', 'use the next provider in --provider when one fails to load')
    .option(
      '--threads <n>',
      'onnxruntime intra-op threads (default: one per core)',
      positiveInteger('threads'),
    );
}

/**
 * Builds the program. `setExitCode` receives each command's exit code, so `main.ts` owns the
 * process and tests can drive the program in-process.
 */
export function buildProgram(io: CommandIo, setExitCode: (code: number) => void): Command {
  const program = new Command('oftsr')
    .description('One-step tunable super-resolution (x4 / x2) on CPU or GPU with onnxruntime.')
    .version(pkg.version, '-V, --version', 'print the version of oftsr')
    .showHelpAfterError('(run with --help for usage)');

  addModelOptions(
    program
      .command('upscale')
      .description(
        'Upscale images. A folder in gives a folder out; -o is a file only for one input file ' +
          'and an image extension.',
      )
      .argument('<inputs...>', 'image files and/or folders of images')
      .requiredOption('-o, --output <path>', 'output file (one input) or folder')
      .option('--sr <n>', 'scale: 4, or 2 (x4 then a Lanczos downscale)', '4')
      .option(
        '--t <x>',
        `strength in [0, 1], 0 = faithful, 1 = most detail; rounded to 0.05 (default: ${DEFAULT_T})`,
      )
      .option('--seed <n>', `noise seed, an integer in [0, ${MAX_SEED}]; same seed, same output (default: 0)`)
      .addOption(
        new Option(
          '--format <f>',
          `output format: ${OUTPUT_FORMATS.join(', ')}; auto keeps the input's`,
        ).default('auto'),
      )
      .option('--q <n>', 'quality 1-100 for jpeg, webp and avif (default: 85)')
      .option(
        '--tile <n>',
        'tile size in input pixels, a multiple of the model alignment, used unpadded (default: 64/128/256 padded, as the runner and the SDK, so the same pixels)',
        positiveInteger('tile'),
      )
      .option(
        '--overlap <n>',
        'tile overlap in input pixels (default: the model margin)',
        nonNegativeInteger('overlap'),
      )
      .option('--batch <n>', 'tiles per model call (default: 1; raise on GPU)', positiveInteger('batch'))
      .option(
        '--max-pixels <n>',
        `largest input in pixels, width x height (default: ${DEFAULT_MAX_INPUT_PIXELS} = 4 MP)`,
        positiveInteger('max-pixels'),
      )
      .option('--overwrite', 'replace outputs that already exist (default: refuse, naming them)')
      .option('--no-progress', 'plain log lines instead of a progress bar'),
  ).action(async (inputs: string[], options: UpscaleCliOptions) => {
    setExitCode(await runUpscale(inputs, options, io));
  });

  addModelOptions(
    program
      .command('info')
      .description(
        "Print the model's manifest (name, version, trained, scale, sigma_p, ...) and the provider in use.",
      )
      .option('--json', 'print JSON'),
  ).action(async (options: InfoCliOptions) => {
    setExitCode(await runInfo(options, io));
  });

  return program;
}
