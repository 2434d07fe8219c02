// Tests that run the built package in a child process (examples, signal handling) need dist/
// to match src/: CI builds it (`npm install` runs `prepare`); a checkout whose sources are
// newer than dist/ is rebuilt here, so the test runs the code under test.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const repo = join(import.meta.dirname, '..', '..', '..');

/** Builds dist/ when it is missing or older than some file under src/; returns dist/index.js. */
export function ensureBuiltDist(): string {
  const built = join(repo, 'dist', 'index.js');
  if (distIsStale(built)) {
    const r = spawnSync('npm', ['run', 'build'], { cwd: repo, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`npm run build failed:\n${r.stdout}${r.stderr}`);
  }
  return built;
}

function distIsStale(built: string): boolean {
  if (!existsSync(built)) return true;
  const builtAt = statSync(built).mtimeMs;
  const newest = (dir: string): number => {
    let t = 0;
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, entry.name);
      t = Math.max(t, entry.isDirectory() ? newest(p) : statSync(p).mtimeMs);
    }
    return t;
  };
  return newest(join(repo, 'src')) > builtAt;
}
