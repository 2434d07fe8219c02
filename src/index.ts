/**
 * ebpf-ts: an eBPF loader for Node.js.
 *
 * Spec-level modules (`asm`, `btf`) parse and build without touching the kernel; kernel-level
 * classes ({@link BpfMap}, {@link Program}) own one file descriptor each and need CAP_BPF or
 * CAP_SYS_ADMIN.
 *
 * @example
 * ```ts
 * import { BpfMap, MapType } from 'ebpf-ts';
 * using counts = BpfMap.create({ name: 'counts', type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 1024 });
 * ```
 *
 * @module ebpf-ts
 */
export * from './errors.js';
export * from './types.js';
export * as asm from './asm/index.js';
export * as btf from './btf/index.js';
export { KernelVersion, kernelVersion } from './sys/kernel-version.js';
export { backend, setBackend, type BackendName } from './sys/select.js';
export type { Backend, Mapping, PointerList, Watcher } from './sys/backend.js';
export { FakeBackend, type FakeBpfCall, type FakeBpfHandler } from './sys/backend-fake.js';
export { Feature, type FeatureOptions, type FeatureResult } from './features/feature.js';
export type { ProbeScope } from './features/probe-cache.js';
// Registers the per-boot store of the kernel BTF index (btf/ reaches it through internal/).
import './features/kernel-btf-index-cache.js';
export {
  Program,
  listPrograms,
  type ProgramLoadOptions,
  type TestRunOptions,
  type TestRunResult,
  type ProgramInfo,
  type AttachTargets,
} from './prog.js';
export type { ProgramSpec } from './prog-spec.js';
export { programTypeFeature } from './features/prog-types.js';
export { helperFeature, helperSince } from './features/helpers.js';
export {
  BpfMap,
  listMaps,
  BatchCursor,
  IterationAbortedError,
  UpdateFlags,
  PinType,
  copyMapSpec,
  BPF_F_NO_PREALLOC,
  BPF_F_NUMA_NODE,
  BPF_F_RDONLY,
  BPF_F_WRONLY,
  BPF_F_RDONLY_PROG,
  BPF_F_MMAPABLE,
  type MapSpec,
  type MapValue,
  type CreateMapOptions,
  type MapInfo,
  type BatchResult,
} from './map.js';
export { mapTypeFeature } from './features/map-types.js';
export { possibleCPUs, onlineCPUs } from './sys/cpus.js';
export * as elf from './elf/index.js';
export { loadCollectionSpec, parseCollectionSpec, ObjectFileError, type CollectionSpec } from './collection-spec.js';
export * from './link/index.js';
export * from './profile/index.js';
export {
  BTFHandle,
  BTFLoadError,
  loadForKernel,
  type BTFInfo,
  type BTFLoadOptions,
  type LoadForKernelOptions,
  type LoadedBTF,
  type BTFLogBlame,
} from './btf-handle.js';
export { missingBTFFeatures, btfKindFeatures, btfFeature } from './features/btf.js';
export { openKernelModuleBTF, ModuleBTFNotFoundError } from './module-btf.js';
export { loadCollection, Collection, type CollectionOptions } from './collection.js';
export { BpfToken, type TokenDelegation, type TokenOption } from './token.js';
export { Variable, ReadOnlyVariableError } from './variable.js';
export { TypedMap } from './typed-map.js';
export { TypedReader, type RawRecord, type RecordSource, type TypedReaderOptions } from './typed-reader.js';
export { TypedVariable } from './typed-variable.js';
export type { Codec } from './btf/codec.js';
export {
  GlobalDataNotSupportedError,
  MapTypeNotSupportedError,
  PinnedMapIncompatibleError,
  CORERelocationFailedError,
} from './collection-errors.js';
export { UnresolvedExternError } from './collection-externs.js';
export { StructOpsError } from './struct-ops-layout.js';
export { unregisterStructOps } from './struct-ops.js';
export { UnresolvedReferenceError, type ReferenceTarget, type SymbolicReference } from './elf/references.js';
export { linkObjects } from './collection-link.js';
export { linkELF, type LinkObjectInput } from './elf/linker.js';
export { LinkError } from './elf/link-symbols.js';
export {
  PerfReader,
  type PerfReaderOptions,
  type PerfDecodeOptions,
  type PerfForEachOptions,
  type PerfLostCallback,
  type PerfRecord,
  type PerfSampleCallback,
  type ReadOptions,
  RecordBatch,
  type BatchOptions,
} from './perf/reader.js';
export {
  RingBufReader,
  type RingBufReaderOptions,
  type RingBufDecodeOptions,
  type RingBufForEachOptions,
  type RingBufRecord,
  type RingBufRecordCallback,
} from './ringbuf/reader.js';
export {
  UserRingBuf,
  UserRingBufFullError,
  UserRingBufSample,
  USER_RINGBUF_MAX_RECORD,
  type UserRingBufWaitOptions,
} from './ringbuf/user-writer.js';
export { OverwritablePerfReader, type OverwritablePerfReaderOptions, type ReadRecentOptions } from './perf/overwritable.js';
