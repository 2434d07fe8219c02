#!/usr/bin/env bash
# Rebuild every testdata/*.bpf.c (or the NAMEs given) into NAME.bpfel.o and NAME.bpfeb.o with
# Debian's clang, then regenerate the golden tool listings (golden.sh). `npm run testdata` runs
# this for all of them.
#
# Per-file compiler flags: a line `// ebpf-ts-cflags: FLAGS` in the C file adds FLAGS (e.g.
# `-mcpu=v3` for ALU32/JMP32 and fetching atomics), and `// ebpf-ts-clang: clang-19` builds that
# file with another compiler (apt-get install clang-19). Nothing else differs between files.
#
# Reproducibility: the objects are committed, so the same sources must give the same bytes on
# any machine and in any checkout directory. We compile from inside testdata/ with relative
# paths and pin the DWARF compilation directory (-fdebug-compilation-dir), which would
# otherwise embed the absolute path of the checkout.
set -euo pipefail
cd "$(dirname "$0")"

CLANG=${CLANG:-clang}
if ! command -v "$CLANG" >/dev/null; then
	echo "build.sh: $CLANG not found (apt-get install clang llvm libbpf-dev)" >&2
	exit 1
fi
if [ ! -e /usr/include/bpf/bpf_helpers.h ]; then
	echo "build.sh: /usr/include/bpf/bpf_helpers.h missing (apt-get install libbpf-dev)" >&2
	exit 1
fi

# <asm/types.h>, pulled in by <linux/bpf.h>, lives in the multiarch include directory.
MULTIARCH_INC=/usr/include/$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
COMMON=(-O2 -g -Wall -Werror -fdebug-compilation-dir=. -I"$MULTIARCH_INC")

# `build.sh NAME…` (or NAME.bpf.c…) rebuilds only those sources: rebuilding everything with
# another libbpf-dev than the committed objects were built with changes a few of them
# (core_bench, core_selfcheck) for no reason of yours.
shopt -s nullglob
if [ $# -gt 0 ]; then
	sources=()
	for n in "$@"; do sources+=("${n%.bpf.c}.bpf.c"); done
else
	sources=(*.bpf.c)
fi
if [ ${#sources[@]} -eq 0 ]; then
	echo "build.sh: no *.bpf.c in $(pwd)" >&2
	exit 1
fi

for src in "${sources[@]}"; do
	name=${src%.bpf.c}
	extra=$(sed -n 's|^// ebpf-ts-cflags:[[:space:]]*||p' "$src" | head -n1)
	# `// ebpf-ts-clang: clang-19`: a file that needs a newer compiler than $CLANG (ENUM64 BTF).
	cc=$(sed -n 's|^// ebpf-ts-clang:[[:space:]]*||p' "$src" | head -n1)
	cc=${cc:-$CLANG}
	for arch in bpfel bpfeb; do
		out=$name.$arch.o
		# shellcheck disable=SC2086 # $extra is a list of flags
		"$cc" -target "$arch" "${COMMON[@]}" $extra -c "$src" -o "$out"
		echo "built testdata/$out${extra:+ ($extra)}"
	done
done

bash ./golden.sh
bash ./uprobe/build.sh
bash ./usdt/build.sh
bash ./profile/build.sh
CLANG="$CLANG" bash ./linked/build.sh
bash ./conformance/build.sh
