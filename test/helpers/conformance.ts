// The conformance set (testdata/conformance, made by its build.sh): which objects there are,
// what each one was built from, and the golden tool views recorded for it.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { testdata } from './tools.js';

/** testdata/conformance/. */
export const conformanceDir = join(testdata, 'conformance');

/** How one object of the set was made, read from its name (NAME.CC.ARCH[.g0].o). */
export interface ConformanceObject {
  /** The file name, e.g. `calls.clang19.bpfeb.g0.o`. */
  file: string;
  /** The source (`calls`), or `linked_bpftool` / `linked_ebpfts` for the linked objects. */
  source: string;
  compiler: 'clang14' | 'clang19';
  arch: 'bpfel' | 'bpfeb';
  /** Built with -g: the object has .BTF (and .BTF.ext). */
  btf: boolean;
}

/** Every object of the set, sorted by file name. */
export const conformanceObjects: ConformanceObject[] = readdirSync(conformanceDir)
  .filter((f) => f.endsWith('.o'))
  .sort()
  .map((file) => {
    const m = /^(\w+)\.(clang14|clang19)\.(bpfel|bpfeb)(\.g0)?\.o$/.exec(file);
    if (m === null) throw new Error(`testdata/conformance/${file}: not named NAME.CC.ARCH[.g0].o`);
    return { file, source: m[1]!, compiler: m[2] as 'clang14' | 'clang19', arch: m[3] as 'bpfel' | 'bpfeb', btf: m[4] === undefined };
  });

/** The object's bytes. */
export const conformanceBytes = (o: ConformanceObject): Uint8Array => new Uint8Array(readFileSync(join(conformanceDir, o.file)));

/** The golden file of `kind` (`objdump-counts`, `readelf-s`, `btf-dump`, `skeleton`) for `file`, or undefined. */
export function conformanceGolden(file: string, kind: string): string | undefined {
  const path = join(conformanceDir, 'golden', file.replace(/\.o$/, `.${kind}.txt`));
  return existsSync(path) ? readFileSync(path, 'utf8') : undefined;
}

/**
 * `llvm-objdump -d` output summarised as build.sh's awk does it: "section S N" per code
 * section, then "function S F N" per label that names one of `functions` (FUNC symbols),
 * counting the instructions up to the next such label (clang-14's LBB labels do not split
 * a function).
 */
export function summariseObjdump(listing: string, functions: ReadonlySet<string>): string {
  const out: string[] = [];
  let section: string | undefined;
  let count = 0;
  let current: string | undefined;
  let counts: Array<[string, number]> = [];
  const flush = (): void => {
    if (section === undefined) return;
    out.push(`section ${section} ${count}`, ...counts.map(([f, n]) => `function ${section} ${f} ${n}`));
  };
  for (const line of listing.split('\n')) {
    const heading = /^Disassembly of section (.*):$/.exec(line);
    if (heading !== null) {
      flush();
      [section, count, current, counts] = [heading[1]!, 0, undefined, []];
      continue;
    }
    const label = /^[0-9a-f]+ <(.*)>:$/.exec(line);
    if (label !== null) {
      if (functions.has(label[1]!)) {
        current = label[1]!;
        counts.push([current, 0]);
      }
      continue;
    }
    if (/^ *[0-9]+:\t/.test(line)) {
      count++;
      if (current !== undefined) counts[counts.length - 1]![1]++;
    }
  }
  flush();
  return out.map((l) => `${l}\n`).join('');
}

/** The rows of an `llvm-readelf -s --wide` listing. */
export interface ReadelfSymbol {
  index: number;
  value: number;
  size: number;
  type: string;
  bind: string;
  /** The section index, `UND` or `ABS`. */
  ndx: string;
  name: string;
}

export function readelfSymbols(text: string): ReadelfSymbol[] {
  return text
    .split('\n')
    .map((l) => /^\s*(\d+): ([0-9a-f]+)\s+(\d+) (\w+)\s+(\w+)\s+\w+\s+(\w+) ?(.*)$/.exec(l))
    .filter((m) => m !== null)
    .map((m) => ({ index: Number(m[1]), value: parseInt(m[2]!, 16), size: Number(m[3]), type: m[4]!, bind: m[5]!, ndx: m[6]!, name: m[7]! }));
}

/** The program and map names of `bpftool gen skeleton` output, in build.sh's skeleton format. */
export function skeletonNames(stdout: string, stderr: string, status: number | null): string {
  if (status !== 0) return `refused: ${stderr.split('\n').find((l) => l !== '')}\n`;
  const names = (what: string): string[] => [...stdout.matchAll(new RegExp(`^\\s*struct bpf_${what} \\*(\\w+);$`, 'gm'))].map((m) => `${what} ${m[1]!}`).sort();
  return [...names('program'), ...names('map')].map((l) => `${l}\n`).join('');
}
