#!/usr/bin/env node
// @ts-check
// xdp-count: packets and bytes per protocol received by a network interface, counted by an
// XDP program (testdata/xdp_count.bpf.c), until Ctrl-C or --duration seconds.
//
//   sudo npm run example:xdp-count -- eth0              count what eth0 receives
//   sudo npm run example:xdp-count -- eth0 --mode generic
//   sudo npm run example:xdp-count                      a demo that needs no interface
//
// Without an interface it builds its own: two network namespaces joined by a veth pair
// (10.199.0.1 ↔ 10.199.0.2), the program on one end, and sends a few UDP datagrams from the
// other, so the counts are not zero; the namespaces and everything in them go away at the
// end. The demo needs `unshare` and `nsenter` (util-linux) and `ip` (iproute2).
//
// The program attaches through a BPF link on Linux 5.9+ (--legacy: through netlink, as older
// kernels must); either way it is detached when the example exits. The `counts` map is read
// through the generated bindings (examples/bpf/xdp_count.js): keys and values come out as
// numbers and `{ packets, bytes }`, with no DataView code here.
import { spawn, spawnSync } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { attachXDP, inNetns, xdpPrograms } from 'ebpf-ts';
import { loadXdpCount } from './bpf/xdp_count.js';
import { checkLeaks, openFds, row, stopSignal } from './lib/common.mjs';

const USAGE = `usage: xdp-count.mjs [INTERFACE] [--mode generic|driver] [--legacy] [--duration <seconds>]
  INTERFACE  the interface to count on (name or index); without it, a demo on a veth pair
             in namespaces of its own`;

