// The CLI's commands on loaded objects, against the running kernel (root): each test loads
// maps and programs with the library, pins some under its own bpffs directory, runs the
// command in-process and checks what it prints against what it loaded; where bpftool is
// installed, the same objects are compared with `bpftool -j …` in separate tests that skip
// (saying why) without it. Everything created is closed and unpinned again.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as asm from '../../src/asm/index.js';
import { Helper } from '../../src/asm/helper.js';
import { loadCollection } from '../../src/collection.js';
import { fdinfoNumber, ownFdinfo } from '../../src/internal/bpf-fdinfo.js';
import { attachTracepoint } from '../../src/link/tracepoint.js';
import { attachRawTracepoint } from '../../src/link/raw-tracepoint.js';
import { kernelVersion } from '../../src/sys/kernel-version.js';
import { BpfMap } from '../../src/map.js';
import { Program } from '../../src/prog.js';
import { MapType, ProgramType } from '../../src/types.js';
import { cli, cliJson } from '../helpers/cli.js';
import { findTool, missingToolReason } from '../helpers/tools.js';
import { ensureTracefs } from './link-helpers.js';

const skip = process.getuid?.() !== 0 ? 'needs root for bpf()' : '';
if (skip !== '') console.warn(`skipping CLI object tests: ${skip}`);
const bpftool = findTool('bpftool');
const objdump = findTool('objdump');
const tmp = mkdtempSync(join(tmpdir(), 'ebpf-ts-cli-objects-'));
const withBpftool = bpftool === undefined ? ` (skipped: ${missingToolReason('bpftool')})` : '';
const pinDir = `/sys/fs/bpf/ebpf-ts-cli-${process.pid}`;
const comm = readFileSync('/proc/self/comm', 'utf8').trim();
const esc = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** The PIDS cell lists this process (its comm may contain spaces: vitest names its workers). */
const holdsCell = `.*${esc(`${comm}(${process.pid})`)}.*`;

function tool(args: string[]): any {
  return JSON.parse(execFileSync(bpftool!, ['-j', ...args], { encoding: 'utf8' }));
}

/** A socket filter that looks a key up in `map`, so that the program uses the map. */
function lookupProgram(map: BpfMap, name: string): Program {
  return Program.load({
    name,
    type: ProgramType.SocketFilter,
    license: 'GPL',
    instructions: [
      asm.storeImm(asm.Size.W, asm.Register.R10, -4, 0),
      asm.mov64Reg(asm.Register.R2, asm.Register.R10),
      asm.alu64Imm(asm.ALUOp.Add, asm.Register.R2, -4),
      asm.loadMapPtr(asm.Register.R1, map.fd),
      asm.call(Helper.MapLookupElem),
      asm.mov64Imm(asm.Register.R0, 0),
      asm.exit(),
    ],
  });
}

/** The objects most tests look at: a hash map, a frozen array, a program using the hash map; the program and the hash pinned. */
function fixture(): { map: BpfMap; frozen: BpfMap; prog: Program; progPin: string; mapPin: string; [Symbol.dispose](): void } {
  const map = BpfMap.create({ name: 'cli_obj_map', type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 5 });
  const frozen = BpfMap.create({ name: 'cli_obj_frozen', type: MapType.Array, keySize: 4, valueSize: 4, maxEntries: 1 });
  frozen.freeze();
  const prog = lookupProgram(map, 'cli_obj_prog');
  const progPin = join(pinDir, 'prog');
  const mapPin = join(pinDir, 'map');
  prog.pin(progPin);
  map.pin(mapPin);
  return {
    map,
    frozen,
    prog,
    progPin,
    mapPin,
    [Symbol.dispose]() {
      rmSync(progPin, { force: true });
      rmSync(mapPin, { force: true });
      prog.close();
      map.close();
      frozen.close();
    },
  };
}

