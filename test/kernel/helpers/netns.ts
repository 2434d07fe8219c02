/**
 * Network namespaces for kernel tests that send real traffic.
 *
 * A namespace here is held by a child process (`unshare --net sh -c 'read _'`) and named by
 * its /proc/PID/ns/net path, not by `ip netns add`: that needs a writable /run, which the
 * test:vm guests (host root mounted read-only) do not have. The holder exits when its stdin
 * closes, which also happens when the test process dies, and the kernel then destroys the
 * namespace with every interface, address, qdisc and filter in it: nothing outlives a test,
 * even a crashed one. `close()` does the same at once.
 *
 * Tools: `unshare` and `nsenter` (util-linux, in every Debian) and `ip` (iproute2) for veth
 * pairs and addresses. {@link netnsUnavailable} says why tests must skip where any is missing.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import { readlinkSync } from 'node:fs';

function has(cmd: string, args: string[]): boolean {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  return r.error === undefined && r.status === 0;
}

let unavailable: string | undefined | null = null;

/**
 * Why namespace tests cannot run here, or undefined when they can: they need root, `unshare`,
 * `nsenter` and `ip`.
 */
export function netnsUnavailable(): string | undefined {
  if (unavailable !== null) return unavailable;
  if (process.getuid?.() !== 0) unavailable = 'network namespace tests need root';
  else if (!has('unshare', ['--version']) || !has('nsenter', ['--version'])) unavailable = 'unshare/nsenter (util-linux) are not installed';
  else if (!has('ip', ['-V'])) unavailable = 'ip (iproute2) is not installed (apt-get install iproute2; .ci/run installs it): the traffic tests run where it is';
  else unavailable = undefined;
  return unavailable;
}

const live = new Set<TestNetns>();
process.on('exit', () => {
  for (const ns of live) ns.close();
});

/** A network namespace of a test, with `lo` up. */
export class TestNetns {
  readonly #holder: ChildProcess;
  /** The holder's pid. */
  readonly pid: number;
  /** `/proc/PID/ns/net`: what `inNetns()`, `nsenter --net=` and `ip … netns PID` take. */
  readonly path: string;

  private constructor(holder: ChildProcess) {
    this.#holder = holder;
    this.pid = holder.pid!;
    this.path = `/proc/${this.pid}/ns/net`;
  }

  /** Creates a namespace and brings its loopback up. */
  static create(): TestNetns {
    const holder = spawn('unshare', ['--net', 'sh', '-c', 'read _'], { stdio: ['pipe', 'ignore', 'inherit'] });
    if (holder.pid === undefined) throw new Error('unshare did not start');
    const ns = new TestNetns(holder);
    live.add(ns);
    // Wait until the holder is in its own namespace (unshare has run).
    const own = readlinkSync('/proc/self/ns/net');
    const deadline = Date.now() + 10_000;
    for (;;) {
      let theirs = own;
      try {
        theirs = readlinkSync(ns.path);
      } catch {
        /* not there yet */
      }
      if (theirs !== own) break;
      if (Date.now() > deadline) {
        ns.close();
        throw new Error('unshare --net did not create a namespace within 10 s');
      }
      spawnSync('sleep', ['0.02']);
    }
    ns.ip('link', 'set', 'lo', 'up');
    return ns;
  }

  /** Runs `cmd args…` inside the namespace (nsenter); throws with its stderr when it fails. */
  exec(cmd: string, ...args: string[]): string {
    const r = this.spawn(cmd, args);
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} in netns ${this.pid} failed (${r.status ?? r.signal}): ${r.stderr}`);
    return r.stdout;
  }

  /** Like {@link exec} but returns the whole result, failing or not. */
  spawn(cmd: string, args: string[], options: { input?: string; timeout?: number; env?: NodeJS.ProcessEnv } = {}): SpawnSyncReturns<string> {
    return spawnSync('nsenter', [`--net=${this.path}`, '--', cmd, ...args], {
      encoding: 'utf8',
      input: options.input,
      timeout: options.timeout ?? 60_000,
      env: options.env ?? process.env,
    });
  }

  /** `ip …` inside the namespace. */
  ip(...args: string[]): string {
    return this.exec('ip', ...args);
  }

  /**
   * Runs an ES module script with Node inside the namespace and returns what it printed on
   * stdout (parse JSON there). Use it to send and receive traffic from the namespace.
   */
  node(script: string, options: { timeout?: number } = {}): string {
    const r = this.spawn(process.execPath, ['--input-type=module', '-e', script], options);
    if (r.status !== 0) throw new Error(`node script in netns ${this.pid} failed (${r.status ?? r.signal}): ${r.stderr}`);
    return r.stdout;
  }

  /** Ends the namespace (and everything in it). Idempotent. */
  close(): void {
    if (!live.delete(this)) return;
    this.#holder.stdin?.end();
    this.#holder.kill('SIGKILL');
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * A veth pair between two test namespaces, with addresses and both ends up:
 * `a`'s end is `nameA` with `addrA` (a /24, e.g. 10.200.1.1), `b`'s end `nameB` with `addrB`.
 * Use only addresses of these namespaces (private ranges no host route reaches).
 */
export function vethPair(a: TestNetns, nameA: string, addrA: string, b: TestNetns, nameB: string, addrB: string): void {
  a.ip('link', 'add', nameA, 'type', 'veth', 'peer', 'name', nameB, 'netns', String(b.pid));
  a.ip('addr', 'add', `${addrA}/24`, 'dev', nameA);
  b.ip('addr', 'add', `${addrB}/24`, 'dev', nameB);
  a.ip('link', 'set', nameA, 'up');
  b.ip('link', 'set', nameB, 'up');
}

/**
 * Sends `count` UDP datagrams of `size` bytes from inside `ns` to `host:port` and returns how
 * many were sent (a Node dgram socket, so the path is the one applications take).
 */
export function sendUdp(ns: TestNetns, host: string, port: number, count: number, size = 32): number {
  const out = ns.node(`
    import dgram from 'node:dgram';
    const s = dgram.createSocket('${host.includes(':') ? 'udp6' : 'udp4'}');
    const buf = Buffer.alloc(${size}, 7);
    let sent = 0;
    for (let i = 0; i < ${count}; i++) await new Promise((res) => s.send(buf, ${port}, '${host}', (err) => { if (!err) sent++; res(); }));
    s.close();
    console.log(JSON.stringify({ sent }));
  `);
  return (JSON.parse(out) as { sent: number }).sent;
}
