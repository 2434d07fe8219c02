#!/usr/bin/env bash
# Rebuild testdata/profile/busy (x86-64 or arm64, whatever gcc targets), the CPU burner the
# perf sampling tests profile, and record its symbols and segments as binutils sees them
# (readelf.txt). Called by testdata/build.sh; the outputs are committed so tests need no compiler.
set -euo pipefail
cd "$(dirname "$0")"
CC=${CC:-gcc}
# PIE (the default on Debian), so symbolising a sample exercises the load bias; frame pointers
# so the kernel can walk the user stack.
"$CC" -O2 -g0 -fPIE -pie -fno-omit-frame-pointer -fno-asynchronous-unwind-tables -ffile-prefix-map="$PWD"=. -Wl,--build-id=none -o busy busy.c
readelf -W -l -s busy >readelf.txt
echo "built testdata/profile/{busy,readelf.txt}"
