#!/usr/bin/env node
// @ts-check
// profile: samples the stacks of a busy process on every CPU at --frequency Hz (99 by default)
// for --duration seconds, then prints its hottest stacks with function names, kernel frames
// above user frames. The BPF side is testdata/profile.bpf.c: a perf_event program that stores
// each sample's user and kernel stacks with bpf_get_stackid() and counts samples per stack.
//
//   sudo npm run example:profile                           # a Node child burning CPU in burnCpu()
//   sudo npm run example:profile -- --pid 1234 --duration 10
//   sudo npm run example:profile -- --all --top 5          # every process
//
// The event asked for is CPU cycles; on a machine without a hardware PMU (most VMs) the
// kernel has no such event and the library samples the cpu-clock timer instead, which the
// first line says. User stacks are walked by frame pointers: code built without them shows
// its innermost function and little else. The child runs with --perf-basic-prof, so V8 writes
// /tmp/perf-PID.map and its JIT-compiled JavaScript gets names too.
//
// Minimum kernel: 4.9 (perf_event programs); stacks need CONFIG_PERF_EVENTS.
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { basename } from 'node:path';
import { attachPerfEventAllCPUs, PERF_COUNT_HW_CPU_CYCLES, PerfType, stackTrace, Symbolizer } from 'ebpf-ts';
import { loadProfile } from './bpf/profile.js';
import { checkLeaks, openFds, options, stopSignal } from './lib/common.mjs';

const usage = 'usage: profile.mjs [--pid <pid> | --all] [--frequency <Hz>] [--top <stacks>] [--duration <seconds>]';
const opts = options(usage, {
  pid: { type: 'string' },
  all: { type: 'boolean' },
  frequency: { type: 'string' },
  top: { type: 'string' },
});
const frequency = opts.frequency === undefined ? 99 : Number(opts.frequency);
const top = opts.top === undefined ? 10 : Number(opts.top);
const pidOption = opts.pid === undefined ? undefined : Number(opts.pid);
if (!Number.isInteger(frequency) || frequency <= 0 || !Number.isInteger(top) || top <= 0 || (pidOption !== undefined && !(Number.isInteger(pidOption) && pidOption > 0)) || (opts.all && pidOption !== undefined)) {
  console.error(`--frequency and --top take positive integers, --pid a process id, and --pid and --all exclude each other\n${usage}`);
  process.exit(2);
}
// Frames printed per stack; deep runtimes (Node, the JVM) have dozens below the interesting ones.
const DEPTH = 12;
const fdsBefore = openFds();

// The process to profile: the one given, or a child that burns CPU in a JavaScript function.
let child;
let pid = pidOption;
if (pid === undefined && !opts.all) {
  const burn = 'function burnCpu(n) { let x = 0; for (let i = 0; i < n; i++) x = (x * 31 + i) | 0; return x; }\n' + 'let sink = 0; for (;;) sink ^= burnCpu(1e6);';
  // --perf-basic-prof also turns on V8's isolate log, which would land in the current directory.
  child = spawn(process.execPath, ['--perf-basic-prof', '--no-logfile-per-isolate', '--logfile=/dev/null', '-e', burn], { stdio: 'ignore' });
  pid = child.pid;
}
// Without a pid the program counts every process (target_tgid 0). The generated bindings
// (examples/bpf/profile.js) type the constant and the counts map: struct stack_key → u64.
const obj = await loadProfile({ constants: { target_tgid: pid ?? 0 } });
const symbols = new Symbolizer();
let sampling;
try {
  // Read its mappings now: a process that exits before the report keeps its names.
  if (pid !== undefined) symbols.loadProcess(pid);
  sampling = attachPerfEventAllCPUs(obj.programs.profile, { type: PerfType.Hardware, config: PERF_COUNT_HW_CPU_CYCLES, frequency });
} catch (err) {
  obj.close();
  child?.kill();
  console.error(`profile: ${err instanceof Error ? err.message : err}`);
  process.exit(1);
}

const { event } = sampling;
const what = pid === undefined ? 'every process' : `pid ${pid}${child === undefined ? '' : ' (a child burning CPU in burnCpu)'}`;
const fallback = event.fallback ? ` (${event.requested} asked for: no hardware PMU here)` : '';
console.log(`Sampling ${what}: ${event.name}${fallback} at ${frequency} Hz on ${event.cpus.length} CPUs; Ctrl-C to stop`);

const signal = stopSignal(opts.duration ?? (child === undefined ? undefined : 5));
// The samples go to maps, not to a reader, so nothing else keeps Node's event loop alive.
const keepAlive = setInterval(() => {}, 1 << 30);
await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
clearInterval(keepAlive);
sampling.close();

// One line per frame: the function (no offset, so that samples at different instructions of
// one function add up) and the file or module it is in.
const line = (/** @type {import('ebpf-ts').SymbolizedFrame} */ f) => `${f.symbol ?? `0x${f.address.toString(16)}`}${f.module === undefined ? '' : ` [${basename(f.module)}]`}`;
// A negative stack id is the error bpf_get_stackid() returned instead of an id: -EFAULT
// (14) means there was no such stack (no user stack in a kernel thread, no kernel stack for a
// sample taken in user space).
/** @type {(id: number, name: string, symbolise: (addresses: bigint[]) => import('ebpf-ts').SymbolizedFrame[]) => string[]} */
const stackLines = (id, name, symbolise) => {
  if (id < 0) return id === -14 ? [] : [`[${name} stack not kept: error ${-id}]`];
  const addresses = stackTrace(obj.maps.stacks, id);
  if (addresses === undefined) return [`[${name} stack ${id} was overwritten]`];
  return symbolise(addresses).map(line);
};

// Samples per symbolised stack: kernel frames (innermost first), then user frames.
/** @type {Map<string, { comm: string; tgid: number; frames: string[]; samples: bigint }>} */
const stacks = new Map();
let total = 0n;
for (const [key, n] of obj.maps.counts.entries()) {
  total += n;
  const kernel = stackLines(key.kernel_stack_id, 'kernel', (a) => symbols.kernelStack(a));
  const user = stackLines(key.user_stack_id, 'user', (a) => symbols.userStack(key.tgid, a));
  const frames = [...kernel, ...(kernel.length > 0 && user.length > 0 ? ['--'] : []), ...user];
  const id = `${key.comm} [${key.tgid}]\n${frames.join('\n')}`;
  const seen = stacks.get(id);
  stacks.set(id, { comm: key.comm, tgid: key.tgid, frames, samples: (seen?.samples ?? 0n) + n });
}
const hottest = [...stacks.values()].sort((a, b) => (b.samples > a.samples ? 1 : b.samples < a.samples ? -1 : 0)).slice(0, top);
console.log(`\n${total} samples; the ${hottest.length} most frequent stacks:`);
for (const s of hottest) {
  const percent = total === 0n ? 0 : (Number(s.samples) * 100) / Number(total);
  console.log(`\n${String(s.samples).padStart(7)} samples (${percent.toFixed(1)}%)  ${s.comm} [${s.tgid}]`);
  for (const frame of s.frames.slice(0, DEPTH)) console.log(`    ${frame}`);
  if (s.frames.length > DEPTH) console.log(`    … ${s.frames.length - DEPTH} more frames`);
}

obj.close();
if (child !== undefined) {
  child.kill();
  // V8 leaves its perf map behind; this child was ours, so is the file.
  rmSync(`/tmp/perf-${child.pid}.map`, { force: true });
  await new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', resolve)));
}
console.log(`\nstopped by ${signal.reason}`);
await checkLeaks(fdsBefore);
