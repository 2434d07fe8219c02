/**
 * Cgroup v2 directories: where the v2 hierarchy is mounted, turning what a caller names (an
 * absolute path, a path relative to the v2 root, an open fd) into a checked cgroup, its id,
 * and the cgroup a process is in. BPF programs attach to cgroup v2 only (cgroup_get_from_fd()
 * refuses v1 directories), so everything here checks the filesystem type and says where the
 * v2 hierarchy is when given something else.
 *
 * The v2 hierarchy is found in /proc/self/mountinfo, not assumed at /sys/fs/cgroup: systemd's
 * hybrid layout mounts v1 controllers there and v2 at /sys/fs/cgroup/unified; a pure v2
 * system has v2 at /sys/fs/cgroup itself.
 *
 * @module
 */
import { closeSync, fstatSync, openSync, readdirSync, readFileSync, readlinkSync, statfsSync, statSync, constants as fsConstants } from 'node:fs';
import { isAbsolute, join, normalize, relative } from 'node:path';
import { ArgumentError, AttachTargetError } from '../errors.js';
import { Errno } from '../sys/errno.js';
import { parseMountinfo, readMountinfo } from './mountinfo.js';

/** `CGROUP2_SUPER_MAGIC` (include/uapi/linux/magic.h): statfs f_type of a cgroup v2 mount. */
export const CGROUP2_SUPER_MAGIC = 0x63677270;
/** `CGROUP_SUPER_MAGIC`: statfs f_type of a cgroup v1 hierarchy. */
export const CGROUP_SUPER_MAGIC = 0x27e0eb;

/** One cgroup2 line of /proc/self/mountinfo. */
export interface Cgroup2Mount {
  /** Where it is mounted, e.g. `/sys/fs/cgroup/unified`. */
  readonly mountPoint: string;
  /** The directory of the hierarchy mounted there (`/` unless a subtree is bind-mounted). */
  readonly root: string;
}

/**
 * The mounts of filesystem type `fstype` (`cgroup2`, `cgroup`) in /proc/self/mountinfo text,
 * in file order.
 */
export function mountsFromMountinfo(text: string, fstype: string): Cgroup2Mount[] {
  return parseMountinfo(text, fstype).map(({ root, mountPoint }) => ({ root, mountPoint }));
}

/**
 * The mount of the cgroup v2 hierarchy to use: the first that shows the whole hierarchy
 * (root `/`), else the first one at all (a container sees its own subtree). Undefined when
 * cgroup2 is not mounted or /proc is unreadable.
 */
export function findCgroup2Mount(mountinfo: string | undefined = readMountinfo()): Cgroup2Mount | undefined {
  if (mountinfo === undefined) return undefined;
  const mounts = mountsFromMountinfo(mountinfo, 'cgroup2');
  return mounts.find((m) => m.root === '/') ?? mounts[0];
}

/**
 * Where the cgroup v2 hierarchy is mounted: `/sys/fs/cgroup` on pure v2 systems,
 * `/sys/fs/cgroup/unified` in systemd's hybrid layout.
 *
 * Minimum kernel: 4.5 (cgroup v2).
 *
 * @example
 * ```ts
 * cgroup2Path(); // "/sys/fs/cgroup/unified"
 * ```
 * @throws {@link AttachTargetError} when no cgroup2 filesystem is mounted (the message says
 * how to mount one).
 */
export function cgroup2Path(): string {
  const mount = findCgroup2Mount();
  if (mount === undefined) {
    throw new AttachTargetError(
      'cgroup',
      'cgroup2',
      'no cgroup v2 hierarchy is mounted (none in /proc/self/mountinfo): BPF programs attach to cgroup v2 directories; mount one with `mount -t cgroup2 none /sys/fs/cgroup/unified` (or boot with systemd.unified_cgroup_hierarchy=1)',
    );
  }
  return mount.mountPoint;
}

/** What a cgroup is named by: an absolute path, a path relative to the v2 root, or an open fd. */
export type CgroupTarget = string | number;

/** statfs f_type of `path`, or the errno code (`ENOENT`, …) when it cannot be read. */
function fsType(path: string): number | string {
  try {
    return statfsSync(path).type;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? 'EIO';
  }
}

function describeTarget(target: CgroupTarget): string {
  return typeof target === 'number' ? `fd ${target}` : target;
}

/**
 * The absolute path a string target names: absolute as given, relative to the v2 root
 * otherwise (`'system.slice'` → `/sys/fs/cgroup/unified/system.slice`).
 */
