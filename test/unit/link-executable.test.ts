// The user-space ELF reader behind uprobes (src/link/executable.ts), without a kernel: its
// symbol tables are compared with what binutils says about the fixtures (readelf.txt, recorded
// by testdata/uprobe/build.sh), name lookup (versions, IFUNCs, weak and local symbols, stripped
// binaries, near matches), the search for a binary by name, the per-file cache, and malformed
// input (truncations and seeded byte mutations) that must end in a BpfError, never a crash.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArgumentError, BpfError, ParseError, SymbolNotFoundError } from '../../src/errors.js';
import { Executable, type ExecutableSymbol, resolveBinary } from '../../src/link/executable.js';
import { caught } from './helpers/perf-fake.js';

const fixtures = realpathSync(join(import.meta.dirname, '../../testdata/uprobe'));
const fixture = (name: string): string => join(fixtures, name);
const FILES = ['target', 'libfixture.so', 'libfixture-stripped.so'] as const;

// ---- readelf.txt: the ground truth ----------------------------------------------------------

interface ReadelfSymbol {
  readonly table: '.symtab' | '.dynsym';
  readonly value: bigint;
  readonly size: bigint;
  readonly type: string;
  readonly bind: string;
  readonly ndx: string;
  /** The name as readelf prints it, `name@VER`/`name@@VER` included, without ` (n)`. */
  readonly rawName: string;
}

interface ReadelfLoad {
  readonly offset: bigint;
  readonly vaddr: bigint;
  readonly filesz: bigint;
}

interface ReadelfFile {
  readonly elfType: string;
  /** The entry counts the "Symbol table '…' contains N entries" headers declare. */
  readonly declared: Map<string, number>;
  readonly loads: ReadelfLoad[];
  readonly symbols: ReadelfSymbol[];
}

function parseReadelf(text: string): Map<string, ReadelfFile> {
  const files = new Map<string, ReadelfFile>();
  let current: ReadelfFile | undefined;
  let table: '.symtab' | '.dynsym' | undefined;
  for (const line of text.split('\n')) {
    let m: RegExpExecArray | null;
    if ((m = /^== (\S+)$/.exec(line)) !== null) {
      current = { elfType: '', declared: new Map(), loads: [], symbols: [] };
      files.set(m[1]!, current);
      table = undefined;
    } else if (current === undefined) {
      continue;
    } else if ((m = /^Elf file type is (\w+)/.exec(line)) !== null) {
      (current as { elfType: string }).elfType = m[1]!;
    } else if ((m = /^\s+LOAD\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+0x[0-9a-f]+\s+(0x[0-9a-f]+)\s/.exec(line)) !== null) {
      current.loads.push({ offset: BigInt(m[1]!), vaddr: BigInt(m[2]!), filesz: BigInt(m[3]!) });
    } else if ((m = /^Symbol table '(\.symtab|\.dynsym)' contains (\d+) entries:$/.exec(line)) !== null) {
      table = m[1] as '.symtab' | '.dynsym';
      current.declared.set(table, Number(m[2]));
    } else if (table !== undefined && (m = /^\s*\d+: ([0-9a-f]+)\s+(0x[0-9a-f]+|\d+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+) ?(.*)$/.exec(line)) !== null) {
      current.symbols.push({
        table,
        value: BigInt(`0x${m[1]}`),
        size: BigInt(m[2]!),
        type: m[3]!,
        bind: m[4]!,
        ndx: m[6]!,
        rawName: m[7]!.replace(/ \(\d+\)$/, ''),
      });
    }
  }
  return files;
}

const readelf = parseReadelf(readFileSync(fixture('readelf.txt'), 'utf8'));
const BIND: Record<string, number> = { LOCAL: 0, GLOBAL: 1, WEAK: 2 };

/** The covering PT_LOAD segment (its file bytes), as the kernel would map the address. */
function loadFor(file: ReadelfFile, address: bigint): ReadelfLoad | undefined {
  return file.loads.find((l) => address >= l.vaddr && address < l.vaddr + l.filesz);
}

