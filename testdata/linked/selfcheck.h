// SPDX-License-Identifier: MIT
// Shared by the inputs of linked/selfcheck.bpfel.o (see build.sh).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* Hides a value from the optimizer, so that calls are not folded into their results. */
#define opaque(x) ({ int __v = (x); asm volatile("" : "+r"(__v)); __v; })

/* A legacy `struct bpf_map_def` (20 bytes). */
struct legacy_map_def {
	unsigned int type;
	unsigned int key_size;
	unsigned int value_size;
	unsigned int max_entries;
	unsigned int map_flags;
};

/* iproute2's `struct bpf_elf_map` (28 bytes): a legacy definition with more fields. */
struct legacy_elf_map {
	unsigned int type;
	unsigned int size_key;
	unsigned int size_value;
	unsigned int max_elem;
	unsigned int flags;
	unsigned int id;
	unsigned int pinning;
};

/* A BTF map definition both inputs use (a weak and a strong one must match to link). */
struct shared_def {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 2);
};
