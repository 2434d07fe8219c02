/**
 * BPF iterators (`iter/<target>` programs, Linux 5.8): a TRACING program the kernel runs once
 * per object of a kind (task, open file, map, map element, socket, cgroup, kernel symbol, …)
 * when someone reads the iterator, writing text or bytes with `bpf_seq_printf()` /
 * `bpf_seq_write()`. Attaching makes a bpf_link; each BPF_ITER_CREATE on it opens one walk,
 * read like a file until EOF. A pinned iterator link is a file on bpffs: `cat` runs it.
 *
 * Parameters narrow a walk: the map of `bpf_map_elem`/`bpf_sk_storage_map`/`sockmap`
 * iterators (5.9), the task of `task`/`task_file`/`task_vma` iterators (6.1), the cgroup and
 * walk order of `cgroup` iterators (6.1), all passed as `union bpf_iter_link_info`.
 *
 * @module
 */
import { closeSync, createReadStream, readSync, type ReadStream } from 'node:fs';
import { ArgumentError } from '../errors.js';
import { closeCgroup, openCgroup, type CgroupTarget } from '../internal/cgroup.js';
import { dataView, hostLittleEndian } from '../internal/bytes.js';
import type { BpfMap } from '../map.js';
import type { Program } from '../prog.js';
import { bpfCall } from '../sys/bpf.js';
import { Errno } from '../sys/errno.js';
import { IterCreate, LinkCreate } from '../sys/layouts.js';
import { AttachType, ProgramType, programTypeName } from '../types.js';
import { Link } from './link.js';

/** `enum bpf_cgroup_iter_order`: which cgroups a cgroup iterator visits, from the one given. */
export type CgroupIterOrder =
  /** Only the cgroup given. */
  | 'self-only'
  /** The cgroup and its descendants, parents before children. */
  | 'descendants-pre'
  /** The cgroup and its descendants, children before parents. */
  | 'descendants-post'
  /** The cgroup and its ancestors up to the root. */
  | 'ancestors-up';

const cgroupOrders: Record<CgroupIterOrder, number> = {
  'self-only': 1,
  'descendants-pre': 2,
  'descendants-post': 3,
  'ancestors-up': 4,
};

/** Options of {@link attachIter}: at most one of `map`, `task` and `cgroup`. */
export interface IterOptions {
  /** The map a `bpf_map_elem`, `bpf_sk_storage_map` or `sockmap` iterator walks (5.9). */
  readonly map?: BpfMap<never> | BpfMap;
  /**
   * The task a `task`, `task_file` or `task_vma` iterator is limited to (6.1): one thread
   * (`tid`), one process's threads (`pid`), or the process a pidfd refers to (`pidfd`).
   */
  readonly task?:
    | {
        /** One thread, by thread id. */
        readonly tid: number;
      }
    | {
        /** Every thread of one process, by process id. */
        readonly pid: number;
      }
    | {
        /** The process this pidfd refers to. */
        readonly pidfd: number;
      };
  /** The cgroup a `cgroup` iterator starts from and the walk order (6.1; order defaults to descendants-pre). */
  readonly cgroup?: {
    /** Where the walk starts. */
    readonly cgroup: CgroupTarget;
    /** The walk order (descendants-pre by default). */
    readonly order?: CgroupIterOrder;
  };
}

// sizeof(union bpf_iter_link_info): the cgroup member { u32 order; u32 cgroup_fd; u64 cgroup_id }.
const ITER_INFO_SIZE = 16;

/** The 16 bytes of `union bpf_iter_link_info` for the options given, or null for none. */
function iterInfo(options: IterOptions, cgroupFd: number | undefined): Uint8Array | null {
  const info = new Uint8Array(ITER_INFO_SIZE);
  const view = dataView(info);
  if (options.map !== undefined) {
    view.setUint32(0, options.map.fd, hostLittleEndian); // map.map_fd
    return info;
  }
  if (options.task !== undefined) {
    const t = options.task;
    // task.tid at 0, task.pid at 4, task.pid_fd at 8: exactly one may be set.
    const [offset, value] = 'tid' in t ? [0, t.tid] : 'pid' in t ? [4, t.pid] : [8, t.pidfd];
    if (!Number.isInteger(value) || value <= 0) throw new ArgumentError(`attachIter: task ${JSON.stringify(t)} needs a positive integer`);
    view.setUint32(offset, value, hostLittleEndian);
    return info;
  }
  if (options.cgroup !== undefined && cgroupFd !== undefined) {
    const order = options.cgroup.order ?? 'descendants-pre';
    const code = cgroupOrders[order];
    if (code === undefined) throw new ArgumentError(`attachIter: cgroup order ${JSON.stringify(order)} is not one of ${Object.keys(cgroupOrders).join(', ')}`);
    view.setUint32(0, code, hostLittleEndian); // cgroup.order
    view.setUint32(4, cgroupFd, hostLittleEndian); // cgroup.cgroup_fd
    return info;
  }
  return null;
}

/**
 * An attached iterator. Each {@link IterLink.open} or {@link IterLink.readAll} runs one walk
 * over the kernel's objects from the start; the link stays attached (and can be pinned, so
 * that `cat /sys/fs/bpf/<pin>` runs it) until closed.
 */
