/**
 * Attaching programs to kernel hooks, and reading what they print: tracepoints, kprobes and
 * kretprobes (PMU or tracefs), uprobes and uretprobes, multi-probe links (kprobe_multi,
 * uprobe_multi), raw tracepoints, BTF tracing programs
 * (fentry/fexit/…), auto-attachment by section name, the {@link Link} they return, tracefs
 * helpers and the trace_pipe reader.
 *
 * @module
 */
export {
  Link,
  LinkType,
  listLinks,
  type LinkInfo,
  type LinkMode,
  type LinkParts,
  type PerfEventLinkInfo,
  type PerfEventLinkKind,
  type CgroupLinkInfo,
  type NetnsLinkInfo,
  type InterfaceLinkInfo,
  type NetfilterLinkInfo,
  type SockmapLinkInfo,
  type IterLinkInfo,
  type StructOpsLinkInfo,
} from './link.js';
export { attachRaw, detachRaw, type RawAttachOptions, type RawDetachOptions } from './raw.js';
export { queryPrograms, type QueryOptions, type QueryResult, type QueriedProgram } from './query.js';
export { attachTypeName, type RawTarget } from './attach-target.js';
export {
  DEFAULT_TRACEFS_PATH,
  DEBUGFS_TRACEFS_PATH,
  TracefsNotMountedError,
  TracepointNotFoundError,
  tracefsPath,
  tracefsAvailable,
  setTracefsPath,
  mountTracefs,
  validateTracefsName,
  tracepointId,
  listTracepoints,
  tracepointFormat,
  parseTraceEventFormat,
  type TraceEvent,
  type TraceEventField,
  type TraceEventFormat,
} from '../internal/tracefs.js';
export { attachTracepoint, type TracepointOptions } from './tracepoint.js';
export {
  attachKprobe,
  attachKretprobe,
  attachKsyscall,
  kprobeFunctions,
  kprobeSupport,
  KPROBES_UNAVAILABLE,
  type KprobeOptions,
  type KprobeSupport,
} from './kprobe.js';
export { removeTracefsProbeEvents, liveTracefsProbeEvents, sweepStaleProbeEvents } from './probe-events.js';
export { attachUprobe, attachUretprobe, uprobeSupport, type UprobeOptions, type UprobeSupport } from './uprobe.js';
export { attachKprobeMulti, kprobeMultiFunctions, kprobeMultiFeature, kprobeSessionFeature, BPF_F_KPROBE_MULTI_RETURN, type KprobeMultiOptions } from './kprobe-multi.js';
export { attachUprobeMulti, uprobeMultiFeature, uprobeSessionFeature, BPF_F_UPROBE_MULTI_RETURN, type UprobeMultiOptions } from './uprobe-multi.js';
export { attachUSDT, attachUSDTSection, usdtProbes, USDTLink, USDTNotFoundError, type USDTOptions } from './usdt.js';
export { USDTArgumentError } from './usdt-args.js';
export type { USDTProbe } from './usdt-notes.js';
export type { KprobeMultiLinkInfo, UprobeMultiLinkInfo } from './multi-link-info.js';
export { Executable, resolveBinary, type ExecutableSymbol } from './executable.js';
export { kallsyms, ksyscallName, nearSymbols, KallsymsTable, type KernelSymbol } from '../internal/kallsyms.js';
export {
  attachRawTracepoint,
  attachTracing,
  tracingTargetBtfId,
  type RawTracepointOptions,
  type TracingOptions,
  type TracingKind,
} from './raw-tracepoint.js';
export { TracingTargetNotFoundError } from './tracing-target.js';
export { attachFreplace, freplaceTargetBtfId, FreplaceTargetError, type FreplaceTarget, type FreplaceTargetProblem } from './freplace.js';
export { attachProgram, attachPlan, canAutoAttach, type AttachPlan } from './auto.js';
export { attachIter, IterLink, type IterOptions, type CgroupIterOrder } from './iter.js';
export { attachStructOps, attachStructOpsMaps, structOpsLinkFeature } from './struct-ops.js';
export {
  TracePipeReader,
  clearTraceBuffer,
  writeTraceMarker,
  parseTraceLine,
  type TraceLine,
  type TracePipeOptions,
} from './trace-pipe.js';
export { perfLinkFeature, attachPerfEvent, type AttachPerfEventOptions } from './perf-event.js';
export { MultiLink } from './multi-link.js';
export {
  attachPerfEventAllCPUs,
  PerfEventMultiLink,
  type PerfEventAllCPUsOptions,
  type PerfEventSpec,
  type SampledEvent,
} from './perf-event-cpus.js';
export {
  openPerfEvent,
  encodePerfEventAttr,
  perfEventName,
  PERF_COUNT_HW_CPU_CYCLES,
  PERF_COUNT_HW_INSTRUCTIONS,
  PERF_COUNT_HW_CACHE_REFERENCES,
  PERF_COUNT_HW_CACHE_MISSES,
  PERF_COUNT_HW_BRANCH_INSTRUCTIONS,
  PERF_COUNT_HW_BRANCH_MISSES,
  PERF_COUNT_HW_BUS_CYCLES,
  PERF_COUNT_HW_STALLED_CYCLES_FRONTEND,
  PERF_COUNT_HW_STALLED_CYCLES_BACKEND,
  PERF_COUNT_HW_REF_CPU_CYCLES,
  PERF_COUNT_SW_CPU_CLOCK,
  PERF_COUNT_SW_TASK_CLOCK,
  PERF_COUNT_SW_PAGE_FAULTS,
  PERF_COUNT_SW_CONTEXT_SWITCHES,
  PERF_COUNT_SW_CPU_MIGRATIONS,
  PERF_COUNT_SW_PAGE_FAULTS_MIN,
  PERF_COUNT_SW_PAGE_FAULTS_MAJ,
  PERF_COUNT_SW_ALIGNMENT_FAULTS,
  PERF_COUNT_SW_EMULATION_FAULTS,
  PERF_COUNT_SW_DUMMY,
  PERF_COUNT_SW_BPF_OUTPUT,
  PERF_COUNT_SW_CGROUP_SWITCHES,
  PerfType,
  PerfAttrFlag,
  PerfAttrSize,
  PERF_SAMPLE_RAW,
  PERF_FLAG_FD_CLOEXEC,
  PERF_EVENT_IOC_ENABLE,
  PERF_EVENT_IOC_DISABLE,
  PERF_EVENT_IOC_SET_BPF,
  type PerfEventAttr,
  type PerfEventOpenOptions,
  type EncodedPerfEventAttr,
} from '../internal/perf-event.js';
export { attachTcx, tcxFeature, type TcxOptions, type TcxDirection } from './tcx.js';
export { attachNetkit, netkitFeature, type NetkitOptions } from './netkit.js';
export { type Anchor, type MprogPlacement } from './mprog.js';
export {
  attachNetfilter,
  netfilterFeature,
  netfilterDefragFeature,
  NetfilterFamily,
  NetfilterHook,
  BPF_F_NETFILTER_IP_DEFRAG,
  type NetfilterOptions,
  type NetfilterFamilyName,
  type NetfilterHookName,
} from './netfilter.js';
export { attachCgroup, cgroupAttachTypes, cgroupLinkFeature, BPF_F_ALLOW_MULTI, BPF_F_ALLOW_OVERRIDE, type CgroupOptions } from './cgroup.js';
export { cgroup2Path, cgroupId, processCgroup, resolveCgroup, type CgroupTarget } from '../internal/cgroup.js';
export {
  attachXDP,
  xdpPrograms,
  xdpLinkFeature,
  XDP_FLAGS_UPDATE_IF_NOEXIST,
  XDP_FLAGS_SKB_MODE,
  XDP_FLAGS_DRV_MODE,
  XDP_FLAGS_HW_MODE,
  XDP_FLAGS_REPLACE,
  type XDPOptions,
  type XDPMode,
  type XDPAttachment,
} from './xdp.js';
export { NetlinkError } from '../internal/netlink.js';
export { attachSocketFilter, attachReuseport, type SocketFilterOptions } from './socket-filter.js';
export { attachSockmap, addSocket, sockmapLinkFeature, type SockmapOptions } from './sockmap.js';
export { attachNetns, netnsLinkFeature, type NetnsOptions } from './netns.js';
export { socketFd, socketCookie, type SocketTarget } from '../internal/socket-fd.js';
export { attachTc, tcFilters, type TcOptions, type TcDirection, type TcFilter } from './tc.js';
export { inNetns, netnsPath } from '../internal/netns.js';
export { resolveInterface, interfaceName, interfaceNames } from '../internal/netdev.js';
