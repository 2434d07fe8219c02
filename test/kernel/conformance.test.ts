// The conformance set (testdata/conformance) against the running kernel: every program of every
// object in the host's byte order — clang-14 and clang-19, with and without BTF, linked by
// bpftool and by ebpf-ts — loads, and those a test run means something for return the same
// value in every variant (the table below, from the sources). Programs of objects without BTF
// that use externs are refused before any syscall, naming the extern; one that passes a
// callback (bpf_loop) is refused by the verifier, which needs BTF for a function's address,
// as it is for libbpf. fentry needs trampolines,
// which the host's lockdown refuses: those run in test:vm. Runs on whichever backend
// EBPF_TS_BACKEND selects (CI runs both).
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PseudoSource } from '../../src/asm/pseudo.js';
import { loadCollection, type CollectionOptions } from '../../src/collection.js';
import { parseCollectionSpec, type CollectionSpec } from '../../src/collection-spec.js';
import { UnresolvedReferenceError } from '../../src/elf/references.js';
import { ArgumentError, VerifierError } from '../../src/errors.js';
import { hostLittleEndian } from '../../src/internal/bytes.js';
import { kernelVersion } from '../../src/sys/kernel-version.js';
import { conformanceBytes, conformanceObjects } from '../helpers/conformance.js';
import { trampolineRefusal } from './helpers/kernel-features.js';

const skip = process.getuid?.() !== 0 ? 'needs root for bpf()' : '';
const hostArch = hostLittleEndian ? 'bpfel' : 'bpfeb';
const packet = new Uint8Array(64);

/**
 * What each program returns under testRun with a 64-byte packet, in every variant. Socket
 * filters see 50 bytes: the test run takes the Ethernet header off.
 */
const results: Record<string, number> = {
  calls_socket: 106, // calls_global_add(50, 0 + 1 + 2 + 3) = 2 * 50 + 6
  calls_xdp: 2, // XDP_PASS: calls_double(64) == 128
  core_socket: 0, // every CO-RE relocation resolved as the source expects
  globals_socket: 9, // 7 + 1 packets, plus the 64-bit enum's value >> 32
  globals_externs: 1, // LINUX_KERNEL_VERSION > 0 && CONFIG_BPF_SYSCALL, schedule found
  legacy_socket: 6, // 50 / 16 + 3
  legacy_xdp: 2, // XDP_PASS
  maps_xdp: 1, // XDP_DROP, from maps_tail through the program array
  maps_tail: 1, // XDP_DROP
  maps_socket: 1, // a ring buffer record was submitted
  maps_tc: 0, // TC_ACT_OK: the per-CPU array has its element
  maps_cgroup: 1, // allow
};
/** Programs that load but have no test run: tracepoints, kprobes and fentry (where trampolines load: test:vm) cannot, raw tracepoints need arguments. */
const loadOnly = new Set(['maps_tracepoint', 'maps_raw_tp', 'maps_kprobe', 'maps_fentry', 'core_tracepoint']);

/** Why `program` cannot load on this kernel, or undefined. */
function cannotLoad(spec: CollectionSpec, program: string): string | undefined {
  const p = spec.programs[program]!;
  if (p.sectionName.startsWith('fentry/')) {
    const why = trampolineRefusal();
    if (why !== undefined) return `runs in test:vm: ${why}`;
  }
  // bpf_loop (calls_socket's callback) is Linux 5.17.
  if (program === 'calls_socket' && !kernelVersion().atLeast('5.17')) return `bpf_loop needs Linux 5.17 (Linux ${kernelVersion()})`;
  return undefined;
}

/** A program that loads a function's address (a callback): the kernel needs its func_info, from BTF. */
const takesFunctionAddress = (spec: CollectionSpec, program: string): boolean =>
  spec.programs[program]!.instructions.some((i) => i.isLoadImm64 && i.src === (PseudoSource.Func as number));

// A kernel whose config is not readable (test:vm guests) still has CONFIG_BPF_SYSCALL.
const options = (program: string): CollectionOptions => ({ programs: [program], kconfig: { CONFIG_BPF_SYSCALL: 'y' } });

