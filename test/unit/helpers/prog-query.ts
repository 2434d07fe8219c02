// BPF_PROG_QUERY as the kernel answers it, for the fake backend: the tests of queryPrograms,
// attachRaw, attachCgroup and attachSockmap/attachNetns read hooks through it.
import { hostLittleEndian } from '../../../src/sys/attr.js';
import type { FakeBpfCall } from '../../../src/sys/backend-fake.js';
import { Errno } from '../../../src/sys/errno.js';
import { ProgQuery } from '../../../src/sys/layouts.js';

const Q = ProgQuery.fields;
const view = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);

/** What the hook holds beyond its program ids. */
export interface HookContents {
  /** The hook's revision (tcx, netkit). */
  readonly revision?: bigint;
  /** The hook's attach flags, also reported per program. */
  readonly attachFlags?: number;
  /** The link id of each program, 0 for none. */
  readonly links?: readonly number[];
}

/**
 * Answers BPF_PROG_QUERY as a hook holding `ids`: prog_cnt is always written back, the arrays
 * offered are filled up to their capacity, and a capacity too small is ENOSPC.
 */
export function progQueryAnswer(ids: readonly number[], opts: HookContents = {}): (call: FakeBpfCall) => number {
  return (call) => {
    const live = view(call.liveAttr);
    const capacity = view(call.attr).getUint32(Q.prog_cnt.offset, hostLittleEndian);
    live.setUint32(Q.prog_cnt.offset, ids.length, hostLittleEndian);
    live.setUint32(Q.attach_flags.offset, opts.attachFlags ?? 0, hostLittleEndian);
    if (opts.revision !== undefined) live.setBigUint64(Q.revision.offset, opts.revision, hostLittleEndian);
    const out = call.pointers.get(Q.prog_ids.offset);
    if (capacity === 0 || out === null || out === undefined) return 0;
    const n = Math.min(capacity, ids.length);
    for (let i = 0; i < n; i++) {
      view(out).setUint32(i * 4, ids[i]!, hostLittleEndian);
      const flags = call.pointers.get(Q.prog_attach_flags.offset);
      if (flags) view(flags).setUint32(i * 4, opts.attachFlags ?? 0, hostLittleEndian);
      const links = call.pointers.get(Q.link_ids.offset);
      if (links) view(links).setUint32(i * 4, opts.links?.[i] ?? 0, hostLittleEndian);
    }
    return n < ids.length ? -Errno.ENOSPC : 0;
  };
}
