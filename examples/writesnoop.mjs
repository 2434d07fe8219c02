#!/usr/bin/env node
// @ts-check
// writesnoop: prints every write(2) on this machine (except its own) with the writer, the
// fd, the bytes asked for and the bytes written, until Ctrl-C. The BPF side is
// testdata/writesnoop.bpf.c.
//
//   sudo npm run example:writesnoop
//   sudo node examples/writesnoop.mjs --comm bash   # only writes by processes named bash
//
// What it shows: generated bindings (examples/bpf/writesnoop.js), a `const volatile` set
// before load (our own pid, filtered in the kernel), a hash map that joins a syscall's entry
// and exit, a BPF ring buffer read through its typed reader, and a global variable the
// program counts into (read back at the end).
import { loadWritesnoop } from './bpf/writesnoop.js';
import { checkLeaks, ensureTracefs, openFds, options, row, stopSignal } from './lib/common.mjs';

const opts = options('usage: writesnoop.mjs [--comm <name>] [--duration <seconds>]', { comm: { type: 'string' } });
ensureTracefs();
const fdsBefore = openFds();

// Our pid goes into .rodata before load; the verifier then sees a constant and the filter
// costs one comparison.
const obj = await loadWritesnoop({ constants: { self_tgid: process.pid } });
obj.collection.attachAll();

const signal = stopSignal(opts.duration);
// Records decode to the object's struct event (ring buffer records carry no loss reports).
const reader = obj.readers.events({ signal });

const widths = [8, 16, 7, 7, 4, 8];
console.log(row(widths, ['TIME(s)', 'COMM', 'PID', 'TID', 'FD', 'REQ', 'WRITTEN']));
const start = process.hrtime.bigint();
let events = 0;
let bytes = 0n;
for await (const e of reader) {
  // Filtering by name here rather than in BPF keeps the program short; a busy system pays
  // for it with events that are sent and dropped.
  if (opts.comm !== undefined && e.comm !== opts.comm) continue;
  events++;
  if (e.written > 0n) bytes += e.written;
  const seconds = (Number(process.hrtime.bigint() - start) / 1e9).toFixed(3);
  console.log(row(widths, [seconds, e.comm, e.pid, e.tid, e.fd, e.requested, e.written]));
}

// Read before close: variables live in the collection's maps.
const dropped = obj.variables.dropped.get();
obj.close();
console.log(`\n${events} writes, ${bytes} bytes written, ${dropped} events dropped (ring full) (stopped by ${signal.reason})`);
await checkLeaks(fdsBefore);