function absoluteCgroupPath(target: string): string {
  if (target === '') throw new ArgumentError('a cgroup path is empty: give an absolute path, a path relative to the cgroup v2 root, or an fd');
  if (target.includes('\0')) throw new ArgumentError(`cgroup path ${JSON.stringify(target)} contains a NUL byte`);
  if (isAbsolute(target)) return normalize(target);
  const root = cgroup2Path();
  const path = join(root, target);
  const rel = relative(root, path);
  if (rel.startsWith('..')) {
    throw new ArgumentError(`cgroup path ${JSON.stringify(target)} leaves the cgroup v2 hierarchy (${root}): relative paths are taken from its root`);
  }
  return path;
}

/** `/sys/fs/cgroup/memory/x` → the same place in the v2 hierarchy, if it exists there. */
function v2Counterpart(v1Path: string, v2Root: string, mountinfo: string): string | undefined {
  for (const m of mountsFromMountinfo(mountinfo, 'cgroup')) {
    const rel = relative(m.mountPoint, v1Path);
    if (rel.startsWith('..') || isAbsolute(rel)) continue;
    const candidate = join(v2Root, rel);
    if (fsType(candidate) === CGROUP2_SUPER_MAGIC) return candidate;
  }
  return undefined;
}

/** Where the v2 hierarchy is (`mount`, findCgroup2Mount's), for messages. */
function v2Hint(mount: Cgroup2Mount | undefined): string {
  return mount === undefined
    ? 'no cgroup v2 hierarchy is mounted here (mount -t cgroup2 none /sys/fs/cgroup/unified)'
    : `the cgroup v2 hierarchy is mounted at ${mount.mountPoint}`;
}

/**
 * The names of the child cgroups of cgroup directory `dir` (its subdirectories), sorted.
 *
 * @throws the fs error when `dir` cannot be read.
 */
export function childCgroups(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
}

/** A few existing child cgroups of the nearest existing ancestor of `path`, for "not found". */
function nearbyCgroups(path: string): string {
  let dir = path;
  for (let i = 0; i < 64 && dir !== '/'; i++) {
    dir = join(dir, '..');
    if (fsType(dir) !== CGROUP2_SUPER_MAGIC) continue;
    let children: string[];
    try {
      children = childCgroups(dir);
    } catch {
      return '';
    }
    const shown = children.slice(0, 12).join(', ');
    return children.length === 0 ? `; ${dir} has no child cgroups` : `; ${dir} has ${shown}${children.length > 12 ? ', …' : ''}`;
  }
  return '';
}

/**
 * Checks that `path` is a cgroup v2 directory.
 *
 * @throws {@link AttachTargetError} naming the v2 mount for a v1 cgroup, a missing path, a
 * file, or a directory on another filesystem.
 */
function checkCgroup2Dir(path: string, target: CgroupTarget = path): void {
  const type = fsType(path);
  if (type === CGROUP2_SUPER_MAGIC) {
    let isDir: boolean;
    try {
      isDir = statSync(path).isDirectory();
    } catch {
      isDir = false;
    }
    if (isDir) return;
    throw new AttachTargetError('cgroup', describeTarget(target), `${path} is a file of the cgroup v2 filesystem, not a cgroup: give the cgroup's directory`, { errno: Errno.ENOTDIR });
  }
  const named = typeof target === 'number' ? `fd ${target} (${path})` : path;
  // Error path: mountinfo once, for the hint and the v1 → v2 counterpart.
  const mountinfo = readMountinfo();
  const mount = mountinfo === undefined ? undefined : findCgroup2Mount(mountinfo);
  if (type === 'ENOENT' || type === 'ENOTDIR') {
    throw new AttachTargetError('cgroup', describeTarget(target), `no cgroup ${named}${nearbyCgroups(path)} (${v2Hint(mount)}; create a cgroup with mkdir)`, {
      errno: Errno.ENOENT,
    });
  }
  if (typeof type === 'string') {
    throw new AttachTargetError('cgroup', describeTarget(target), `cannot read ${named} (${type}); ${v2Hint(mount)}`);
  }
  if (type === CGROUP_SUPER_MAGIC) {
    const counterpart = mount === undefined || mountinfo === undefined ? undefined : v2Counterpart(path, mount.mountPoint, mountinfo);
    const instead = counterpart === undefined ? '' : `; the same cgroup in v2 is ${counterpart}`;
    throw new AttachTargetError(
      'cgroup',
      describeTarget(target),
      `${named} is a cgroup v1 directory: BPF programs attach to cgroup v2 only, and ${v2Hint(mount)}${instead}`,
      { errno: Errno.EBADF },
    );
  }
  throw new AttachTargetError(
    'cgroup',
    describeTarget(target),
    `${named} is not a cgroup (filesystem type 0x${type.toString(16)}, cgroup v2 is 0x${CGROUP2_SUPER_MAGIC.toString(16)}): ${v2Hint(mount)}`,
    { errno: Errno.EBADF },
  );
}

