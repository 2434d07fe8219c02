// examples/netmon.mjs as users run it (`npm run example:netmon -- --demo`), against the built
// package in dist/: the demo creates a child cgroup, runs a traffic generator in it that sends
// itself 10 UDP datagrams of 1000 bytes over loopback, and must print exactly those packets
// and bytes each way, per cgroup and per process, then remove its cgroup and leave no fd
// open (its leak check, EBPF_TS_EXAMPLE_CHECK_LEAKS=1).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { cgroup2Path } from '../../src/internal/cgroup.js';
import { cgroupUnavailable } from './helpers/cgroup.js';
import { ensureBuiltDist, repo } from './helpers/dist.js';

const skip = cgroupUnavailable();
if (skip !== undefined) console.warn(`skipping the netmon example test: ${skip}`);

// The generator's traffic: each datagram is 20 bytes of IPv4 header, 8 of UDP, 1000 of payload.
const PACKETS = 10;
const IP_BYTES = PACKETS * (20 + 8 + 1000);

function netmon(args: string[]): { status: number | null; stdout: string; stderr: string; pid: number } {
  const r = spawnSync(process.execPath, [join(repo, 'examples', 'netmon.mjs'), ...args], {
    cwd: repo,
    encoding: 'utf8',
    env: { ...process.env, EBPF_TS_EXAMPLE_CHECK_LEAKS: '1' },
    timeout: 120_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, pid: r.pid };
}

/** The rows after "totals:": name → the four counters. */
function totals(stdout: string): Map<string, number[]> {
  const lines = stdout.split('\n');
  const out = new Map<string, number[]>();
  for (const line of lines.slice(lines.indexOf('totals:') + 1)) {
    const cells = line.trim().split(/\s+/);
    if (cells.length < 6) break;
    out.set(cells.slice(1, -4).join(' '), cells.slice(-4).map(Number));
  }
  return out;
}

describe.skipIf(skip !== undefined)('example netmon', () => {
  beforeAll(() => {
    ensureBuiltDist();
  });

  it('--demo counts exactly the UDP packets and bytes of its generator, per cgroup, and removes its cgroup', () => {
    const run = netmon(['--demo', '--interval', '0.5']);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const name = `/netmon-demo-${run.pid}`;
    expect(run.stdout).toMatch(/^counting traffic of cgroup \/netmon-demo-\d+ and below \((cgroup links|BPF_PROG_ATTACH)\)\nTIME\(s\) +CGROUP +TX_BYTES +TX_PKTS +RX_BYTES +RX_PKTS/);
    expect(totals(run.stdout)).toEqual(new Map([[name, [IP_BYTES, PACKETS, IP_BYTES, PACKETS]]]));
    expect(run.stdout).toContain(`sent itself ${PACKETS} UDP datagrams of 1000 bytes over loopback: ${PACKETS} packets and ${IP_BYTES} IP bytes each way`);
    expect(run.stdout).toContain('leak check: fds +0, probe events 0');
    expect(existsSync(join(cgroup2Path(), name.slice(1)))).toBe(false);
  });

  it('--demo --by process puts the traffic on the generator process', () => {
    const run = netmon(['--demo', '--by', 'process']);
    expect(run.status).toBe(0);
    const generator = /the generator \(pid (\d+)\)/.exec(run.stdout)?.[1];
    expect(generator).toBeDefined();
    expect(totals(run.stdout)).toEqual(new Map([[`${generator} node`, [IP_BYTES, PACKETS, IP_BYTES, PACKETS]]]));
    expect(run.stdout).toContain('leak check: fds +0, probe events 0');
    expect(readdirSync(cgroup2Path()).filter((n) => n.startsWith('netmon-demo-'))).toEqual([]);
  });

  it('a path that is not a cgroup v2 directory: exits 1 and says where cgroup v2 is mounted', () => {
    const v1 = ['/sys/fs/cgroup/memory', '/sys/fs/cgroup/systemd'].find((p) => {
      try {
        return statfsSync(p).type === 0x27e0eb;
      } catch {
        return false;
      }
    });
    const run = netmon(['--cgroup', v1 ?? '/tmp']);
    expect(run.status).toBe(1);
    expect(run.stderr).toContain(`the cgroup v2 hierarchy is mounted at ${cgroup2Path()}`);
  });
});
