// Shared fixtures of the BTF unit tests: the testdata objects' .BTF sections and the host's
// kernel BTF (tests that need it skip with a reason when it is absent).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { findELFSection } from '../../src/btf/elf-section.js';

export const testdata = join(dirname(fileURLToPath(import.meta.url)), '../../testdata');

/** The bytes of a testdata object and of its .BTF section. */
export function objectBTF(name: string): { elf: Uint8Array; btf: Uint8Array } {
  const elf = readFileSync(join(testdata, name));
  const section = findELFSection(elf, '.BTF');
  if (section === undefined) throw new Error(`${name} has no .BTF`);
  return { elf, btf: section.data };
}

export const vmlinuxPath = '/sys/kernel/btf/vmlinux';
export const hasVmlinux = existsSync(vmlinuxPath);
export const noVmlinuxReason = `${vmlinuxPath} is missing (kernel without CONFIG_DEBUG_INFO_BTF)`;

/** Kernel modules exposing split BTF under /sys/kernel/btf (everything but vmlinux). */
export function kernelModules(): string[] {
  try {
    return execFileSync('ls', ['/sys/kernel/btf'], { encoding: 'utf8' })
      .split('\n')
      .filter((n) => n !== '' && n !== 'vmlinux');
  } catch {
    return [];
  }
}
