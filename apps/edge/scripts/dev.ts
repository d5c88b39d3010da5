// `npm run dev:edge [-- wrangler dev flags]`: the edge under `wrangler dev --local --env dev`,
// with MODEL_VERSION read from the shipped manifest (wrangler.toml cannot hold it: it changes with
// every trained model; the harness, @oftsr/devkit, reads it). Secrets come from .dev.vars at the repo
// root, or `--var NAME:VALUE`. Interactive (stdio inherited): tests and benches use the harness's startEdge.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { MODEL_VERSION, ROOT, WRANGLER_ENTRY } from '@oftsr/devkit';

const args = [
  WRANGLER_ENTRY,
  'dev',
  '--config',
  join(ROOT, 'wrangler.toml'),
  '--env',
  'dev',
  '--local',
  '--var',
  `MODEL_VERSION:${MODEL_VERSION}`,
  ...process.argv.slice(2),
];
const child = spawn(process.execPath, args, {
  cwd: ROOT,
  stdio: 'inherit',
  env: { ...process.env, WRANGLER_SEND_METRICS: 'false' },
});
child.on('exit', (code) => process.exit(code ?? 1));