/** What Executable.symbols() must hold for one readelf symbol line, or undefined when it must be absent. */
function expectedSymbol(file: ReadelfFile, s: ReadelfSymbol): ExecutableSymbol | undefined {
  if (s.type !== 'FUNC' && s.type !== 'IFUNC' && s.type !== 'OBJECT') return undefined;
  // Undefined (imports), absolute (version-definition symbols) and common symbols have no bytes here.
  if (s.ndx === 'UND' || s.ndx === 'ABS' || s.ndx === 'COM' || s.value === 0n) return undefined;
  // .bss objects lie beyond p_filesz: no file offset exists for them.
  const load = loadFor(file, s.value);
  if (load === undefined) return undefined;
  const at = s.rawName.indexOf('@');
  const name = at > 0 ? s.rawName.slice(0, at) : s.rawName;
  const defaultVersion = at <= 0 || s.rawName[at + 1] === '@';
  const version = at > 0 ? s.rawName.slice(defaultVersion ? at + 2 : at + 1) : undefined;
  return {
    name,
    kind: s.type === 'OBJECT' ? 'variable' : 'function',
    version,
    defaultVersion,
    address: s.value,
    size: s.size,
    offset: s.value - load.vaddr + load.offset,
    bind: BIND[s.bind]!,
    ifunc: s.type === 'IFUNC',
    table: s.table,
  };
}

const key = (s: ExecutableSymbol): string =>
  [s.table, s.name, s.version ?? '-', s.defaultVersion, s.kind, s.ifunc, s.bind, `0x${s.address.toString(16)}`, s.size, `0x${s.offset.toString(16)}`].join(' ');

/** The readelf line of `name` (raw, versions included) in `table` of `file`. */
function readelfSymbol(file: string, rawName: string, table: '.symtab' | '.dynsym' = '.symtab'): ReadelfSymbol {
  const found = readelf.get(file)!.symbols.filter((s) => s.rawName === rawName && s.table === table);
  expect(found, `${file} ${table} ${rawName}`).toHaveLength(1);
  return found[0]!;
}

function fileOffset(file: string, address: bigint): bigint {
  const load = loadFor(readelf.get(file)!, address)!;
  return address - load.vaddr + load.offset;
}

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'ebpf-ts-executable-'));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

describe('symbols() agrees with readelf', () => {
  it('readelf.txt lists the three fixtures with both tables (the parser above works)', () => {
    expect([...readelf.keys()]).toEqual([...FILES]);
    for (const f of FILES) {
      const file = readelf.get(f)!;
      expect(file.loads.length, f).toBeGreaterThanOrEqual(2);
      // Every symbol line was understood: as many as each header announces.
      for (const table of ['.symtab', '.dynsym']) expect(file.symbols.filter((s) => s.table === table).length, `${f} ${table}`).toBe(file.declared.get(table) ?? 0);
    }
    expect([...readelf.get('target')!.declared.keys()].sort()).toEqual(['.dynsym', '.symtab']);
    expect([...readelf.get('libfixture-stripped.so')!.declared.keys()]).toEqual(['.dynsym']);
  });

  it.each(FILES)('%s: every defined FUNC/IFUNC/OBJECT with file bytes, nothing else', (name) => {
    const file = readelf.get(name)!;
    const exe = Executable.open(fixture(name));
    expect(exe.path).toBe(fixture(name));
    expect(exe.elfType).toBe(file.elfType === 'EXEC' ? 2 : 3);
    const expected = file.symbols.flatMap((s) => expectedSymbol(file, s) ?? []);
    expect(expected.length).toBeGreaterThan(5);
    expect(exe.symbols().map(key).sort()).toEqual(expected.map(key).sort());
    for (const s of exe.symbols()) expect(Object.keys(s).sort()).toEqual(Object.keys(expected[0]!).sort());
  });

  it('the filters above are not vacuous: .bss objects, imports and version symbols exist and are left out', () => {
    const target = readelf.get('target')!;
    // completed.0 and stdout@GLIBC_<n> are .bss objects past p_filesz of the RW segment.
    for (const raw of ['completed.0', 'stdout@']) {
      const s = target.symbols.find((x) => (x.rawName === raw || (raw.endsWith('@') && x.rawName.startsWith(raw))) && x.table === '.symtab')!;
      expect(s?.type, raw).toBe('OBJECT');
      expect(loadFor(target, s.value)).toBeUndefined();
    }
    const names = new Set(Executable.open(fixture('target')).symbols().map((s) => s.name));
    expect(names.has('completed.0')).toBe(false);
    expect(names.has('stdout')).toBe(false);
    expect(names.has('printf')).toBe(false); // UND
    const lib = new Set(Executable.open(fixture('libfixture.so')).symbols().map((s) => s.name));
    expect(readelf.get('libfixture.so')!.symbols.some((s) => s.rawName === 'EBPF_TS_1' && s.ndx === 'ABS')).toBe(true);
    expect(lib.has('EBPF_TS_1')).toBe(false);
    expect(lib.has('EBPF_TS_2')).toBe(false);
  });

  it('the non-PIE executable is where segment translation matters', () => {
    const exe = Executable.open(fixture('target'));
    const add = exe.symbols().find((s) => s.name === 'ebpf_ts_uprobe_add')!;
    expect(add.offset).not.toBe(add.address);
    expect(add.address - add.offset).toBe(0x400000n);
    const sem = exe.symbols().find((s) => s.name === 'ebpf_ts_semaphore')!;
    // The RW segment is not at the same distance: translated through its own PT_LOAD.
    expect(sem.address - sem.offset).not.toBe(add.address - add.offset);
  });
});

