// A generated tracer end to end: `ebpf-ts gen` bindings for testdata/execsnoop, loaded with a
// typed constant, its tracepoints attached, a known command run, and its event read through
// the typed perf reader; the typed maps (a hash of struct event, a per-CPU array) and the
// typed read-only variable work against the kernel.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generateBindings } from '../../src/gen/generate.js';
import { possibleCPUs } from '../../src/sys/cpus.js';
import { ensureTracefs } from './link-helpers.js';

const root = process.getuid?.() === 0;
const skip = root ? false : 'needs root for bpf() and tracefs';
if (root) ensureTracefs();

const testdata = join(import.meta.dirname, '../../testdata');
const dir = mkdtempSync(join(tmpdir(), 'ebpf-ts-gen-kernel-'));
writeFileSync(join(dir, 'package.json'), '{"type":"module"}\n');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Event {
  pid: number;
  comm: string;
  filename: string;
  argc: number;
  argv: string[];
  retval: number;
}

describe.skipIf(skip !== false)('generated bindings on the running kernel', () => {
  it('a generated execsnoop traces an exec with typed events, maps and variables', async () => {
    const out = join(dir, 'execsnoop.ts');
    const { text } = generateBindings(join(testdata, 'execsnoop.bpfel.o'), { out, importFrom: join(import.meta.dirname, '../../src/index.js') });
    writeFileSync(out, text);
    const mod = await import(out);
    const { attachTracepoint } = await import('../../src/index.js');
    using obj = await mod.loadExecsnoop({ constants: { failed_only: 0 } });
    expect(obj.variables.failed_only.get()).toBe(0);
    expect(obj.variables.failed_only.readOnly).toBe(true);

    // The typed maps against the kernel: a u64 → struct event hash and a per-CPU array.
    const blank = obj.maps.execs.get(0n);
    expect(blank).toBeUndefined();
    obj.maps.execs.set(7n, { pid: 1, ppid: 2, uid: 3, retval: -4, argc: 1, args_truncated: 0, comm: 'typed', filename: '/x', argv: ['a'] });
    const got = obj.maps.execs.get(7n) as Event;
    expect([got.pid, got.retval, got.comm, got.filename, got.argv[0], got.argv[1]]).toEqual([1, -4, 'typed', '/x', 'a', '']);
    expect(obj.maps.execs.delete(7n)).toBe(true);
    const scratch = obj.maps.scratch.get(0) as Event[];
    expect(scratch).toHaveLength(possibleCPUs());

    using enter = attachTracepoint(obj.programs.execve_enter, 'syscalls', 'sys_enter_execve');
    using exit = attachTracepoint(obj.programs.execve_exit, 'syscalls', 'sys_exit_execve');
    void enter, exit;
    using reader = obj.readers.events({ perCpuBufferBytes: 64 * 1024 });
    const marker = `gen-marker-${process.pid}`;
    const child = spawnSync('/bin/echo', [marker], { encoding: 'utf8' });
    expect(child.status).toBe(0);
    const deadline = Date.now() + 20_000;
    let seen: Event | undefined;
    while (seen === undefined && Date.now() < deadline) {
      const ac = AbortSignal.timeout(Math.max(1, deadline - Date.now()));
      const batch = (await reader.readMany(256, { signal: ac })) as Event[];
      seen = batch.find((e) => e.argv.includes(marker));
    }
    expect(seen).toBeDefined();
    expect(seen!.comm).toBe('echo');
    expect(seen!.filename).toBe('/bin/echo');
    expect(seen!.argc).toBe(2);
    expect(seen!.argv.slice(0, 2)).toEqual(['/bin/echo', marker]);
    expect(seen!.retval).toBe(0);
    expect(seen!.pid).toBe(child.pid);
  });
});
