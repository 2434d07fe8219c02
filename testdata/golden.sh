#!/usr/bin/env bash
# Regenerate testdata/golden/*.objdump.txt from the committed objects, so that the
# disassembler test compares against llvm-objdump without needing LLVM at test time.
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
