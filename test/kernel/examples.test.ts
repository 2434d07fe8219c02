// The tracer examples run as users run them: `node examples/NAME.mjs --duration N` in a child
// process, against the built package in dist/. While each runs, the test makes the kernel
// event happen (execs, writes, sockets) from processes whose pids it knows, then checks
// that the example printed those events, exited 0, and left nothing behind: the example's
// own leak check (EBPF_TS_EXAMPLE_CHECK_LEAKS=1) compares its open fds before load and after
// close, and no ebpf-ts probe event may remain in tracefs.
//
// sockalloc needs kprobes: on a kernel without them (this host: CONFIG_KPROBES unset) the test
// checks its error message and exit status; in test:vm guests it checks events.
import { spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { KPROBES_UNAVAILABLE, kprobeSupport } from '../../src/link/kprobe.js';
import { tracefsPath } from '../../src/internal/tracefs.js';
import { ensureTracefs } from './link-helpers.js';
import { ensureBuiltDist, repo } from './helpers/dist.js';

const root = process.getuid?.() === 0;
const noRoot = root ? '' : 'needs root for bpf() and tracefs';
if (noRoot !== '') console.warn(`skipping example tests: ${noRoot}`);
if (root) ensureTracefs();
const support = root ? kprobeSupport() : undefined;
const haveKprobes = support !== undefined && (support.pmuType !== undefined || support.tracefsEvents);

// Seconds each example traces. Guests under TCG run JS 10–20× slower; the window starts
// once the programs are attached, so the load time does not eat into it.
// Under qemu TCG (test:vm sets EBPF_TS_VM=1) a node start and the first wake-up take seconds:
// give each example a longer window there.
const DURATION = Number(process.env.EBPF_TS_EXAMPLE_SECONDS ?? (process.env.EBPF_TS_VM === '1' ? 8 : 2));

interface Run {
  /** The example's pid. */
  pid: number;
  code: number | null;
  stdout: string;
  stderr: string;
  /** Whatever `trigger` returned. */
  triggered: unknown;
}

/**
 * Runs an example until it exits; calls `trigger` once its header line is out (the
 * programs are attached by then) and returns what the trigger returned with the output.
 */
function runExample(name: string, trigger: () => Promise<unknown>, args: string[] = ['--duration', String(DURATION)]): Promise<Run> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [join(repo, 'examples', `${name}.mjs`), ...args], {
      cwd: repo,
      env: { ...process.env, EBPF_TS_EXAMPLE_CHECK_LEAKS: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let triggered: Promise<unknown> | undefined;
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      // The first line is the table header, printed after attaching.
      if (triggered === undefined && stdout.includes('\n')) triggered = trigger();
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const killer = setTimeout(() => child.kill('SIGKILL'), (DURATION + 50) * 1000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(killer);
      Promise.resolve(triggered).then(
        (value) => resolvePromise({ pid: child.pid!, code, stdout, stderr, triggered: value }),
        reject,
      );
    });
  });
}

/** Runs `/bin/true` n times, one after the other, and returns their pids. */
async function execTrue(n: number): Promise<number[]> {
  const pids: number[] = [];
  for (let i = 0; i < n; i++) {
    pids.push(
      await new Promise<number>((ok, fail) => {
        const c = spawn('/bin/true', [], { stdio: 'ignore' });
        c.on('error', fail);
        c.on('exit', () => ok(c.pid!));
      }),
    );
  }
  return pids;
}

/** Table rows (whitespace-separated cells) of an example's output. */
function rows(stdout: string): string[][] {
  return stdout.split('\n').map((line) => line.trim().split(/\s+/));
}

/** ebpf-ts probe events still registered in tracefs (none must survive an example). */
function leftoverProbeEvents(): string[] {
  const lines: string[] = [];
  for (const file of ['kprobe_events', 'uprobe_events']) {
    const path = join(tracefsPath(), file);
    if (!existsSync(path)) continue;
    lines.push(...readFileSync(path, 'utf8').split('\n').filter((l) => l.includes('ebpf_ts_')));
  }
  return lines;
}

/** Checks what every example's clean run ends with. */
function expectCleanExit(run: Run): void {
  expect(run.code, `exit status; stderr: ${run.stderr}`).toBe(0);
  expect(run.stdout).toMatch(/stopped by duration/);
  expect(run.stdout).toContain('leak check: fds +0, probe events 0');
  expect(leftoverProbeEvents()).toEqual([]);
}