describe.skipIf(skip !== '')('CLI on loaded objects', () => {
  beforeAll(() => mkdirSync(pinDir, { recursive: true }));
  afterAll(() => {
    rmSync(pinDir, { recursive: true, force: true });
    rmSync(tmp, { recursive: true, force: true });
  });

  describe('prog show / map show', () => {
    it('prog show has the map ids, memlock, the pids holding the program and its pins', async () => {
      using f = fixture();
      const info = f.prog.info();
      const [p, ...others] = await cliJson<any[]>(['prog', 'show', String(info.id)]);
      expect(others).toEqual([]);
      expect(p).toMatchObject({ id: info.id, type: 'SOCKET_FILTER', name: 'cli_obj_prog', tag: info.tag, gplCompatible: true, uid: 0 });
      expect(p.mapIds).toEqual([f.map.info().id]);
      expect(p.memlockBytes).toBe(fdinfoNumber(ownFdinfo(f.prog.fd), 'memlock'));
      expect(p.memlockBytes).toBeGreaterThan(0);
      expect(p.pids).toContainEqual({ pid: process.pid, comm });
      expect(p.pinned).toEqual([f.progPin]);
      expect(Object.keys(p)).toEqual([
        'id', 'type', 'name', 'tag', 'gplCompatible', 'loadedAt', 'uid', 'xlatedBytes', 'jitedBytes', 'memlockBytes',
        'mapIds', 'btfId', 'verifiedInstructions', 'runCount', 'runTimeNs', 'pids', 'pinned',
      ]);

      const text = await cli(['prog', 'show', 'id', String(info.id)]);
      expect(text.stdout).toMatch(new RegExp(`^\\s*${info.id}\\s+SOCKET_FILTER\\s+cli_obj_prog\\s+${info.tag}\\s+yes\\s.*\\s${f.map.info().id}\\s+${holdsCell}\\s+${f.progPin}$`, 'm'));
    });

    it('picks programs by id, name, tag and pinned path, and says when none matches', async () => {
      using f = fixture();
      const { id, tag } = f.prog.info();
      for (const words of [[String(id)], ['id', String(id)], ['name', 'cli_obj_prog'], ['cli_obj_prog'], ['tag', tag], ['pinned', f.progPin], [f.progPin]]) {
        const list = await cliJson<{ id: number }[]>(['prog', 'show', ...words]);
        expect(list.map((x) => x.id), words.join(' ')).toEqual([id]);
      }
      const missing = await cli(['prog', 'show', 'name', 'cli_no_such_prog']);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toBe('ebpf-ts prog show: no program with name cli_no_such_prog\n');
      const wrongKind = await cli(['prog', 'show', f.mapPin]);
      expect(wrongKind.code).toBe(1);
      expect(wrongKind.stderr).toContain('is a map, not a program');
      const gone = await cli(['prog', 'show', 'id', '4294967295']);
      expect(gone.code).toBe(1);
      expect(gone.stderr).toBe('ebpf-ts prog show: no program with id 4294967295\n');
    });

    it('prog list is prog show, map list is map show', async () => {
      using f = fixture();
      const id = f.prog.info().id;
      expect(await cliJson(['prog', 'list', String(id)])).toEqual(await cliJson(['prog', 'show', String(id)]));
      const mapId = f.map.info().id;
      expect(await cliJson(['map', 'list', String(mapId)])).toEqual(await cliJson(['map', 'show', String(mapId)]));
    });

    it('map show has memlock, frozen, the pids and the pins', async () => {
      using f = fixture();
      const id = f.map.info().id;
      const [m] = await cliJson<any[]>(['map', 'show', 'id', String(id)]);
      expect(m).toMatchObject({ id, type: 'HASH', name: 'cli_obj_map', keySize: 4, valueSize: 8, maxEntries: 5, flags: 0, frozen: false });
      expect(m.memlockBytes).toBe(fdinfoNumber(ownFdinfo(f.map.fd), 'memlock'));
      expect(m.pids).toContainEqual({ pid: process.pid, comm });
      expect(m.pinned).toEqual([f.mapPin]);
      const [frozen] = await cliJson<any[]>(['map', 'show', 'name', 'cli_obj_frozen']);
      expect(frozen).toMatchObject({ id: f.frozen.info().id, frozen: true, pinned: [] });
      const text = await cli(['map', 'show', f.mapPin]);
      expect(text.stdout).toMatch(new RegExp(`^\\s*${id}\\s+HASH\\s+cli_obj_map\\s+4B\\s+8B\\s+5\\s+0\\s+\\d+\\s+-\\s+${holdsCell}\\s+${f.mapPin}$`, 'm'));
      expect((await cli(['map', 'show', String(f.frozen.info().id)])).stdout).toMatch(/\s0 frozen\s/);
    });

    it('a program loaded from an object shows its full name from BTF, not the 15 characters the kernel keeps', async () => {
      await using coll = await loadCollection('testdata/sockalloc.bpfel.o');
      const prog = coll.programs.sock_alloc_file_entry!;
      const info = prog.info();
      expect(info.name).toBe('sock_alloc_file');
      const [p] = await cliJson<any[]>(['prog', 'show', String(info.id)]);
      expect(p.name).toBe('sock_alloc_file_entry');
      expect(p.btfId).toBe(info.btfId);
      expect((await cliJson<any[]>(['prog', 'show', 'name', 'sock_alloc_file_entry'])).map((x) => x.id)).toContain(info.id);
    });

    // Our JSON key → bpftool's, and what bpftool's absence of the key means.
    const progKeys: [string, string, unknown][] = [
      ['id', 'id', undefined], ['name', 'name', undefined], ['tag', 'tag', undefined], ['gplCompatible', 'gpl_compatible', undefined],
      ['uid', 'uid', undefined], ['xlatedBytes', 'bytes_xlated', undefined], ['jitedBytes', 'bytes_jited', 0],
      ['memlockBytes', 'bytes_memlock', undefined], ['mapIds', 'map_ids', []], ['btfId', 'btf_id', 0], ['pinned', 'pinned', []],
    ];
    const mapKeys: [string, string, unknown][] = [
      ['id', 'id', undefined], ['name', 'name', undefined], ['flags', 'flags', undefined], ['keySize', 'bytes_key', undefined],
      ['valueSize', 'bytes_value', undefined], ['maxEntries', 'max_entries', undefined], ['memlockBytes', 'bytes_memlock', undefined],
      ['btfId', 'btf_id', 0],
    ];
    async function expectSameAsBpftool(kind: 'prog' | 'map', id: number, keys: [string, string, unknown][]): Promise<void> {
      const [ours] = await cliJson<any[]>([kind, 'show', String(id)]);
      const theirs = tool(['-f', kind, 'show', 'id', String(id)]);
      expect(ours.type.toLowerCase()).toBe(theirs.type);
      for (const [key, theirKey, absent] of keys) expect(ours[key], `${kind} ${id} ${key}`).toEqual(theirs[theirKey] ?? absent);
      if (kind === 'map') expect(ours.frozen).toBe(theirs.frozen === 1);
      // bpftool 7.1 leaves out pinned paths of maps, and only builds with its BPF skeleton report pids.
      for (const key of ['pinned', 'pids']) if (theirs[key] !== undefined) expect(ours[key]).toEqual(theirs[key]);
    }

    it.skipIf(bpftool === undefined)(`prog show and map show agree with bpftool -j -f${withBpftool}`, async () => {
      using f = fixture();
      await using coll = await loadCollection('testdata/sockalloc.bpfel.o');
      for (const prog of [f.prog, coll.programs.sock_alloc_file_entry!]) await expectSameAsBpftool('prog', prog.info().id, progKeys);
      for (const map of [f.map, f.frozen, coll.maps.events!]) await expectSameAsBpftool('map', map.info().id, mapKeys);
    });
  });

  describe('prog dump', () => {
    const hex = (parts: string[]): string => parts.join('');

    it('xlated names the map a program loads and the call it makes, and --out writes the kernel\'s bytes', async () => {
      using f = fixture();
      const info = f.prog.info();
      const mapId = f.map.info().id;
      const r = await cli(['prog', 'dump', 'xlated', String(info.id)]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.split('\n')[0]).toBe(`Translated instructions of program ${info.id} cli_obj_prog (SOCKET_FILTER, tag ${info.tag}):`);
      expect(r.stdout).toMatch(new RegExp(`^\\s+3:\\t18 11 [0-9a-f ]+\\tr1 = map\\[id:${mapId} cli_obj_map\\]$`, 'm'));
      // The verifier replaced the lookup helper by the hash map's own function (or inlined it).
      expect(r.stdout).toMatch(/\tcall (bpf_map_lookup_elem|\w*htab_map_lookup_elem)$/m);
      expect(r.stdout).not.toContain('ld_pseudo');
      const j = await cliJson<any>(['prog', 'dump', 'xlated', 'name', 'cli_obj_prog']);
      expect(j).toMatchObject({ id: info.id, name: 'cli_obj_prog', type: 'SOCKET_FILTER', tag: info.tag });
      expect(hex(j.instructions.map((i: { bytes: string }) => i.bytes)).length / 2).toBe(info.xlatedLength);
      const file = join(tmp, 'xlated.bin');
      const out = await cli(['prog', 'dump', 'xlated', f.progPin, '--out', file]);
      expect(out.stdout).toBe(`wrote ${info.xlatedLength} bytes of translated instructions of program ${info.id} cli_obj_prog (SOCKET_FILTER, tag ${info.tag}) to ${file}\n`);
      expect(readFileSync(file).toString('hex')).toBe(hex(j.instructions.map((i: { bytes: string }) => i.bytes)));
    });

    it('xlated of an object with BTF has function names, source lines, helper names, map names, BPF-to-BPF and tail calls', async () => {
      await using coll = await loadCollection('testdata/elf_patterns.bpfel.o');
      const onEnter = coll.programs.on_enter!.info();
      const r = await cli(['prog', 'dump', 'xlated', '--no-raw', String(onEnter.id)]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^0000000000000000 <on_enter>:\n; int on_enter\(struct sys_enter_args \*ctx\)\n\s+0:\tr6 = r1$/m);
      expect(r.stdout).toMatch(/^; __u64 pid_tgid = bpf_get_current_pid_tgid\(\);\n\s+1:\tcall bpf_get_current_pid_tgid$/m);
      expect(r.stdout).toMatch(/^\s+\d+:\tcall wanted$/m);
      expect(r.stdout).toMatch(/^[0-9a-f]{16} <wanted>:$/m);
      expect(r.stdout).toMatch(new RegExp(`= map\\[id:${coll.maps.inflight!.info().id} inflight\\]$`, 'm'));
      expect(r.stdout).toMatch(new RegExp(`= map\\[id:${coll.maps['.bss']!.info().id} \\.bss\\] \\+ 0$`, 'm'));
      const classify = await cli(['prog', 'dump', 'xlated', '--no-raw', '--no-source', String(coll.programs.classify!.info().id)]);
      expect(classify.stdout).toMatch(new RegExp(`r2 = map\\[id:${coll.maps.tails!.info().id} tails\\]\\n\\s+2:\\tr3 = 0\\n\\s+3:\\tcall bpf_tail_call\\n`));
      expect(classify.stdout).not.toMatch(/^; /m);
    });

    it('jited prints each function with its source lines, the same bytes as --out, as instructions where objdump is installed', async () => {
      await using coll = await loadCollection('testdata/elf_patterns.bpfel.o');
      const info = coll.programs.on_enter!.info();
      expect(info.jitedLength).toBeGreaterThan(0);
      const j = await cliJson<any>(['prog', 'dump', 'jited', String(info.id)]);
      expect(j.functions.map((f: { name: string }) => f.name)).toEqual(['on_enter', 'wanted']);
      const all = hex(j.functions.map((f: { bytes: string }) => f.bytes));
      expect(all.length / 2).toBe(info.jitedLength);
      for (const f of j.functions) expect(f.address).toMatch(/^0xffff[0-9a-f]{12}$/);
      expect(j.functions[0].lines.map((l: { text: string }) => l.text)).toContain('__u64 pid_tgid = bpf_get_current_pid_tgid();');
      const file = join(tmp, 'jited.bin');
      expect((await cli(['prog', 'dump', 'jited', String(info.id), '--out', file])).code).toBe(0);
      expect(readFileSync(file).toString('hex')).toBe(all);
      const plain = await cli(['prog', 'dump', 'jited', '--no-objdump', String(info.id)]);
      expect(plain.stdout.split('\n')[0]).toMatch(/machine code in hex\):$/);
      expect(plain.stdout).toMatch(/^[0-9a-f]{16} <on_enter>:\n; int on_enter\(struct sys_enter_args \*ctx\)\n\s+0:\t([0-9a-f]{2} ){0,15}[0-9a-f]{2}$/m);
      if (objdump === undefined) {
        expect(j.functions[0].instructions).toBeNull();
        return;
      }
      for (const f of j.functions) expect(hex(f.instructions.map((i: { bytes: string }) => i.bytes))).toBe(f.bytes);
      const text = await cli(['prog', 'dump', 'jited', String(info.id)]);
      expect(text.stdout.split('\n')[0]).toMatch(/disassembled by objdump\):$/);
      // The helper call's target is named from kallsyms.
      expect(text.stdout).toMatch(/\tcall +0xffff[0-9a-f]+ <bpf_get_current_pid_tgid>$/m);
    });

    it('says why there is nothing to dump', async () => {
      const r = await cli(['prog', 'dump', 'xlated', 'name', 'cli_no_such_prog']);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe('ebpf-ts prog dump xlated: no program with name cli_no_such_prog\n');
      const usage = await cli(['prog', 'dump', 'jited']);
      expect(usage.code).toBe(2);
    });

    it.skipIf(bpftool === undefined)(`xlated agrees with bpftool prog dump xlated (bytes, calls, maps, source lines)${withBpftool}`, async () => {
      await using coll = await loadCollection('testdata/elf_patterns.bpfel.o');
      for (const prog of [coll.programs.on_enter!, coll.programs.on_exit!, coll.programs.classify!]) {
        const id = String(prog.info().id);
        const ours = join(tmp, 'ours.bin');
        const theirs = join(tmp, 'theirs.bin');
        await cli(['prog', 'dump', 'xlated', id, '--out', ours]);
        execFileSync(bpftool!, ['prog', 'dump', 'xlated', 'id', id, 'file', theirs]);
        expect(readFileSync(ours)).toEqual(readFileSync(theirs));
        const mine = (await cliJson<any>(['prog', 'dump', 'xlated', id])).instructions as { text: string; source: { text: string } | null }[];
        const bp = tool(['prog', 'dump', 'xlated', 'id', id]) as { disasm: string; src?: string }[];
        expect(mine.length).toBe(bp.length);
        // bpftool: "(85) call bpf_ktime_get_ns#282304", "(85) call pc+21#bpf_prog_<tag>_wanted", "(18) r1 = map[id:7]".
        // A BPF-to-BPF call names the callee's kernel symbol, bpf_prog_<tag>_<name>, after the '#'.
        const calls = (texts: string[]): string[] =>
          texts.flatMap((t) => {
            const m = /call (?:pc[+-]\d+#bpf_prog_[0-9a-f]{16}_)?([^\s#]+)/.exec(t);
            return m === null ? [] : [m[1]!];
          });
        expect(calls(mine.map((i) => i.text))).toEqual(calls(bp.map((i) => i.disasm)));
        const maps = (texts: string[]): string[] => texts.flatMap((t) => /map\[id:(\d+)/.exec(t)?.[1] ?? []);
        expect(maps(mine.map((i) => i.text))).toEqual(maps(bp.map((i) => i.disasm)));
        expect(mine.map((i) => i.source?.text ?? null)).toEqual(bp.map((i) => (i.src === undefined ? null : i.src.trim())));
      }
    });
  });

  describe('map dump / lookup / update / delete', () => {
    const hexOf = (bytes: Uint8Array | undefined): string | undefined => (bytes === undefined ? undefined : Buffer.from(bytes).toString('hex'));

    it('without BTF, keys and values are bytes in and hex out; flags and missing keys are errors', async () => {
      using f = fixture();
      const id = String(f.map.info().id);
      expect((await cli(['map', 'dump', id])).stdout).toBe('Found 0 elements\n');
      const up = await cli(['map', 'update', id, 'key', '0x01', '0', '0', '0', 'value', 'hex', '2a00000000000000']);
      expect(up.code, up.stderr).toBe(0);
      expect(up.stdout).toBe(`updated key 01 00 00 00 of map ${id} (cli_obj_map, HASH)\n`);
      expect(hexOf(f.map.lookup(Uint8Array.from([1, 0, 0, 0])))).toBe('2a00000000000000');
      expect((await cli(['map', 'lookup', 'name', 'cli_obj_map', 'key', 'hex', '01000000'])).stdout).toBe('key: 01 00 00 00  value: 2a 00 00 00 00 00 00 00\n');
      expect(await cliJson(['map', 'dump', f.mapPin])).toEqual([{ key: '01000000', value: '2a00000000000000' }]);
      const again = await cli(['map', 'update', id, 'key', '1', '0', '0', '0', 'value', '0', '0', '0', '0', '0', '0', '0', '0', 'noexist']);
      expect(again.code).toBe(1);
      expect(again.stderr).toMatch(/EEXIST/);
      const del = await cli(['map', 'delete', id, 'key', '1', '0', '0', '0']);
      expect(del.stdout).toBe(`deleted key 01 00 00 00 of map ${id} (cli_obj_map, HASH)\n`);
      expect(f.map.lookup(Uint8Array.from([1, 0, 0, 0]))).toBeUndefined();
      const missing = await cli(['map', 'lookup', id, 'key', '1', '0', '0', '0']);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toBe(`ebpf-ts map lookup: key 01 00 00 00 is not in map ${id} (cli_obj_map, HASH)\n`);
      const json1 = await cli(['map', 'update', id, 'key', '1', 'value', '2']);
      expect(json1.code).toBe(2);
      expect(json1.stderr).toContain('the map has no BTF for a JSON value');
    });

    it('with BTF, keys and values are JSON in and out, exact beyond 2^53', async () => {
      await using coll = await loadCollection('testdata/elf_patterns.bpfel.o');
      const inflight = coll.maps.inflight!;
      const id = String(inflight.info().id);
      const up = await cli(['map', 'update', id, 'key', '7', 'value', '{"ts": 18446744073709551615, "id": 3}']);
      expect(up.code, up.stderr).toBe(0);
      const key = Uint8Array.from([7, 0, 0, 0, 0, 0, 0, 0]);
      expect(hexOf(inflight.lookup(key))).toBe('ffffffffffffffff' + '0300000000000000');
      expect((await cli(['map', 'lookup', id, 'key', '7'])).stdout).toBe('key: 7  value: {"ts": 18446744073709551615, "id": 3}\n');
      inflight.update(Uint8Array.from([8, 0, 0, 0, 0, 0, 0, 0]), Uint8Array.from([1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0]));
      const dump = await cliJson<any[]>(['map', 'dump', id]);
      expect(dump.map((e) => e.formatted).sort((a, b) => Number(a.key) - Number(b.key))).toEqual([
        { key: '7', value: { ts: '18446744073709551615', id: '3' } },
        { key: '8', value: { ts: '1', id: '2' } },
      ]);
      const text = await cli(['map', 'dump', id]);
      expect(text.stdout).toMatch(/^key: 8 {2}value: \{"ts": 1, "id": 2\}$/m);
      expect(text.stdout).toMatch(/^Found 2 elements$/m);
      // Global data: the value is the section's DATASEC, keys have no type.
      const bss = await cliJson<any[]>(['map', 'dump', String(coll.maps['.bss']!.info().id)]);
      expect(bss).toEqual([{ key: '00000000', value: '00'.repeat(24), formatted: { key: null, value: { enter_count: '0', exit_count: '0', dropped: '0' } } }]);
    });

    it('per-CPU maps get the value on every CPU and print one per CPU; fd arrays take and show the object', async () => {
      await using coll = await loadCollection('testdata/elf_patterns.bpfel.o');
      const scratch = coll.maps.scratch!;
      const id = String(scratch.info().id);
      expect((await cli(['map', 'update', id, 'key', '0', 'value', '{"pid_tgid": 5, "comm": "cli"}'])).code).toBe(0);
      const values = scratch.lookup(new Uint8Array(4)) as unknown as Uint8Array[];
      expect(values.length).toBeGreaterThan(0);
      for (const v of values) expect(hexOf(v)).toBe(hexOf(values[0]));
      const text = (await cli(['map', 'lookup', id, 'key', '0'])).stdout;
      expect(text.split('\n').filter((l) => /^ {2}cpu \d+: \{"pid_tgid": 5, .*"comm": "cli"/.test(l))).toHaveLength(values.length);

      const tails = coll.maps.tails!;
      const tail = coll.programs.classify_tail!.info().id;
      const up = await cli(['map', 'update', String(tails.info().id), 'key', '0', '0', '0', '0', 'value', 'id', String(tail)]);
      expect(up.code, up.stderr).toBe(0);
      const stored = Buffer.from(tails.lookup(new Uint8Array(4))!).readUInt32LE(0);
      expect(stored).toBe(tail);
      expect((await cliJson<any>(['map', 'lookup', String(tails.info().id), 'key', '0', '0', '0', '0'])).value).toBe(Buffer.from(tails.lookup(new Uint8Array(4))!).toString('hex'));

      // A perf event array holds fds the kernel does not hand back: each entry says so.
      const events = await cli(['map', 'dump', String(coll.maps.events!.info().id)]);
      expect(events.code).toBe(0);
      expect(events.stdout).toMatch(/^key: 00 00 00 00 {2}value: \(.*ENOTSUPP.*\)$/m);
    });

    it.skipIf(bpftool === undefined)(`map dump and lookup agree with bpftool, and see what bpftool wrote${withBpftool}`, async () => {
      await using coll = await loadCollection('testdata/elf_patterns.bpfel.o');
      const bytesOf = (words: string[]): string => words.map((w) => w.slice(2)).join('');
      const inflight = String(coll.maps.inflight!.info().id);
      execFileSync(bpftool!, ['map', 'update', 'id', inflight, 'key', '9', '0', '0', '0', '0', '0', '0', '0', 'value', ...'1 0 0 0 0 0 0 0 4 0 0 0 0 0 0 0'.split(' ')]);
      expect(await cli(['map', 'update', inflight, 'key', '10', 'value', '{"ts": 5, "id": 6}'])).toMatchObject({ code: 0 });
      for (const map of [coll.maps.inflight!, coll.maps.scratch!, coll.maps['.rodata']!]) {
        const id = String(map.info().id);
        const ours = await cliJson<any[]>(['map', 'dump', id]);
        const theirs = tool(['map', 'dump', 'id', id]) as any[];
        expect(ours.map((e) => e.key).sort()).toEqual(theirs.map((e) => bytesOf(e.key)).sort());
        for (const t of theirs) {
          const o = ours.find((e) => e.key === bytesOf(t.key));
          if (t.values !== undefined) expect(o.value).toEqual(t.values.map((v: { value: string[] }) => bytesOf(v.value)));
          else expect(o.value).toBe(bytesOf(t.value));
        }
      }
      const mine = await cliJson<any>(['map', 'lookup', inflight, 'key', '9']);
      const theirs = tool(['map', 'lookup', 'id', inflight, 'key', '9', '0', '0', '0', '0', '0', '0', '0']);
      expect(mine.value).toBe(bytesOf(theirs.value));
      expect(JSON.parse(JSON.stringify(mine.formatted))).toEqual({ key: '9', value: { ts: '1', id: '4' } });
      expect(theirs.formatted).toEqual({ key: 9, value: { ts: 1, id: 4 } });
      const written = tool(['map', 'lookup', 'id', inflight, 'key', '10', '0', '0', '0', '0', '0', '0', '0']);
      expect(written.formatted).toEqual({ key: 10, value: { ts: 5, id: 6 } });
    });
  });

  describe('link list / btf list', () => {
    // The tracepoint link needs tracefs, which a fresh machine does not mount.
    beforeAll(ensureTracefs);
    const trivial = (type: ProgramType, name: string): Program =>
      Program.load({ name, type, license: 'GPL', instructions: [asm.mov64Imm(asm.Register.R0, 0), asm.exit()] });

    it('link list shows a raw tracepoint link and a tracepoint perf link with their programs, holders and pins', async () => {
      using rawProg = trivial(ProgramType.RawTracepoint, 'cli_link_rawtp');
      using tpProg = trivial(ProgramType.Tracepoint, 'cli_link_tp');
      using raw = attachRawTracepoint(rawProg, 'sys_enter');
      using tp = attachTracepoint(tpProg, 'syscalls', 'sys_enter_getppid');
      const pin = join(pinDir, 'link');
      raw.pin(pin);
      try {
        const rawId = raw.info().id;
        const links = await cliJson<any[]>(['link', 'list']);
        const r = links.find((l) => l.id === rawId);
        expect(r).toMatchObject({ type: 'RAW_TRACEPOINT', progId: rawProg.info().id, progName: 'cli_link_rawtp', progType: 'RAW_TRACEPOINT', attached: 'raw tracepoint sys_enter', details: { rawTracepointName: 'sys_enter' }, pinned: [pin] });
        expect(r.pids).toContainEqual({ pid: process.pid, comm });
        expect(Object.keys(r)).toEqual(['id', 'type', 'progId', 'progName', 'progType', 'attached', 'details', 'pids', 'pinned']);
        // Before 5.15 a tracepoint program is attached by ioctl, with no link to list.
        if (tp.mode !== 'perf-ioctl') {
          const t = links.find((l) => l.id === tp.info().id);
          expect(t).toMatchObject({ type: 'PERF_EVENT', progId: tpProg.info().id, progType: 'TRACEPOINT' });
          // Linux 6.6 reports what a perf event link is attached to.
          if (kernelVersion().atLeast('6.6')) expect(t.attached).toBe('tracepoint sys_enter_getppid');
        }
        const text = await cli(['link', 'show', String(rawId)]);
        expect(text.stdout).toMatch(new RegExp(`^\\s*${rawId}\\s+RAW_TRACEPOINT\\s+${rawProg.info().id}\\s+cli_link_rawtp\\s+RAW_TRACEPOINT\\s+raw tracepoint sys_enter\\s+${holdsCell}\\s+${pin}$`, 'm'));
        expect(text.stdout.trim().split('\n')).toHaveLength(2);
        const missing = await cli(['link', 'list', '4294967295']);
        expect(missing).toMatchObject({ code: 1, stderr: 'ebpf-ts link list: no link with id 4294967295\n' });
      } finally {
        rmSync(pin, { force: true });
      }
    });

    it('btf list has vmlinux and the BTF of a loaded object with the programs and maps using it', async () => {
      await using coll = await loadCollection('testdata/sockalloc.bpfel.o');
      const prog = coll.programs.sock_alloc_file_entry!.info();
      const list = await cliJson<any[]>(['btf', 'list']);
      const own = list.find((b) => b.id === prog.btfId);
      expect(own).toMatchObject({ name: '', kernel: false, progIds: [prog.id], mapIds: [coll.maps['.bss']!.info().id] });
      expect(own.size).toBeGreaterThan(0);
      // Kernel BTF is listed with its name from 5.11 (bpf_btf_info.name, .kernel_btf); before,
      // vmlinux BTF has no id to list.
      const namedKernelBTF = kernelVersion().atLeast('5.11');
      if (namedKernelBTF) expect(list.find((b) => b.name === 'vmlinux')).toMatchObject({ kernel: true, progIds: [], mapIds: [] });
      const text = await cli(['btf', 'show']);
      expect(text.stdout).toMatch(new RegExp(`^\\s*${prog.btfId}\\s+-\\s+${own.size}B\\s+no\\s+${prog.id}\\s+${coll.maps['.bss']!.info().id}\\s`, 'm'));
      if (namedKernelBTF) expect(text.stdout).toMatch(/^\s*\d+\s+vmlinux\s+\d+B\s+yes\s+-\s+-\s/m);
      // The loaded BTF, read back from the kernel: the object's types.
      const dump = await cli(['btf', 'dump', 'id', String(prog.btfId)]);
      expect(dump.code, dump.stderr).toBe(0);
      expect(dump.stdout).toMatch(/^\[\d+\] STRUCT 'event' size=24 vlen=4$/m);
      expect(dump.stdout).toMatch(/^\[\d+\] FUNC 'sock_alloc_file_entry' type_id=\d+ linkage=global$/m);
    });

    it.skipIf(bpftool === undefined)(`link list and btf list agree with bpftool link show / btf show${withBpftool}`, async () => {
      using rawProg = trivial(ProgramType.RawTracepoint, 'cli_link_rawtp');
      using raw = attachRawTracepoint(rawProg, 'sys_enter');
      const id = raw.info().id;
      const [ours] = (await cliJson<any[]>(['link', 'list', String(id)]));
      const theirs = tool(['link', 'show', 'id', String(id)]);
      expect({ id: ours.id, type: ours.type.toLowerCase(), prog: ours.progId, tp: ours.details.rawTracepointName }).toEqual({ id: theirs.id, type: theirs.type, prog: theirs.prog_id, tp: theirs.tp_name });
      if (theirs.pids !== undefined) expect(ours.pids).toEqual(theirs.pids);

      await using coll = await loadCollection('testdata/sockalloc.bpfel.o');
      // vmlinux BTF has an id (1) from 5.11 on.
      const btfIds = [...(kernelVersion().atLeast('5.11') ? [1] : []), coll.programs.sock_alloc_file_entry!.info().btfId!];
      const list = await cliJson<any[]>(['btf', 'list']);
      for (const btfId of btfIds) {
        const o = list.find((b) => b.id === btfId);
        const t = tool(['btf', 'show', 'id', String(btfId)]);
        expect({ size: o.size, kernel: o.kernel, name: o.name, progIds: [...o.progIds].sort(), mapIds: [...o.mapIds].sort() }).toEqual({
          size: t.size,
          kernel: t.kernel,
          name: t.name ?? '',
          progIds: [...t.prog_ids].sort(),
          mapIds: [...t.map_ids].sort(),
        });
      }
      const own = String(btfIds.at(-1));
      expect((await cli(['btf', 'dump', 'id', own])).stdout).toBe(execFileSync(bpftool!, ['btf', 'dump', 'id', own], { encoding: 'utf8' }));
    });
  });
});
