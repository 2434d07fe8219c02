/**
 * tracefs: where the kernel lists its trace events (tracepoints, kprobe and uprobe events) and
 * takes new dynamic events. Tracepoint attachment needs an event's id from
 * `events/<group>/<name>/id`; the kprobe fallback writes lines into `kprobe_events`.
 *
 * tracefs may be mounted at `/sys/kernel/tracing` (Linux 4.1+), under debugfs at
 * `/sys/kernel/debug/tracing`, somewhere else (found through /proc/self/mountinfo), or not at
 * all: many container images and minimal hosts never mount it.
 *
 * Every name this library writes into a tracefs file goes through {@link validateTracefsName}
 * first: a control file such as `kprobe_events` takes commands, so a name with a space or a
 * newline would be a second command, and a `/` or `..` would reach another group's events.
 *
 * @module
 */
import { closeSync, constants as fsConstants, existsSync, openSync, readdirSync, readFileSync, statSync, writeSync } from 'node:fs';
import { parseMountinfo, readMountinfo } from './mountinfo.js';
import { join } from 'node:path';
import { ArgumentError, BpfError } from '../errors.js';
import { editDistance } from './kallsyms.js';

/** The mount point the kernel creates for tracefs (Linux 4.1+), and the default for {@link mountTracefs}. */
export const DEFAULT_TRACEFS_PATH = '/sys/kernel/tracing';

/** The legacy location: tracefs auto-mounted inside debugfs. */
export const DEBUGFS_TRACEFS_PATH = '/sys/kernel/debug/tracing';

/**
 * tracefs is not mounted anywhere this process can see. The message gives the command that
 * mounts it; {@link mountTracefs} does the same from code (as root).
 *
 * @example
 * ```ts
 * try {
 *   tracepointId('syscalls', 'sys_enter_openat');
 * } catch (err) {
 *   if (err instanceof TracefsNotMountedError) mountTracefs();
 * }
 * ```
 */
export class TracefsNotMountedError extends BpfError {
  /** The command that mounts tracefs at its default place. */
  readonly mountCommand: string;

  constructor(detail?: string) {
    const command = `mount -t tracefs tracefs ${DEFAULT_TRACEFS_PATH}`;
    super(
      `tracefs is not mounted (looked at ${DEFAULT_TRACEFS_PATH}, ${DEBUGFS_TRACEFS_PATH} and /proc/self/mountinfo)` +
        `${detail === undefined ? '' : `: ${detail}`}; mount it as root with \`${command}\` or call mountTracefs()`,
      { errno: 2 },
    );
    this.mountCommand = command;
  }
}

/**
 * A trace event (tracepoint or dynamic probe event) that tracefs does not list. `nearMatches`
 * holds events of the same group with similar names.
 */
export class TracepointNotFoundError extends BpfError {
  /** The group asked for, e.g. `syscalls`. */
  readonly group: string;
  /** The event asked for, e.g. `sys_enter_execve`. */
  readonly event: string;
  /** Existing events with similar names, as `group/name`. */
  readonly nearMatches: readonly string[];

  constructor(group: string, event: string, nearMatches: readonly string[]) {
    const near = nearMatches.length === 0 ? '' : `; did you mean ${nearMatches.slice(0, 5).join(', ')}?`;
    super(`trace event ${group}/${event} does not exist (no events/${group}/${event}/id in tracefs)${near}`, { errno: 2 });
    this.group = group;
    this.event = event;
    this.nearMatches = nearMatches;
  }
}

let override: string | undefined;
let found: string | undefined;

/**
 * Makes every tracefs access of this library use `path` (or, with undefined, go back to
 * finding the mount). For tests with a fake tracefs directory, and for hosts that mount
 * tracefs somewhere the search misses.
 */
export function setTracefsPath(path: string | undefined): void {
  override = path;
  found = undefined;
}

// A directory is a live tracefs when it has the files the kernel always creates there; an
// empty /sys/kernel/tracing (the mount point without a mount) has none.
function looksLikeTracefs(dir: string): boolean {
  return existsSync(join(dir, 'events')) && existsSync(join(dir, 'trace'));
}

/** The mount points of tracefs in /proc/self/mountinfo text, in file order. */
export function tracefsMountsFromMountinfo(text: string): string[] {
  return parseMountinfo(text, 'tracefs').map((m) => m.mountPoint);
}

