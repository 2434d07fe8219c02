/**
 * The BTF of a loaded object, by BTF id: the blob is read back from the kernel
 * (`bpf_btf_info.btf`) and parsed, so that commands can name a program's functions, print its
 * source lines and decode a map's keys and values, as bpftool does, and so that freplace finds
 * the function it replaces in its target program's BTF. Kernel BTF (vmlinux, and modules,
 * which are split BTF on top of it) comes from /sys/kernel/btf instead.
 *
 * @module
 */
import { BTFHandle } from './btf-handle.js';
import { loadKernelModuleSpec, loadKernelSpec } from './btf/kernel.js';
import { parseSpec, type Spec } from './btf/spec.js';
import { dataView, hostLittleEndian } from './internal/bytes.js';
import { objGetInfoByFd } from './sys/commands.js';
import { BtfInfo } from './sys/layouts.js';

/** The raw BTF of the object `handle` holds (`size` bytes, as its info reported). */
export function readBTFBlob(handle: BTFHandle, size: number): Uint8Array {
  const f = BtfInfo.fields;
  const blob = new Uint8Array(size);
  // Asking only for the head of the struct (blob pointer and size) works on every kernel.
  const length = f.btf_size.offset + f.btf_size.size;
  const input = new Uint8Array(length);
  dataView(input).setUint32(f.btf_size.offset, size, hostLittleEndian);
  objGetInfoByFd(handle.fd, length, [f.btf.offset, blob], { context: `read BTF (fd ${handle.fd})` }, input);
  return blob;
}

/** Parses the BTF object `id`; specs are cached in `cache` for the length of one command. */
export function btfSpecById(id: number, cache: Map<number, Spec> = new Map()): Spec {
  const known = cache.get(id);
  if (known !== undefined) return known;
  const handle = BTFHandle.fromId(id);
  try {
    const info = handle.info();
    let spec: Spec;
    if (info.kernelBTF) spec = info.name === 'vmlinux' ? loadKernelSpec() : loadKernelModuleSpec(info.name);
    else spec = parseSpec(readBTFBlob(handle, info.size));
    cache.set(id, spec);
    return spec;
  } finally {
    handle.close();
  }
}
