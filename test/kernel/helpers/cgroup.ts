/**
 * Cgroups for kernel tests: a child of the cgroup v2 root with a unique name, processes
 * started inside it, and removal that cannot be skipped.
 *
 * A process joins the cgroup before it does anything else: it is started as
 * `sh -c 'echo $$ > CG/cgroup.procs && exec CMD…'`, so every socket, connect() or packet of
 * CMD happens inside. close() kills whatever is still in the cgroup (cgroup.kill, 5.14, or
 * SIGKILL to each pid of cgroup.procs), waits until it is empty and removes the directory;
 * the kernel releases any program still attached to it with the cgroup. A process 'exit' hook
 * does the same for cgroups a failed test left open.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findCgroup2Mount } from '../../../src/internal/cgroup.js';

let unavailable: string | undefined | null = null;

/** Why cgroup tests cannot run here, or undefined when they can. */
export function cgroupUnavailable(): string | undefined {
  if (unavailable !== null) return unavailable;
  const mount = findCgroup2Mount();
  if (process.getuid?.() !== 0) unavailable = 'cgroup tests need root';
  else if (mount === undefined) unavailable = 'no cgroup v2 hierarchy is mounted (none in /proc/self/mountinfo)';
  else {
    // A read-only or delegated hierarchy shows up only when we try.
    const probe = join(mount.mountPoint, `ebpf-ts-probe-${process.pid}`);
    try {
      mkdirSync(probe);
      rmdirSync(probe);
      unavailable = undefined;
    } catch (err) {
      unavailable = `cannot create a cgroup under ${mount.mountPoint}: ${(err as Error).message}`;
    }
  }
  return unavailable;
}

const live = new Set<TestCgroup>();
process.on('exit', () => {
  for (const cg of [...live].reverse()) cg.close();
});

let serial = 0;

/** A cgroup v2 directory of a test. */
export class TestCgroup {
  /** Its absolute path. */
  readonly path: string;
  readonly #children: TestCgroup[] = [];

  private constructor(path: string) {
    this.path = path;
  }

  /** Creates `<v2 root>/ebpf-ts-test-<pid>-<n>`. */
  static create(): TestCgroup {
    const mount = findCgroup2Mount();
    if (mount === undefined) throw new Error('no cgroup v2 mount');
    const cg = new TestCgroup(join(mount.mountPoint, `ebpf-ts-test-${process.pid}-${++serial}`));
    mkdirSync(cg.path);
    live.add(cg);
    return cg;
  }

  /** Creates a child cgroup `name` (removed with this one). */
  child(name: string): TestCgroup {
    const cg = new TestCgroup(join(this.path, name));
    mkdirSync(cg.path);
    live.add(cg);
    this.#children.push(cg);
    return cg;
  }

  /** Runs `cmd args…` inside the cgroup (it joins before exec) and waits for it. */
  run(cmd: string, args: string[], options: { timeout?: number } = {}): SpawnSyncReturns<string> {
    return spawnSync('sh', ['-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', this.path, cmd, ...args], {
      encoding: 'utf8',
      timeout: options.timeout ?? 60_000,
    });
  }

  /** Runs an ES module with Node inside the cgroup and returns its stdout; throws when it fails. */
  node(script: string): string {
    const r = this.run(process.execPath, ['--input-type=module', '-e', script]);
    if (r.status !== 0) throw new Error(`node in cgroup ${this.path} failed (${r.status ?? r.signal}): ${r.stderr}`);
    return r.stdout;
  }

  /** The pids in the cgroup now. */
  pids(): number[] {
    try {
      return readFileSync(join(this.path, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
    } catch {
      return [];
    }
  }

  /** Kills what runs inside, waits until it is empty, removes it (children first). Idempotent. */
  close(): void {
    for (const c of this.#children) c.close();
    if (!live.delete(this)) return;
    if (!existsSync(this.path)) return;
    const deadline = Date.now() + 10_000;
    for (;;) {
      const pids = this.pids();
      if (pids.length === 0) break;
      const kill = join(this.path, 'cgroup.kill');
      if (existsSync(kill)) writeFileSync(kill, '1');
      else for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone already */
        }
      }
      if (Date.now() > deadline) throw new Error(`cgroup ${this.path} still has processes ${pids.join(' ')}`);
      spawnSync('sleep', ['0.02']);
    }
    // rmdir answers EBUSY while the last exiting task is still being released.
    for (;;) {
      try {
        rmdirSync(this.path);
        return;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') return;
        if (code !== 'EBUSY' || Date.now() > deadline) throw err;
        spawnSync('sleep', ['0.02']);
      }
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** Runs an ES module with Node outside any test cgroup (in the test's own) and returns its stdout. */
export function nodeOutside(script: string): string {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`node failed (${r.status ?? r.signal}): ${r.stderr}`);
  return r.stdout;
}
