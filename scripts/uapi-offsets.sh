#!/bin/bash
# Regenerates test/unit/fixtures/uapi-offsets.json: the offset and size of every bpf_attr and
# bpf_*_info field src/sys/layouts.ts describes, computed by the C compiler from the running
# kernel's BTF (bpftool btf dump ... format c). Needs bpftool and a C compiler; the JSON is
# committed so the unit test needs neither.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bpftool btf dump file "${1:-/sys/kernel/btf/vmlinux}" format c >"$work/vmlinux.h"
cc -O0 -w -I"$work" -o "$work/offsets" "$here/uapi-offsets.c"
{
  echo "{\"kernel\": \"$(uname -r)\", \"fields\": "
  "$work/offsets"
  echo "}"
} >"$here/../test/unit/fixtures/uapi-offsets.json"
echo "wrote test/unit/fixtures/uapi-offsets.json ($(uname -r))"
