/**
 * Where BPF objects are pinned: every bpffs mount of this mount namespace is walked, each
 * file opened with BPF_OBJ_GET and identified by its kind and id, as `bpftool -f … show`
 * lists under `pinned`. Files that cannot be opened (no permission, removed meanwhile) are
 * left out.
 *
 * @module
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { objGetInfoByFd, tryObjGet, type ObjectKind } from '../sys/commands.js';
import { readField } from '../sys/attr.js';
import { BtfInfo, ProgInfo } from '../sys/layouts.js';
import { backend } from '../sys/select.js';
import { ownFdKind } from './bpf-fdinfo.js';
import { parseMountinfo, readMountinfo } from './mountinfo.js';

/** Pinned paths by object kind, then by object id, sorted. */
export type PinsByKind = Readonly<Record<ObjectKind, ReadonlyMap<number, readonly string[]>>>;

/** The mount points of bpffs in /proc/self/mountinfo text, in file order without repeats. */
export function bpffsMountPoints(mountinfo: string): string[] {
  return [...new Set(parseMountinfo(mountinfo, 'bpf').map((m) => m.mountPoint))];
}

/** The bpffs mount points of this process's mount namespace. */
export function bpffsMounts(): string[] {
  return bpffsMountPoints(readMountinfo() ?? '');
}

// Every info struct starts with enough to find the id: offset 4 for programs, maps and
// links (after their type), 12 for BTF (after the blob pointer and size).
function pinnedId(fd: number, kind: ObjectKind): number {
  const field = kind === 'btf' ? BtfInfo.fields.id : ProgInfo.fields.id;
  return Number(readField(objGetInfoByFd(fd, field.offset + field.size), field));
}

function identify(path: string): { kind: ObjectKind; id: number } | undefined {
  // Most bpffs mounts hold files that are no objects (bpf_preload's maps.debug, progs.debug).
  const fd = tryObjGet(path);
  if (fd < 0) return undefined;
  try {
    const kind = ownFdKind(fd);
    return kind === undefined ? undefined : { kind, id: pinnedId(fd, kind) };
  } catch {
    return undefined;
  } finally {
    backend().close(fd);
  }
}

function* files(dir: string, seen: Set<string>): Generator<string> {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    const path = join(dir, e.name);
    if (seen.has(path)) continue;
    seen.add(path);
    if (e.isDirectory()) yield* files(path, seen);
    else if (e.isFile()) yield path;
  }
}

/** Walks every bpffs mount (or `mounts`) and returns the pinned paths of each object. */
export function pinnedObjects(mounts: readonly string[] = bpffsMounts()): PinsByKind {
  const found: Record<ObjectKind, Map<number, string[]>> = { prog: new Map(), map: new Map(), link: new Map(), btf: new Map() };
  // A mount point inside another bpffs mount is walked once.
  const seen = new Set<string>();
  for (const mount of mounts) {
    for (const path of files(mount, seen)) {
      const obj = identify(path);
      if (obj === undefined) continue;
      const list = found[obj.kind].get(obj.id) ?? [];
      list.push(path);
      found[obj.kind].set(obj.id, list);
    }
  }
  for (const byId of Object.values(found)) for (const list of byId.values()) list.sort();
  return found;
}