describe.skipIf(noRoot !== '')('examples', () => {
  beforeAll(() => {
    // The examples import ../dist/index.js.
    ensureBuiltDist();
  }, 300_000);

  it('execsnoop prints the execs it sees, with parent pid (CO-RE), uid, return value and file', async () => {
    const run = await runExample('execsnoop', () => execTrue(5));
    expectCleanExit(run);
    const pids = run.triggered as number[];
    // TIME COMM PID PPID UID RET COMMAND: each /bin/true was started by this process.
    const seen = rows(run.stdout).filter((r) => r[1] === 'true' && pids.includes(Number(r[2])));
    expect(seen.length, run.stdout).toBeGreaterThan(0);
    for (const r of seen) {
      expect(r.slice(3, 7)).toEqual([String(process.pid), '0', '0', '/bin/true']);
    }
    expect(run.stdout).toMatch(/^\d+ execs, \d+ lost samples/m);
  });

  it('writesnoop prints writes with pid, fd and bytes, and not its own', async () => {
    const marker = 'ebpf-ts writesnoop\n';
    const run = await runExample('writesnoop', async () => {
      const pids: number[] = [];
      for (let i = 0; i < 3; i++) {
        const c = spawnSync('/bin/echo', ['-n', marker], { encoding: 'utf8' });
        pids.push(c.pid!);
      }
      return pids;
    });
    expectCleanExit(run);
    const pids = run.triggered as number[];
    // TIME COMM PID TID FD REQ WRITTEN: echo writes the marker to fd 1 in one write.
    const bytes = String(Buffer.byteLength(marker));
    const seen = rows(run.stdout).filter((r) => r[1] === 'echo' && pids.includes(Number(r[2])));
    expect(seen.length, run.stdout).toBeGreaterThan(0);
    for (const r of seen) expect(r.slice(4, 7)).toEqual(['1', bytes, bytes]);
    // Its own pid is filtered in the kernel: every line it prints would otherwise be an event.
    expect(rows(run.stdout).filter((r) => Number(r[2]) === run.pid)).toEqual([]);
    // The summary line alone, so that a failure shows it (the whole output is cut short).
    const summary = run.stdout.split('\n').find((l) => /^\d+ writes, /.test(l));
    expect(summary, `no summary line; stderr: ${run.stderr}`).toMatch(/^\d+ writes, \d+ bytes written, 0 events dropped/);
  });

  it('printk prints the lines its bpf_printk wrote, read from trace_pipe', async () => {
    const run = await runExample('printk', () => execTrue(3));
    expectCleanExit(run);
    const pids = run.triggered as number[];
    // TASK PID CPU TIMESTAMP MESSAGE…
    const seen = rows(run.stdout).filter((r) => r[4] === 'exec' && pids.some((p) => r[5] === `pid=${p}`));
    expect(seen.length, run.stdout).toBeGreaterThan(0);
    for (const r of seen) expect(r[6]).toBe('comm=true');
  });

  // One test, named for what this kernel can do: without kprobes (this host) sockalloc must say
  // so and exit 1; with them (test:vm guests) it must print the sockets.
  it(
    haveKprobes
      ? 'sockalloc prints the sockets created, with type and family read by CO-RE (kernel has kprobes)'
      : 'sockalloc says that this kernel has no kprobes and exits 1 (kernel has none)',
    async () => {
      if (!haveKprobes) {
        const run = await runExample('sockalloc', async () => undefined);
        expect(run.code).toBe(1);
        expect(run.stderr).toContain(`sockalloc: ${KPROBES_UNAVAILABLE}`);
        expect(leftoverProbeEvents()).toEqual([]);
        return;
      }
      const run = await runExample('sockalloc', async () => {
        // A UDP socket of this process: socket(AF_INET, SOCK_DGRAM) → sock_alloc_file(). Spread
        // over a second, so slow (emulated) runs still see some after the reader is polling.
        for (let i = 0; i < 10; i++) {
          if (i > 0) await new Promise((ok) => setTimeout(ok, 100));
          const s = createSocket('udp4');
          await new Promise<void>((ok) => s.bind(0, '127.0.0.1', () => ok()));
          s.close();
        }
      });
      expectCleanExit(run);
      // TIME COMM PID TYPE FAMILY, counted from the right: this process's comm has spaces in
      // it ("node (vitest 1)").
      const seen = rows(run.stdout).filter((r) => r.length >= 5 && Number(r.at(-3)) === process.pid);
      expect(seen.length, run.stdout).toBeGreaterThan(0);
      expect(seen.map((r) => r.slice(-2))).toContainEqual(['DGRAM', 'INET']);
    },
  );
});

