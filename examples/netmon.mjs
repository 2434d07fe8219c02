#!/usr/bin/env node
// @ts-check
// netmon: bytes and packets sent and received per cgroup, or per process, by everything in a
// cgroup v2 and below it, printed every --interval seconds until Ctrl-C. The BPF side is
// testdata/netmon.bpf.c: cgroup_skb programs count each IP packet at egress and ingress, and a
// cgroup/sock_create program records which process created each socket.
//
//   sudo npm run example:netmon                          # the whole machine (the v2 root), per cgroup
//   sudo npm run example:netmon -- --by process          # per process
//   sudo npm run example:netmon -- --cgroup system.slice # one cgroup (relative to the v2 root, or absolute)
//   sudo npm run example:netmon -- --demo                # a child cgroup with a short UDP exchange in it
//
// --demo creates a child cgroup of --cgroup, attaches there, runs a traffic generator inside
// (a Node process that sends itself DEMO_COUNT datagrams of DEMO_SIZE bytes over loopback),
// prints what was counted and what the generator sent, then removes the cgroup.
//
// Minimum kernel: 5.7 (the socket cookie and the current process in cgroup/sock_create
// programs; cgroup links); the cgroup v2 hierarchy must be mounted.
//
// Per process: a socket belongs to the process that created it (socket(2)) while netmon ran.
// Sockets created earlier, and sockets accept(2) returns (made by the kernel, not socket(2)),
// are listed as "(unknown)".
//
// The maps are read through the generated bindings (examples/bpf/netmon.js): `by_cgroup`
// gives bigint cgroup ids and `{ tx_bytes, … }`, `by_socket` `{ pid, comm, c }`.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { attachCgroup, cgroup2Path, resolveCgroup } from 'ebpf-ts';
import { loadNetmon } from './bpf/netmon.js';
import { checkLeaks, openFds, options, row, stopSignal } from './lib/common.mjs';

const usage =
  'usage: netmon.mjs [--cgroup <path>] [--by cgroup|process] [--interval <seconds>] [--demo] [--duration <seconds>]';
const opts = options(usage, {
  cgroup: { type: 'string' },
  by: { type: 'string' },
  interval: { type: 'string' },
  demo: { type: 'boolean' },
});
const by = opts.by ?? 'cgroup';
const interval = opts.interval === undefined ? 1 : Number(opts.interval);
if ((by !== 'cgroup' && by !== 'process') || !(interval > 0)) {
  console.error(`--by takes cgroup or process, --interval a positive number of seconds\n${usage}`);
  process.exit(2);
}
const DEMO_COUNT = 10;
const DEMO_SIZE = 1000;

const fdsBefore = openFds();
let target;
try {
  target = resolveCgroup(opts.cgroup ?? cgroup2Path());
} catch (err) {
  // AttachTargetError: not a cgroup v2 directory; the message says where v2 is mounted.
  console.error(`netmon: ${err instanceof Error ? err.message : err}`);
  process.exit(1);
}

// --demo: our own child cgroup, so that only the generator's traffic is counted.
let demoCgroup;
if (opts.demo) {
  demoCgroup = join(target, `netmon-demo-${process.pid}`);
  mkdirSync(demoCgroup);
  target = demoCgroup;
}

const obj = await loadNetmon();
/** @type {import('ebpf-ts').Link[]} */
const links = [];
try {
  for (const prog of [obj.programs.count_egress, obj.programs.count_ingress, obj.programs.record_creator]) {
    // The hook comes from each program's section (cgroup_skb/egress, …). A cgroup link where
    // the kernel has one (5.7+), else BPF_PROG_ATTACH with BPF_F_ALLOW_MULTI.
    links.push(attachCgroup(prog, { cgroup: target }));
  }
} catch (err) {
  cleanup();
  console.error(`netmon: ${err instanceof Error ? err.message : err}`);
  process.exit(1);
}

const v2root = cgroup2Path();
const rel = (/** @type {string} */ path) => '/' + relative(v2root, path);

// Cgroup ids are the inode numbers of the cgroup directories: walk the tree below the
// attach point to name them, again whenever an unknown id shows up.
/** @type {Map<bigint, string>} */
const cgroupNames = new Map();
function nameCgroups(/** @type {string} */ dir) {
  try {
    cgroupNames.set(statSync(dir, { bigint: true }).ino, rel(dir));
    for (const entry of readdirSync(dir, { withFileTypes: true })) if (entry.isDirectory()) nameCgroups(join(dir, entry.name));
  } catch {
    // Removed while we walked.
  }
}
function cgroupName(/** @type {bigint} */ id) {
  if (id === 0n) return '(no socket)';
  if (!cgroupNames.has(id)) nameCgroups(target);
  return cgroupNames.get(id) ?? `cgroup id ${id}`;
}

/** @typedef {import('./bpf/netmon.js').Counters} Counters */
/** @type {Array<keyof Counters>} */
const COUNTERS = ['tx_bytes', 'tx_packets', 'rx_bytes', 'rx_packets'];
const zero = () => /** @type {Counters} */ ({ tx_bytes: 0n, tx_packets: 0n, rx_bytes: 0n, rx_packets: 0n });

/**
 * Traffic so far, by name (a cgroup path, or "PID COMM").
 * @returns {Map<string, Counters>}
 */
