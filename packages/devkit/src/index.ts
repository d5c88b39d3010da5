/**
 * @oftsr/devkit: the development harness that scripts/, bench/, e2e/ and the apps' process-level
 * tests share. Dev-only: the edge Worker, the runner's and the SDK's shipped sources never import it
 * (eslint.config.js enforces that).
 */
export * from './chromium.ts';
export * from './demo.ts';
export * from './edge.ts';
export * from './images.ts';
export * from './moto.ts';
export * from './net.ts';
export * from './paths.ts';
export * from './processes.ts';
export * from './runner.ts';
export * from './static.ts';