const here = conformanceObjects.filter((o) => o.arch === hostArch);
const elsewhere = conformanceObjects.filter((o) => o.arch !== hostArch);

describe.skipIf(skip !== '')('the conformance set loads and runs alike in every variant', () => {
  describe.each(here.map((o) => [o.file, o] as const))('%s', (_file, o) => {
    // A fresh spec for every load; one parse for the names of the tests.
    const spec = (): CollectionSpec => parseCollectionSpec(conformanceBytes(o));
    const parsed = spec();
    for (const program of Object.keys(parsed.programs)) {
      const why = cannotLoad(parsed, program);
      const references = parsed.unresolvedReferences().filter((r) => r.program === program);
      if (why !== undefined) {
        it.skip(`${program} (skipped: ${why})`, () => {});
      } else if (!o.btf && takesFunctionAddress(parsed, program)) {
        it(`${program}: refused by the verifier without BTF (a callback's address needs func_info)`, async () => {
          const error = await loadCollection(spec(), options(program)).then(
            () => undefined,
            (e: unknown) => e,
          );
          expect(error).toBeInstanceOf(VerifierError);
          expect((error as Error).message).toMatch(/missing btf func_info/);
        });
      } else if (references.length > 0) {
        it(`${program}: its externs are references without BTF, refused before loading with the symbol named`, async () => {
          expect(o.btf).toBe(false);
          const error = await loadCollection(spec(), options(program)).then(
            () => undefined,
            (e: unknown) => e,
          );
          expect(error).toBeInstanceOf(UnresolvedReferenceError);
          expect((error as UnresolvedReferenceError).program).toBe(program);
          expect(references.map((r) => r.name)).toContain((error as UnresolvedReferenceError).symbol);
          expect((error as Error).message).toContain(`resolve it before loading with spec.resolveReference('${(error as UnresolvedReferenceError).symbol}'`);
        });
      } else {
        const expected = results[program];
        it(`${program}: loads${expected === undefined ? '' : `, and a test run returns ${expected}`}`, async () => {
          const coll = await loadCollection(spec(), options(program));
          try {
            const prog = coll.programs[program]!;
            expect(prog.info().name).toBe(program.slice(0, 15));
            if (expected !== undefined) expect(prog.testRun({ data: packet }).retval).toBe(expected);
            else expect(loadOnly.has(program), `${program} needs an entry in results or loadOnly`).toBe(true);
          } finally {
            coll.close();
          }
        });
      }
    }

    it('loads whole, every program that loads here at once', async () => {
      const s = spec();
      const programs = Object.keys(s.programs).filter(
        (p) => cannotLoad(s, p) === undefined && !(!o.btf && takesFunctionAddress(s, p)) && !s.unresolvedReferences().some((r) => r.program === p),
      );
      const coll = await loadCollection(s, { programs, kconfig: { CONFIG_BPF_SYSCALL: 'y' } });
      try {
        expect(Object.keys(coll.programs).sort()).toEqual(programs.sort());
        // The program array got maps_tail (its `.values` initialiser) when both are loaded.
        if (programs.includes('maps_xdp')) expect(coll.programs.maps_xdp!.testRun({ data: packet }).retval).toBe(1);
      } finally {
        coll.close();
      }
    });
  });

  // Objects of the other byte order load on a kernel of that order only, as with libbpf and
  // cilium/ebpf: they are refused before anything is created.
  it(`the ${elsewhere.length} ${elsewhere[0]?.arch} objects parse, and loading them is an ArgumentError naming the byte order before any fd is opened`, async () => {
    expect(elsewhere.length).toBeGreaterThan(0);
    const before = readdirSync('/proc/self/fd').length;
    for (const o of elsewhere) {
      const spec = parseCollectionSpec(conformanceBytes(o));
      const error = await loadCollection(spec).then(
        (c) => (c.close(), undefined),
        (e: unknown) => e,
      );
      expect(error, o.file).toBeInstanceOf(ArgumentError);
      expect((error as Error).message).toMatch(hostLittleEndian ? /object is big-endian \(clang -target bpfeb\) and this kernel is little-endian: build it with -target bpf or -target bpfel/ : /object is little-endian/);
    }
    expect(readdirSync('/proc/self/fd').length).toBe(before);
  });
});