describe('symbol(), symbolOffset(), variable(), variableOffset()', () => {
  const lib = (): Executable => Executable.open(fixture('libfixture.so'));
  const stripped = (): Executable => Executable.open(fixture('libfixture-stripped.so'));
  const target = (): Executable => Executable.open(fixture('target'));

  it('ebpf_ts_uprobe_add and ebpf_ts_semaphore in the non-PIE target', () => {
    const add = readelfSymbol('target', 'ebpf_ts_uprobe_add');
    const sym = target().symbol('ebpf_ts_uprobe_add');
    expect(sym.address).toBe(add.value);
    expect(sym.size).toBe(add.size);
    expect(sym.offset).toBe(fileOffset('target', add.value));
    expect(target().symbolOffset('ebpf_ts_uprobe_add')).toBe(fileOffset('target', add.value));
    const sem = readelfSymbol('target', 'ebpf_ts_semaphore');
    expect(target().variableOffset('ebpf_ts_semaphore')).toBe(fileOffset('target', sem.value));
    expect(target().variable('ebpf_ts_semaphore').size).toBe(2n);
    expect(target().symbolOffset('main')).toBe(fileOffset('target', readelfSymbol('target', 'main').value));
  });

  it('symbolOffset: an offset inside the function, at or past its end, negative', () => {
    const add = readelfSymbol('target', 'ebpf_ts_uprobe_add');
    const base = fileOffset('target', add.value);
    expect(target().symbolOffset('ebpf_ts_uprobe_add', 1)).toBe(base + 1n);
    expect(target().symbolOffset('ebpf_ts_uprobe_add', add.size - 1n)).toBe(base + add.size - 1n);
    expect(() => target().symbolOffset('ebpf_ts_uprobe_add', add.size)).toThrow(ArgumentError);
    expect(() => target().symbolOffset('ebpf_ts_uprobe_add', 0x1000n)).toThrow(/outside ebpf_ts_uprobe_add/);
    expect(() => target().symbolOffset('ebpf_ts_uprobe_add', -1)).toThrow(ArgumentError);
    expect(() => target().symbolOffset('ebpf_ts_uprobe_add', -1n)).toThrow(ArgumentError);
    // Not integers: an ArgumentError, not BigInt()'s RangeError.
    for (const bad of [1.5, Number.NaN, Number.POSITIVE_INFINITY]) expect(() => target().symbolOffset('ebpf_ts_uprobe_add', bad), String(bad)).toThrow(/must be an integer/);
    // A function of unknown size (st_size 0, like _init) takes any offset: nothing to check against.
    const init = readelfSymbol('target', '_init');
    expect(init.size).toBe(0n);
    expect(target().symbolOffset('_init', 0x10)).toBe(fileOffset('target', init.value) + 0x10n);
  });

  it('default version, @VER and @@VER for ebpf_ts_versioned', () => {
    const v1 = readelfSymbol('libfixture.so', 'ebpf_ts_versioned@EBPF_TS_1', '.dynsym');
    const v2 = readelfSymbol('libfixture.so', 'ebpf_ts_versioned@@EBPF_TS_2', '.dynsym');
    expect(v1.value).not.toBe(v2.value);
    for (const exe of [lib(), stripped()]) {
      const def = exe.symbol('ebpf_ts_versioned');
      expect(def.address).toBe(v2.value);
      expect(def.version).toBe('EBPF_TS_2');
      expect(def.defaultVersion).toBe(true);
      const old = exe.symbol('ebpf_ts_versioned@EBPF_TS_1');
      expect(old.address).toBe(v1.value);
      expect(old.version).toBe('EBPF_TS_1');
      expect(old.defaultVersion).toBe(false);
      expect(exe.symbol('ebpf_ts_versioned@@EBPF_TS_2').address).toBe(v2.value);
      expect(exe.symbolOffset('ebpf_ts_versioned@EBPF_TS_1')).toBe(fileOffset('libfixture.so', v1.value));
      // A version on an otherwise unversioned-looking name: .dynsym has ebpf_ts_plain@@EBPF_TS_1.
      expect(exe.symbol('ebpf_ts_plain@@EBPF_TS_1').address).toBe(readelfSymbol('libfixture.so', 'ebpf_ts_plain@@EBPF_TS_1', '.dynsym').value);
    }
  });

  it('an unknown version: SymbolNotFoundError listing the versions there are', () => {
    for (const exe of [lib(), stripped()]) {
      const err = caught(() => exe.symbol('ebpf_ts_versioned@EBPF_TS_3')) as SymbolNotFoundError;
      expect(err).toBeInstanceOf(SymbolNotFoundError);
      expect(err.symbol).toBe('ebpf_ts_versioned@EBPF_TS_3');
      expect([...err.nearMatches].sort()).toEqual(['ebpf_ts_versioned@@EBPF_TS_2', 'ebpf_ts_versioned@EBPF_TS_1']);
      expect(err.source).toBe(exe.path);
      expect(err.message).toContain('ebpf_ts_versioned@EBPF_TS_1');
    }
  });

  it('an IFUNC is refused: its symbol is the resolver', () => {
    const err = caught(() => lib().symbol('ebpf_ts_ifunc'));
    expect(err).toBeInstanceOf(ArgumentError);
    expect((err as Error).message).toMatch(/indirect function/);
    expect(() => stripped().symbolOffset('ebpf_ts_ifunc')).toThrow(/indirect function/);
    // The local resolver at the same address is a plain function.
    const resolver = readelfSymbol('libfixture.so', 'ebpf_ts_ifunc_resolver');
    expect(lib().symbol('ebpf_ts_ifunc_resolver').address).toBe(resolver.value);
    expect(resolver.value).toBe(readelfSymbol('libfixture.so', 'ebpf_ts_ifunc').value);
  });

  it('a weak function is found', () => {
    const weak = readelfSymbol('libfixture.so', 'ebpf_ts_weak');
    expect(weak.bind).toBe('WEAK');
    for (const exe of [lib(), stripped()]) {
      const s = exe.symbol('ebpf_ts_weak');
      expect(s.bind).toBe(2);
      expect(s.offset).toBe(fileOffset('libfixture.so', weak.value));
    }
  });

  it('two local functions of one name are ambiguous: both addresses named', () => {
    const locals = readelf.get('libfixture.so')!.symbols.filter((s) => s.rawName === 'ebpf_ts_local');
    expect(locals).toHaveLength(2);
    const err = caught(() => lib().symbol('ebpf_ts_local'));
    expect(err).toBeInstanceOf(ArgumentError);
    for (const s of locals) expect((err as Error).message).toContain(`0x${s.value.toString(16)}`);
    expect((err as Error).message).toMatch(/2 functions named ebpf_ts_local/);
  });

  it('stripped: a static function is not found, and the message says only .dynsym was searched', () => {
    const err = caught(() => stripped().symbol('ebpf_ts_local')) as SymbolNotFoundError;
    expect(err).toBeInstanceOf(SymbolNotFoundError);
    expect(err.message).toMatch(/only \.dynsym was searched/);
    expect(err.source).toBe(fixture('libfixture-stripped.so'));
    // The unstripped copy does not say so about a name that is really missing.
    expect((caught(() => lib().symbol('ebpf_ts_nowhere')) as Error).message).not.toMatch(/only \.dynsym/);
  });

  it('a misspelling: SymbolNotFoundError with the near match and the binary as source', () => {
    const err = caught(() => lib().symbol('ebpf_ts_plian')) as SymbolNotFoundError;
    expect(err).toBeInstanceOf(SymbolNotFoundError);
    expect(err.nearMatches[0]).toBe('ebpf_ts_plain');
    expect(err.source).toBe(fixture('libfixture.so'));
    expect(err.message).toContain(`symbol ebpf_ts_plian not found in ${fixture('libfixture.so')}`);
    expect(err.message).toContain('did you mean ebpf_ts_plain');
    // A prefix suggests the names it starts.
    const prefix = caught(() => lib().symbol('ebpf_ts_call')) as SymbolNotFoundError;
    expect([...prefix.nearMatches].sort()).toEqual(['ebpf_ts_call_local', 'ebpf_ts_call_local2']);
    const t = caught(() => target().symbol('ebpf_ts_uprobe_ad')) as SymbolNotFoundError;
    expect(t.nearMatches).toContain('ebpf_ts_uprobe_add');
  });

  it('functions and variables are separate kinds', () => {
    const counter = readelfSymbol('libfixture.so', 'ebpf_ts_counter');
    expect(lib().variableOffset('ebpf_ts_counter')).toBe(fileOffset('libfixture.so', counter.value));
    expect(stripped().variable('ebpf_ts_counter').version).toBe('EBPF_TS_1');
    expect(() => lib().symbol('ebpf_ts_counter')).toThrow(SymbolNotFoundError);
    expect(() => lib().symbol('ebpf_ts_counter')).toThrow(/ebpf_ts_counter is a variable there, not a function/);
    expect(() => lib().variable('ebpf_ts_plain')).toThrow(/ebpf_ts_plain is a function there, not a variable/);
    expect(() => lib().symbolOffset('ebpf_ts_counter', 1)).toThrow(SymbolNotFoundError);
    expect(() => lib().variable('ebpf_ts_plain')).toThrow(SymbolNotFoundError);
    expect(() => target().variableOffset('ebpf_ts_uprobe_add')).toThrow(SymbolNotFoundError);
    expect(() => target().symbolOffset('ebpf_ts_semaphore')).toThrow(SymbolNotFoundError);
  });

  it('an empty or non-string name is an ArgumentError', () => {
    expect(() => lib().symbol('')).toThrow(ArgumentError);
    expect(() => lib().variable(undefined as unknown as string)).toThrow(ArgumentError);
  });
});

