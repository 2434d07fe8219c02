/**
 * The one funnel every bpf() call goes through: encode, call the backend, retry EAGAIN on
 * program loads, keep fds above stdio, log when asked, and turn errno into typed errors.
 *
 * @module
 */
import type { PointerList } from './backend.js';
import { backend } from './select.js';
import { describeAttr, encodeAttr, type AttrValues, type Layout } from './attr.js';
import { Cmd } from './layouts.js';
import { bpfError, Errno, type ErrorContext } from './errno.js';
import { ensureMemlock } from './memlock.js';
import { errnoName } from '../errors.js';
import { moveAboveStdio } from '../internal/fd.js';

/** How many times BPF_PROG_LOAD is retried on EAGAIN (a signal interrupted the verifier, 4.20+). */
export const PROG_LOAD_ATTEMPTS = 5;

let debugSyscalls: boolean | undefined;

/** True if `EBPF_TS_DEBUG` names `syscalls` (comma-separated list, or `all`). */
export function syscallDebugEnabled(): boolean {
  if (debugSyscalls === undefined) {
    const parts = (process.env.EBPF_TS_DEBUG ?? '').split(',').map((s) => s.trim());
    debugSyscalls = parts.includes('syscalls') || parts.includes('all');
  }
  return debugSyscalls;
}

/** Re-reads `EBPF_TS_DEBUG` (tests). */
export function resetDebugFlags(): void {
  debugSyscalls = undefined;
}

/** Where debug lines go; replaceable for tests. */
export let debugSink: (line: string) => void = (line) => process.stderr.write(`${line}\n`);

/** Replaces the debug sink, returning the previous one. */
export function setDebugSink(sink: (line: string) => void): (line: string) => void {
  const prev = debugSink;
  debugSink = sink;
  return prev;
}

// Commands that make the kernel allocate memory charged to RLIMIT_MEMLOCK before 5.11.
const allocating = new Set<number>([Cmd.MapCreate, Cmd.ProgLoad, Cmd.BtfLoad]);

/**
 * Calls bpf() with an already encoded attr and returns the raw result or `-errno`, with the
 * funnel's bookkeeping (memlock, EAGAIN retry, fd placement, debug log) but without throwing.
 * Feature probes use this: for them an errno is an answer, not a failure.
 */
export function bpfRaw(layout: Layout, attr: Uint8Array, pointers?: PointerList): number {
  const b = backend();
  if (allocating.has(layout.cmd)) ensureMemlock(b);
  let result = b.bpf(layout.cmd, attr, pointers);
  for (let attempt = 1; result === -Errno.EAGAIN && layout.cmd === Cmd.ProgLoad && attempt < PROG_LOAD_ATTEMPTS; attempt++) {
    result = b.bpf(layout.cmd, attr, pointers);
  }
  if (result >= 0 && layout.returnsFd) result = moveAboveStdio(result);
  if (syscallDebugEnabled()) {
    const outcome = result >= 0 ? String(result) : `-1 ${errnoName(-result)}`;
    debugSink(`bpf(${layout.name}, size=${attr.byteLength}) ${describeAttr(layout, attr, pointers)} = ${outcome}`);
  }
  return result;
}

/**
 * Prepares an attr that is sent many times with the same pointer buffers (a map's element
 * request, see {@link Backend.prepare}) and returns a caller for it, taking the command number.
 * Only for commands that neither allocate kernel memory nor return fds (element operations):
 * the prepared path skips the memlock probe, the EAGAIN retry and fd placement. Without
 * `EBPF_TS_DEBUG=syscalls` the backend's own caller is returned, so a map lookup costs one
 * JS call into the addon; with it, a wrapper logs each call.
 */
export function bpfPrepare(attr: Uint8Array, pointers: PointerList, layouts: readonly Layout[]): (cmd: number) => number {
  const call = backend().prepare(attr, pointers);
  if (!syscallDebugEnabled()) return call;
  return (cmd) => {
    const result = call(cmd);
    const layout = layouts.find((l) => l.cmd === cmd);
    const name = layout?.name ?? `bpf command ${cmd}`;
    const outcome = result >= 0 ? String(result) : `-1 ${errnoName(-result)}`;
    const fields = layout === undefined ? '' : describeAttr(layout, attr, pointers);
    debugSink(`bpf(${name}, size=${attr.byteLength}) ${fields} = ${outcome}`);
    return result;
  };
}

/**
 * {@link bpfPrepare} for one command ({@link Backend.prepareCmd}): the caller gets `undefined`
 * where the kernel returned 0, else the result or `-errno`. The hot path of `BpfMap.update` and
 * `lookupInto` over a caller's buffers.
 */
export function bpfPrepareCmd(layout: Layout, attr: Uint8Array, pointers: PointerList): () => number | undefined {
  const call = backend().prepareCmd(layout.cmd, attr, pointers);
  if (!syscallDebugEnabled()) return call;
  return () => {
    const result = call();
    const outcome = result === undefined ? '0' : result >= 0 ? String(result) : `-1 ${errnoName(-result)}`;
    debugSink(`bpf(${layout.name}, size=${attr.byteLength}) ${describeAttr(layout, attr, pointers)} = ${outcome}`);
    return result;
  };
}

/**
 * Encodes `values` for `layout`, calls bpf(), and returns the result. Throws a typed error on
 * failure: see {@link bpfError}.
 */
export function bpfCall<F extends string>(layout: Layout<F>, values: AttrValues<F>, ctx?: ErrorContext): number {
  const { attr, pointers } = encodeAttr(layout, values);
  return bpfCheck(layout, attr, pointers, ctx);
}

/** Like {@link bpfCall} for a caller that encoded the attr itself (to read outputs back from it). */
export function bpfCheck(layout: Layout, attr: Uint8Array, pointers?: PointerList, ctx?: ErrorContext): number {
  const result = bpfRaw(layout, attr, pointers);
  if (result < 0) throw bpfError(layout, -result, attr, pointers, ctx);
  return result;
}
