#!/usr/bin/env node
/**
 * Entry point of the `oftsr` CLI (run by Node ≥ 22.18, which strips the TypeScript types itself):
 * owns the process — exit codes, error printing, Ctrl-C.
 */
import { CommanderError } from 'commander';
import { OftsrError } from '@oftsr/shared';
import { removePendingTempFiles } from '../io/atomic-write.ts';
import { buildProgram } from './program.ts';
import { EXIT } from './upscale-command.ts';

const controller = new AbortController();
let exitCode: number = EXIT.ok;

function onSignal(signal: NodeJS.Signals): void {
  if (controller.signal.aborted) process.exit(EXIT.interrupted);
  process.stderr.write(`\ninterrupted (${signal}); stopping after the current tile\n`);
  controller.abort(new Error(`interrupted by ${signal}`));
}
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
process.on('exit', removePendingTempFiles);

const program = buildProgram(
  { stdout: process.stdout, stderr: process.stderr, signal: controller.signal },
  (code) => {
    exitCode = code;
  },
).exitOverride();

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // Help and version exit 0; every other parse error is a usage error (already printed).
    exitCode = err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  } else if (controller.signal.aborted) {
    exitCode = EXIT.interrupted;
  } else if (err instanceof OftsrError) {
    process.stderr.write(`error: ${err.message}\n`);
    exitCode =
      err.code === 'bad_param' ? EXIT.usage : err.code === 'model_contract' ? EXIT.model : EXIT.failed;
  } else {
    process.stderr.write(`error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    exitCode = EXIT.internal;
  }
}
removePendingTempFiles();
process.exitCode = exitCode;
