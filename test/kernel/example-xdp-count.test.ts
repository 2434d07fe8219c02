// examples/xdp-count.mjs as users run it, against the built package in dist/: the demo (no
// interface: its own namespaces, veth and datagrams) and the counting of an interface given on
// the command line while the test sends datagrams to it. Each run must exit 0, print the
// exact UDP counts, leave no fd behind (EBPF_TS_EXAMPLE_CHECK_LEAKS=1) and no XDP program, veth
// or namespace holder behind.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { inNetns } from '../../src/internal/netns.js';
import { xdpPrograms } from '../../src/link/xdp.js';
import { ensureBuiltDist, repo } from './helpers/dist.js';
import { netnsUnavailable, sendUdp, TestNetns, vethPair } from './helpers/netns.js';

const root = process.getuid?.() === 0;
const skip = !root ? 'needs root for bpf() and network namespaces' : netnsUnavailable();
if (skip !== undefined) console.warn(`skipping the xdp-count example tests: ${skip}`);
const SCRIPT = join(repo, 'examples', 'xdp-count.mjs');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the example (inside `ns` when given); `whenReady` runs once its first line is out. */
function runExample(args: string[], ns?: TestNetns, whenReady?: () => void): Promise<Run> {
  const cmd = ns === undefined ? process.execPath : 'nsenter';
  const argv = ns === undefined ? [SCRIPT, ...args] : [`--net=${ns.path}`, '--', process.execPath, SCRIPT, ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { cwd: repo, env: { ...process.env, EBPF_TS_EXAMPLE_CHECK_LEAKS: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let ready = false;
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
      if (!ready && stdout.includes('\n')) {
        ready = true;
        try {
          whenReady?.();
        } catch (err) {
          child.kill('SIGKILL');
          reject(err);
        }
      }
    });
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const killer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe.skipIf(skip !== undefined)('example:xdp-count', () => {
  beforeAll(() => {
    ensureBuiltDist();
  });

  for (const args of [[], ['--legacy', '--mode', 'generic']]) {
    it(`demo ${args.join(' ') || '(defaults)'}: counts its 5 datagrams, then removes its namespaces`, async () => {
      const run = await runExample(args);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(args.length === 0 ? /: driver mode, program id \d+, bpf-link|: driver mode, program id \d+, attachment/ : /: generic mode, program id \d+, attachment/);
      // 5 × (14 Ethernet + 20 IPv4 + 8 UDP + 16 or 17 bytes of 'xdp-count demo i').
      expect(run.stdout).toMatch(/^UDP +5 +290$/m);
      expect(run.stdout).toMatch(/^ARP +\d+ +\d+$/m);
      expect(run.stdout).toContain('leak check: fds +0, probe events 0');
      const pid = Number(/namespace of pid (\d+)/.exec(run.stdout)?.[1]);
      expect(pid).toBeGreaterThan(0);
      expect(existsSync(`/proc/${pid}`)).toBe(false);
    });
  }

  it('on an interface given on the command line: counts what the test sends while it runs, detaches on exit', async () => {
    const a = TestNetns.create();
    const b = TestNetns.create();
    try {
      vethPair(a, 'va', '10.212.1.1', b, 'vb', '10.212.1.2');
      let sent = 0;
      const run = await runExample(['vb', '--duration', process.env.EBPF_TS_VM === '1' ? '10' : '3', '--mode', 'generic'], b, () => {
        sent = sendUdp(a, '10.212.1.2', 9, 4);
      });
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(sent).toBe(4);
      expect(run.stdout).toMatch(/counting on vb: generic mode/);
      const total = run.stdout.slice(run.stdout.indexOf('total (stopped by duration)'));
      expect(total).toMatch(/^UDP +4 +296$/m); // 4 × (14 + 20 + 8 + 32)
      expect(run.stdout).toContain('leak check: fds +0, probe events 0');
      expect(inNetns(b.path, () => xdpPrograms('vb'))).toEqual([]);
    } finally {
      a.close();
      b.close();
    }
  });

  it('an interface that does not exist: exit 1 with the interfaces there are', async () => {
    const b = TestNetns.create();
    try {
      const run = await runExample(['nope0', '--duration', '1'], b);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/xdp-count: network interface nope0 does not exist .*has lo/);
    } finally {
      b.close();
    }
  });
});
