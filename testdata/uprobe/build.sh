#!/usr/bin/env bash
# Rebuild the native uprobe fixtures (x86-64 or arm64, whatever gcc targets) and record what
# binutils says about them (readelf.txt), which the unit tests compare ebpf-ts's symbol reader
# against. Called by testdata/build.sh; the outputs are committed so tests need no compiler.
set -euo pipefail
cd "$(dirname "$0")"
CC=${CC:-gcc}
FLAGS=(-O2 -g0 -fno-asynchronous-unwind-tables -ffile-prefix-map="$PWD"=. -Wl,--build-id=none)
# -no-pie: the text segment's virtual address differs from its file offset, so the translation
# from symbol address to file offset is exercised.
"$CC" "${FLAGS[@]}" -no-pie -o target target.c
"$CC" "${FLAGS[@]}" -fPIC -shared -Wl,--version-script=lib.map -o libfixture.so lib.c lib2.c
strip -o libfixture-stripped.so libfixture.so
{
	for f in target libfixture.so libfixture-stripped.so; do
		echo "== $f"
		readelf -W -l -s "$f"
	done
} >readelf.txt
echo "built testdata/uprobe/{target,libfixture.so,libfixture-stripped.so,readelf.txt}"
