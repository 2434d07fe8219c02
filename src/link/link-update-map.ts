/**
 * BPF_LINK_UPDATE with a map instead of a program: what swaps the struct_ops map behind a
 * struct_ops link (6.4, "bpf: Update the struct_ops of a bpf_link"). `Link.update(map)` calls it.
 *
 * The kernel's checks (bpf_struct_ops_map_link_update(), kernel/bpf/bpf_struct_ops.c): the new
 * map is a `BPF_F_LINK` struct_ops map whose value was written, of the same struct as the old
 * one; with BPF_F_REPLACE the link must still hold `old_map_fd`'s map (EPERM otherwise); a
 * detached link has no map to replace (ENOLINK). The subsystem may refuse too: TCP swaps a
 * congestion control only for one of the same name (tcp_update_congestion_control()).
 *
 * @module
 */
import { BPF_F_REPLACE } from '../internal/flags.js';
import type { BpfMap } from '../map.js';
import { bpfCall } from '../sys/bpf.js';
import { Errno } from '../sys/errno.js';
import { LinkUpdate } from '../sys/layouts.js';
import { MapType } from '../types.js';
import { ArgumentError } from '../errors.js';


/**
 * Points the struct_ops link `linkFd` at `map` (BPF_LINK_UPDATE with `new_map_fd`), only if it
 * still holds `oldMap` when one is given.
 *
 * Minimum kernel: 6.4.
 *
 * @example
 * ```ts
 * updateLinkMap(link.fd, 'struct_ops ebpfts_cc', coll.maps.ebpfts_cc_v2, coll.maps.ebpfts_cc);
 * ```
 * @throws {@link ArgumentError} for a map that is not a struct_ops map (before any syscall);
 * {@link SyscallError} explained: EINVAL (not a struct_ops link, or a map it cannot take),
 * EPERM (the link holds another map than `oldMap`), ENOLINK (the link was detached).
 */
export function updateLinkMap(linkFd: number, what: string, map: BpfMap, oldMap: BpfMap | undefined): void {
  for (const [role, m] of [['new', map], ['old', oldMap]] as const) {
    if (m !== undefined && m.type !== MapType.StructOps) {
      throw new ArgumentError(`update link ${what}: the ${role} map ${m.name} is not a struct_ops map; only struct_ops links are updated with a map`);
    }
  }
  bpfCall(
    LinkUpdate,
    { link_fd: linkFd, new_map_fd: map.fd, flags: oldMap === undefined ? 0 : BPF_F_REPLACE, old_map_fd: oldMap?.fd },
    {
      context: `update link ${what} to struct_ops map ${map.name}`,
      explain: (errno) => {
        if (errno === Errno.ENOLINK) return 'the link was detached: attach the new map with attachStructOps(map) instead';
        if (errno === Errno.EPERM && oldMap !== undefined) return `the link no longer holds map ${oldMap.name}: another update came first`;
        if (errno === Errno.EINVAL) {
          return (
            `the link must be a struct_ops link and ${map.name} a .struct_ops.link map (BPF_F_LINK) of the same struct, its value written (loadCollection writes it); ` +
            'the subsystem may insist on more (a TCP congestion control is swapped only for one of the same name)'
          );
        }
        return undefined;
      },
    },
  );
}
