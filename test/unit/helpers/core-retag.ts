// clang-14 cannot emit TYPE_MATCHES relocations (it rejects BPF_TYPE_MATCHES), so the CO-RE
// tests make some: every TYPE_EXISTS record whose local type is called `*___match` becomes
// TYPE_MATCHES. Both relocations patch an immediate with 1 or 0, so the instruction stays
// valid. Used by the unit tests and by scripts/core-libbpf-fixture.ts (for libbpf), so both
// see the same bytes.
import { findELFSection } from '../../../src/btf/elf-section.js';
import { parseSpec } from '../../../src/btf/spec.js';
import { COREKind } from '../../../src/btf/core-kind.js';

/** A copy of `elf` with the TYPE_EXISTS records of `*___match` types retagged; also returns how many. */
export function retagTypeMatches(elf: Uint8Array): { bytes: Uint8Array; retagged: number } {
  const bytes = new Uint8Array(elf);
  const btf = findELFSection(bytes, '.BTF');
  const ext = findELFSection(bytes, '.BTF.ext');
  if (btf === undefined || ext === undefined) throw new Error('object has no .BTF/.BTF.ext');
  const spec = parseSpec(btf.data);
  const d = ext.data;
  const le = d[0] === 0x9f;
  const view = new DataView(d.buffer, d.byteOffset, d.byteLength);
  const hdrLen = view.getUint32(4, le);
  if (hdrLen < 32) return { bytes, retagged: 0 };
  const start = hdrLen + view.getUint32(24, le);
  const end = start + view.getUint32(28, le);
  const recSize = view.getUint32(start, le);
  let retagged = 0;
  for (let at = start + 4; at < end; ) {
    const count = view.getUint32(at + 4, le);
    for (let i = 0; i < count; i++) {
      const r = at + 8 + i * recSize;
      const kind = view.getUint32(r + 12, le);
      const name = spec.typeById(view.getUint32(r + 4, le)).name;
      if (kind === COREKind.TypeExists && name.endsWith('___match')) {
        view.setUint32(r + 12, COREKind.TypeMatches, le);
        retagged++;
      }
    }
    at += 8 + count * recSize;
  }
  return { bytes, retagged };
}
