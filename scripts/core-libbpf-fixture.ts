// Regenerates test/unit/fixtures/core-libbpf.json: what libbpf (the system's libbpf-dev,
// 1.1.2 on Debian 12) computes for every CO-RE relocation of the testdata objects, so that
// test/unit/btf-core-libbpf.test.ts can check that our engine computes the same.
//
//   npx vite-node scripts/core-libbpf-fixture.ts     (as root: libbpf's load path needs bpf())
//
// It builds scripts/core-libbpf-harness.c into a temporary directory (never committed), runs
// it per case and parses libbpf's debug log. Cases:
//   - testdata/core_relocs.bpfel.o against the custom target testdata/core_target.bpfel.o
//     (libbpf's btf_custom_path);
//   - the same pair with the TYPE_EXISTS records of `*___match` types retagged as
//     TYPE_MATCHES (test/unit/helpers/core-retag.ts; clang-14 cannot emit them);
//   - testdata/core_vmlinux.bpfel.o against the running kernel's BTF; the fixture records
//     the kernel BTF's SHA-256 and the test skips that case on another kernel.
// Only little-endian objects: libbpf refuses objects of the other byte order.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { retagTypeMatches } from '../test/unit/helpers/core-retag.js';

/** One relocation as libbpf logged it. */
export interface LibbpfRelocation {
  section: string;
  index: number;
  program: string;
  kind?: string;
  localType?: number;
  /** Slot of the instruction in its ELF section. */
  instruction?: number;
  patch?: 'alu-imm' | 'mem-offset' | 'ldimm64' | 'poison';
  from?: string;
  to?: string;
  memorySize?: [number, number];
  noTarget: boolean;
  unsafeSizeChange?: boolean;
}

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const rel = (p: string): string => join(root, p);

/** Parses libbpf's debug log into one entry per relocation record. */
export function parseLibbpfLog(log: string): { sections: Record<string, number>; relocations: LibbpfRelocation[] } {
  const programs: Record<string, number> = {};
  const sections: Record<string, number> = {};
  const relos = new Map<string, LibbpfRelocation>();
  let section = '';
  for (const raw of log.split('\n')) {
    const line = raw.replace(/^libbpf: /, '');
    let m: RegExpExecArray | null;
    if ((m = /^sec '([^']+)': found program '([^']+)' at insn offset (\d+)/.exec(line))) {
      programs[m[2]!] = Number(m[3]);
    } else if ((m = /^sec '([^']+)': found (\d+) CO-RE relocations/.exec(line))) {
      section = m[1]!;
      sections[section] = Number(m[2]);
    } else if ((m = /^prog '([^']+)': relo #(\d+): (.*)$/.exec(line))) {
      const [, prog, index, rest] = m as unknown as [string, string, string, string];
      const key = `${section}#${index}`;
      let e = relos.get(key);
      if (e === undefined) {
        e = { section, index: Number(index), program: prog, noTarget: false };
        relos.set(key, e);
      }
      const base = programs[prog]!;
      let p: RegExpExecArray | null;
      if (rest === 'no matching targets found') e.noTarget = true;
      else if ((p = /^patched insn #(\d+) \((ALU\/ALU64|LDX\/ST\/STX|LDIMM64)\) (imm|off|imm64|mem_sz) (\d+) -> (\d+)$/.exec(rest))) {
        const [, insn, cls, what, from, to] = p as unknown as string[];
        e.instruction = base + Number(insn);
        if (what === 'mem_sz') e.memorySize = [Number(from), Number(to)];
        else {
          e.patch = cls === 'ALU/ALU64' ? 'alu-imm' : cls === 'LDIMM64' ? 'ldimm64' : 'mem-offset';
          e.from = from;
          e.to = to;
        }
      } else if ((p = /^substituting insn #(\d+) w\/ invalid insn$/.exec(rest))) {
        // An ld_imm64 is poisoned second half first: keep the lower slot.
        const slot = base + Number(p[1]);
        e.patch = 'poison';
        e.instruction = e.instruction === undefined ? slot : Math.min(e.instruction, slot);
      } else if (/accesses field incorrectly/.test(rest)) {
        e.unsafeSizeChange = true;
      } else if ((p = /^<([a-z_0-9]+)> \[(\d+)\]/.exec(rest))) {
        e.kind = p[1];
        e.localType = Number(p[2]);
      }
    } else if (/failed to perform CO-RE relocations|failed to relocate|failed to patch/.test(line)) {
      throw new Error(`libbpf could not relocate: ${line}`);
    }
  }
  return { sections, relocations: [...relos.values()] };
}

function main(): void {
  const work = mkdtempSync(join(tmpdir(), 'ebpf-ts-core-'));
  const harness = join(work, 'core-libbpf-harness');
  execFileSync('gcc', ['-O1', '-Wall', '-o', harness, rel('scripts/core-libbpf-harness.c'), '-lbpf'], { stdio: 'inherit' });
  let libbpf = 'unknown';
  try {
    libbpf = execFileSync('dpkg-query', ['-W', '-f=${Version}', 'libbpf-dev'], { encoding: 'utf8' }).trim();
  } catch {
    // not Debian: leave unknown
  }
  const run = (object: string, target?: string): ReturnType<typeof parseLibbpfLog> => {
    const log = execFileSync(harness, target === undefined ? [object] : [object, target], { encoding: 'utf8', maxBuffer: 64 << 20 });
    const parsed = parseLibbpfLog(log);
    const missing = parsed.relocations.filter((r) => r.patch === undefined);
    if (missing.length > 0) throw new Error(`${object}: no patch parsed for relocations ${missing.map((r) => r.index).join(', ')}`);
    return parsed;
  };

  const cases: unknown[] = [];
  cases.push({
    name: 'custom target',
    object: 'testdata/core_relocs.bpfel.o',
    target: 'testdata/core_target.bpfel.o',
    ...run(rel('testdata/core_relocs.bpfel.o'), rel('testdata/core_target.bpfel.o')),
  });

  const retagged = join(work, 'core_relocs.matches.bpfel.o');
  writeFileSync(retagged, retagTypeMatches(readFileSync(rel('testdata/core_relocs.bpfel.o'))).bytes);
  cases.push({
    name: 'custom target, TYPE_MATCHES retagged',
    object: 'testdata/core_relocs.bpfel.o',
    retag: 'type_matches',
    target: 'testdata/core_target.bpfel.o',
    ...run(retagged, rel('testdata/core_target.bpfel.o')),
  });

  const vmlinux = '/sys/kernel/btf/vmlinux';
  cases.push({
    name: 'host kernel',
    object: 'testdata/core_vmlinux.bpfel.o',
    target: null,
    kernel: execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim(),
    vmlinuxSha256: createHash('sha256').update(readFileSync(vmlinux)).digest('hex'),
    ...run(rel('testdata/core_vmlinux.bpfel.o')),
  });

  writeFileSync(rel('test/unit/fixtures/core-libbpf.json'), `${JSON.stringify({ generator: 'scripts/core-libbpf-fixture.ts', libbpf, cases }, null, 1)}\n`);
  for (const c of cases as { name: string; relocations: unknown[] }[]) console.log(`${c.name}: ${c.relocations.length} relocations`);
}

main();