/**
 * The directory where tracefs is mounted: `/sys/kernel/tracing`, else
 * `/sys/kernel/debug/tracing`, else the first tracefs mount in /proc/self/mountinfo. The answer
 * is cached once found (a missing mount is looked for again on the next call).
 *
 * Minimum kernel: any (tracefs proper since 4.1; debugfs's tracing directory before).
 *
 * @example
 * ```ts
 * console.log(tracefsPath()); // "/sys/kernel/tracing"
 * ```
 * @throws {@link TracefsNotMountedError} when tracefs is mounted nowhere.
 */
export function tracefsPath(): string {
  if (override !== undefined) return override;
  if (found !== undefined) return found;
  for (const candidate of [DEFAULT_TRACEFS_PATH, DEBUGFS_TRACEFS_PATH]) {
    if (looksLikeTracefs(candidate)) return (found = candidate);
  }
  for (const mountPoint of tracefsMountsFromMountinfo(readMountinfo() ?? '')) {
    if (looksLikeTracefs(mountPoint)) return (found = mountPoint);
  }
  throw new TracefsNotMountedError();
}

/** True if tracefs is mounted (see {@link tracefsPath}). Never throws. */
export function tracefsAvailable(): boolean {
  try {
    tracefsPath();
    return true;
  } catch {
    return false;
  }
}

/**
 * Mounts tracefs at `target` (default `/sys/kernel/tracing`) with `mount -t tracefs`, unless
 * tracefs is already mounted somewhere; returns the path in use. Needs root (CAP_SYS_ADMIN) and
 * a kernel built with CONFIG_TRACING.
 *
 * Minimum kernel: 4.1 (tracefs as its own filesystem).
 *
 * @example
 * ```ts
 * const path = mountTracefs(); // "/sys/kernel/tracing"
 * ```
 * @throws {@link BpfError} when `mount` fails (the message carries mount's own output).
 */
