// `npm run dev:edge [-- wrangler dev flags]`: the edge under `wrangler dev --local --env dev`,
// with MODEL_VERSION read from the shipped manifest (wrangler.toml cannot hold it: it changes with
// every trained model). Secrets come from .dev.vars at the repo root, or `--var NAME:VALUE`.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const { version } = JSON.parse(readFileSync(`${root}models/oftsr-student-x4.json`, 'utf8')) as {
  version: string;
};
const args = [
  `${root}node_modules/wrangler/bin/wrangler.js`,
  'dev',
  '--config',
  `${root}wrangler.toml`,
  '--env',
  'dev',
  '--local',
  '--var',
  `MODEL_VERSION:${version}`,
  ...process.argv.slice(2),
];
const child = spawn(process.execPath, args, {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, WRANGLER_SEND_METRICS: 'false' },
});
child.on('exit', (code) => process.exit(code ?? 1));
