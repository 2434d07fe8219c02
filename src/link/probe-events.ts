/**
 * Dynamic probe events created through tracefs (`kprobe_events`, `uprobe_events`): the path
 * kprobes and uprobes take when the kernel has no kprobe/uprobe PMU, or when an option needs it.
 *
 * Unlike a PMU probe, which lives exactly as long as its perf event fd, a tracefs event stays
 * in the kernel after the process that wrote it is gone. So each event gets a group of its own
 * (`ebpf_ts_<pid>_<n>`), and is removed when its link closes, when attaching fails half-way,
 * from a process 'exit' hook and on fatal signals the application does not handle; events of
 * processes that died anyway (SIGKILL) are swept by the next process that makes one.
 *
 * @module
 */
import { BpfError } from '../errors.js';
import type { Program } from '../prog.js';
import type { Link } from './link.js';
import { attachPerfEvent, openTracepointEvent } from './perf-event.js';
import { appendTracefsFile, readTracefsFile, tracefsPath, tracepointId, validateTracefsName } from '../internal/tracefs.js';

/** The tracefs control files that create dynamic probe events. */
export type ProbeEventsFile = 'kprobe_events' | 'uprobe_events';

/** What {@link attachProbeEvent} writes and attaches. */
export interface ProbeEventDefinition {
  /** Which control file creates the event. */
  readonly file: ProbeEventsFile;
  /** `p`, `r` or `r<maxactive>`: the command letter before `:group/event`. */
  readonly kind: string;
  /** The event's name wish: any string, turned into a C identifier here. */
  readonly name: string;
  /** What follows `group/event ` on the line: `symbol+offset`, or `/path:0xoffset`. Validated by the caller. */
  readonly target: string;
  /** Process to filter on (uprobes), -1 for all. */
  readonly pid?: number;
  /** A value `bpf_get_attach_cookie()` returns in the program. */
  readonly cookie?: bigint | number;
  /** What is attached, for messages (e.g. `kprobe do_sys_openat2`). */
  readonly what: string;
  /** Turns a failed write of the definition into the error the user sees. */
  readonly writeError: (err: unknown) => BpfError;
}

// The kernel's MAX_EVENT_NAME_LEN (kernel/trace/trace.h) counts the NUL.
const MAX_EVENT_NAME = 63;

let groupCounter = 0;
// Probe events created through tracefs and not yet removed: group/event → teardown.
const liveEvents = new Map<string, () => void>();
let exitHookInstalled = false;
let swept = false;

// Signals whose default action ends the process without running 'exit' hooks.
const fatalSignals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * On a fatal signal the application does not handle itself: remove our probe events, then let
 * the signal do what it would have done (terminate with that signal). With a listener of the
 * application's own, the application decides; its process.exit() runs the 'exit' hook.
 */
function onFatalSignal(signal: NodeJS.Signals): void {
  if (process.listenerCount(signal) > 1) return;
  removeTracefsProbeEvents();
  setSignalHandlers(false);
  process.kill(process.pid, signal);
}

function setSignalHandlers(on: boolean): void {
  for (const signal of fatalSignals) {
    process.removeListener(signal, onFatalSignal);
    if (on) process.on(signal, onFatalSignal);
  }
}

function installExitHook(): void {
  // The signal handlers exist only while events do: with none left, a signal behaves as if
  // this library were not there.
  setSignalHandlers(true);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous; all of this is.
  process.on('exit', removeTracefsProbeEvents);
}

/** A probe event line of kprobe_events/uprobe_events made by some ebpf-ts process. */
const ourEventLine = /^[pr]\d*:(ebpf_ts_(\d+)_\d+)\/(\S+)\s/;

/**
 * Removes the tracefs probe events that ebpf-ts processes created (`ebpf_ts_<pid>_<n>` groups)
 * and left behind when they died without running their cleanup (SIGKILL, a crash): those whose
 * pid no longer exists. Events of live processes are kept. Runs once per process before its
 * first tracefs probe event, and from `ebpf-ts cleanup`. Assumes the processes sharing this
 * tracefs share its pid namespace (a container's pids would look dead from the host).
 *
 * @returns the events removed, as `group/event`.
 */