export class IterLink extends Link {
  /**
   * Starts a walk (BPF_ITER_CREATE) and returns what the program writes as a Node.js
   * `Readable`; the walk's fd closes when the stream ends or is destroyed.
   *
   * Minimum kernel: 5.8.
   *
   * @example
   * ```ts
   * for await (const chunk of iter.open()) process.stdout.write(chunk);
   * ```
   * @throws {@link ClosedError} after `close()`, {@link SyscallError} from BPF_ITER_CREATE.
   */
  open(): ReadStream {
    const fd = this.createWalk();
    return createReadStream('', { fd, autoClose: true, highWaterMark: 64 * 1024 });
  }

  /**
   * Runs one walk to the end and returns everything the program wrote (synchronously: the
   * kernel produces the output as it is read, without waiting for anything).
   *
   * @example
   * ```ts
   * const text = iter.readAll().toString();
   * ```
   * @throws {@link ClosedError} after `close()`, {@link SyscallError} from BPF_ITER_CREATE,
   * the Node.js error of read(2) (E2BIG: the program wrote more than a page for one object).
   */
  readAll(): Buffer {
    const fd = this.createWalk();
    const chunks: Buffer[] = [];
    try {
      for (;;) {
        const chunk = Buffer.allocUnsafe(64 * 1024);
        const n = readSync(fd, chunk, 0, chunk.length, null);
        if (n === 0) break;
        chunks.push(chunk.subarray(0, n));
      }
    } finally {
      closeSync(fd);
    }
    return Buffer.concat(chunks);
  }

  private createWalk(): number {
    return bpfCall(IterCreate, { link_fd: this.fd, flags: 0 }, { context: `read iterator ${this.what}` });
  }

  /** @internal Wraps the link fd {@link attachIter} created. */
  static adoptIter(fd: number, what: string): IterLink {
    return new IterLink({ fd, mode: 'bpf-link', what });
  }
}

/**
 * Attaches an iterator program (`SEC("iter/<target>")`, loaded with its `bpf_iter_<target>`
 * BTF id, which the loader resolves from the section name). Read it with
 * {@link IterLink.open} (a stream) or {@link IterLink.readAll}; pin it to read it with `cat`.
 *
 * Minimum kernel: 5.8 (iterators and their links); `map` 5.9; `task` and `cgroup` 6.1. The
 * targets themselves arrived over time: task, task_file, bpf_map 5.8; bpf_map_elem, tcp, udp,
 * bpf_sk_storage_map 5.9; sockmap 5.10; task_vma 5.12; bpf_link, bpf_prog 5.15 (prog 5.8);
 * unix 5.17; ksym 6.0; cgroup 6.1.
 *
 * @example
 * ```ts
 * using iter = attachIter(coll.programs.dump_tgids);
 * const pids = iter.readAll().toString().trim().split('\n').map(Number);
 * using elems = attachIter(coll.programs.dump_elems, { map: coll.maps.squares });
 * ```
 * @throws {@link ArgumentError} for a program that is not an iterator, or more than one
 * parameter; {@link AttachTargetError} for a cgroup that is not a cgroup v2 directory;
 * {@link NotSupportedError} when the kernel predates a parameter; {@link SyscallError} from
 * BPF_LINK_CREATE (EINVAL for a parameter that does not fit the iterator is explained).
 * Iterators that take no parameter ignore one given (the kernel does not check).
 */
export function attachIter(prog: Program, options: IterOptions = {}): IterLink {
  if (prog.type !== ProgramType.Tracing || (prog.attachment.attachType !== undefined && prog.attachment.attachType !== AttachType.TraceIter)) {
    throw new ArgumentError(`attachIter needs an iterator program (SEC("iter/<target>"), a TRACING program with attach type BPF_TRACE_ITER); ${prog.name} is ${programTypeName(prog.type)}`);
  }
  const given = (['map', 'task', 'cgroup'] as const).filter((k) => options[k] !== undefined);
  if (given.length > 1) throw new ArgumentError(`attachIter: give one of map, task and cgroup, not ${given.join(' and ')}`);
  const target = prog.attachment.attachTo ?? prog.name;
  const cgroup = options.cgroup === undefined ? undefined : openCgroup(options.cgroup.cgroup);
  try {
    const info = iterInfo(options, cgroup?.fd);
    const fd = bpfCall(
      LinkCreate,
      {
        prog_fd: prog.fd,
        target_fd: 0,
        attach_type: AttachType.TraceIter,
        flags: 0,
        ...(info === null ? {} : { iter_info: info, iter_info_len: info.length }),
      },
      {
        context: `attach iterator ${prog.name} (iter/${target})`,
        explain: (errno) =>
          errno === Errno.EINVAL && given.length > 0
            ? `the ${given[0]} given does not fit the ${target} iterator (map parameters go with bpf_map_elem, bpf_sk_storage_map and sockmap iterators, each with its own map types; task with task, task_file and task_vma; cgroup with cgroup)`
            : errno === Errno.EBADF && options.map !== undefined
              ? `the map given is closed`
              : undefined,
      },
    );
    return IterLink.adoptIter(fd, `iterator ${target} (${prog.name})`);
  } finally {
    if (cgroup !== undefined) closeCgroup(cgroup);
  }
}
