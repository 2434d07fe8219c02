// tracefs without a kernel: mount discovery from mountinfo text, name validation, event ids,
// listing and `format` parsing against fixture files copied from a 6.18 kernel's tracefs.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ArgumentError } from '../../src/errors.js';
import { attachPlan } from '../../src/link/auto.js';
import { parseTraceLine } from '../../src/link/trace-pipe.js';
import {
  listTracepoints,
  parseTraceEventFormat,
  setTracefsPath,
  tracefsMountsFromMountinfo,
  tracefsPath,
  tracepointFormat,
  tracepointId,
  TracepointNotFoundError,
  validateTracefsName,
} from '../../src/internal/tracefs.js';

const fixture = (name: string): string => readFileSync(join(__dirname, 'fixtures', name), 'utf8');

describe('tracefs format files', () => {
  it('parses sys_enter_openat: common header, pointer and int fields', () => {
    const fmt = parseTraceEventFormat(fixture('link-format-sys_enter_openat.txt'));
    expect(fmt.name).toBe('sys_enter_openat');
    expect(fmt.id).toBeGreaterThan(0);
    const byName = Object.fromEntries(fmt.fields.map((f) => [f.name, f]));
    expect(fmt.fields.map((f) => f.name)).toEqual([
      'common_type',
      'common_flags',
      'common_preempt_count',
      'common_pid',
      '__syscall_nr',
      'dfd',
      'filename',
      'flags',
      'mode',
    ]);
    expect(byName.common_type).toEqual({ name: 'common_type', type: 'unsigned short', offset: 0, size: 2, signed: false, common: true });
    expect(byName.common_pid).toMatchObject({ type: 'int', offset: 4, size: 4, signed: true, common: true });
    expect(byName.__syscall_nr).toMatchObject({ type: 'int', offset: 8, size: 4, signed: true, common: false });
    expect(byName.filename).toMatchObject({ type: 'const char *', offset: 24, size: 8, signed: false });
    expect(fmt.printFormat).toMatch(/^"dfd: 0x%08lx, filename/);
  });

  it('parses arrays (char prev_comm[16]) and typedefs (pid_t) of sched_switch', () => {
    const fmt = parseTraceEventFormat(fixture('link-format-sched_switch.txt'));
    const byName = Object.fromEntries(fmt.fields.map((f) => [f.name, f]));
    expect(byName.prev_comm).toEqual({ name: 'prev_comm', type: 'char[16]', offset: 8, size: 16, signed: false, common: false });
    expect(byName.prev_pid).toMatchObject({ type: 'pid_t', offset: 24, size: 4, signed: true });
    expect(byName.prev_state).toMatchObject({ type: 'long', offset: 32, size: 8, signed: true });
    expect(byName.next_prio).toMatchObject({ offset: 60, size: 4 });
  });

  it('parses __data_loc strings of sched_process_exec', () => {
    const fmt = parseTraceEventFormat(fixture('link-format-sched_process_exec.txt'));
    expect(fmt.fields.find((f) => f.name === 'filename')).toEqual({
      name: 'filename',
      type: '__data_loc char[]',
      offset: 8,
      size: 4,
      signed: false,
      common: false,
    });
  });

  it('rejects text that is not a format file', () => {
    expect(() => parseTraceEventFormat('hello\nworld')).toThrow(/no "ID:" line/);
  });
});

describe('tracefs discovery', () => {
  it('finds tracefs mount points in mountinfo, decoding octal escapes', () => {
    const text = [
      '22 28 0:21 / /sys rw,nosuid shared:7 - sysfs sysfs rw',
      '40 22 0:12 / /sys/kernel/tracing rw,relatime shared:19 - tracefs tracefs rw',
      '41 22 0:13 / /mnt/my\\040trace rw - tracefs nodev rw',
      '42 22 0:14 / /sys/kernel/debug rw - debugfs debugfs rw',
    ].join('\n');
    expect(tracefsMountsFromMountinfo(text)).toEqual(['/sys/kernel/tracing', '/mnt/my trace']);
  });
});

describe('tracefs names', () => {
  it.each([
    ['syscalls'],
    ['sys_enter_openat'],
    ['do_execveat_common.isra.0'],
    ['ebpf_ts_123_4'],
  ])('accepts %j', (name) => {
    expect(() => validateTracefsName('name', name)).not.toThrow();
  });

  it.each([
    ['with space', /" "/],
    ['new\nline', /"\\n"/],
    ['tab\there', /"\\t"/],
    ['../events', /"\.\."/],
    ['a/b', /"\/"/],
    ['..', /"\.\."/],
    ['semi;colon', /";"/],
    ['p:x', /":"/],
    ['', /non-empty/],
    ['x'.repeat(256), /longer than 255/],
  ])('rejects %j', (name, message) => {
    expect(() => validateTracefsName('name', name)).toThrow(ArgumentError);
    expect(() => validateTracefsName('name', name)).toThrow(message);
  });
});

describe('tracefs events in a fake tracefs directory', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ebpf-ts-tracefs-'));
    mkdirSync(join(dir, 'events', 'syscalls', 'sys_enter_getppid'), { recursive: true });
    mkdirSync(join(dir, 'events', 'syscalls', 'sys_exit_getppid'), { recursive: true });
    writeFileSync(join(dir, 'events', 'syscalls', 'sys_enter_getppid', 'id'), '123\n');
    writeFileSync(join(dir, 'events', 'syscalls', 'sys_enter_getppid', 'format'), fixture('link-format-sys_enter_openat.txt'));
    writeFileSync(join(dir, 'trace'), '');
    writeFileSync(join(dir, 'available_events'), 'syscalls:sys_enter_getppid\nsyscalls:sys_exit_getppid\nsched:sched_switch\n');
    setTracefsPath(dir);
  });
  afterEach(() => {
    setTracefsPath(undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads event ids and lists events', () => {
    expect(tracefsPath()).toBe(dir);
    expect(tracepointId('syscalls', 'sys_enter_getppid')).toBe(123);
    expect(listTracepoints('syscalls')).toEqual([
      { group: 'syscalls', name: 'sys_enter_getppid' },
      { group: 'syscalls', name: 'sys_exit_getppid' },
    ]);
    expect(listTracepoints()).toHaveLength(3);
    expect(tracepointFormat('syscalls', 'sys_enter_getppid').fields.length).toBe(9);
  });

  it('a missing event names similar events', () => {
    const err = (() => {
      try {
        tracepointId('syscalls', 'sys_enter_getppidd');
      } catch (e) {
        return e as TracepointNotFoundError;
      }
    })();
    expect(err).toBeInstanceOf(TracepointNotFoundError);
    expect(err!.nearMatches).toEqual(['syscalls/sys_enter_getppid']);
    expect(err!.message).toMatch(/syscalls\/sys_enter_getppidd does not exist.*did you mean syscalls\/sys_enter_getppid/);
  });

  it('a misspelled event or group gets the close names, closest first', () => {
    const near = (group: string, name: string): readonly string[] => {
      try {
        tracepointId(group, name);
      } catch (e) {
        return (e as TracepointNotFoundError).nearMatches;
      }
      return [];
    };
    // A transposition and a dropped letter are typos within reach; the exit event is not.
    expect(near('syscalls', 'sys_enter_getpipd')).toEqual(['syscalls/sys_enter_getppid']);
    expect(near('syscalls', 'sys_enter_getpid')[0]).toBe('syscalls/sys_enter_getppid');
    expect(near('sycalls', 'sys_enter_getppid')).toEqual(['syscalls/sys_enter_getppid']);
    expect(near('syscalls', 'nothing_like_it')).toEqual([]);
  });

  it('validates names before building any path', () => {
    expect(() => tracepointId('..', 'x')).toThrow(ArgumentError);
    expect(() => tracepointId('syscalls', '../../../etc/passwd')).toThrow(ArgumentError);
    expect(() => tracepointFormat('syscalls/..', 'x')).toThrow(ArgumentError);
  });
});