export function mountTracefs(target: string = DEFAULT_TRACEFS_PATH): string {
  if (override === undefined && tracefsAvailable()) return tracefsPath();
  try {
    // node:child_process is loaded here, on first use: it costs ~2 ms at import.
    process.getBuiltinModule('node:child_process').execFileSync('mount', ['-t', 'tracefs', 'tracefs', target], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
    throw new BpfError(`mount -t tracefs tracefs ${target} failed${stderr ? `: ${stderr}` : ''} (needs root and CONFIG_TRACING)`, {
      cause: err,
    });
  }
  found = undefined;
  if (!looksLikeTracefs(target)) throw new TracefsNotMountedError(`mounted at ${target} but it has no events/ directory`);
  if (override === undefined) found = target;
  return target;
}

const NAME_PATTERN = /^[A-Za-z0-9_.]+$/;

/**
 * Checks a name (tracepoint group, event, kprobe symbol) before it goes into a tracefs path or
 * a tracefs control file: only `[A-Za-z0-9_.]`, no `..`, at most 255 bytes. Everything the
 * kernel itself names (kallsyms symbols such as `foo.isra.0`, tracepoint groups) fits.
 *
 * @example
 * ```ts
 * validateTracefsName('symbol', 'do_sys_openat2'); // ok
 * validateTracefsName('symbol', 'x\n-:kprobes/y'); // throws ArgumentError
 * ```
 * @throws {@link ArgumentError} naming what was wrong and the offending value.
 */
export function validateTracefsName(what: string, name: string): void {
  if (typeof name !== 'string' || name === '') throw new ArgumentError(`${what} must be a non-empty string`);
  if (name.length > 255) throw new ArgumentError(`${what} ${JSON.stringify(name.slice(0, 40))}… is longer than 255 characters`);
  if (name.includes('..')) throw new ArgumentError(`${what} ${JSON.stringify(name)} contains ".." (not a name tracefs can hold)`);
  if (!NAME_PATTERN.test(name)) {
    const bad = [...name].find((c) => !/[A-Za-z0-9_.]/.test(c))!;
    throw new ArgumentError(
      `${what} ${JSON.stringify(name)} contains ${JSON.stringify(bad)}: only letters, digits, "_" and "." are allowed in names written to tracefs`,
    );
  }
}

/** Reads `relative` (a path inside tracefs) as text. */
export function readTracefsFile(relative: string): string {
  return readFileSync(join(tracefsPath(), relative), 'utf8');
}

/**
 * Appends `line` to the tracefs control file `relative` (e.g. `kprobe_events`) in one
 * write(2), as the kernel parses each write as one command. The caller validated every name in
 * it. Throws the Node.js error (with `code` such as `ENOENT`, `EINVAL`) on failure.
 */
export function appendTracefsFile(relative: string, line: string): void {
  const fd = openSync(join(tracefsPath(), relative), fsConstants.O_WRONLY | fsConstants.O_APPEND);  // libuv opens every file with O_CLOEXEC
  try {
    writeSync(fd, line);
  } finally {
    closeSync(fd);
  }
}

/**
 * The numeric id of trace event `group/name` (`events/<group>/<name>/id`): the `config` of a
 * `PERF_TYPE_TRACEPOINT` perf event.
 *
 * Minimum kernel: 2.6.32 (perf tracepoint events).
 *
 * @example
 * ```ts
 * const id = tracepointId('syscalls', 'sys_enter_getppid');
 * ```
 * @throws {@link ArgumentError} for a name with characters tracefs cannot hold,
 * {@link TracepointNotFoundError} when the event does not exist (with similar names),
 * {@link TracefsNotMountedError} when tracefs is not mounted.
 */
export function tracepointId(group: string, name: string): number {
  validateTracefsName('tracepoint group', group);
  validateTracefsName('tracepoint name', name);
  const root = tracefsPath();
  let text: string;
  try {
    text = readFileSync(join(root, 'events', group, name, 'id'), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new TracepointNotFoundError(group, name, similarEvents(root, group, name));
    throw err;
  }
  const id = Number.parseInt(text.trim(), 10);
  if (!Number.isFinite(id)) throw new BpfError(`events/${group}/${name}/id holds ${JSON.stringify(text)}, not a number`);
  return id;
}

function similarEvents(root: string, group: string, name: string): string[] {
  let names: string[];
  try {
    names = readdirSync(join(root, 'events', group));
  } catch {
    // The group itself is missing: suggest groups instead (typos and partial names).
    try {
      return closeNames(group, readdirSync(join(root, 'events'))).map((g) => `${g}/${name}`);
    } catch {
      return [];
    }
  }
  return closeNames(name, names.filter((n) => n !== 'enable' && n !== 'filter')).map((n) => `${group}/${n}`);
}

/**
 * Up to five of `candidates` close to `wanted`: within a few edits (a typo: `sys_enter_exceve`),
 * or containing it / contained in it once the `sys_enter_`/`sys_exit_` prefix is set aside (a
 * partial name: `execve`), closest first.
 */
function closeNames(wanted: string, candidates: readonly string[]): string[] {
  const stem = wanted.replace(/^sys_(enter|exit)_/, '');
  const max = Math.max(2, Math.floor(wanted.length / 4));
  const scored: [number, string][] = [];
  for (const c of candidates) {
    const d = editDistance(wanted, c, max);
    if (d <= max) scored.push([d, c]);
    else if (c.includes(stem) || wanted.includes(c)) scored.push([max + 1, c]);
  }
  return scored
    .sort((a, b) => a[0] - b[0] || a[1].localeCompare(b[1]))
    .slice(0, 5)
    .map(([, c]) => c);
}

/** A trace event tracefs lists. */
export interface TraceEvent {
  /** The group (subsystem), e.g. `syscalls`. */
  readonly group: string;
  /** The event name, e.g. `sys_enter_openat`. */
  readonly name: string;
}

/**
 * Every trace event tracefs lists (`available_events`: static tracepoints and dynamic probe
 * events), optionally only those of `group`.
 *
 * Minimum kernel: any with tracefs.
 *
 * @example
 * ```ts
 * const syscalls = listTracepoints('syscalls').map((e) => e.name);
 * ```
 * @throws {@link TracefsNotMountedError} when tracefs is not mounted.
 */
export function listTracepoints(group?: string): TraceEvent[] {
  const out: TraceEvent[] = [];
  for (const line of readTracefsFile('available_events').split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const event = { group: line.slice(0, colon), name: line.slice(colon + 1).trim() };
    if (group === undefined || event.group === group) out.push(event);
  }
  return out;
}

/** One field of a trace event record, as its `format` file describes it. */
export interface TraceEventField {
  /** The field name, e.g. `filename`. */
  readonly name: string;
  /**
   * The C type with any array suffix moved onto it, e.g. `const char *`, `char[16]`,
   * `__data_loc char[]` (a u32: offset in the low 16 bits, length in the high 16).
   */
  readonly type: string;
  /** Byte offset from the start of the record (the `common_*` header included). */
  readonly offset: number;
  /** Size in bytes. */
  readonly size: number;
  /** Whether the kernel declares the field signed. */
  readonly signed: boolean;
  /** True for the `common_*` header fields every event shares. */
  readonly common: boolean;
}

/** A parsed `events/<group>/<name>/format` file. */
export interface TraceEventFormat {
  /** The event name from the `name:` line. */
  readonly name: string;
  /** The event id from the `ID:` line. */
  readonly id: number;
  /** Every field in record order, common header first. */
  readonly fields: readonly TraceEventField[];
  /** The `print fmt:` text, as the kernel wrote it. */
  readonly printFormat: string;
}

const FIELD_LINE = /^\s*field:(.*);\s*offset:(\d+);\s*size:(\d+);\s*signed:(\d+);/;

/** Splits a field declaration (`char comm[16]`, `const char * filename`) into name and type. */
function splitDeclaration(decl: string): { name: string; type: string } {
  const m = /^(.*?)([A-Za-z_][A-Za-z0-9_]*)\s*((?:\[[^\]]*\])*)$/.exec(decl.trim());
  if (m === null) return { name: decl.trim(), type: '' };
  const base = m[1]!.trim();
  return { name: m[2]!, type: `${base}${m[3]!.replace(/\s+/g, '')}` };
}

/**
 * Parses the text of a trace event `format` file. Lines that are not fields (`name:`, `ID:`,
 * `format:`, `print fmt:`) are read for the event's name and id; unknown lines are skipped.
 *
 * @example
 * ```ts
 * const fmt = parseTraceEventFormat(readFileSync('/sys/kernel/tracing/events/sched/sched_switch/format', 'utf8'));
 * fmt.fields.find((f) => f.name === 'prev_pid'); // { type: 'pid_t', offset: 24, size: 4, signed: true, … }
 * ```
 * @throws {@link BpfError} when the text has no `ID:` line (not a format file).
 */
export function parseTraceEventFormat(text: string): TraceEventFormat {
  let name = '';
  let id: number | undefined;
  let printFormat = '';
  const fields: TraceEventField[] = [];
  let inCommon = true;
  for (const line of text.split('\n')) {
    const field = FIELD_LINE.exec(line);
    if (field !== null) {
      const { name: fieldName, type } = splitDeclaration(field[1]!);
      fields.push({
        name: fieldName,
        type,
        offset: Number(field[2]),
        size: Number(field[3]),
        signed: field[4] === '1',
        common: inCommon && fieldName.startsWith('common_'),
      });
      continue;
    }
    // The kernel separates the common header from the event's own fields by an empty line.
    if (line.trim() === '' && fields.length > 0) inCommon = false;
    let m: RegExpExecArray | null;
    if ((m = /^name:\s*(\S+)/.exec(line)) !== null) name = m[1]!;
    else if ((m = /^ID:\s*(\d+)/.exec(line)) !== null) id = Number(m[1]);
    else if ((m = /^print fmt:\s*(.*)$/.exec(line)) !== null) printFormat = m[1]!;
  }
  if (id === undefined) throw new BpfError('not a trace event format file (no "ID:" line)');
  return { name, id, fields, printFormat };
}

/**
 * The record layout of trace event `group/name`, from its `format` file: check the offsets a
 * BPF program's context struct assumes against what this kernel writes.
 *
 * Minimum kernel: any with tracefs.
 *
 * @example
 * ```ts
 * const { fields } = tracepointFormat('syscalls', 'sys_enter_openat');
 * // [{ name: 'common_type', offset: 0, size: 2, … }, …, { name: 'filename', type: 'const char *', offset: 24, size: 8, signed: false }, …]
 * ```
 * @throws {@link ArgumentError} for invalid names, {@link TracepointNotFoundError} for a
 * missing event, {@link TracefsNotMountedError} when tracefs is not mounted.
 */
export function tracepointFormat(group: string, name: string): TraceEventFormat {
  validateTracefsName('tracepoint group', group);
  validateTracefsName('tracepoint name', name);
  const root = tracefsPath();
  const path = join(root, 'events', group, name, 'format');
  try {
    statSync(path);
  } catch {
    throw new TracepointNotFoundError(group, name, similarEvents(root, group, name));
  }
  return parseTraceEventFormat(readFileSync(path, 'utf8'));
}
