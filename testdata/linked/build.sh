#!/usr/bin/env bash
# Statically linked objects, as `bpftool gen object OUT IN...` (libbpf's linker) writes them,
# for the parser and loader tests (test/unit/elf-linked.test.ts, test/kernel/
# collection-linked.test.ts). Called by testdata/build.sh; everything here is committed, so the
# tests need neither clang nor bpftool.
#
#   selfcheck.bpfel.o  selfcheck_a.c + selfcheck_b.c: weak/strong/static functions, variables and
#                      maps, an extern function, variable and map, legacy map definitions of 20
#                      and 28 bytes in one `maps` section. Each program returns 0 when every
#                      symbol resolved as the linker resolves it, else the line of the first
#                      definition that should have lost.
#   objects.bpfel.o    ../elf_patterns + ../elf_programs + ../elf_globals: BTF maps, prog array
#                      slots, callbacks, global data of several inputs, .kconfig and .ksyms.
#   legacy.bpfel.o     ../elf_legacy_maps + ../elf_legacy_maps_ext: legacy definitions of 20 and
#                      36 bytes.
#   tracing.bpfel.o    ../multi + ../tracing + ../printk + ../core_relocs: CO-RE records and
#                      line info of several inputs in one .BTF.ext.
#
# Linked little-endian only: Debian's bpftool (libbpf 1.1) links objects of the host's byte order.
# NAME.skeleton.txt records the program and map names `bpftool gen skeleton` finds in each
# output (or "refused: …"), as testdata/golden.sh does for the other objects.
set -euo pipefail
cd "$(dirname "$0")"

CLANG=${CLANG:-clang}
BPFTOOL=${BPFTOOL:-bpftool}
MULTIARCH_INC=/usr/include/$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
# The same flags as testdata/build.sh, so the inputs are built as every other object is.
COMMON=(-O2 -g -Wall -Werror -fdebug-compilation-dir=. -I"$MULTIARCH_INC")

# Both byte orders of the inputs: bpftool links the little-endian ones; ebpf-ts's own linker
# (linkObjects) is checked against it on those and links the big-endian ones too.
for src in selfcheck_a.c selfcheck_b.c; do
	for arch in bpfel bpfeb; do
		"$CLANG" -target "$arch" "${COMMON[@]}" -c "$src" -o "${src%.c}.$arch.o"
		echo "built testdata/linked/${src%.c}.$arch.o"
	done
done

link() {
	local out=$1
	shift
	"$BPFTOOL" gen object "$out" "$@"
	echo "linked testdata/linked/$out from $*"
}
link selfcheck.bpfel.o selfcheck_a.bpfel.o selfcheck_b.bpfel.o
link objects.bpfel.o ../elf_patterns.bpfel.o ../elf_programs.bpfel.o ../elf_globals.bpfel.o
link legacy.bpfel.o ../elf_legacy_maps.bpfel.o ../elf_legacy_maps_ext.bpfel.o
link tracing.bpfel.o ../multi.bpfel.o ../tracing.bpfel.o ../printk.bpfel.o ../core_relocs.bpfel.o

for out in selfcheck objects legacy tracing; do
	if skel=$("$BPFTOOL" gen skeleton "$out.bpfel.o" name x 2>/tmp/linked-bpftool.err); then
		{
			sed -n 's/^[[:space:]]*struct bpf_program \*\([A-Za-z0-9_]*\);$/program \1/p' <<<"$skel" | sort
			sed -n 's/^[[:space:]]*struct bpf_map \*\([A-Za-z0-9_]*\);$/map \1/p' <<<"$skel" | sort
		} >"$out.skeleton.txt"
	else
		echo "refused: $(grep -m1 -v '^$' /tmp/linked-bpftool.err)" >"$out.skeleton.txt"
	fi
done
rm -f /tmp/linked-bpftool.err
