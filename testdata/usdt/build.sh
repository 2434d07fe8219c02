#!/usr/bin/env bash
# Rebuild the USDT fixtures and record what binutils says about their notes (readelf.txt), which
# the unit tests compare ebpf-ts's note reader against. The outputs are committed so tests need
# no compiler. Needs gcc and <sys/sdt.h> (apt-get install systemtap-sdt-dev); the arm64 build
# (read, never run, by the argument parser's tests) needs gcc-aarch64-linux-gnu and is skipped
# without it.
#
#   target                  PIE executable linked against libusdtfixture.so (rpath $ORIGIN)
#   target-nopie            the same, -no-pie: note addresses are absolute there
#   libusdtfixture.so       a probe in a shared library
#   target-arm64            all three sources in one arm64 PIE executable
set -euo pipefail
cd "$(dirname "$0")"
CC=${CC:-gcc}
SDT_INC=$(dirname "$(dirname "$(echo '#include <sys/sdt.h>' | "$CC" -E -H -x c - 2>&1 >/dev/null | sed -n 's/^\. //p' | head -n1)")")
if [ ! -e "$SDT_INC/sys/sdt.h" ]; then
	echo "usdt/build.sh: <sys/sdt.h> not found (apt-get install systemtap-sdt-dev)" >&2
	exit 1
fi
FLAGS=(-O2 -g0 -fno-asynchronous-unwind-tables -ffile-prefix-map="$PWD"=. -Wl,--build-id=none)
"$CC" "${FLAGS[@]}" -fPIC -shared -o libusdtfixture.so lib.c
"$CC" "${FLAGS[@]}" -pie -fPIE -o target target.c guarded.c -L. -lusdtfixture -Wl,-rpath,'$ORIGIN'
"$CC" "${FLAGS[@]}" -no-pie -o target-nopie target.c guarded.c -L. -lusdtfixture -Wl,-rpath,'$ORIGIN'
files=(target target-nopie libusdtfixture.so)
ARM64_CC=${ARM64_CC:-aarch64-linux-gnu-gcc}
if command -v "$ARM64_CC" >/dev/null; then
	# sdt.h is the same for every architecture, but Debian installs it in the host's multiarch
	# directory, whose other headers must not reach the arm64 compiler: copy just sdt.h.
	sdt=$(mktemp -d)
	trap 'rm -rf "$sdt"' EXIT
	mkdir "$sdt/sys"
	cp "$SDT_INC/sys/sdt.h" "$SDT_INC/sys/sdt-config.h" "$sdt/sys/"
	"$ARM64_CC" "${FLAGS[@]}" -I"$sdt" -pie -fPIE -o target-arm64 target.c guarded.c lib.c
	files+=(target-arm64)
else
	echo "usdt/build.sh: $ARM64_CC not found, keeping the committed target-arm64" >&2
	[ -e target-arm64 ] && files+=(target-arm64)
fi
{
	for f in "${files[@]}"; do
		echo "== $f"
		readelf -W -n "$f"
	done
} >readelf.txt
echo "built testdata/usdt/{${files[*]// /,},readelf.txt}"
