#!/usr/bin/env node
// @ts-check
// sockalloc: prints every socket handed to user space (socket, socketpair, accept) with
// its creator, type and address family, until Ctrl-C. The BPF side is
// testdata/sockalloc.bpf.c: a kprobe whose struct reads are relocated by CO-RE.
//
//   sudo npm run example:sockalloc
//
// kprobes need a kernel built with CONFIG_KPROBES. Without it, attaching fails with a
// NotSupportedError that says so, and this example prints it and exits with status 1.
// The object is loaded through its generated bindings (examples/bpf/sockalloc.js).
import { removeTracefsProbeEvents } from 'ebpf-ts';
import { loadSockalloc } from './bpf/sockalloc.js';
import { checkLeaks, ensureTracefs, openFds, options, row, stopSignal } from './lib/common.mjs';

const opts = options('usage: sockalloc.mjs [--duration <seconds>]');
// Kernels without the kprobe PMU (before 4.17) create kprobes through tracefs.
ensureTracefs();
const fdsBefore = openFds();

const obj = await loadSockalloc();
try {
  // kprobe/sock_alloc_file: the symbol is checked in /proc/kallsyms first, so a kernel
  // without it fails here with SymbolNotFoundError and a list of similar names.
  obj.collection.attachAll();
} catch (err) {
  obj.close();
  console.error(`sockalloc: ${err instanceof Error ? err.message : err}`);
  process.exit(1);
}

const signal = stopSignal(opts.duration);
let lostSamples = 0;
const samples = obj.readers.events({
  signal,
  onLost(count, cpu) {
    lostSamples += count;
    console.log(`LostSamples: ${count} on CPU ${cpu}`);
  },
});

// The values of include/linux/net.h's enum sock_type and include/linux/socket.h's AF_*
// that show up on a desktop or server; others print as numbers.
/** @type {Record<number, string>} */
const TYPES = { 1: 'STREAM', 2: 'DGRAM', 3: 'RAW', 4: 'RDM', 5: 'SEQPACKET', 6: 'DCCP', 10: 'PACKET' };
/** @type {Record<number, string>} */
const FAMILIES = { 1: 'UNIX', 2: 'INET', 10: 'INET6', 16: 'NETLINK', 17: 'PACKET', 38: 'ALG', 40: 'VSOCK', 44: 'XDP' };

const widths = [8, 16, 7, 10];
console.log(row(widths, ['TIME(s)', 'COMM', 'PID', 'TYPE', 'FAMILY']));
const start = process.hrtime.bigint();
let events = 0;
for await (const e of samples) {
  events++;
  const seconds = (Number(process.hrtime.bigint() - start) / 1e9).toFixed(3);
  console.log(row(widths, [seconds, e.comm, e.pid, TYPES[e.type] ?? e.type, FAMILIES[e.family] ?? e.family]));
}

obj.close();
// Closing the link removed its probe; this also removes probe events left by a link that
// was never closed (Node runs no exit hooks when a signal kills the process).
removeTracefsProbeEvents();
console.log(`\n${events} sockets, ${lostSamples} lost samples (stopped by ${signal.reason})`);
await checkLeaks(fdsBefore);