function snapshot() {
  const out = new Map();
  const add = (/** @type {string} */ name, /** @type {Counters} */ c) => {
    const sum = out.get(name) ?? zero();
    for (const k of COUNTERS) sum[k] += c[k];
    out.set(name, sum);
  };
  if (by === 'cgroup') {
    for (const [id, c] of obj.maps.by_cgroup.entries()) add(cgroupName(id), c);
  } else {
    for (const [, { pid, comm, c }] of obj.maps.by_socket.entries()) add(pid === 0 ? '(unknown)' : `${pid} ${comm}`, c);
  }
  return out;
}

const widths = [8, 40, 12, 10, 12, 10];
const header = ['TIME(s)', by === 'cgroup' ? 'CGROUP' : 'PID COMM', 'TX_BYTES', 'TX_PKTS', 'RX_BYTES', 'RX_PKTS'];
const line = (/** @type {string} */ time, /** @type {string} */ name, /** @type {Counters} */ c) => row(widths, [time, name, c.tx_bytes, c.tx_packets, c.rx_bytes, c.rx_packets]);
console.log(`counting traffic of cgroup ${rel(target)} and below (${links[0].mode === 'bpf-link' ? 'cgroup links' : 'BPF_PROG_ATTACH'})`);
console.log(row(widths, header));

const start = process.hrtime.bigint();
const seconds = () => (Number(process.hrtime.bigint() - start) / 1e9).toFixed(1);
/** @type {Map<string, Counters>} */
let previous = new Map();
/** Prints the totals of what changed since the last print, most bytes first. */
function report(/** @type {boolean} */ all) {
  const now = snapshot();
  const changed = [...now].filter(([name, c]) => all || COUNTERS.some((k) => c[k] !== previous.get(name)?.[k]));
  changed.sort(([, a], [, b]) => Number(b.tx_bytes + b.rx_bytes - (a.tx_bytes + a.rx_bytes)));
  const time = seconds();
  for (const [name, c] of changed.slice(0, 25)) console.log(line(time, name, c));
  previous = now;
  return now;
}

const signal = stopSignal(opts.duration);
const timer = setInterval(() => report(false), interval * 1000);

let generator;
if (opts.demo) {
  generator = await runGenerator(demoCgroup, signal);
} else {
  await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
}
clearInterval(timer);

console.log('\ntotals:');
const totals = report(true);
if (generator !== undefined) {
  const ip = DEMO_COUNT * (20 + 8 + DEMO_SIZE);
  console.log(
    `\nthe generator (pid ${generator.pid}) sent itself ${generator.sent} UDP datagrams of ${DEMO_SIZE} bytes over loopback: ` +
      `${DEMO_COUNT} packets and ${ip} IP bytes each way (20 bytes of IPv4 header and 8 of UDP header on each)`,
  );
}
cleanup();
console.log(`\n${totals.size} ${by === 'cgroup' ? 'cgroups' : 'processes'} (stopped by ${generator !== undefined ? 'the generator exiting' : signal.reason})`);
await checkLeaks(fdsBefore);

/** Detaches, closes, and removes the demo cgroup (after killing what still runs in it). */
function cleanup() {
  for (const link of links) link.close();
  obj.close();
  if (demoCgroup === undefined || !existsSync(demoCgroup)) return;
  const procs = join(demoCgroup, 'cgroup.procs');
  const deadline = Date.now() + 5000;
  for (let pids = readPids(procs); pids.length > 0 && Date.now() < deadline; pids = readPids(procs)) {
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Exited meanwhile.
      }
    }
  }
  // rmdir answers EBUSY until the last task has left; a few tries are enough.
  for (;;) {
    try {
      rmdirSync(demoCgroup);
      return;
    } catch (err) {
      if (err.code !== 'EBUSY' || Date.now() > deadline) throw err;
    }
  }
}

function readPids(path) {
  try {
    return readFileSync(path, 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * Starts Node in `cgroup` (it moves itself there before it runs anything: the shell writes
 * its pid into cgroup.procs, then execs node) and waits until it has sent and received its
 * datagrams, one every 100 ms, or until `signal` stops us.
 */
function runGenerator(cgroup, stop) {
  const script = `
    import dgram from 'node:dgram';
    const rx = dgram.createSocket('udp4');
    await new Promise((ok) => rx.bind(0, '127.0.0.1', ok));
    let received = 0;
    const all = new Promise((ok) => rx.on('message', () => ++received === ${DEMO_COUNT} && ok()));
    const tx = dgram.createSocket('udp4');
    for (let i = 0; i < ${DEMO_COUNT}; i++) {
      await new Promise((ok, fail) => tx.send(Buffer.alloc(${DEMO_SIZE}, i), rx.address().port, '127.0.0.1', (e) => (e ? fail(e) : ok())));
      await new Promise((ok) => setTimeout(ok, 100));
    }
    await all;
    tx.close();
    rx.close();
    console.log(${DEMO_COUNT});
  `;
  const child = spawn('sh', ['-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', cgroup, process.execPath, '--input-type=module', '-e', script], {
    stdio: ['inherit', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const onStop = () => child.kill('SIGKILL');
  stop.addEventListener('abort', onStop, { once: true });
  return new Promise((resolve) => {
    child.on('close', (code) => {
      stop.removeEventListener('abort', onStop);
      if (code !== 0) console.error(`netmon: the traffic generator exited with ${code ?? 'a signal'}`);
      resolve({ pid: child.pid, sent: Number(out.trim()) || 0 });
    });
  });
}