describe('resolveBinary and Executable.open', () => {
  function withEnv<T>(name: string, value: string | undefined, f: () => T): T {
    const saved = process.env[name];
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
    try {
      return f();
    } finally {
      if (saved === undefined) delete process.env[name];
      else process.env[name] = saved;
    }
  }

  it('a path: absolute, relative, through a symlink (resolved symlink-free)', () => {
    expect(resolveBinary(fixture('target'))).toBe(fixture('target'));
    let rel = relative(process.cwd(), fixture('target'));
    if (!rel.includes('/')) rel = `./${rel}`;
    expect(resolveBinary(rel)).toBe(fixture('target'));
    expect(Executable.open(rel)).toBe(Executable.open(fixture('target')));
    const link = join(tmp, 'link-to-target');
    symlinkSync(fixture('target'), link);
    expect(resolveBinary(link)).toBe(fixture('target'));
    expect(Executable.open(link).path).toBe(fixture('target'));
  });

  it('a bare library name through LD_LIBRARY_PATH (first directory holding it wins)', () => {
    const empty = join(tmp, 'lib-empty');
    mkdirSync(empty);
    const before = process.env.LD_LIBRARY_PATH;
    const exe = withEnv('LD_LIBRARY_PATH', `${join(tmp, 'missing')}:${empty}:${fixtures}`, () => Executable.open('libfixture.so'));
    expect(process.env.LD_LIBRARY_PATH).toBe(before);
    expect(exe.path).toBe(fixture('libfixture.so'));
    const shadow = join(tmp, 'lib-shadow');
    mkdirSync(shadow);
    copyFileSync(fixture('libfixture-stripped.so'), join(shadow, 'libfixture.so'));
    const shadowed = withEnv('LD_LIBRARY_PATH', `${shadow}:${fixtures}`, () => resolveBinary('libfixture.so'));
    expect(shadowed).toBe(join(realpathSync(shadow), 'libfixture.so'));
  });

  it('a bare program name through PATH; directories of that name are skipped', () => {
    const a = join(tmp, 'path-a');
    const b = join(tmp, 'path-b');
    mkdirSync(join(a, 'sh'), { recursive: true }); // a directory called sh
    mkdirSync(b);
    symlinkSync(fixture('target'), join(b, 'sh'));
    expect(withEnv('PATH', `${join(tmp, 'missing')}:${a}:${b}`, () => resolveBinary('sh'))).toBe(fixture('target'));
    // And the real sh of this system, where PATH has one.
    const systemSh = (process.env.PATH ?? '').split(':').map((d) => join(d, 'sh')).find((p) => {
      try {
        return readFileSync(p).subarray(0, 4).toString('latin1') === '\x7fELF';
      } catch {
        return false;
      }
    });
    if (systemSh !== undefined) {
      expect(resolveBinary('sh')).toBe(realpathSync(systemSh));
      expect([2, 3]).toContain(Executable.open('sh').elfType);
    }
  });

  it('a missing name: ArgumentError naming what was searched', () => {
    const lib = caught(() => withEnv('LD_LIBRARY_PATH', tmp, () => resolveBinary('libebpf-ts-nowhere.so.1')));
    expect(lib).toBeInstanceOf(ArgumentError);
    expect((lib as Error).message).toMatch(/libebpf-ts-nowhere\.so\.1 not found \(searched LD_LIBRARY_PATH and .*\/usr\/lib/);
    const prog = caught(() => withEnv('PATH', tmp, () => Executable.open('ebpf-ts-nowhere')));
    expect(prog).toBeInstanceOf(ArgumentError);
    expect((prog as Error).message).toMatch(/ebpf-ts-nowhere not found \(searched PATH\)/);
    const path = caught(() => resolveBinary(join(tmp, 'nope', 'app')));
    expect(path).toBeInstanceOf(ArgumentError);
    expect((path as Error).message).toContain(join(tmp, 'nope', 'app'));
    expect(() => withEnv('PATH', undefined, () => resolveBinary('sh'))).toThrow(/searched PATH/);
    expect(() => resolveBinary('')).toThrow(ArgumentError);
    expect(() => resolveBinary('a\0b')).toThrow(/NUL/);
  });

  it('a directory is not a binary', () => {
    expect(() => resolveBinary(tmp)).toThrow(ArgumentError);
    expect(() => Executable.open(fixtures)).toThrow(ArgumentError);
  });

  it('cache: the same object until the file changes', () => {
    const copy = join(tmp, 'cached.so');
    copyFileSync(fixture('libfixture.so'), copy);
    const a = Executable.open(copy);
    expect(Executable.open(copy)).toBe(a);
    expect(a.symbols().some((s) => s.table === '.symtab')).toBe(true);
    // Rewritten with other contents: re-read.
    writeFileSync(copy, readFileSync(fixture('libfixture-stripped.so')));
    const b = Executable.open(copy);
    expect(b).not.toBe(a);
    expect(b.symbols().some((s) => s.table === '.symtab')).toBe(false);
    expect(Executable.open(copy)).toBe(b);
    // Same size, new modification time: re-read too.
    writeFileSync(copy, readFileSync(fixture('libfixture-stripped.so')));
    utimesSync(copy, new Date(2001, 1, 1), new Date(2001, 1, 1));
    const c = Executable.open(copy);
    expect(c).not.toBe(b);
    expect(c.symbols().map(key)).toEqual(b.symbols().map(key));
  });
});

describe('malformed input ends in a BpfError', () => {
  let counter = 0;
  /** Writes `bytes` to a fresh file and opens it: 'ok', or the BpfError; anything else fails. */
  function outcome(bytes: Uint8Array, what: string, exercise = false): 'ok' | BpfError {
    const path = join(tmp, `mutant-${counter++}`);
    writeFileSync(path, bytes);
    try {
      const exe = Executable.open(path);
      if (exercise) {
        exe.symbols();
        for (const name of ['ebpf_ts_plain', 'ebpf_ts_versioned', 'ebpf_ts_versioned@EBPF_TS_1', 'ebpf_ts_versioned@EBPF_TS_7', 'ebpf_ts_local', 'ebpf_ts_plian', 'x']) {
          try {
            exe.symbolOffset(name, 1);
          } catch (e) {
            if (!(e instanceof BpfError)) throw e;
          }
          try {
            exe.variableOffset(name);
          } catch (e) {
            if (!(e instanceof BpfError)) throw e;
          }
        }
      }
      return 'ok';
    } catch (e) {
      if (!(e instanceof BpfError)) throw new Error(`${what}: ${e instanceof Error ? `${e.constructor.name}: ${e.stack}` : String(e)}`);
      return e;
    } finally {
      rmSync(path, { force: true });
    }
  }

  function expectFailure(bytes: Uint8Array, what: string, type: typeof ArgumentError | typeof ParseError, message?: RegExp): BpfError {
    const r = outcome(bytes, what);
    expect(r, what).toBeInstanceOf(type);
    if (message !== undefined) expect((r as Error).message, what).toMatch(message);
    return r as BpfError;
  }

  const original = new Uint8Array(readFileSync(fixture('libfixture.so')));
  const view = new DataView(original.buffer, original.byteOffset, original.byteLength);
  // ELF64 little-endian (as built): header fields and section headers, to aim mutations.
  const phoff = Number(view.getBigUint64(0x20, true));
  const shoff = Number(view.getBigUint64(0x28, true));
  const phnum = view.getUint16(0x38, true);
  const shnum = view.getUint16(0x3c, true);
  const sections = Array.from({ length: shnum }, (_, i) => {
    const at = shoff + i * 64;
    return { header: at, type: view.getUint32(at + 4, true), offset: Number(view.getBigUint64(at + 24, true)), size: Number(view.getBigUint64(at + 32, true)), link: view.getUint32(at + 40, true) };
  });
  const SYMTAB = 2;
  const DYNSYM = 11;
  const symtab = sections.find((s) => s.type === SYMTAB)!;
  const dynsym = sections.find((s) => s.type === DYNSYM)!;
  const mutate = (f: (v: DataView) => void, from: Uint8Array = original): Uint8Array => {
    const bytes = from.slice();
    f(new DataView(bytes.buffer));
    return bytes;
  };

  it('the fixture layout the mutations aim at', () => {
    expect(original[4]).toBe(2); // ELFCLASS64
    expect(original[5]).toBe(1); // little-endian
    expect(symtab).toBeDefined();
    expect(dynsym).toBeDefined();
    expect(sections.some((s) => s.type === 0x6fffffff)).toBe(true); // .gnu.version
    expect(sections.some((s) => s.type === 0x6ffffffd)).toBe(true); // .gnu.version_d
    expect(outcome(original, 'unmodified', true)).toBe('ok');
  });

  it('not ELF, empty, a BPF relocatable object', () => {
    expectFailure(new Uint8Array(0), 'empty', ArgumentError, /not an ELF file/);
    expectFailure(new TextEncoder().encode('#!/bin/sh\necho this is a shell script, not an ELF binary at all\n'), 'script', ArgumentError, /no \\x7fELF magic/);
    expectFailure(new TextEncoder().encode('\x7fELF'), 'magic only', ArgumentError, /not an ELF file/);
    for (const obj of ['minimal.bpfel.o', 'minimal.bpfeb.o']) {
      const bytes = new Uint8Array(readFileSync(join(import.meta.dirname, '../../testdata', obj)));
      expectFailure(bytes, obj, ArgumentError, /type 1, not an executable or shared object \(ET_EXEC\/ET_DYN\)/);
    }
  });

  it('bad header fields: explicit messages', () => {
    expectFailure(mutate((v) => v.setUint8(4, 3)), 'class', ParseError, /unknown ELF class 3/);
    expectFailure(mutate((v) => v.setUint8(5, 0)), 'data', ParseError, /data encoding 0/);
    expectFailure(mutate((v) => v.setUint16(16, 4, true)), 'ET_CORE', ArgumentError, /type 4/);
    expectFailure(mutate((v) => v.setUint16(0x36, 55, true)), 'phentsize', ParseError, /e_phentsize is 55/);
    expectFailure(mutate((v) => v.setUint16(0x3a, 40, true)), 'shentsize', ParseError, /e_shentsize is 40/);
    expectFailure(mutate((v) => v.setUint16(0x3c, 0xfff0, true)), 'shnum', ParseError, /past the end/);
    expectFailure(mutate((v) => v.setBigUint64(0x20, BigInt(original.length - 8), true)), 'phoff', ParseError, /program header table/);
    expectFailure(mutate((v) => v.setBigUint64(0x28, 0xffffffffffffff00n, true)), 'shoff huge', ParseError, /not a usable file offset/);
    expectFailure(mutate((v) => v.setUint32(dynsym.header + 40, 999, true)), 'dynsym link', ParseError, /string table section 999, which does not exist/);
    expectFailure(mutate((v) => v.setBigUint64(symtab.header + 56, 16n, true)), 'symtab entsize', ParseError, /sh_entsize is 16/);
    expectFailure(mutate((v) => v.setUint32(symtab.offset + 24 * 12, 0xfffffff0, true)), 'symbol name', ParseError, /past the end of its \d+-byte string table/);
    // No section headers at all: opens, but has nothing to look up.
    const noSections = mutate((v) => v.setBigUint64(0x28, 0n, true));
    const path = join(tmp, 'no-sections.so');
    writeFileSync(path, noSections);
    const exe = Executable.open(path);
    expect(exe.symbols()).toEqual([]);
    expect(() => exe.symbol('ebpf_ts_plain')).toThrow(/has no symbols/);
  });

  it('every truncation of the header region, and a sample across the file', () => {
    const cuts = new Set<number>();
    const headerEnd = Math.max(64, phoff + phnum * 56) + 64;
    for (let at = 0; at <= headerEnd; at++) cuts.add(at);
    for (const s of sections) for (const at of [s.offset, s.offset + 1, s.offset + s.size - 1, s.header, s.header + 1]) cuts.add(at);
    for (let at = 0; at < original.length; at += Math.floor(original.length / 150)) cuts.add(at);
    cuts.add(original.length - 1);
    for (const at of cuts) {
      if (at >= original.length) continue;
      const r = outcome(original.subarray(0, at), `cut at ${at}`);
      // Section headers sit at the end of the file: every cut loses some.
      expect(r, `cut at ${at}`).toBeInstanceOf(BpfError);
    }
  });

  it('seeded random byte mutations of headers and symbol tables: a BpfError or a clean parse', { timeout: 60_000 }, () => {
    const rounds = Number(process.env.EBPF_TS_FUZZ_ROUNDS ?? 3000);
    let seed = 0x2545f491;
    const random = (): number => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) / 0x100000000;
    };
    const pick = (n: number): number => Math.floor(random() * n);
    const versionSections = sections.filter((s) => s.type === 0x6fffffff || s.type === 0x6ffffffd);
    const regions: Array<[number, number]> = [
      [0, 64],
      [phoff, phnum * 56],
      [shoff, shnum * 64],
      [symtab.offset, symtab.size],
      [dynsym.offset, dynsym.size],
      ...versionSections.map((s): [number, number] => [s.offset, s.size]),
      [sections[dynsym.link]!.offset, Math.min(64, sections[dynsym.link]!.size)],
    ];
    const interesting = [0, 1, 0x7f, 0x80, 0xff, 0xfe];
    const counts = { ok: 0, ParseError: 0, ArgumentError: 0, other: 0 };
    const started = performance.now();
    for (let round = 0; round < rounds; round++) {
      const bytes = original.slice();
      const flips = 1 + pick(4);
      const changes: string[] = [];
      for (let k = 0; k < flips; k++) {
        const [start, length] = regions[pick(regions.length)]!;
        const at = start + pick(length);
        const how = pick(3);
        bytes[at] = how === 0 ? pick(256) : how === 1 ? bytes[at]! ^ (1 << pick(8)) : interesting[pick(interesting.length)]!;
        changes.push(`0x${at.toString(16)}=0x${bytes[at]!.toString(16)}`);
      }
      const r = outcome(bytes, `round ${round} (${changes.join(' ')})`, true);
      if (r === 'ok') counts.ok++;
      else if (r instanceof ParseError) counts.ParseError++;
      else if (r instanceof ArgumentError) counts.ArgumentError++;
      else counts.other++;
    }
    const elapsed = performance.now() - started;
    // Both outcomes happen (the mutations reach the checks), and nothing is slow.
    expect(counts.ok).toBeGreaterThan(rounds / 10);
    expect(counts.ParseError).toBeGreaterThan(rounds / 20);
    expect(elapsed / rounds).toBeLessThan(5);
  });
});
