/**
 * `/proc/PID/maps`: which files a process has mapped, where, and from which file offset
 * (proc(5)). What USDT attachment needs to find the shared libraries of a process and the
 * run-time address of a probe in it, and what symbolising user-space addresses needs.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { ArgumentError } from '../errors.js';

/** One line of `/proc/PID/maps`. */
export interface MemoryMapping {
  /** First address of the mapping. */
  readonly start: bigint;
  /** One past its last address. */
  readonly end: bigint;
  /** `r`, `w`, `x` or `-` each, then `p` (private) or `s` (shared), e.g. `r-xp`. */
  readonly perms: string;
  /** File offset mapped at `start`. */
  readonly offset: bigint;
  /** Device of the file, `major:minor` in hex as the kernel prints it. */
  readonly dev: string;
  /** Inode of the file; 0 for anonymous mappings. */
  readonly inode: number;
  /**
   * The file's path, a pseudo-name (`[heap]`, `[stack]`, `[vdso]`) or `""` for an anonymous
   * mapping; a file removed since it was mapped keeps its path and is marked {@link deleted}.
   */
  readonly path: string;
  /** The kernel appended ` (deleted)`: the file is gone from its directory. */
  readonly deleted: boolean;
}

const LINE = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) ([0-9a-f]+) ([0-9a-f]+:[0-9a-f]+) (\d+) *(.*)$/;

/** Parses the text of a `/proc/PID/maps` file; lines that do not fit the format are skipped. */
export function parseProcMaps(text: string): MemoryMapping[] {
  const out: MemoryMapping[] = [];
  for (const line of text.split('\n')) {
    const m = LINE.exec(line);
    if (m === null) continue;
    let path = m[7]!;
    const deleted = path.endsWith(' (deleted)');
    if (deleted) path = path.slice(0, -' (deleted)'.length);
    out.push({
      start: BigInt(`0x${m[1]}`),
      end: BigInt(`0x${m[2]}`),
      perms: m[3]!,
      offset: BigInt(`0x${m[4]}`),
      dev: m[5]!,
      inode: Number(m[6]),
      path,
      deleted,
    });
  }
  return out;
}

/**
 * The mappings of process `pid`.
 *
 * @throws {@link ArgumentError} for a pid that is not a positive integer or a process that
 * does not exist (or cannot be read: ptrace access mode rules).
 */
export function procMaps(pid: number): MemoryMapping[] {
  if (!Number.isSafeInteger(pid) || pid <= 0) throw new ArgumentError(`a process id must be a positive integer, got ${String(pid)}`);
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/maps`, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such process' : code === 'EACCES' ? 'permission denied (needs CAP_SYS_PTRACE or the same user)' : String(code ?? err);
    throw new ArgumentError(`cannot read /proc/${pid}/maps: ${why}`, { cause: err });
  }
  return parseProcMaps(text);
}

/**
 * The regular files process `pid` maps (absolute paths, once each, in address order): the
 * executable and its shared libraries, without pseudo-mappings and deleted files.
 *
 * @throws the errors of {@link procMaps}.
 */
export function mappedFiles(pid: number): string[] {
  const seen = new Set<string>();
  for (const m of procMaps(pid)) {
    if (m.inode === 0 || m.deleted || !m.path.startsWith('/')) continue;
    seen.add(m.path);
  }
  return [...seen];
}

/**
 * The run-time address of file offset `offset` of `path` in a process, from that process's
 * mappings: the mapping of the file that covers the offset, executable ones first (a probe is
 * code). Undefined when the process does not map that part of the file.
 */
export function runtimeAddress(mappings: readonly MemoryMapping[], path: string, offset: bigint): bigint | undefined {
  const covering = mappings.filter((m) => m.path === path && !m.deleted && offset >= m.offset && offset < m.offset + (m.end - m.start));
  const best = covering.find((m) => m.perms[2] === 'x') ?? covering[0];
  return best === undefined ? undefined : best.start + (offset - best.offset);
}
