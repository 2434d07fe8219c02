/**
 * Which processes hold a BPF object open, as `bpftool … show` prints under `pids`: every
 * process's fds are walked in /proc, and for each one that is a BPF object its fdinfo gives
 * the id. bpftool asks a BPF task_file iterator instead; /proc needs no program of its own
 * and works on kernels without iterators (before 5.8), at the cost of one readlink per fd.
 * Processes this one may not inspect are left out, as they are from bpftool's view.
 *
 * @module
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import type { ObjectKind } from '../sys/commands.js';
import { bpfFdKind, fdinfoIdKey, fdinfoNumber, readFdinfoFile } from './bpf-fdinfo.js';

/** A process holding an object. */
export interface Holder {
  /** The process id (thread group id). */
  readonly pid: number;
  /** Its command name (/proc/PID/comm). */
  readonly comm: string;
}

/** Holders by object kind, then by object id; each process once per object, by pid. */
export type HoldersByKind = Readonly<Record<ObjectKind, ReadonlyMap<number, readonly Holder[]>>>;

function listOrEmpty(path: string): string[] {
  try {
    return readdirSync(path);
  } catch {
    return [];
  }
}

/**
 * Walks /proc once and returns who holds which object. The caller should walk before it
 * opens fds of its own, or its own pid shows up holding everything it looked at.
 */
export function objectHolders(proc = '/proc'): HoldersByKind {
  const found: Record<ObjectKind, Map<number, Holder[]>> = { prog: new Map(), map: new Map(), link: new Map(), btf: new Map() };
  for (const entry of listOrEmpty(proc)) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    let comm: string | undefined;
    for (const fd of listOrEmpty(`${proc}/${pid}/fd`)) {
      let kind: ObjectKind | undefined;
      try {
        kind = bpfFdKind(readlinkSync(`${proc}/${pid}/fd/${fd}`));
      } catch {
        continue; // closed meanwhile
      }
      if (kind === undefined) continue;
      const id = fdinfoNumber(readFdinfoFile(`${proc}/${pid}/fdinfo/${fd}`), fdinfoIdKey[kind]);
      if (id === undefined) continue;
      comm ??= readComm(proc, pid);
      const list = found[kind].get(id) ?? [];
      if (!list.some((h) => h.pid === pid)) list.push({ pid, comm });
      found[kind].set(id, list);
    }
  }
  return found;
}

function readComm(proc: string, pid: number): string {
  try {
    return readFileSync(`${proc}/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

