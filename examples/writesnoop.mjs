#!/usr/bin/env node
// writesnoop: prints every write(2) on this machine (except its own) with the writer, the
// fd, the bytes asked for and the bytes written, until Ctrl-C. The BPF side is
// testdata/writesnoop.bpf.c.
//
//   sudo npm run example:writesnoop
//   sudo node examples/writesnoop.mjs --comm bash   # only writes by processes named bash
//
// What it shows: a `const volatile` set before load (our own pid, filtered in the kernel),
// a hash map that joins a syscall's entry and exit, a BPF ring buffer read with
// RingBufReader, and a global variable the program counts into (read back at the end).
import { loadCollection, loadCollectionSpec } from '../dist/index.js';
import { RingBufReader, checkLeaks, ensureTracefs, objectPath, openFds, options, row, stopSignal } from './lib/common.mjs';

const opts = options('usage: writesnoop.mjs [--comm <name>] [--duration <seconds>]', { comm: { type: 'string' } });
ensureTracefs();
const fdsBefore = openFds();

const spec = await loadCollectionSpec(objectPath('writesnoop'));
// Our pid goes into .rodata before load; the verifier then sees a constant and the filter
// costs one comparison.
const coll = await loadCollection(spec, { constants: { self_tgid: process.pid } });
coll.attachAll();

const signal = stopSignal(opts.duration);
const reader = new RingBufReader(coll.maps.events, { signal });

const widths = [8, 16, 7, 7, 4, 8];
console.log(row(widths, ['TIME(s)', 'COMM', 'PID', 'TID', 'FD', 'REQ', 'WRITTEN']));
const start = process.hrtime.bigint();
let events = 0;
let bytes = 0n;
for await (const e of reader.decoded('struct event', { btf: spec.btf, charArraysAsStrings: true })) {
  // Filtering by name here rather than in BPF keeps the program short; a busy system pays
  // for it with events that are sent and dropped.
  if (opts.comm !== undefined && e.comm !== opts.comm) continue;
  events++;
  if (e.written > 0n) bytes += e.written;
  const seconds = (Number(process.hrtime.bigint() - start) / 1e9).toFixed(3);
  console.log(row(widths, [seconds, e.comm, e.pid, e.tid, e.fd, e.requested, e.written]));
}

// Read before close: variables live in the collection's maps.
const dropped = coll.variables.dropped.get();
coll.close();
console.log(`\n${events} writes, ${bytes} bytes written, ${dropped} events dropped (ring full) (stopped by ${signal.reason})`);
await checkLeaks(fdsBefore);