describe('trace_pipe lines', () => {
  it('splits a bpf_trace_printk line', () => {
    expect(parseTraceLine('            node-4242    [001] d..31  1234.567890: bpf_trace_printk: hello world')).toEqual({
      raw: '            node-4242    [001] d..31  1234.567890: bpf_trace_printk: hello world',
      task: 'node',
      pid: 4242,
      cpu: 1,
      flags: 'd..31',
      timestamp: 1234.56789,
      event: 'bpf_trace_printk',
      message: 'hello world',
    });
  });

  it('keeps dashes in task names and accepts lines without the flags column and with a tgid column', () => {
    expect(parseTraceLine('  kworker/u8:2-run-77 [003] 99.000001: tracing_mark_write: x')).toMatchObject({
      task: 'kworker/u8:2-run',
      pid: 77,
      cpu: 3,
      flags: '',
      event: 'tracing_mark_write',
      message: 'x',
    });
    expect(parseTraceLine('  sh-5 (    5) [000] ....  1.5: bpf_trace_printk: y')).toMatchObject({ pid: 5, message: 'y' });
    expect(parseTraceLine('CPU:2 [LOST 10 EVENTS]')).toBeUndefined();
  });
});

describe('auto-attach section names', () => {
  it.each([
    ['tracepoint/syscalls/sys_enter_execve', undefined, { kind: 'tracepoint', target: 'syscalls/sys_enter_execve' }],
    ['?kprobe/do_sys_openat2', undefined, { kind: 'kprobe', target: 'do_sys_openat2' }],
    ['fentry.s/do_unlinkat', undefined, { kind: 'fentry', target: 'do_unlinkat' }],
    ['raw_tp', undefined, { kind: 'raw_tp', target: undefined }],
    ['kprobe/x', 'y', { kind: 'kprobe', target: 'y' }],
  ])('%s', (section, attachTo, plan) => {
    expect(attachPlan(section, attachTo)).toEqual(plan);
  });
});
