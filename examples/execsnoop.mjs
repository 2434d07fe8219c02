#!/usr/bin/env node
// execsnoop: prints every program started on this machine (execve), with its parent, user,
// return value and arguments, until Ctrl-C. The BPF side is testdata/execsnoop.bpf.c.
//
//   sudo npm run example:execsnoop            # or: sudo node examples/execsnoop.mjs
//   sudo node examples/execsnoop.mjs --failed # only execs that failed
//
// What it shows: loading an object with loadCollection (CO-RE relocated against this
// kernel, a `const volatile` set before load), attaching its tracepoints by section name,
// and reading a perf event array with PerfReader, decoding each sample through the
// object's BTF and reporting lost samples.
import { loadCollection, loadCollectionSpec } from '../dist/index.js';
import { PerfReader, checkLeaks, ensureTracefs, objectPath, openFds, options, row, stopSignal } from './lib/common.mjs';

const opts = options('usage: execsnoop.mjs [--failed] [--duration <seconds>]', { failed: { type: 'boolean' } });
ensureTracefs();
const fdsBefore = openFds();

// The spec is parsed first so that its BTF can decode the events later (`struct event`).
const spec = await loadCollectionSpec(objectPath('execsnoop'));
const coll = await loadCollection(spec, { constants: { failed_only: opts.failed ? 1 : 0 } });
// tracepoint/syscalls/sys_enter_execve and …/sys_exit_execve: attachAll reads the targets
// from the section names, like libbpf's skeletons.
coll.attachAll();

const signal = stopSignal(opts.duration);
// 16 pages per CPU hold about 50 events each; a burst beyond that before we read is
// dropped by the kernel and counted, and the count reaches us as a loss record.
const reader = new PerfReader(coll.maps.events, { perCpuBufferBytes: 64 * 1024, signal });

// Arguments are arbitrary bytes: newlines and escape sequences would break the table (or
// the terminal), so control characters are shown escaped.
const printable = (text) => text.replace(/[\x00-\x1f\x7f]/g, (c) => JSON.stringify(c).slice(1, -1));

const widths = [8, 16, 7, 7, 6, 4];
console.log(row(widths, ['TIME(s)', 'COMM', 'PID', 'PPID', 'UID', 'RET', 'COMMAND']));
const start = process.hrtime.bigint();
let events = 0;
let lostSamples = 0;

const samples = reader.decoded('struct event', {
  btf: spec.btf,
  charArraysAsStrings: true,
  // A loss record has no sample to decode: it only says how many the kernel dropped.
  onLost(count, cpu) {
    lostSamples += count;
    console.log(`LostSamples: ${count} on CPU ${cpu}`);
  },
});
for await (const e of samples) {
  events++;
  const seconds = (Number(process.hrtime.bigint() - start) / 1e9).toFixed(3);
  // argv[0] is whatever the caller chose (often the bare name); the filename is what ran.
  // Either can be empty: the program cannot read user memory that is paged out.
  const args = e.argv.slice(1, e.argc).join(' ') + (e.args_truncated ? ' …' : '');
  const command = `${e.filename || e.argv[0] || '?'} ${args}`.trimEnd();
  console.log(row(widths, [seconds, e.comm, e.pid, e.ppid, e.uid, e.retval, printable(command)]));
}

// The loop ends when the signal closes the reader. Closing the collection detaches the
// tracepoints (links first) and frees the maps.
coll.close();
console.log(`\n${events} execs, ${lostSamples} lost samples (stopped by ${signal.reason})`);
await checkLeaks(fdsBefore);
