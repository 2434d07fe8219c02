/**
 * Profiling: reading the stacks `bpf_get_stackid()` stores in STACK_TRACE maps and naming
 * their addresses — kernel ones through /proc/kallsyms, user ones through the process's
 * mappings and the ELF symbols of its binaries (or a JIT's perf map). The sampling events
 * themselves are attached with `attachPerfEventAllCPUs`.
 *
 * @module
 */
export { stackTrace, buildIdStackTrace, BPF_STACK_BUILD_ID_SIZE, type BuildIdFrame, type BuildIdFileFrame, type BuildIdAddressFrame } from './stack-trace.js';
export { Symbolizer, formatFrame, type SymbolizedFrame, type SymbolizerOptions } from './symbolizer.js';
export { KernelSymbolIndex, MAX_KERNEL_FUNCTION_BYTES, type KernelLocation } from './kernel-symbols.js';
export { functionAt, type BinaryLocation } from './binary-symbols.js';
export { PerfMap, type PerfMapEntry, type PerfMapLocation } from './perf-map.js';
