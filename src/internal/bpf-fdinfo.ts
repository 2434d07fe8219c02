/**
 * What /proc says about BPF file descriptors: the kind of object behind an fd (the name of
 * its anonymous inode) and the `key:\tvalue` lines of its fdinfo, where the kernel reports
 * facts the info structs lack (`memlock`, a map's `frozen`) and the object's id.
 *
 * @module
 */
import { readFileSync, readlinkSync } from 'node:fs';
import type { ObjectKind } from '../sys/commands.js';

// The anon inode names bpf_prog_new_fd(), bpf_map_new_fd(), btf_new_fd() and, for links,
// bpf_link_prime() (a new link) and bpf_link_new_fd() (BPF_OBJ_GET, GET_FD_BY_ID) give their
// files: a link's second fd is spelled with a dash.
const inodeKinds: Readonly<Record<string, ObjectKind>> = {
  'anon_inode:bpf-prog': 'prog',
  'anon_inode:bpf-map': 'map',
  'anon_inode:bpf_link': 'link',
  'anon_inode:bpf-link': 'link',
  'anon_inode:btf': 'btf',
};

/** The fdinfo line that holds the object's id, per kind (`prog_id:`, …). */
export const fdinfoIdKey: Readonly<Record<ObjectKind, string>> = { prog: 'prog_id', map: 'map_id', link: 'link_id', btf: 'btf_id' };

/** The kind of BPF object a /proc/PID/fd/N link points to, or undefined for other files. */
export function bpfFdKind(linkTarget: string): ObjectKind | undefined {
  return inodeKinds[linkTarget];
}

/** The kind of BPF object an fd of this process refers to, or undefined. */
export function ownFdKind(fd: number): ObjectKind | undefined {
  try {
    return bpfFdKind(readlinkSync(`/proc/self/fd/${fd}`));
  } catch {
    return undefined;
  }
}

/** Parses fdinfo text into its `key: value` pairs (values trimmed). */
export function parseFdinfo(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) out.set(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  return out;
}

/** The parsed fdinfo file at `path`; empty when unreadable (the fd or process is gone). */
export function readFdinfoFile(path: string): Map<string, string> {
  try {
    return parseFdinfo(readFileSync(path, 'utf8'));
  } catch {
    return new Map();
  }
}

/** The fdinfo of an fd of this process. */
export function ownFdinfo(fd: number): Map<string, string> {
  return readFdinfoFile(`/proc/self/fdinfo/${fd}`);
}

/** A numeric fdinfo field (`memlock`), or undefined when the kernel does not print it. */
export function fdinfoNumber(info: ReadonlyMap<string, string>, key: string): number | undefined {
  const v = info.get(key);
  if (v === undefined || !/^(0x[0-9a-f]+|\d+)$/i.test(v)) return undefined;
  return Number(v);
}
