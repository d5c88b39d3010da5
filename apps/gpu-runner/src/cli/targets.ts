/**
 * Turns the CLI's inputs and `-o` into a list of jobs (input file → output file + format): folders
 * are expanded, non-images skipped, and the output is a file or a folder by the rules in
 * {@link resolveTargets}.
 */
import { mkdir, readdir, stat } from 'node:fs/promises';
import { basename, extname, join, resolve } from 'node:path';
import { OftsrError } from '@oftsr/shared';
import type { EncodedFormat, OutputFormat } from '@oftsr/shared';
import { FORMAT_EXTENSIONS, IMAGE_EXTENSIONS, resolveFormat } from '../io/image-io.ts';

/** One image to upscale. */
export interface Job {
  input: string;
  output: string;
  format: EncodedFormat;
}

/** A path that will not be processed, and why. */
export interface Note {
  path: string;
  reason: string;
}

/** The result of {@link resolveTargets}. */
export interface Targets {
  jobs: Job[];
  /** Not images (by extension) or sub-folders inside an input folder: mentioned, not an error. */
  skipped: Note[];
  /** Inputs that cannot be processed (missing, would overwrite something): reported as errors. */
  failed: Note[];
  /** Whether `-o` was taken as a single output file. */
  outputIsFile: boolean;
}

const WRITABLE_BY_EXTENSION: Readonly<Record<string, EncodedFormat>> = {
  '.png': 'png',
  '.jpg': 'jpeg',
  '.jpeg': 'jpeg',
  '.webp': 'webp',
  '.avif': 'avif',
};

const SOURCE_FORMAT_BY_EXTENSION: Readonly<Record<string, string>> = {
  '.jpg': 'jpeg',
  '.jpeg': 'jpeg',
  '.webp': 'webp',
  '.avif': 'heif',
};

/** Image extensions we cannot write: as `-o`, they are a mistake, not a folder name. */
const UNWRITABLE_IMAGE_EXTENSIONS: readonly string[] = [
  '.bmp',
  '.heic',
  '.heif',
  '.jxl',
  '.ico',
  '.svg',
  '.jp2',
];

function isImageName(path: string): boolean {
  return IMAGE_EXTENSIONS.includes(extname(path).toLowerCase());
}

/** The format written for `input` under `requested` (`auto` keeps the input's, by its extension). */
function formatFor(input: string, requested: OutputFormat): EncodedFormat {
  return resolveFormat(requested, SOURCE_FORMAT_BY_EXTENSION[extname(input).toLowerCase()] ?? 'png');
}

async function kindOf(path: string): Promise<'file' | 'dir' | 'missing' | 'other'> {
  try {
    const s = await stat(path);
    return s.isDirectory() ? 'dir' : s.isFile() ? 'file' : 'other';
  } catch {
    return 'missing';
  }
}

function outputFileFormat(output: string, requested: OutputFormat): EncodedFormat {
  const ext = extname(output).toLowerCase();
  const byExt = WRITABLE_BY_EXTENSION[ext];
  if (!byExt) {
    throw new OftsrError(
      'unsupported_format',
      `cannot write ${ext} files; use .png, .jpg, .webp or .avif (or give -o a folder)`,
      { field: 'output' },
    );
  }
  if (requested !== 'auto' && requested !== byExt) {
    throw new OftsrError(
      'bad_param',
      `--format ${requested} does not match the output file extension ${ext}`,
      { field: 'format' },
    );
  }
  return byExt;
}

/**
 * Resolves inputs and output into jobs. `-o` is a file when exactly one input is given, it is a
 * file, and `-o` ends in an image extension; otherwise it is a folder (created if missing), and each
 * output keeps its input's base name with the extension of the output format.
 *
 * @throws OftsrError `bad_param` when `-o` is a file but a folder is needed, or the format and the
 *   extension of an output file disagree.
 */
export async function resolveTargets(
  inputs: readonly string[],
  output: string,
  format: OutputFormat,
): Promise<Targets> {
  const skipped: Note[] = [];
  const failed: Note[] = [];
  const files: string[] = [];
  let sawFolder = false;
  for (const input of inputs) {
    const kind = await kindOf(input);
    if (kind === 'missing') failed.push({ path: input, reason: 'no such file or folder' });
    else if (kind === 'other') failed.push({ path: input, reason: 'not a regular file or folder' });
    else if (kind === 'file') files.push(input);
    else {
      sawFolder = true;
      const entries = await readdir(input, { withFileTypes: true });
      entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      for (const entry of entries) {
        const path = join(input, entry.name);
        if (entry.isDirectory()) skipped.push({ path, reason: 'sub-folder (not searched)' });
        else if (!isImageName(entry.name)) skipped.push({ path, reason: 'not an image file' });
        else files.push(path);
      }
    }
  }

  const outExt = extname(output).toLowerCase();
  if (UNWRITABLE_IMAGE_EXTENSIONS.includes(outExt) && (await kindOf(output)) !== 'dir') {
    // Without this, `-o x.bmp` would quietly become a folder named x.bmp.
    throw new OftsrError(
      'bad_param',
      `-o ${output}: cannot write ${outExt} images (write ${Object.values(FORMAT_EXTENSIONS).join(', ')}, or name a folder)`,
      { field: 'output', allowed: Object.values(FORMAT_EXTENSIONS).join(', ') },
    );
  }
  const single = inputs.length === 1 && !sawFolder && files.length === 1;
  if (single && isImageName(output) && (await kindOf(output)) !== 'dir') {
    const input = files[0] as string;
    const job = { input, output, format: outputFileFormat(output, format) };
    if (resolve(input) === resolve(output)) {
      return {
        jobs: [],
        skipped,
        failed: [{ path: input, reason: 'output would overwrite the input' }],
        outputIsFile: true,
      };
    }
    return { jobs: [job], skipped, failed, outputIsFile: true };
  }

  const outKind = await kindOf(output);
  if (outKind === 'file' || outKind === 'other') {
    throw new OftsrError('bad_param', `-o ${output} must be a folder when several images are written`, {
      field: 'output',
    });
  }
  if (files.length > 0) await mkdir(output, { recursive: true });
  const jobs: Job[] = [];
  const claimed = new Map<string, string>();
  for (const input of files) {
    const jobFormat = formatFor(input, format);
    const name = basename(input, extname(input)) + FORMAT_EXTENSIONS[jobFormat];
    const target = join(output, name);
    const key = resolve(target);
    const earlier = claimed.get(key);
    if (earlier !== undefined) {
      failed.push({ path: input, reason: `output ${target} is already written from ${earlier}` });
    } else if (key === resolve(input)) {
      failed.push({ path: input, reason: 'output would overwrite the input' });
    } else {
      claimed.set(key, input);
      jobs.push({ input, output: target, format: jobFormat });
    }
  }
  return { jobs, skipped, failed, outputIsFile: false };
}