/**
 * The absolute path of a cgroup v2 directory named by `target`, checked.
 *
 * @example
 * ```ts
 * resolveCgroup('system.slice'); // "/sys/fs/cgroup/unified/system.slice"
 * ```
 * @throws {@link ArgumentError} for an empty path or one that leaves the hierarchy,
 * {@link AttachTargetError} for anything that is not a cgroup v2 directory.
 */
export function resolveCgroup(target: CgroupTarget): string {
  if (typeof target === 'number') return fdPath(target);
  const path = absoluteCgroupPath(target);
  checkCgroup2Dir(path, target);
  return path;
}

/** The path an fd refers to, after checking it is an open cgroup v2 directory. */
function fdPath(fd: number): string {
  if (!Number.isInteger(fd) || fd < 0) throw new ArgumentError(`cgroup fd ${fd} is not a file descriptor`);
  const link = `/proc/self/fd/${fd}`;
  // statfs on /proc/self/fd/N follows the magic link to the open file itself, not a path
  // that may have been renamed since.
  checkCgroup2Dir(link, fd);
  try {
    // The directory's path as of now, for messages.
    return readlinkSync(link);
  } catch {
    return link;
  }
}

/** An open cgroup directory: the fd to hand to the kernel and whether we must close it. */
export interface OpenCgroup {
  /** An fd of the cgroup directory (O_RDONLY | O_DIRECTORY). */
  readonly fd: number;
  /** Its path, for messages. */
  readonly path: string;
  /** True when {@link openCgroup} opened the fd (close it with {@link closeCgroup}). */
  readonly owned: boolean;
}

/**
 * Opens the cgroup `target` names (O_RDONLY | O_DIRECTORY | O_CLOEXEC), or checks an fd the
 * caller gave (which stays the caller's).
 *
 * @throws like {@link resolveCgroup}.
 */
export function openCgroup(target: CgroupTarget): OpenCgroup {
  if (typeof target === 'number') return { fd: target, path: fdPath(target), owned: false };
  const path = resolveCgroup(target);
  const fd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_DIRECTORY);
  return { fd, path, owned: true };
}

/** Closes what {@link openCgroup} opened (nothing for a caller's fd). */
export function closeCgroup(cgroup: OpenCgroup): void {
  if (cgroup.owned) closeSync(cgroup.fd);
}

/**
 * The cgroup's id: the inode number of its directory on the v2 filesystem, which is what the
 * kernel reports as a cgroup id (kernfs node id; `bpf_get_current_cgroup_id()`, link info,
 * `name_to_handle_at()` on cgroupfs).
 *
 * Minimum kernel: 4.18 for cgroup ids in BPF (64-bit kernfs ids from 5.5).
 *
 * @example
 * ```ts
 * cgroupId('system.slice'); // 1234n
 * ```
 * @throws like {@link resolveCgroup}.
 */
export function cgroupId(target: CgroupTarget): bigint {
  if (typeof target === 'number') {
    fdPath(target);
    return fstatSync(target, { bigint: true }).ino;
  }
  return statSync(resolveCgroup(target), { bigint: true }).ino;
}

/**
 * The v2 cgroup path in /proc/PID/cgroup text: the `0::/path` line (relative to the
 * process's cgroup namespace root), or undefined for a v1-only system.
 */
export function parseProcCgroup(text: string): string | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('0::')) return line.slice(3);
  }
  return undefined;
}

/**
 * The absolute path of the cgroup v2 directory process `pid` is in (default: this process),
 * from the `0::` line of /proc/PID/cgroup.
 *
 * @example
 * ```ts
 * processCgroup(1); // "/sys/fs/cgroup/unified/init.scope"
 * ```
 * @throws {@link AttachTargetError} when the process does not exist or is in no v2 cgroup.
 */
export function processCgroup(pid: number | 'self' = 'self'): string {
  if (pid !== 'self' && (!Number.isInteger(pid) || pid <= 0)) throw new ArgumentError(`${pid} is not a process id`);
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
  } catch (err) {
    throw new AttachTargetError('cgroup', `pid ${pid}`, `cannot read /proc/${pid}/cgroup: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such process' : (err as Error).message}`, {
      errno: Errno.ESRCH,
    });
  }
  const rel = parseProcCgroup(text);
  if (rel === undefined) throw new AttachTargetError('cgroup', `pid ${pid}`, `process ${pid} has no cgroup v2 membership in /proc/${pid}/cgroup (no 0:: line): ${v2Hint(findCgroup2Mount())}`);
  // A path starting with /.. means the cgroup is outside our cgroup namespace.
  if (rel.startsWith('/..')) throw new AttachTargetError('cgroup', `pid ${pid}`, `process ${pid} is in cgroup ${rel}, outside this process's cgroup namespace`);
  const mount = findCgroup2Mount();
  if (mount === undefined) throw new AttachTargetError('cgroup', `pid ${pid}`, v2Hint(mount));
  return rel === '/' ? mount.mountPoint : join(mount.mountPoint, rel);
}
