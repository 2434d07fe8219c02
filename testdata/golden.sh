#!/usr/bin/env bash
# Regenerate testdata/golden/ from the committed objects, so that the unit tests compare against
# llvm-objdump (the disassembler) and bpftool (program and map names) without either installed.
#
# For each object two listings are kept:
#   NAME.ARCH.objdump.txt        `llvm-objdump -d` (what users see; raw bytes included)
#   NAME.ARCH.objdump-alu32.txt  the same with --mattr=+alu32, which LLVM 14 needs to decode
#                                32-bit atomics correctly (without it, it prints <unknown>
#                                for fetching 32-bit atomics, or mistakes fetch-add for add)
set -euo pipefail
cd "$(dirname "$0")"
OBJDUMP=${OBJDUMP:-llvm-objdump}
mkdir -p golden
shopt -s nullglob
for obj in *.bpfel.o *.bpfeb.o; do
	base=${obj%.o}
	"$OBJDUMP" -d "$obj" >"golden/$base.objdump.txt"
	"$OBJDUMP" -d --mattr=+alu32 "$obj" >"golden/$base.objdump-alu32.txt"
	echo "golden/$base.objdump.txt"
done

# NAME.bpfel.skeleton.txt: the program and map names `bpftool gen skeleton` finds, one
# "program X" / "map Y" line each, or one "refused: …" line when libbpf refuses the object.
# The collection-spec unit test compares our parser with these, and with bpftool live where
# it is installed.
BPFTOOL=${BPFTOOL:-bpftool}
for obj in *.bpfel.o; do
	base=${obj%.o}
	out=golden/$base.skeleton.txt
	if skel=$("$BPFTOOL" gen skeleton "$obj" name x 2>/tmp/golden-bpftool.err); then
		{
			sed -n 's/^[[:space:]]*struct bpf_program \*\([A-Za-z0-9_]*\);$/program \1/p' <<<"$skel" | sort
			sed -n 's/^[[:space:]]*struct bpf_map \*\([A-Za-z0-9_]*\);$/map \1/p' <<<"$skel" | sort
		} >"$out"
	else
		echo "refused: $(grep -m1 -v '^$' /tmp/golden-bpftool.err)" >"$out"
	fi
	echo "$out"
done
rm -f /tmp/golden-bpftool.err

# Tool views the ELF and BTF unit tests compare with: llvm-readelf symbols and relocations,
# llvm-objdump section headers (every object), and bpftool's raw BTF dump (little-endian
# objects; bpftool prints either byte order the same).
READELF=${READELF:-llvm-readelf}
for obj in *.bpfel.o *.bpfeb.o; do
	base=${obj%.o}
	"$READELF" -s --wide "$obj" >"golden/$base.readelf-s.txt"
	"$READELF" -r --wide "$obj" >"golden/$base.readelf-r.txt"
	"$OBJDUMP" -h "$obj" >"golden/$base.objdump-h.txt"
done
for obj in *.bpfel.o; do
	# Objects built without BTF (-g0) have none for bpftool to dump.
	"$OBJDUMP" -h "$obj" | grep -q ' \.BTF ' || continue
	"$BPFTOOL" btf dump file "$obj" >"golden/${obj%.o}.btf-dump.txt"
done
echo "golden/*.readelf-{s,r}.txt, *.objdump-h.txt, *.btf-dump.txt"
