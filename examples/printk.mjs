#!/usr/bin/env node
// @ts-check
// printk: a program that calls bpf_printk() on every exec, and the trace_pipe reader that
// prints its lines, until Ctrl-C. The BPF side is testdata/printk.bpf.c.
//
//   sudo npm run example:printk
//
// bpf_printk is a debugging aid: its output goes to the kernel's global trace buffer, which
// is also what `cat /sys/kernel/tracing/trace_pipe` shows. Only one reader can hold
// trace_pipe at a time (another open fails with EBUSY), and reading consumes the lines.
import { TracePipeReader, clearTraceBuffer } from 'ebpf-ts';
import { loadPrintk } from './bpf/printk.js';
import { checkLeaks, ensureTracefs, openFds, options, row, stopSignal } from './lib/common.mjs';

const opts = options('usage: printk.mjs [--duration <seconds>]');
ensureTracefs();
const fdsBefore = openFds();

// The generated bindings (examples/bpf/printk.js) find the object next to them.
const obj = await loadPrintk();
// Lines left in the buffer from earlier runs would otherwise come first.
clearTraceBuffer();
obj.collection.attachAll();

const signal = stopSignal(opts.duration);
const pipe = await TracePipeReader.open({ signal });

const PREFIX = 'ebpf-ts printk: ';
const widths = [16, 7, 4, 14];
console.log(row(widths, ['TASK', 'PID', 'CPU', 'TIMESTAMP', 'MESSAGE']));
let lines = 0;
for await (const line of pipe) {
  // The buffer is shared: keep only what our program wrote.
  if (line.event !== 'bpf_trace_printk' || !line.message.startsWith(PREFIX)) continue;
  lines++;
  console.log(row(widths, [line.task, line.pid, line.cpu, line.timestamp.toFixed(6), line.message.slice(PREFIX.length)]));
}

obj.close();
console.log(`\n${lines} lines from bpf_printk (stopped by ${signal.reason})`);
await checkLeaks(fdsBefore);
