#!/usr/bin/env bash
# The conformance set (issue 15 item 5): each *.bpf.c here built the ways other projects build
# BPF objects, then linked, with the tools' views of every result recorded in golden/, so that
# test/unit/conformance.test.ts checks our parser against them without any tool installed and
# test/kernel/conformance.test.ts loads them. Called by testdata/build.sh; everything is
# committed.
#
#   NAME.clang14.ARCH.o, NAME.clang19.ARCH.o        -g (DWARF and BTF), bpfel and bpfeb
#   NAME.clang14.ARCH.g0.o, NAME.clang19.ARCH.g0.o  -g0: no BTF, no .BTF.ext. Skipped for a source
#                                                   with a `// conformance-needs-btf` line (CO-RE
#                                                   builtins do not compile without -g; a .maps
#                                                   section without BTF is unreadable)
#   linked_bpftool.CC.bpfel.o                       `bpftool gen object` of every -g bpfel object
#                                                   of one compiler (Debian's libbpf 1.1 links
#                                                   neither big-endian objects nor ones without BTF)
#   linked_ebpfts.CC.ARCH[.g0].o                    `ebpf-ts link` (dist/cli/main.js: npm run build)
#                                                   of the same inputs, in every variant
#
# golden/OBJECT.objdump-counts.txt  `llvm-objdump -d` summarised: "section S N" per code section,
#                                   then "function S F N" per FUNC symbol of llvm-readelf -s
#                                   (the instructions from its label to the next FUNC label; an
#                                   ld_imm64 is one instruction, as objdump prints it)
# golden/OBJECT.readelf-s.txt       `llvm-readelf -s --wide`, as testdata/golden.sh records it
# golden/OBJECT.btf-dump.txt        `bpftool btf dump file` (bpfel objects with BTF; bpftool prints
#                                   a big-endian object's BTF the same)
# golden/OBJECT.skeleton.txt        the program and map names `bpftool gen skeleton` finds, or
#                                   "refused: …" (bpfel only: libbpf opens the host's byte order)
set -euo pipefail
cd "$(dirname "$0")"

CLANG14=${CLANG14:-clang-14}
CLANG19=${CLANG19:-clang-19}
BPFTOOL=${BPFTOOL:-bpftool}
OBJDUMP=${OBJDUMP:-llvm-objdump}
READELF=${READELF:-llvm-readelf}
EBPF_TS=(node ../../dist/cli/main.js)
for tool in "$CLANG14" "$CLANG19" "$BPFTOOL" "$OBJDUMP" "$READELF"; do
	if ! command -v "$tool" >/dev/null; then
		echo "conformance/build.sh: $tool not found (apt-get install clang-14 clang-19 llvm-14 bpftool libbpf-dev)" >&2
		exit 1
	fi
done
if [ ! -e ../../dist/cli/main.js ]; then
	echo "conformance/build.sh: dist/cli/main.js missing (npm run build)" >&2
	exit 1
fi

# The flags of testdata/build.sh (reproducible: relative paths, pinned compilation directory).
MULTIARCH_INC=/usr/include/$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
COMMON=(-O2 -Wall -Werror -fdebug-compilation-dir=. -I"$MULTIARCH_INC")

# Outputs of a renamed or removed source must not linger.
rm -f ./*.o golden/*
mkdir -p golden

sources=(*.bpf.c)
for src in "${sources[@]}"; do
	name=${src%.bpf.c}
	for cc in 14 19; do
		compiler=CLANG$cc
		for arch in bpfel bpfeb; do
			for debug in g g0; do
				if [ $debug = g0 ] && grep -q '^// conformance-needs-btf' "$src"; then continue; fi
				suffix=""
				if [ $debug = g0 ]; then suffix=.g0; fi
				out=$name.clang$cc.$arch$suffix.o
				"${!compiler}" -target $arch "${COMMON[@]}" -$debug -c "$src" -o "$out"
				echo "built testdata/conformance/$out"
			done
		done
	done
done

for cc in 14 19; do
	for arch in bpfel bpfeb; do
		for suffix in "" .g0; do
			inputs=()
			for src in "${sources[@]}"; do
				if [ -e "${src%.bpf.c}.clang$cc.$arch$suffix.o" ]; then inputs+=("${src%.bpf.c}.clang$cc.$arch$suffix.o"); fi
			done
			"${EBPF_TS[@]}" link "linked_ebpfts.clang$cc.$arch$suffix.o" "${inputs[@]}"
			if [ $arch = bpfel ] && [ -z "$suffix" ]; then
				"$BPFTOOL" gen object "linked_bpftool.clang$cc.$arch.o" "${inputs[@]}"
				echo "linked testdata/conformance/linked_bpftool.clang$cc.$arch.o"
			fi
		done
	done
done

for obj in *.o; do
	base=${obj%.o}
	"$READELF" -s --wide "$obj" >"golden/$base.readelf-s.txt"
	funcs=$("$READELF" -s --wide "$obj" | awk '$4 == "FUNC" { print $8 }')
	"$OBJDUMP" -d "$obj" | awk -v funcs="$funcs" '
		BEGIN { n = split(funcs, f, "\n"); for (i = 1; i <= n; i++) isfunc[f[i]] = 1 }
		function flush(   i) {
			if (section == "") return
			print "section " section " " count
			for (i = 1; i <= nf; i++) print "function " section " " fname[i] " " fcount[fname[i]]
		}
		/^Disassembly of section / { flush(); section = substr($0, 24, length($0) - 24); count = 0; nf = 0; current = ""; next }
		/^[0-9a-f]+ <.*>:$/ {
			label = $2; sub(/^</, "", label); sub(/>:$/, "", label)
			if (label in isfunc) { current = label; fname[++nf] = label; fcount[label] = 0 }
			next
		}
		/^ *[0-9]+:\t/ { count++; if (current != "") fcount[current]++ }
		END { flush() }
	' >"golden/$base.objdump-counts.txt"
	case $obj in
	*.bpfel*.o)
		if "$OBJDUMP" -h "$obj" | grep -q ' \.BTF '; then
			"$BPFTOOL" btf dump file "$obj" >"golden/$base.btf-dump.txt"
		fi
		if skel=$("$BPFTOOL" gen skeleton "$obj" name x 2>/tmp/conformance-bpftool.err); then
			{
				sed -n 's/^[[:space:]]*struct bpf_program \*\([A-Za-z0-9_]*\);$/program \1/p' <<<"$skel" | sort
				sed -n 's/^[[:space:]]*struct bpf_map \*\([A-Za-z0-9_]*\);$/map \1/p' <<<"$skel" | sort
			} >"golden/$base.skeleton.txt"
		else
			echo "refused: $(grep -m1 -v '^$' /tmp/conformance-bpftool.err)" >"golden/$base.skeleton.txt"
		fi
		;;
	esac
done
rm -f /tmp/conformance-bpftool.err
echo "testdata/conformance/golden: $(ls golden | wc -l) files for $(ls ./*.o | wc -l) objects"
