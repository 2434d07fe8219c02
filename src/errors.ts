/**
 * Typed errors. Every error the library throws is a {@link BpfError}; failures of a system call
 * are {@link SyscallError}s carrying the errno and the command; the subclasses name situations
 * a caller may want to handle (a verifier rejection, a feature the kernel lacks, a symbol that
 * is not there).
 *
 * @module
 */
import { constants as osConstants } from 'node:os';
import { programTypeName } from './types.js';

// Aliases share numbers (EWOULDBLOCK = EAGAIN, ENOTSUP = EOPNOTSUPP): the first name wins,
// which in Node's table is the conventional one.
const errnoNames = new Map<number, string>();
for (const [name, value] of Object.entries(osConstants.errno)) if (!errnoNames.has(value)) errnoNames.set(value, name);
// ENOTSUPP (524) is kernel-internal but leaks out of bpf(); libc has no name for it.
errnoNames.set(95, 'EOPNOTSUPP'); // what strace and the kernel sources call it
errnoNames.set(524, 'ENOTSUPP');

/** The symbolic name of an errno (`1` → `"EPERM"`), or `"E<n>"` when unknown. */
export function errnoName(errno: number): string {
  return errnoNames.get(errno) ?? `E${errno}`;
}

/** Base class of every error thrown by ebpf-ts. `errno` is set when a syscall failed. */
export class BpfError extends Error {
  /** The errno behind this error, if a system call failed. */
  readonly errno: number | undefined;

  constructor(message: string, options?: { errno?: number; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.errno = options?.errno;
  }

  /** The errno as a name (`"EPERM"`), or undefined. */
  get code(): string | undefined {
    return this.errno === undefined ? undefined : errnoName(this.errno);
  }
}

/**
 * A system call failed. The message names the command (`BPF_MAP_CREATE`), the errno and, where
 * the cause is known, what to do about it.
 */
export class SyscallError extends BpfError {
  /** The bpf() command or syscall that failed, e.g. `"BPF_PROG_LOAD"` or `"perf_event_open"`. */
  readonly command: string;
  /** A sentence on what probably caused the errno and what to do, when known. */
  readonly hint: string | undefined;

  constructor(command: string, errno: number, hint?: string, context?: string) {
    const what = context === undefined ? command : `${context}: ${command}`;
    super(`${what}: ${errnoName(errno)}${hint === undefined ? '' : ` (${hint})`}`, { errno });
    this.command = command;
    this.hint = hint;
  }
}

/**
 * The kernel lacks a feature: a map or program type, a helper, an attr field, a link type.
 * `minimumVersion` is the first mainline kernel that has it, when known.
 */
export class NotSupportedError extends BpfError {
  /** What is missing, e.g. `"map type RINGBUF"` or `"attr field BPF_PROG_LOAD.log_true_size"`. */
  readonly feature: string;
  /** The first kernel version with the feature (e.g. `"5.8"`), if known. */
  readonly minimumVersion: string | undefined;

  constructor(feature: string, minimumVersion?: string, options?: { errno?: number; cause?: unknown; detail?: string }) {
    const since = minimumVersion === undefined ? '' : ` (requires Linux ${minimumVersion} or later)`;
    const detail = options?.detail === undefined ? '' : `; ${options.detail}`;
    super(`${feature} is not supported by this kernel${since}${detail}`, options);
    this.feature = feature;
    this.minimumVersion = minimumVersion;
  }
}

/**
 * The verifier rejected a program. `log` holds every line of the verifier log; the message is
 * the program name plus the log's most telling line. `toString()` is short, {@link
 * VerifierError.fullMessage} includes the whole log.
 */
export class VerifierError extends SyscallError {
  /** The verifier log, one entry per line, never cut by the library. */
  readonly log: readonly string[];
  /** True if the kernel's log did not fit even the largest buffer tried. */
  readonly truncated: boolean;
  /** The program that failed to load. */
  readonly program: string;
  /** A one-line explanation of a well-known failure, when recognised. */
  readonly explanation: string | undefined;

