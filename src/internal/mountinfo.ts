/**
 * /proc/self/mountinfo, parsed once for everything that looks for a filesystem: the cgroup v2
 * hierarchy, tracefs, the bpffs mounts (pins, BPF token delegation).
 *
 * @module
 */
import { readFileSync } from 'node:fs';

/** One line of /proc/self/mountinfo (proc(5)). */
export interface MountInfo {
  /** Where it is mounted (field 5), e.g. `/sys/fs/bpf`. */
  readonly mountPoint: string;
  /** The directory of the filesystem mounted there (field 4; `/` unless a subtree is bind-mounted). */
  readonly root: string;
  /** The filesystem type, after ` - `: `bpf`, `cgroup2`, `tracefs`. */
  readonly fstype: string;
  /** The filesystem's own options (the last field), e.g. `rw,delegate_cmds=any`. */
  readonly superOptions: string;
}

// mountinfo escapes space, tab, newline and backslash in paths as \ooo octal.
const unescape = (field: string): string => field.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));

/** The mounts in /proc/self/mountinfo text, in file order; `fstype` keeps only that type. */
export function parseMountinfo(text: string, fstype?: string): MountInfo[] {
  const out: MountInfo[] = [];
  for (const line of text.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const [type, , superOptions] = line.slice(sep + 3).split(' ');
    if (type === undefined || (fstype !== undefined && type !== fstype)) continue;
    const fields = line.slice(0, sep).split(' ');
    if (fields[3] === undefined || fields[4] === undefined) continue;
    out.push({ mountPoint: unescape(fields[4]), root: unescape(fields[3]), fstype: type, superOptions: superOptions ?? '' });
  }
  return out;
}

/** /proc/self/mountinfo, or undefined when /proc is unreadable. */
export function readMountinfo(): string | undefined {
  try {
    return readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return undefined;
  }
}