let parsed;
try {
  parsed = parseArgs({
    allowPositionals: true,
    options: { mode: { type: 'string' }, legacy: { type: 'boolean' }, duration: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
} catch (err) {
  console.error(`${err.message}\n${USAGE}`);
  process.exit(2);
}
const { values: opts, positionals } = parsed;
if (opts.help) {
  console.log(USAGE);
  process.exit(0);
}
if (positionals.length > 1 || (opts.mode !== undefined && !['generic', 'driver'].includes(opts.mode))) {
  console.error(USAGE);
  process.exit(2);
}
const duration = opts.duration === undefined ? undefined : Number(opts.duration);
if (duration !== undefined && !(duration > 0)) {
  console.error(`--duration needs a positive number of seconds\n${USAGE}`);
  process.exit(2);
}

// Protocol names for the keys of the `counts` map: the IP protocol number, or 0x10000 | the
// EtherType for frames that are not IPv4/IPv6.
/** @type {Record<number, string>} */
const IP_PROTOCOLS = { 0: 'IPv6 hop-by-hop', 1: 'ICMP', 2: 'IGMP', 6: 'TCP', 17: 'UDP', 41: 'IPv6-in-IPv4', 47: 'GRE', 50: 'ESP', 58: 'ICMPv6', 132: 'SCTP' };
/** @type {Record<number, string>} */
const ETHER_TYPES = { 0x0806: 'ARP', 0x88cc: 'LLDP', 0x8100: 'VLAN', 0x88a8: 'QinQ', 0x8035: 'RARP' };
function protocolName(/** @type {number} */ key) {
  if (key < 0x10000) return IP_PROTOCOLS[key] ?? `IP protocol ${key}`;
  const type = key & 0xffff;
  return ETHER_TYPES[type] ?? `EtherType 0x${type.toString(16).padStart(4, '0')}`;
}

/**
 * The `counts` map as rows, most packets first.
 * @param {import('./bpf/xdp_count.js').XdpCountMaps['counts']} map
 */
function table(map) {
  const rows = [];
  for (const [key, { packets, bytes }] of map.entries()) rows.push({ protocol: protocolName(key), packets, bytes });
  return rows.sort((a, b) => (a.packets === b.packets ? a.protocol.localeCompare(b.protocol) : a.packets > b.packets ? -1 : 1));
}

const widths = [16, 10];
/**
 * @param {import('./bpf/xdp_count.js').XdpCountMaps['counts']} map
 * @param {string} heading
 */
function print(map, heading) {
  console.log(heading);
  console.log(row(widths, ['PROTOCOL', 'PACKETS', 'BYTES']));
  const rows = table(map);
  for (const r of rows) console.log(row(widths, [r.protocol, r.packets, r.bytes]));
  if (rows.length === 0) console.log('(nothing yet)');
}

// ---------------------------------------------------------------------------------------------
// The demo's namespaces: each held by an `unshare --net` child that lives until its stdin
// closes (also when this process dies), taking the namespace and the veth with it.

function run(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error !== undefined) throw new Error(`${cmd} is not available (${/** @type {NodeJS.ErrnoException} */ (r.error).code}): the demo needs util-linux and iproute2; give an interface instead`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr.trim()}`);
  return r.stdout;
}

function namespace() {
  const holder = spawn('unshare', ['--net', 'sh', '-c', 'read _'], { stdio: ['pipe', 'ignore', 'inherit'] });
  const path = `/proc/${holder.pid}/ns/net`;
  const own = readlinkSync('/proc/self/ns/net');
  for (const end = Date.now() + 10_000; ; ) {
    let theirs = own;
    try {
      theirs = readlinkSync(path);
    } catch {
      /* not started yet */
    }
    if (theirs !== own) break;
    if (holder.exitCode !== null || Date.now() > end) throw new Error('unshare --net did not create a network namespace (needs root and util-linux)');
    spawnSync('sleep', ['0.02']);
  }
  const inside = (cmd, ...args) => run('nsenter', [`--net=${path}`, '--', cmd, ...args]);
  const gone = new Promise((resolve) => holder.once('close', resolve));
  // Resolves once the holder is gone (and its pipe closed): the namespace goes with it.
  const close = () => {
    holder.stdin.end();
    holder.kill('SIGKILL');
    return gone;
  };
  return { pid: holder.pid, path, inside, close };
}

function demoNetwork() {
  const sender = namespace();
  let receiver;
  try {
    receiver = namespace();
    sender.inside('ip', 'link', 'add', 'xdpc0', 'type', 'veth', 'peer', 'name', 'xdpc1', 'netns', String(receiver.pid));
    sender.inside('ip', 'addr', 'add', '10.199.0.1/24', 'dev', 'xdpc0');
    receiver.inside('ip', 'addr', 'add', '10.199.0.2/24', 'dev', 'xdpc1');
    sender.inside('ip', 'link', 'set', 'xdpc0', 'up');
    receiver.inside('ip', 'link', 'set', 'xdpc1', 'up');
  } catch (err) {
    sender.close();
    receiver?.close();
    throw err;
  }
  return { sender, receiver, close: () => Promise.all([sender.close(), receiver.close()]) };
}

/** Sends `count` UDP datagrams from the sender namespace to 10.199.0.2:9 (discard). */
function sendDatagrams(sender, count) {
  const script = `
    import dgram from 'node:dgram';
    const s = dgram.createSocket('udp4');
    for (let i = 0; i < ${count}; i++) await new Promise((res) => s.send(Buffer.from('xdp-count demo ' + i), 9, '10.199.0.2', res));
    s.close();`;
  sender.inside(process.execPath, '--input-type=module', '-e', script);
}

// ---------------------------------------------------------------------------------------------

const fdsBefore = openFds();
let network;
if (positionals.length === 0) {
  if (process.getuid?.() !== 0) {
    console.error('xdp-count: the demo creates network namespaces: run it as root (sudo)');
    process.exit(1);
  }
  try {
    network = demoNetwork();
  } catch (err) {
    console.error(`xdp-count: ${err.message}`);
    process.exit(1);
  }
}
const iface = network === undefined ? (/^\d+$/.test(positionals[0]) ? Number(positionals[0]) : positionals[0]) : 'xdpc1';
// The demo's interface is in the receiver's namespace: attach (and query) from there.
const where = (fn) => (network === undefined ? fn() : inNetns(network.receiver.path, fn));

let obj;
let link;
try {
  // Only the program used here is loaded; the bindings' other programs throw if touched.
  obj = await loadXdpCount({ programs: ['xdp_count'] });
  const prog = obj.programs.xdp_count;
  link = where(() => attachXDP(prog, { interface: iface, mode: /** @type {import('ebpf-ts').XDPMode | undefined} */ (opts.mode), legacy: opts.legacy }));
} catch (err) {
  obj?.close();
  await network?.close();
  console.error(`xdp-count: ${err.message}`);
  process.exit(1);
}
const [attached] = where(() => xdpPrograms(iface));
console.log(`counting on ${network === undefined ? iface : 'xdpc1 (demo veth, namespace of pid ' + network.receiver.pid + ')'}: ${attached.mode} mode, program id ${attached.programId}, ${link.mode}`);

if (network !== undefined) {
  sendDatagrams(network.sender, 5);
  print(obj.maps.counts, '\nafter sending 5 UDP datagrams (the ARP exchange before them counts too):');
} else {
  const signal = stopSignal(duration);
  const timer = setInterval(() => print(obj.maps.counts, `\n${new Date().toISOString()}`), 1000);
  await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
  clearInterval(timer);
  print(obj.maps.counts, `\ntotal (stopped by ${signal.reason})`);
}

link.close();
obj.close();
await network?.close();
await checkLeaks(fdsBefore);
