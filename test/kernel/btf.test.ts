// BTF in the kernel: the BTF feature probes as a self-check on this kernel, every sanitised
// variant accepted, testdata objects' .BTF loaded after fix-up, the typed error for a corrupt
// blob (with the kernel's log line and the type it blames), log growth, info/fromId, and fd
// hygiene. Needs root. Runs on whichever backend EBPF_TS_BACKEND selects (CI runs both).
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BTFHandle, BTFLoadError, loadForKernel } from '../../src/btf-handle.js';
import { fixupSpec } from '../../src/btf/fixup.js';
import { marshalSpec } from '../../src/btf/marshal.js';
import { btfFeatureNames, sanitizeSpec, type BTFFeatureName } from '../../src/btf/sanitize.js';
import { parseSpec, type Spec } from '../../src/btf/spec.js';
import { ClosedError, SyscallError } from '../../src/errors.js';
import { btfFeature, btfFeatureSince, btfKindFeatures, btfProbeBlob, missingBTFFeatures } from '../../src/features/btf.js';
import { kernelVersion } from '../../src/sys/kernel-version.js';
import { objectIds } from '../../src/sys/commands.js';
import { backend } from '../../src/sys/select.js';
import { allKindsSpec, fixupSections } from '../unit/helpers/btf-fixture.js';
import { readElf } from '../unit/helpers/elf-sections.js';

const skip = process.getuid?.() !== 0 ? 'needs root for BPF_BTF_LOAD' : '';
if (skip !== '') console.warn(`skipping BTF kernel tests: ${skip}`);

const testdata = join(import.meta.dirname, '..', '..', 'testdata');
const objects = readdirSync(testdata).filter((f) => f.endsWith('.bpfel.o')).sort();

function objectBTF(file: string): { spec: Spec; sections: ReturnType<typeof fixupSections> } | undefined {
  const elf = readElf(join(testdata, file));
  const section = elf.sections.find((s) => s.name === '.BTF');
  if (section === undefined) return undefined;
  return { spec: parseSpec(section.data), sections: fixupSections(elf) };
}

function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

// PTR (id 1) to type 5 in a blob with one type: btf_ptr_resolve() → "Invalid type_id".
function corruptBlob(): Uint8Array {
  const le = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  const bytes = new Uint8Array(24 + 12 + 1);
  const v = new DataView(bytes.buffer);
  v.setUint16(0, 0xeb9f, le);
  bytes[2] = 1;
  v.setUint32(4, 24, le);
  v.setUint32(8, 0, le);
  v.setUint32(12, 12, le);
  v.setUint32(16, 12, le);
  v.setUint32(20, 1, le);
  v.setUint32(24, 0, le); // anonymous
  v.setUint32(28, 2 << 24, le); // BTF_KIND_PTR
  v.setUint32(32, 5, le); // → type 5, which does not exist
  return bytes;
}

const variants: [string, BTFFeatureName[]][] = [
  ...btfFeatureNames.map((name): [string, BTFFeatureName[]] => [name, [name]]),
  ['everything', [...btfFeatureNames]],
];

