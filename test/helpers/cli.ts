// The CLI run in-process with its output captured, as the CLI tests (unit and kernel) drive it.
import { expect } from 'vitest';
import { runCLI } from '../../src/cli/run.js';

/** What one run printed, and its exit code. */
export interface CliResult {
  /** The exit code. */
  readonly code: number;
  /** Everything written to stdout. */
  readonly stdout: string;
  /** Everything written to stderr. */
  readonly stderr: string;
}

/** Runs `ebpf-ts <args>` with `env` as its whole environment. */
export async function cli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await runCLI(args, { out: (t) => void (stdout += t), err: (t) => void (stderr += t), env });
  return { code, stdout, stderr };
}

/** Runs `ebpf-ts <args> -j`, expects it to succeed and returns what it printed, parsed. */
export async function cliJson<T = any>(args: string[]): Promise<T> {
  const r = await cli([...args, '-j']);
  expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  return JSON.parse(r.stdout) as T;
}
