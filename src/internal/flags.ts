/**
 * Flag bits of the bpf() UAPI (include/uapi/linux/bpf.h), one copy each. The package index
 * exports them from the modules users know (map, elf, link); they are defined only here.
 *
 * @module
 */

/** `BPF_F_NO_PREALLOC`: entries allocated on update (LPM tries and local storage require it). */
export const BPF_F_NO_PREALLOC = 1 << 0;
/** `BPF_F_NUMA_NODE`: `numaNode` is honoured. */
export const BPF_F_NUMA_NODE = 1 << 2;
/** `BPF_F_RDONLY`: user space may only read (4.15+). */
export const BPF_F_RDONLY = 1 << 3;
/** `BPF_F_WRONLY`: user space may only write (4.15+). */
export const BPF_F_WRONLY = 1 << 4;
/** `BPF_F_RDONLY_PROG`: programs may only read (5.2+). */
export const BPF_F_RDONLY_PROG = 1 << 7;
/** `BPF_F_MMAPABLE`: the map can be mmap()ed (array maps 5.5+; arenas require it). */
export const BPF_F_MMAPABLE = 1 << 10;
/** `BPF_F_STACK_BUILD_ID`: a STACK_TRACE map stores (build id, file offset) per frame, not addresses (4.17). */
export const BPF_F_STACK_BUILD_ID = 1 << 5;

/**
 * `BPF_F_TOKEN_FD`: the command's `*_token_fd` field holds a BPF token (`map_flags`,
 * `prog_flags`, `btf_flags`; Linux 6.9).
 */
export const BPF_F_TOKEN_FD = 1 << 16;

/** `BPF_F_SLEEPABLE`: the program may sleep (`prog_flags`, Linux 5.10). */
export const BPF_F_SLEEPABLE = 1 << 4;
/** `BPF_F_XDP_HAS_FRAGS`: the XDP program handles multi-buffer packets (Linux 5.18). */
export const BPF_F_XDP_HAS_FRAGS = 1 << 5;

/** `BPF_F_KPROBE_MULTI_RETURN`: a kprobe_multi link runs at function return (5.18). */
export const BPF_F_KPROBE_MULTI_RETURN = 1;
/** `BPF_F_UPROBE_MULTI_RETURN`: a uprobe_multi link runs at function return (6.6). */
export const BPF_F_UPROBE_MULTI_RETURN = 1;
/** `BPF_F_NETFILTER_IP_DEFRAG`: a netfilter link sees reassembled IP packets (`netfilter.flags`, 6.6). */
export const BPF_F_NETFILTER_IP_DEFRAG = 1;

/** `BPF_F_ALLOW_OVERRIDE`: a program attached to a descendant cgroup replaces this one (4.10). */
export const BPF_F_ALLOW_OVERRIDE = 1 << 0;
/** `BPF_F_ALLOW_MULTI`: several programs may be attached to the cgroup and all run (4.15). */
export const BPF_F_ALLOW_MULTI = 1 << 1;
/** `BPF_F_REPLACE`: replace `replace_bpf_fd` (cgroups, 5.6) or the link's old program (BPF_LINK_UPDATE). */
export const BPF_F_REPLACE = 1 << 2;
/** `BPF_F_BEFORE`: attach before the relative program or link (tcx, netkit; 6.6). */
export const BPF_F_BEFORE = 1 << 3;
/** `BPF_F_AFTER`: attach after the relative program or link (6.6). */
export const BPF_F_AFTER = 1 << 4;
/** `BPF_F_ID`: `relative_fd` holds an id, not an fd (6.6). */
export const BPF_F_ID = 1 << 5;
/** `BPF_F_LINK`: the relative object is a link (6.6). */
export const BPF_F_LINK = 1 << 13;
/** `BPF_F_QUERY_EFFECTIVE`: BPF_PROG_QUERY reports the programs that run, inherited ones included (4.15). */
export const BPF_F_QUERY_EFFECTIVE = 1 << 0;

/** `XDP_FLAGS_UPDATE_IF_NOEXIST`: fail with EBUSY/EEXIST rather than replace an attached program. */
export const XDP_FLAGS_UPDATE_IF_NOEXIST = 1 << 0;
/** `XDP_FLAGS_SKB_MODE`: generic XDP, in the network stack (works on every interface). */
export const XDP_FLAGS_SKB_MODE = 1 << 1;
/** `XDP_FLAGS_DRV_MODE`: native XDP, in the driver. */
export const XDP_FLAGS_DRV_MODE = 1 << 2;
/** `XDP_FLAGS_HW_MODE`: offloaded to the NIC. */
export const XDP_FLAGS_HW_MODE = 1 << 3;
/** `XDP_FLAGS_REPLACE`: replace only the program given as expected (netlink, 5.7). */
export const XDP_FLAGS_REPLACE = 1 << 4;
