/**
 * What the attachment listings (`link list`, `cgroup tree`, `net`) share: a program's name and
 * type by id, a map's name by id, the cgroup v2 directory of a cgroup id, the processes in a
 * network namespace, and the names of netfilter families and hooks — each looked up once per
 * command and cached, and never fatal: an object gone meanwhile is shown by its number. And
 * the `--netns` option of the listings that name interfaces.
 *
 * @module
 */
import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Spec } from '../btf/spec.js';
import { childCgroups, findCgroup2Mount } from '../internal/cgroup.js';
import { BPF_F_NETFILTER_IP_DEFRAG } from '../internal/flags.js';
import { inNetns } from '../internal/netns.js';
import type { NetfilterLinkInfo } from '../link/link.js';
import { BpfMap } from '../map.js';
import { Program } from '../prog.js';
import { AttachTargetError } from '../errors.js';
import { queryPrograms } from '../link/query.js';
import { xdpPrograms } from '../link/xdp.js';
import { programTypeName, type AttachType } from '../types.js';
import { btfSpecById } from '../btf-by-id.js';
import { readObject } from './loaded.js';
import { fullProgramName } from './prog-show.js';

/** A program as the listings show it. */
export interface ProgramSummary {
  /** Its full name (from BTF when the kernel kept 15 characters). */
  readonly name: string;
  /** UAPI type name (`CGROUP_SKB`). */
  readonly type: string;
}

/** Lookups of one command run, cached. */
export class AttachPointNames {
  readonly #programs = new Map<number, ProgramSummary | undefined>();
  readonly #maps = new Map<number, string | undefined>();
  readonly #btf = new Map<number, Spec>();
  #cgroups: Map<bigint, string> | undefined;
  #netns: Map<number, string[]> | undefined;

  /** The program with `id`, or undefined when it is gone. */
  program(id: number): ProgramSummary | undefined {
    if (!this.#programs.has(id)) {
      this.#programs.set(
        id,
        readObject(
          () => Program.fromId(id),
          (p) => {
            const info = p.info();
            return { name: fullProgramName(p, info, this.#btf), type: programTypeName(info.type) };
          },
        ),
      );
    }
    return this.#programs.get(id);
  }

  /** The name of type `btfId` in BTF object `objectId` (a tracing link's target function), or `btf OBJ:ID`. */
  btfTypeName(objectId: number, btfId: number): string {
    try {
      return btfSpecById(objectId, this.#btf).typeById(btfId).name;
    } catch {
      return `btf ${objectId}:${btfId}`;
    }
  }

  /** The name of the map with `id`, or undefined when it is gone. */
  mapName(id: number): string | undefined {
    if (!this.#maps.has(id)) this.#maps.set(id, readObject(() => BpfMap.fromId(id), (m) => m.info().name));
    return this.#maps.get(id);
  }

  /** `map 7 (sock_map)`. */
  mapLabel(id: number): string {
    const name = this.mapName(id);
    return `map ${id}${name === undefined || name === '' ? '' : ` (${name})`}`;
  }

  /**
   * The directory of the cgroup with `id` (the inode number of its directory on the v2
   * hierarchy), found by walking the v2 mount once; undefined when it is not there (another
   * cgroup namespace, or removed).
   */
  cgroupPath(id: bigint): string | undefined {
    if (this.#cgroups === undefined) {
      this.#cgroups = new Map();
      const mount = findCgroup2Mount();
      if (mount !== undefined) for (const dir of walkCgroups(mount.mountPoint)) this.#cgroups.set(dir.id, dir.path);
    }
    return this.#cgroups.get(id);
  }

  /**
   * Whether interface `ifindex` of this thread's network namespace runs program `progId` at
   * `hook` (XDP: any mode; tcx/netkit: `attachType`): a link's ifindex may belong to another
   * namespace, where the same index is another interface. Undefined when it cannot be told.
   */
  interfaceRuns(hook: 'xdp' | 'tcx' | 'netkit', ifindex: number, progId: number, attachType?: AttachType): boolean | undefined {
    try {
      if (hook === 'xdp') return xdpPrograms(ifindex).some((x) => x.programId === progId);
      if (attachType === undefined) return undefined;
      return queryPrograms(ifindex, attachType).programs.some((p) => p.id === progId);
    } catch (err) {
      // No such interface here: certainly not ours.
      if (err instanceof AttachTargetError) return false;
      return undefined;
    }
  }

  /** `pid 1 (systemd), pid 88 (sshd)`: processes in the network namespace with inode `ino`, at most a few. */
  netnsHolders(ino: number): string[] {
    if (this.#netns === undefined) this.#netns = processesByNetns();
    return this.#netns.get(ino) ?? [];
  }
}

/** One cgroup directory. */
export interface CgroupDir {
  /** Its absolute path. */
  readonly path: string;
  /** Its id: the directory's inode number. */
  readonly id: bigint;
}

/** Every cgroup from `root` down, parents before children (a removed directory is skipped). */
export function walkCgroups(root: string): CgroupDir[] {
  const out: CgroupDir[] = [];
  const visit = (path: string, depth: number): void => {
    let id: bigint;
    try {
      id = statSync(path, { bigint: true }).ino;
    } catch {
      return;
    }
    out.push({ path, id });
    if (depth > 64) return;
    let children: string[];
    try {
      children = childCgroups(path);
    } catch {
      return;
    }
    for (const child of children) visit(join(path, child), depth + 1);
  };
  visit(root, 0);
  return out;
}

/** Network namespace inode → `pid N (comm)` of up to three processes in it. */
function processesByNetns(): Map<number, string[]> {
  const out = new Map<number, string[]>();
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((e) => /^\d+$/.test(e));
  } catch {
    return out;
  }
  for (const pid of pids) {
    let ino: number;
    try {
      const m = /^net:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/ns/net`));
      if (m === null) continue;
      ino = Number(m[1]);
    } catch {
      continue;
    }
    const list = out.get(ino) ?? [];
    if (list.length < 3) list.push(`pid ${pid}${comm(pid)}`);
    out.set(ino, list);
  }
  return out;
}

function comm(pid: string): string {
  try {
    return ` (${readFileSync(`/proc/${pid}/comm`, 'utf8').trim()})`;
  } catch {
    return '';
  }
}

/** `NFPROTO_*` names as `attachNetfilter` takes them. */
const netfilterFamilies: Record<number, string> = { 1: 'inet', 2: 'ipv4', 3: 'arp', 5: 'netdev', 7: 'bridge', 10: 'ipv6' };
/** `NF_INET_*` hook names as `attachNetfilter` takes them. */
const netfilterHooks = ['pre_routing', 'local_in', 'forward', 'local_out', 'post_routing'];

/** `ipv4`, or `family N`. */
export function netfilterFamilyName(pf: number): string {
  return netfilterFamilies[pf] ?? `family ${pf}`;
}

/** `local_in`, or `hook N`. */
export function netfilterHookName(hook: number): string {
  return netfilterHooks[hook] ?? `hook ${hook}`;
}

/** `ipv4 local_in priority 10 defrag`: a netfilter link's hook as the listings show it. */
export function netfilterText(n: NetfilterLinkInfo): string {
  return `${netfilterFamilyName(n.family)} ${netfilterHookName(n.hook)} priority ${n.priority}${(n.flags & BPF_F_NETFILTER_IP_DEFRAG) !== 0 ? ' defrag' : ''}`;
}

/** Runs `list` in the network namespace `--netns` names (a name or a path), or here without one. */
export function inNetnsOption<T>(netns: unknown, list: () => T): T {
  return typeof netns === 'string' ? inNetns(netns, list) : list();
}