export function sweepStaleProbeEvents(): string[] {
  const removed: string[] = [];
  for (const file of ['kprobe_events', 'uprobe_events'] as const) {
    let text: string;
    try {
      text = readTracefsFile(file);
    } catch {
      continue; // no tracefs, or no such file: nothing of ours can be there
    }
    for (const line of text.split('\n')) {
      const m = ourEventLine.exec(line);
      if (m === null || processAlive(Number(m[2]))) continue;
      removeProbeEvent(file, m[1]!, m[3]!);
      removed.push(`${m[1]}/${m[3]}`);
    }
  }
  return removed;
}

function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/**
 * Detaches every kprobe and uprobe this process created through tracefs and removes the probe
 * events from `kprobe_events`/`uprobe_events`. Runs from a process 'exit' hook, and on SIGINT,
 * SIGTERM or SIGHUP when the application has no handler of its own for them (Node runs no
 * 'exit' hooks when a signal kills the process); an application that handles those signals
 * itself should call it there, or exit with process.exit().
 *
 * @example
 * ```ts
 * process.on('SIGINT', () => { removeTracefsProbeEvents(); process.exit(130); });
 * ```
 */
export function removeTracefsProbeEvents(): void {
  for (const teardown of [...liveEvents.values()]) {
    try {
      teardown();
    } catch {
      // Best effort: at exit nothing can report it.
    }
  }
}

/** Probe events this process created through tracefs and has not removed yet, as `group/event`. */
export function liveTracefsProbeEvents(): string[] {
  return [...liveEvents.keys()];
}

/** Removes a tracefs probe event; absent events are fine (someone else removed them). */
function removeProbeEvent(file: ProbeEventsFile, group: string, event: string): void {
  try {
    appendTracefsFile(file, `-:${group}/${event}\n`);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    throw new BpfError(`removing ${file} event ${group}/${event} failed (${code ?? String(err)}); remove it with: echo '-:${group}/${event}' >> ${tracefsPath()}/${file}`, {
      cause: err,
    });
  }
}

/** A C identifier for an event name (is_good_name() in kernel/trace/trace_probe.c), short enough for the kernel. */
export function probeEventName(wish: string): string {
  const name = wish.replace(/[^A-Za-z0-9_]/g, '_').slice(0, MAX_EVENT_NAME);
  return /^[A-Za-z_]/.test(name) ? name : `_${name.slice(0, MAX_EVENT_NAME - 1)}`;
}

/**
 * Creates the probe event `definition` describes in tracefs, attaches `prog` to it through a
 * tracepoint perf event, and arranges the event's removal (on close, on failure, at exit).
 */
export function attachProbeEvent(prog: Program, definition: ProbeEventDefinition): Link {
  if (!swept) {
    swept = true;
    try {
      sweepStaleProbeEvents();
    } catch {
      // Best effort: a stale event of another process must not stop this attachment.
    }
  }
  const group = `ebpf_ts_${process.pid}_${groupCounter++}`;
  const event = probeEventName(definition.name);
  validateTracefsName('probe group', group);
  validateTracefsName('probe event', event);
  const { file } = definition;
  try {
    appendTracefsFile(file, `${definition.kind}:${group}/${event} ${definition.target}\n`);
  } catch (err) {
    throw definition.writeError(err);
  }
  const key = `${group}/${event}`;
  let removed = false;
  const remove = (): void => {
    if (removed) return;
    removed = true;
    liveEvents.delete(key);
    if (liveEvents.size === 0) setSignalHandlers(false);
    removeProbeEvent(file, group, event);
  };
  let perfFd: number;
  try {
    perfFd = openTracepointEvent(tracepointId(group, event), definition.what, definition.pid ?? -1);
  } catch (err) {
    // The write succeeded but the perf event did not open (EBUSY when a livepatch owns the
    // function): leave nothing behind.
    remove();
    throw err;
  }
  // attachPerfEvent closes the fd and calls remove() itself if it fails.
  const link = attachPerfEvent(prog, perfFd, { what: definition.what, cookie: definition.cookie, cleanup: remove });
  // The exit hook closes the link (which removes the event); a WeakRef so that the registry
  // does not keep a forgotten link alive: its finalizer then detaches and removes instead.
  const ref = new WeakRef(link);
  liveEvents.set(key, () => {
    const live = ref.deref();
    if (live !== undefined) live.close();
    else remove();
  });
  installExitHook();
  return link;
}
