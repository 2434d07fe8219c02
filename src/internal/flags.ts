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

/** `BPF_F_SLEEPABLE`: the program may sleep (`prog_flags`, Linux 5.10). */
export const BPF_F_SLEEPABLE = 1 << 4;
/** `BPF_F_XDP_HAS_FRAGS`: the XDP program handles multi-buffer packets (Linux 5.18). */
export const BPF_F_XDP_HAS_FRAGS = 1 << 5;

/** `BPF_F_KPROBE_MULTI_RETURN`: a kprobe_multi link runs at function return (5.18). */
export const BPF_F_KPROBE_MULTI_RETURN = 1;
/** `BPF_F_UPROBE_MULTI_RETURN`: a uprobe_multi link runs at function return (6.6). */
export const BPF_F_UPROBE_MULTI_RETURN = 1;