describe.skipIf(skip !== '')(`BTF in the kernel (backend ${skip === '' ? backend().kind : 'none'})`, () => {
  // Self-check: a probe must never say "not supported" on a kernel that has the feature (on
  // this host, 6.18, every one answers supported). Features without a pinned version only
  // need a conclusive answer.
  it('BPF_BTF_LOAD and every BTF kind/flag probe answer supported where the kernel has them', () => {
    expect(btfFeature.check()).toEqual({ supported: true });
    for (const name of btfFeatureNames) {
      const since = btfFeatureSince[name];
      const result = btfKindFeatures[name].check();
      if (since === undefined || kernelVersion().atLeast(since)) {
        if (since !== undefined || kernelVersion().atLeast('6.18')) expect({ name, result }).toEqual({ name, result: { supported: true } });
      } else {
        expect({ name, supported: result.supported }).toEqual({ name, supported: false });
      }
    }
    if (kernelVersion().atLeast('6.18')) expect(missingBTFFeatures().size).toBe(0);
  });

  it('each probe blob loads directly too (the probes test what they claim)', () => {
    for (const name of ['btf', ...btfFeatureNames] as const) {
      if (name !== 'btf' && !btfKindFeatures[name].supported()) continue;
      using h = BTFHandle.load(btfProbeBlob(name));
      expect(h.fd).toBeGreaterThan(2);
    }
  });

  describe.each(variants)('sanitised without %s', (_label, missing) => {
    it('the all-kinds spec loads', () => {
      // What this kernel lacks is sanitised away too (nothing on 6.18; older test:vm guests).
      const spec = sanitizeSpec(allKindsSpec(), [...missing, ...missingBTFFeatures()]);
      using h = BTFHandle.load(spec);
      expect(h.info().size).toBe(marshalSpec(spec).byteLength);
    });

    it.each(objects)('%s loads after fix-up', (file) => {
      const obj = objectBTF(file);
      if (obj === undefined) return;
      const { handle, spec } = loadForKernel(obj.spec, { sections: obj.sections, missingFeatures: [...missing, ...missingBTFFeatures()] });
      using h = handle;
      expect(h.fd).toBeGreaterThan(2);
      expect(spec.typeCount).toBeGreaterThanOrEqual(obj.spec.typeCount);
    });
  });

  it.each(objects)('%s: .BTF loads after fix-up, sanitised for what the probes say this kernel lacks', (file) => {
    const obj = objectBTF(file);
    if (obj === undefined) return;
    const loaded = loadForKernel(obj.spec, { sections: obj.sections });
    using h = loaded.handle;
    // Only what this object uses is asked about: a subset of what the kernel lacks.
    const missing = missingBTFFeatures();
    for (const f of loaded.sanitized) expect(missing.has(f)).toBe(true);
    expect(loaded.funcInfo).toBe(!loaded.sanitized.has('func'));
    const info = h.info();
    expect(info.id).toBeGreaterThan(0);
    expect(info.kernelBTF).toBe(false);
  });

  it('without fix-ups the kernel rejects an object with global data, naming the DATASEC', () => {
    const obj = objectBTF('elf_globals.bpfel.o')!;
    let err: unknown;
    try {
      BTFHandle.load(obj.spec).close();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BTFLoadError);
    const e = err as BTFLoadError;
    expect(e.typeId).toBeDefined();
    expect(obj.spec.typeById(e.typeId!).kindName).toMatch(/datasec|var|func/);
  });

  it('a corrupt blob gives BTFLoadError with the kernel log line and the type id it blames', () => {
    let err: unknown;
    try {
      BTFHandle.load(corruptBlob()).close();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BTFLoadError);
    const e = err as BTFLoadError;
    expect(e).toBeInstanceOf(SyscallError);
    expect(e.code).toBe('EINVAL');
    expect(e.typeId).toBe(1);
    expect(e.reason).toMatch(/^\[1\] PTR .*Invalid type_id/);
    expect(e.message).toContain('at type 1');
    expect(e.log.some((l) => l.startsWith('magic: 0xeb9f'))).toBe(true);
    expect(e.fullMessage).toContain(e.log.join('\n'));
  });

  it('the log grows from the smallest buffer until the whole log fits', () => {
    // A big valid prefix (many types logged) followed by the bad one.
    const spec = allKindsSpec();
    const good = marshalSpec(spec);
    let small: BTFLoadError | undefined;
    let big: BTFLoadError | undefined;
    try {
      BTFHandle.load(corruptBlob(), { logSize: 128 }).close();
    } catch (e) {
      small = e as BTFLoadError;
    }
    try {
      BTFHandle.load(corruptBlob(), { logSize: 1 << 20 }).close();
    } catch (e) {
      big = e as BTFLoadError;
    }
    expect(small?.log).toEqual(big?.log);
    expect(small?.truncated).toBe(false);
    expect(good.byteLength).toBeGreaterThan(0);
  });

  it(`info(), fromId() and the kernel’s own vmlinux BTF${kernelVersion().atLeast('5.11') ? '' : ' (before 5.11: no name, vmlinux BTF has no id)'}`, () => {
    using h = BTFHandle.load(sanitizeSpec(allKindsSpec(), missingBTFFeatures()));
    const info = h.info();
    expect(info.name).toBe('');
    expect(objectIds('btf')).toContain(info.id);
    using again = BTFHandle.fromId(info.id);
    expect(again.info()).toEqual(info);
    const vmlinux = objectIds('btf')
      .map((id) => {
        using b = BTFHandle.fromId(id);
        return b.info();
      })
      .find((i) => i.name === 'vmlinux');
    // Before 5.11 (commit 5329722057d4) the kernel's own BTF had no id and bpf_btf_info no
    // name or kernel_btf: info() asks for the old struct, and nothing is named vmlinux.
    if (kernelVersion().atLeast('5.11')) expect(vmlinux?.kernelBTF).toBe(true);
    else expect(vmlinux).toBeUndefined();
  });

  it('close() is idempotent and the handle refuses use afterwards', () => {
    const h = BTFHandle.load(sanitizeSpec(allKindsSpec(), missingBTFFeatures()));
    h.close();
    h.close();
    expect(h.closed).toBe(true);
    expect(() => h.fd).toThrow(ClosedError);
  });

  it('1,000 load/close cycles leave the fd count unchanged', () => {
    const bytes = marshalSpec(sanitizeSpec(allKindsSpec(), missingBTFFeatures()));
    const before = openFds();
    for (let i = 0; i < 1000; i++) BTFHandle.load(bytes).close();
    expect(openFds()).toBe(before);
  });

  it('loadForKernel leaves the input spec untouched and keeps type ids', () => {
    const obj = objectBTF('elf_globals.bpfel.o')!;
    const before = marshalSpec(obj.spec);
    const loaded = loadForKernel(obj.spec, { sections: obj.sections, missingFeatures: [...btfFeatureNames] });
    using h = loaded.handle;
    expect(loaded.funcInfo).toBe(false);
    expect(marshalSpec(obj.spec)).toEqual(before);
    const fixed = obj.spec.copy();
    fixupSpec(fixed, obj.sections);
    for (const [id, t] of obj.spec.entries()) {
      if (t.kindName === 'struct') expect(loaded.spec.typeById(id).name).toBe(t.name);
    }
  });
});
