// testdata/uprobe/target, the user-space program the uprobe tests probe: it calls
// ebpf_ts_uprobe_add(i, 1000) for i = 1..N (testdata/uprobe/target.c).
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';

/** The committed fixture (x86-64; testdata/uprobe/build.sh rebuilds it). */
export const TARGET = join(import.meta.dirname, '..', '..', '..', 'testdata', 'uprobe', 'target');

/** Runs the target to completion: `n` calls; returns its pid and what it printed. */
export function runTarget(n: number): { pid: number; out: string } {
  const r = spawnSync(TARGET, [String(n)], { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`target exited with ${r.status}: ${r.stderr}`);
  return { pid: r.pid!, out: r.stdout };
}

/** Starts the target in "wait" mode; `release()` lets it make its `n` calls and resolves with its output. */
export async function startWaitingTarget(n: number): Promise<{ child: ChildProcessWithoutNullStreams; release: () => Promise<string> }> {
  const child = spawn(TARGET, [String(n), 'wait']);
  let out = '';
  child.stdout.setEncoding('utf8');
  await new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.stdout.on('data', (chunk: string) => {
      out += chunk;
      if (out.includes('ready\n')) resolve();
    });
  });
  const exited = new Promise<string>((resolve) => child.once('exit', () => resolve(out)));
  return {
    child,
    release: async () => {
      child.stdin.end('go\n');
      return exited;
    },
  };
}
