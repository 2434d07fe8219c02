// examples/profile.mjs as users run it (`npm run example:profile`), against the built package in
// dist/: by default it profiles a Node child burning CPU in burnCpu() (named through V8's perf
// map); with --pid it profiles a process given, here testdata/profile/busy (named through its
// ELF symbols). Each run must name the hot function in its hottest stack, say which event it
// sampled (cpu-clock where there is no hardware PMU), and leave no fd open (its leak check).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureBuiltDist, repo } from './helpers/dist.js';

const root = process.getuid?.() === 0;
const skip = !root ? 'needs root for bpf() and CPU-wide perf events' : process.arch !== 'x64' ? 'testdata/profile/busy is an x86-64 binary' : '';
if (skip !== '') console.warn(`skipping the profile example test: ${skip}`);

// Under qemu TCG (EBPF_TS_VM=1) Node starts slowly and V8 takes longer to optimise the loop.
const SECONDS = process.env.EBPF_TS_VM === '1' ? 10 : 3;
const hasPMU = existsSync('/sys/bus/event_source/devices/cpu');

function profile(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(repo, 'examples', 'profile.mjs'), ...args], {
    cwd: repo,
    encoding: 'utf8',
    env: { ...process.env, EBPF_TS_EXAMPLE_CHECK_LEAKS: '1' },
    timeout: (SECONDS + 120) * 1000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The hottest stack's block: its header line and frames. */
function hottest(stdout: string): string[] {
  const blocks = stdout.split('\n\n');
  const i = blocks.findIndex((b) => /most frequent stacks:$/.test(b));
  return (blocks[i + 1] ?? '').split('\n');
}

describe.skipIf(skip !== '')('example profile', () => {
  beforeAll(() => {
    ensureBuiltDist();
  }, 300_000);

  it('profiles its Node child: the hottest stack is burnCpu, named from the perf map V8 writes', () => {
    const run = profile(['--duration', String(SECONDS), '--top', '3']);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const event = hasPMU ? 'cycles' : 'cpu-clock \\(cycles asked for: no hardware PMU here\\)';
    expect(run.stdout).toMatch(new RegExp(`^Sampling pid (\\d+) \\(a child burning CPU in burnCpu\\): ${event} at 99 Hz on \\d+ CPUs; Ctrl-C to stop\\n`));
    const pid = /^Sampling pid (\d+)/.exec(run.stdout)![1]!;
    const [header, first] = hottest(run.stdout);
    expect(header).toMatch(new RegExp(`^ +\\d+ samples \\(\\d+\\.\\d%\\)  node \\[${pid}\\]$`));
    expect(first).toMatch(new RegExp(`burnCpu .*\\[perf-${pid}\\.map\\]$`));
    expect(run.stdout).toContain('stopped by duration');
    expect(run.stdout).toContain('leak check: fds +0, probe events 0');
    // The child's perf map is removed with the child.
    expect(existsSync(`/tmp/perf-${pid}.map`)).toBe(false);
  });

  it('--pid profiles a running process: testdata/profile/busy, named from its ELF symbols', async () => {
    const busy = spawn(join(repo, 'testdata', 'profile', 'busy'), [String(SECONDS + 30)], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      await new Promise<void>((resolve, reject) => {
        busy.once('error', reject);
        busy.stdout.once('data', () => resolve());
      });
      const run = profile(['--pid', String(busy.pid), '--duration', String(SECONDS), '--top', '1']);
      expect(run.stderr).toBe('');
      expect(run.status).toBe(0);
      expect(run.stdout).toMatch(new RegExp(`^Sampling pid ${busy.pid}: `));
      const [header, ...frames] = hottest(run.stdout);
      expect(header).toMatch(new RegExp(`samples \\(\\d+\\.\\d%\\)  busy \\[${busy.pid}\\]$`));
      expect(frames.slice(0, 3)).toEqual(['    ebpf_ts_profile_hot [busy]', '    ebpf_ts_profile_outer [busy]', '    main [busy]']);
      expect(run.stdout).toContain('leak check: fds +0, probe events 0');
    } finally {
      busy.kill();
    }
  });

  it('refuses bad options with its usage, and a pid that does not exist with a message', () => {
    const bad = profile(['--pid', '1', '--all']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--pid and --all exclude each other\nusage: profile\.mjs/);
    const gone = profile(['--pid', '999999999', '--duration', '1']);
    expect(gone.status).toBe(1);
    expect(gone.stderr).toMatch(/^profile: cannot read \/proc\/999999999\/maps: no such process/);
  });
});
