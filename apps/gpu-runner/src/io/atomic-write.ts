/**
 * Writes files so that a reader never sees half of one: the bytes go to a temp file in the same
 * folder (same filesystem, so `rename` is atomic), which is renamed over the target at the end and
 * removed on any failure.
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Temp files currently being written, so a signal handler can remove them before exiting. */
const pending = new Set<string>();

/** The temp-file name used for `target`: hidden, unique, recognisable by its `.oftsr-tmp` suffix. */
export function tempPathFor(target: string): string {
  const tag = `${process.pid}-${randomBytes(4).toString('hex')}`;
  return join(dirname(target), `.${basename(target)}.${tag}.oftsr-tmp`);
}

/**
 * Writes `data` to `target` atomically.
 *
 * @throws the underlying fs error; the temp file is gone by then and `target` is untouched.
 * @example await writeFileAtomic('out/cat.png', png);
 */
export async function writeFileAtomic(target: string, data: Uint8Array): Promise<void> {
  const temp = tempPathFor(target);
  pending.add(temp);
  try {
    await writeFile(temp, data, { flag: 'wx' });
    await rename(temp, target);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  } finally {
    pending.delete(temp);
  }
}

/** Removes every temp file still being written; for SIGINT/SIGTERM handlers. Synchronous on purpose. */
export function removePendingTempFiles(): void {
  for (const temp of pending) {
    try {
      rmSync(temp, { force: true });
    } catch {
      // Already gone or never created: nothing to clean.
    }
  }
  pending.clear();
}
