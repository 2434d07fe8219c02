/**
 * Tracepoints: static trace events (`events/<group>/<name>` in tracefs). A TRACEPOINT program
 * is attached through a `PERF_TYPE_TRACEPOINT` perf event whose `config` is the event's id.
 *
 * @module
 */
import { ArgumentError } from '../errors.js';
import type { Program } from '../prog.js';
import { ProgramType, programTypeName } from '../types.js';
import type { Link } from './link.js';
import { attachPerfEvent, openTracepointEvent } from './perf-event.js';
import { tracepointId } from '../internal/tracefs.js';

/** Options of {@link attachTracepoint}. */
export interface TracepointOptions {
  /** A value `bpf_get_attach_cookie()` returns in the program (Linux 5.15+, perf link). */
  cookie?: bigint | number;
}

/**
 * Attaches a TRACEPOINT program to trace event `group/name` (e.g. `syscalls`,
 * `sys_enter_execve`; `listTracepoints()` shows what exists). The program runs for every hit
 * on every CPU until the returned {@link Link} is closed.
 *
 * Minimum kernel: 4.7 (BPF on tracepoints); the link is a bpf_link with `info()` and `pin()` on
 * 5.15+; cookies need 5.15.
 *
 * @example
 * ```ts
 * import { attachTracepoint } from 'ebpf-ts';
 * using link = attachTracepoint(coll.programs.handle_execve, 'syscalls', 'sys_enter_execve');
 * ```
 * @throws {@link ArgumentError} for a program of another type or a name with characters
 * tracefs cannot hold; {@link TracepointNotFoundError} when the event does not exist;
 * {@link TracefsNotMountedError} when tracefs is not mounted; {@link NotSupportedError} for a
 * cookie without perf links; {@link SyscallError} when perf_event_open or the attachment fails.
 */
export function attachTracepoint(prog: Program, group: string, name: string, options: TracepointOptions = {}): Link {
  if (prog.type !== ProgramType.Tracepoint) {
    // perf_event_set_bpf_prog() accepts only TRACEPOINT programs on tracepoint events (EINVAL).
    throw new ArgumentError(`attachTracepoint needs a TRACEPOINT program; ${prog.name} is ${programTypeName(prog.type)}`);
  }
  const what = `tracepoint ${group}/${name}`;
  const id = tracepointId(group, name);
  const fd = openTracepointEvent(id, what);
  return attachPerfEvent(prog, fd, { what, cookie: options.cookie });
}
