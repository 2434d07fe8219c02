/**
 * What a BPF_PROG_ATTACH target holds now, for error messages of attachments that the kernel
 * would otherwise replace silently (a sockmap's verdict slot, a network namespace's flow
 * dissector) or refuses with a bare errno (EEXIST, EBUSY, E2BIG).
 *
 * @module
 */
import { hostLittleEndian, dataView } from '../internal/bytes.js';
import { Program } from '../prog.js';
import { encodeAttr } from '../sys/attr.js';
import { bpfRaw } from '../sys/bpf.js';
import { ProgQuery } from '../sys/layouts.js';
import type { AttachType } from '../types.js';

/** Netns hooks hold up to 64 sk_lookup programs; the others one. */
const MAX_IDS = 64;

/**
 * Ids of the programs attached at (`targetFd`, `attachType`) by BPF_PROG_QUERY, or undefined
 * when the kernel cannot say (a sockmap before 5.19, no permission, a target gone).
 */
export function attachedProgramIds(targetFd: number, attachType: AttachType): number[] | undefined {
  const ids = new Uint8Array(MAX_IDS * 4);
  const { attr, pointers } = encodeAttr(ProgQuery, { target_fd: targetFd, attach_type: attachType, query_flags: 0, prog_ids: ids, prog_cnt: MAX_IDS });
  if (bpfRaw(ProgQuery, attr, pointers) < 0) return undefined;
  const count = Math.min(dataView(attr).getUint32(ProgQuery.fields.prog_cnt.offset, hostLittleEndian), MAX_IDS);
  const out: number[] = [];
  for (let i = 0; i < count; i++) out.push(dataView(ids).getUint32(i * 4, hostLittleEndian));
  return out;
}

/** `program 42 (count_msg)`, or the id alone when the name cannot be read. */
export function programLabel(id: number): string {
  try {
    const p = Program.fromId(id);
    try {
      const name = p.info().name;
      return name === '' ? `program ${id}` : `program ${id} (${name})`;
    } finally {
      p.close();
    }
  } catch {
    return `program ${id}`;
  }
}

/** `program 42 (count_msg), program 43` for the ids, or undefined when there are none or the query failed. */
export function describeAttached(targetFd: number, attachType: AttachType): string | undefined {
  const ids = attachedProgramIds(targetFd, attachType);
  if (ids === undefined || ids.length === 0) return undefined;
  return ids.map(programLabel).join(', ');
}

/**
 * Whether `a` and `b` are the same kernel program: the same object, or two fds of one program
 * (equal ids). A program whose id cannot be read (closed) matches only itself.
 */
export function sameProgram(a: Program, b: Program): boolean {
  if (a === b) return true;
  try {
    return a.info().id === b.info().id;
  } catch {
    return false;
  }
}
