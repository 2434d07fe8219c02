// ebpf-ts build: clang for both byte orders with libbpf's headers, vmlinux.h from kernel BTF
// through our own C formatter, then gen; and errors that name the package to install when
// clang or the headers are missing. The compiling tests skip where clang is not installed.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseCollectionSpec } from '../../src/collection-spec.js';
import { buildObject, CompileError } from '../../src/gen/build.js';
import { findLibbpfInclude, targetArch, ToolNotFoundError } from '../../src/gen/toolchain.js';
import { findTool, missingToolReason } from '../helpers/tools.js';

const clang = findTool('clang');
const headers = existsSync('/usr/include/bpf/bpf_helpers.h');
const skip = clang === undefined ? missingToolReason('clang') : !headers ? 'libbpf-dev is not installed (apt-get install libbpf-dev)' : false;
const dir = mkdtempSync(join(tmpdir(), 'ebpf-ts-build-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const env = { CLANG: clang };

const counter = `#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct stats { __u64 packets; __u32 last_len; };

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct stats);
} stats SEC(".maps");

SEC("socket")
int count(struct __sk_buff *skb)
{
	__u32 zero = 0;
	struct stats *s = bpf_map_lookup_elem(&stats, &zero);
	if (s) { __sync_fetch_and_add(&s->packets, 1); s->last_len = skb->len; }
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
`;

// The reason goes into the suite's name, so the report shows it beside each skipped test.
describe.skipIf(skip !== false)(`ebpf-ts build (clang)${skip === false ? '' : ` (skipped: ${skip})`}`, () => {
  it('compiles for bpfel and bpfeb and writes the bindings', () => {
    const source = join(dir, 'counter.bpf.c');
    writeFileSync(source, counter);
    const r = buildObject(source, { out: join(dir, 'out'), env });
    expect(r.vmlinux).toBeUndefined(); // the source does not include it
    expect(parseCollectionSpec(readFileSync(r.objects.bpfel!)).byteOrder).toBe('little');
    expect(parseCollectionSpec(readFileSync(r.objects.bpfeb!)).byteOrder).toBe('big');
    const text = readFileSync(r.module, 'utf8');
    expect(text).toContain('readonly stats: TypedMap<number, Stats>;');
    expect(text).toContain('// Regenerate with: npx ebpf-ts build');
  });

  it('generates vmlinux.h from kernel BTF when the source includes it', () => {
    if (!existsSync('/sys/kernel/btf/vmlinux')) return; // no kernel BTF to dump here
    const source = join(dir, 'tp.bpf.c');
    writeFileSync(
      source,
      `#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
struct event { __u32 pid; char comm[16]; };
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 4096); __type(value, struct event); } events SEC(".maps");
SEC("tracepoint/syscalls/sys_enter_execve")
int on_exec(struct trace_event_raw_sys_enter *ctx)
{
	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) return 0;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
`,
    );
    const r = buildObject(source, { out: join(dir, 'tp'), env, targets: ['bpfel'] });
    expect(r.vmlinux).toBe(join(dir, 'tp', 'vmlinux.h'));
    expect(readFileSync(r.module, 'utf8')).toContain('events(options?: RingBufReaderOptions & TypedReaderOptions): TypedReader<Event>;');
  }, 60_000);

  it('writes JavaScript bindings and their declarations with js', () => {
    const source = join(dir, 'counter.bpf.c');
    writeFileSync(source, counter);
    const r = buildObject(source, { out: join(dir, 'js'), env, targets: ['bpfel'], js: true });
    expect(r.module).toBe(join(dir, 'js', 'counter.js'));
    expect(r.declarations).toBe(join(dir, 'js', 'counter.d.ts'));
    expect(readFileSync(r.module, 'utf8')).toContain('// Regenerate with: npx ebpf-ts build');
    expect(readFileSync(r.declarations!, 'utf8')).toContain('readonly stats: TypedMap<number, Stats>;');
  });

  it("reports clang's diagnostics as a CompileError", () => {
    const source = join(dir, 'bad.bpf.c');
    writeFileSync(source, 'int f( {\n');
    expect(() => buildObject(source, { out: join(dir, 'bad'), env })).toThrow(CompileError);
  });
});

describe('ebpf-ts build toolchain', () => {
  it('names the package when clang is missing', () => {
    const source = join(dir, 'x.bpf.c');
    writeFileSync(source, '');
    const err = (() => {
      try {
        buildObject(source, { env: { CLANG: '/nonexistent/clang' } });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ToolNotFoundError);
    expect((err as ToolNotFoundError).package).toBe('clang-14');
    expect(String(err)).toMatch(/apt-get install clang-14.*never at run time/);
  });

  it('names libbpf-dev when the headers are missing', () => {
    expect(() => findLibbpfInclude('/nonexistent/include')).toThrow(/apt-get install libbpf-dev/);
  });

  it('maps Node architectures to __TARGET_ARCH_ names', () => {
    expect(targetArch('x64')).toBe('x86');
    expect(targetArch('arm64')).toBe('arm64');
    expect(targetArch('s390x')).toBe('s390');
  });
});