  constructor(program: string, errno: number, log: readonly string[], truncated: boolean, explanation?: string) {
    super('BPF_PROG_LOAD', errno, undefined, `load program ${program}`);
    this.program = program;
    this.log = log;
    this.truncated = truncated;
    this.explanation = explanation;
    const last = VerifierError.summaryLine(log);
    this.message =
      `program ${program} rejected by the verifier (${errnoName(errno)})` +
      (last === undefined ? '' : `: ${last}`) +
      (explanation === undefined ? '' : `\n  hint: ${explanation}`) +
      (truncated ? '\n  (verifier log truncated)' : '');
  }

  /** The message followed by the whole verifier log. */
  get fullMessage(): string {
    return `${this.message}\n${this.log.join('\n')}`;
  }

  /**
   * The line that best says why: the last non-statistics line of the log. The kernel ends a
   * rejection log with the reason, then "processed N insns" statistics.
   */
  static summaryLine(log: readonly string[]): string | undefined {
    for (let i = log.length - 1; i >= 0; i--) {
      const line = log[i]!.trim();
      if (line === '' || /^processed \d+ insns/.test(line) || /^verification time/.test(line) || /^stack depth/.test(line)) continue;
      // "func bpf_get_func_ip#173 not supported for program type 5": name the type.
      return line.replace(/\bprogram type (\d+)\b/, (_, n: string) => `program type ${programTypeName(Number(n))}`);
    }
    return undefined;
  }
}

/**
 * A symbol does not exist: a kernel symbol (kprobe target, ksym) in /proc/kallsyms, or a
 * function of a user-space binary (uprobe target); `nearMatches` lists similar names.
 */
export class SymbolNotFoundError extends BpfError {
  /** The symbol that was asked for. */
  readonly symbol: string;
  /** Similar names from the same table, closest first. */
  readonly nearMatches: readonly string[];
  /** Where the symbol was looked for: `/proc/kallsyms`, or the binary's path. */
  readonly source: string;

  constructor(symbol: string, nearMatches: readonly string[], detail?: string, source = '/proc/kallsyms') {
    const near = nearMatches.length === 0 ? '' : `; did you mean ${nearMatches.slice(0, 5).join(', ')}?`;
    super(`symbol ${symbol} not found in ${source}${detail === undefined ? '' : ` (${detail})`}${near}`, {
      errno: 2,
    });
    this.symbol = symbol;
    this.nearMatches = nearMatches;
    this.source = source;
  }
}

/** What an {@link AttachTargetError} is about. */
export type AttachTargetKind = 'interface' | 'cgroup' | 'netns' | 'socket' | 'program';

/**
 * The place a program was to be attached to does not exist or is not the right kind of
 * thing: a network interface that is not there (in this network namespace), a path that is
 * not a cgroup v2 directory, a file that is not a network namespace, an fd that is not a
 * socket. The message says what was looked for, where, and what exists instead.
 */
export class AttachTargetError extends BpfError {
  /** What kind of target it is. */
  readonly kind: AttachTargetKind;
  /** The target as the caller named it (interface name or index, path, fd). */
  readonly target: string;

  constructor(kind: AttachTargetKind, target: string, message: string, options?: { errno?: number; cause?: unknown }) {
    super(message, options);
    this.kind = kind;
    this.target = target;
  }
}

/** An argument is wrong before any syscall is made (e.g. a key of the wrong size). */
export class ArgumentError extends BpfError {}

/** Input bytes (ELF, BTF, instructions) are malformed; the message says what and where. */
export class ParseError extends BpfError {
  /** Byte offset in the input where the problem was found, when meaningful. */
  readonly offset: number | undefined;

  constructor(message: string, offset?: number) {
    super(offset === undefined ? message : `${message} (at offset ${offset})`);
    this.offset = offset;
  }
}

/** No syscall backend could be loaded; `causes` holds each backend's load failure. */
export class BackendUnavailableError extends BpfError {
  /** Why each backend failed to load. */
  readonly causes: readonly unknown[];

  constructor(message: string, causes: readonly unknown[]) {
    const why = causes
      .map((c) => (c instanceof Error ? c.message : String(c)))
      .map((m) => `\n  - ${m}`)
      .join('');
    super(message + why);
    this.causes = causes;
  }
}

/** An object was used after `close()`. */
export class ClosedError extends BpfError {}
