// `npm start` itself (bin/start → scripts/start.ts): missing prerequisites give one message each, and
// the real command brings the stack up, prints a ready-made URL that works, and stops every process
// it started on Ctrl-C (SIGINT to its process group, as a terminal sends it).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkPrerequisites } from '../scripts/start.ts';
import { ROOT } from '@oftsr/devkit';

const skip = process.env.OFTSR_SKIP_E2E === '1';

describe('npm start: prerequisites', () => {
  it('names each missing piece once, with what to do', () => {
    const empty = mkdtempSync(join(tmpdir(), 'oftsr-start-'));
    try {
      const problems = checkPrerequisites(empty, join(empty, '.venv/bin/python'));
      const text = problems.map((p) => `${p.what} — ${p.fix}`);
      expect(text.some((t) => t.startsWith('node_modules/ is missing') && t.includes('bin/setup'))).toBe(
        true,
      );
      expect(text.some((t) => t.includes('models/oftsr-student-x4.json is missing'))).toBe(true);
      expect(text.some((t) => t.includes('samples/landscape-192x128.png is missing'))).toBe(true);
      expect(text.some((t) => t.startsWith('.venv/ is missing') && t.includes('bin/setup'))).toBe(true);
      expect(new Set(text).size).toBe(text.length);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it('finds nothing missing in this checkout (bin/setup has run)', () => {
    expect(checkPrerequisites()).toEqual([]);
  });
});

describe.skipIf(skip)('npm start: the real command', () => {
  let pgid: number | undefined;
  afterAll(() => {
    if (pgid !== undefined) {
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });

  it('prints a working URL, and Ctrl-C stops every process it started', async () => {
    const child = spawn(join(ROOT, 'bin/start'), [], {
      cwd: ROOT,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, OFTSR_START_THREADS: '1' },
    });
    pgid = child.pid;
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const deadline = Date.now() + 240_000;
    while (!out.includes('Ctrl-C stops everything') && child.exitCode === null && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(out, err).toContain('Ctrl-C stops everything');
    const url = /try it\s+(\S+)/.exec(out)?.[1] ?? '';
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/landscape-192x128\.png\?sr=4&t=0\.7$/);
    const res = await fetch(url);
    const bytes = new Uint8Array(await res.arrayBuffer());
    expect(res.status, err).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/png');
    expect(bytes.length).toBeGreaterThan(1000);

    const runnerUrl = /runner\s+(http\S+)/.exec(out)?.[1];
    const motoUrl = /S3 \(moto\)\s+(http\S+)/.exec(out)?.[1];
    expect(runnerUrl).toBeDefined();
    expect(motoUrl).toBeDefined();

    process.kill(-child.pid!, 'SIGINT');
    expect(await exited).toBe(130);
    expect(err).toContain('stopping every process');
    // Nothing it started is listening any more (each child ran in its own process group).
    for (const base of [new URL(url).origin, runnerUrl, motoUrl]) {
      await expect(fetch(`${base}/`, { signal: AbortSignal.timeout(2_000) })).rejects.toThrow();
    }
  }, 300_000);
});
