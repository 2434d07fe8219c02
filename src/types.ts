/**
 * The kernel's enums for map types, program types and attach types (`enum bpf_map_type`,
 * `enum bpf_prog_type`, `enum bpf_attach_type` in include/uapi/linux/bpf.h), with the first
 * mainline release that has each map and program type.
 *
 * @module
 */

/** `enum bpf_map_type`: `BPF_MAP_TYPE_PERCPU_HASH` is `MapType.PerCPUHash`. */
export enum MapType {
  /** BPF_MAP_TYPE_UNSPEC */
  Unspec = 0,
  /** BPF_MAP_TYPE_HASH */
  Hash = 1,
  /** BPF_MAP_TYPE_ARRAY */
  Array = 2,
  /** BPF_MAP_TYPE_PROG_ARRAY */
  ProgArray = 3,
  /** BPF_MAP_TYPE_PERF_EVENT_ARRAY */
  PerfEventArray = 4,
  /** BPF_MAP_TYPE_PERCPU_HASH */
  PerCPUHash = 5,
  /** BPF_MAP_TYPE_PERCPU_ARRAY */
  PerCPUArray = 6,
  /** BPF_MAP_TYPE_STACK_TRACE */
  StackTrace = 7,
  /** BPF_MAP_TYPE_CGROUP_ARRAY */
  CgroupArray = 8,
  /** BPF_MAP_TYPE_LRU_HASH */
  LRUHash = 9,
  /** BPF_MAP_TYPE_LRU_PERCPU_HASH */
  LRUPerCPUHash = 10,
  /** BPF_MAP_TYPE_LPM_TRIE */
  LPMTrie = 11,
  /** BPF_MAP_TYPE_ARRAY_OF_MAPS */
  ArrayOfMaps = 12,
  /** BPF_MAP_TYPE_HASH_OF_MAPS */
  HashOfMaps = 13,
  /** BPF_MAP_TYPE_DEVMAP */
  DevMap = 14,
  /** BPF_MAP_TYPE_SOCKMAP */
  SockMap = 15,
  /** BPF_MAP_TYPE_CPUMAP */
  CPUMap = 16,
  /** BPF_MAP_TYPE_XSKMAP */
  XSKMap = 17,
  /** BPF_MAP_TYPE_SOCKHASH */
  SockHash = 18,
  /** BPF_MAP_TYPE_CGROUP_STORAGE */
  CgroupStorage = 19,
  /** BPF_MAP_TYPE_REUSEPORT_SOCKARRAY */
  ReuseportSockarray = 20,
  /** BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE */
  PerCPUCgroupStorage = 21,
  /** BPF_MAP_TYPE_QUEUE */
  Queue = 22,
  /** BPF_MAP_TYPE_STACK */
  Stack = 23,
  /** BPF_MAP_TYPE_SK_STORAGE */
  SKStorage = 24,
  /** BPF_MAP_TYPE_DEVMAP_HASH */
  DevMapHash = 25,
  /** BPF_MAP_TYPE_STRUCT_OPS */
  StructOps = 26,
  /** BPF_MAP_TYPE_RINGBUF */
  RingBuf = 27,
  /** BPF_MAP_TYPE_INODE_STORAGE */
  InodeStorage = 28,
  /** BPF_MAP_TYPE_TASK_STORAGE */
  TaskStorage = 29,
  /** BPF_MAP_TYPE_BLOOM_FILTER */
  BloomFilter = 30,
  /** BPF_MAP_TYPE_USER_RINGBUF */
  UserRingBuf = 31,
  /** BPF_MAP_TYPE_CGRP_STORAGE */
  CgrpStorage = 32,
  /** BPF_MAP_TYPE_ARENA */
  Arena = 33,
}

/** First kernel release with each map type. */
export const mapTypeSince: Readonly<Record<MapType, string>> = {
  [MapType.Unspec]: '3.18',
  [MapType.Hash]: '3.19',
  [MapType.Array]: '3.19',
  [MapType.ProgArray]: '4.2',
  [MapType.PerfEventArray]: '4.3',
  [MapType.PerCPUHash]: '4.6',
  [MapType.PerCPUArray]: '4.6',
  [MapType.StackTrace]: '4.6',
  [MapType.CgroupArray]: '4.8',
  [MapType.LRUHash]: '4.10',
  [MapType.LRUPerCPUHash]: '4.10',
  [MapType.LPMTrie]: '4.11',
  [MapType.ArrayOfMaps]: '4.12',
  [MapType.HashOfMaps]: '4.12',
  [MapType.DevMap]: '4.14',
  [MapType.SockMap]: '4.14',
  [MapType.CPUMap]: '4.15',
  [MapType.XSKMap]: '4.18',
  [MapType.SockHash]: '4.18',
  [MapType.CgroupStorage]: '4.19',
  [MapType.ReuseportSockarray]: '4.19',
  [MapType.PerCPUCgroupStorage]: '4.20',
  [MapType.Queue]: '4.20',
  [MapType.Stack]: '4.20',
  [MapType.SKStorage]: '5.2',
  [MapType.DevMapHash]: '5.4',
  [MapType.StructOps]: '5.6',
  [MapType.RingBuf]: '5.8',
  [MapType.InodeStorage]: '5.10',
  [MapType.TaskStorage]: '5.11',
  [MapType.BloomFilter]: '5.16',
  [MapType.UserRingBuf]: '6.1',
  [MapType.CgrpStorage]: '6.2',
  [MapType.Arena]: '6.9',
};

/** `enum bpf_prog_type`: `BPF_PROG_TYPE_SCHED_CLS` is `ProgramType.SchedCls`. */
export enum ProgramType {
  /** BPF_PROG_TYPE_UNSPEC */
  Unspec = 0,
  /** BPF_PROG_TYPE_SOCKET_FILTER */
  SocketFilter = 1,
  /** BPF_PROG_TYPE_KPROBE */
  Kprobe = 2,
  /** BPF_PROG_TYPE_SCHED_CLS */
  SchedCls = 3,
  /** BPF_PROG_TYPE_SCHED_ACT */
  SchedAct = 4,
  /** BPF_PROG_TYPE_TRACEPOINT */
  Tracepoint = 5,
  /** BPF_PROG_TYPE_XDP */
  XDP = 6,
  /** BPF_PROG_TYPE_PERF_EVENT */
  PerfEvent = 7,
  /** BPF_PROG_TYPE_CGROUP_SKB */
  CgroupSKB = 8,
  /** BPF_PROG_TYPE_CGROUP_SOCK */
  CgroupSock = 9,
  /** BPF_PROG_TYPE_LWT_IN */
  LWTIn = 10,
  /** BPF_PROG_TYPE_LWT_OUT */
  LWTOut = 11,
  /** BPF_PROG_TYPE_LWT_XMIT */
  LWTXmit = 12,
  /** BPF_PROG_TYPE_SOCK_OPS */
  SockOps = 13,
  /** BPF_PROG_TYPE_SK_SKB */
  SKSKB = 14,
  /** BPF_PROG_TYPE_CGROUP_DEVICE */
  CgroupDevice = 15,
  /** BPF_PROG_TYPE_SK_MSG */
  SKMsg = 16,
  /** BPF_PROG_TYPE_RAW_TRACEPOINT */
  RawTracepoint = 17,
  /** BPF_PROG_TYPE_CGROUP_SOCK_ADDR */
  CgroupSockAddr = 18,
  /** BPF_PROG_TYPE_LWT_SEG6LOCAL */
  LWTSeg6Local = 19,
  /** BPF_PROG_TYPE_LIRC_MODE2 */
  LIRCMode2 = 20,
  /** BPF_PROG_TYPE_SK_REUSEPORT */
  SKReuseport = 21,
  /** BPF_PROG_TYPE_FLOW_DISSECTOR */
  FlowDissector = 22,
  /** BPF_PROG_TYPE_CGROUP_SYSCTL */
  CgroupSysctl = 23,
  /** BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE */
  RawTracepointWritable = 24,
  /** BPF_PROG_TYPE_CGROUP_SOCKOPT */
  CgroupSockopt = 25,
  /** BPF_PROG_TYPE_TRACING */
  Tracing = 26,
  /** BPF_PROG_TYPE_STRUCT_OPS */
  StructOps = 27,
  /** BPF_PROG_TYPE_EXT */
  Ext = 28,
  /** BPF_PROG_TYPE_LSM */
  LSM = 29,
  /** BPF_PROG_TYPE_SK_LOOKUP */
  SKLookup = 30,
  /** BPF_PROG_TYPE_SYSCALL */
  Syscall = 31,
  /** BPF_PROG_TYPE_NETFILTER */
  Netfilter = 32,
}

/** First kernel release with each program type. */
export const programTypeSince: Readonly<Record<ProgramType, string>> = {
  [ProgramType.Unspec]: '3.19',
  [ProgramType.SocketFilter]: '3.19',
  [ProgramType.Kprobe]: '4.1',
  [ProgramType.SchedCls]: '4.1',
  [ProgramType.SchedAct]: '4.1',
  [ProgramType.Tracepoint]: '4.7',
  [ProgramType.XDP]: '4.8',
  [ProgramType.PerfEvent]: '4.9',
  [ProgramType.CgroupSKB]: '4.10',
  [ProgramType.CgroupSock]: '4.10',
  [ProgramType.LWTIn]: '4.10',
  [ProgramType.LWTOut]: '4.10',
  [ProgramType.LWTXmit]: '4.10',
  [ProgramType.SockOps]: '4.13',
  [ProgramType.SKSKB]: '4.14',
  [ProgramType.CgroupDevice]: '4.15',
  [ProgramType.SKMsg]: '4.17',
  [ProgramType.RawTracepoint]: '4.17',
  [ProgramType.CgroupSockAddr]: '4.17',
  [ProgramType.LWTSeg6Local]: '4.18',
  [ProgramType.LIRCMode2]: '4.18',
  [ProgramType.SKReuseport]: '4.19',
  [ProgramType.FlowDissector]: '4.20',
  [ProgramType.CgroupSysctl]: '5.2',
  [ProgramType.RawTracepointWritable]: '5.2',
  [ProgramType.CgroupSockopt]: '5.3',
  [ProgramType.Tracing]: '5.5',
  [ProgramType.StructOps]: '5.6',
  [ProgramType.Ext]: '5.6',
  [ProgramType.LSM]: '5.7',
  [ProgramType.SKLookup]: '5.9',
  [ProgramType.Syscall]: '5.14',
  [ProgramType.Netfilter]: '6.4',
};

/** `enum bpf_attach_type`: `BPF_TRACE_FENTRY` is `AttachType.TraceFentry`. */
export enum AttachType {
  /** No expected attach type (0 in the attr; numerically the same as CgroupInetIngress). */
  None = 0,
  /** BPF_CGROUP_INET_INGRESS */
  CgroupInetIngress = 0,
  /** BPF_CGROUP_INET_EGRESS */
  CgroupInetEgress = 1,
  /** BPF_CGROUP_INET_SOCK_CREATE */
  CgroupInetSockCreate = 2,
  /** BPF_CGROUP_SOCK_OPS */
  CgroupSockOps = 3,
  /** BPF_SK_SKB_STREAM_PARSER */
  SKSKBStreamParser = 4,
  /** BPF_SK_SKB_STREAM_VERDICT */
  SKSKBStreamVerdict = 5,
  /** BPF_CGROUP_DEVICE */
  CgroupDevice = 6,
  /** BPF_SK_MSG_VERDICT */
  SKMsgVerdict = 7,
  /** BPF_CGROUP_INET4_BIND */
  CgroupInet4Bind = 8,
  /** BPF_CGROUP_INET6_BIND */
  CgroupInet6Bind = 9,
  /** BPF_CGROUP_INET4_CONNECT */
  CgroupInet4Connect = 10,
  /** BPF_CGROUP_INET6_CONNECT */
  CgroupInet6Connect = 11,
  /** BPF_CGROUP_INET4_POST_BIND */
  CgroupInet4PostBind = 12,
  /** BPF_CGROUP_INET6_POST_BIND */
  CgroupInet6PostBind = 13,
  /** BPF_CGROUP_UDP4_SENDMSG */
  CgroupUDP4Sendmsg = 14,
  /** BPF_CGROUP_UDP6_SENDMSG */
  CgroupUDP6Sendmsg = 15,
  /** BPF_LIRC_MODE2 */
  LIRCMode2 = 16,
  /** BPF_FLOW_DISSECTOR */
  FlowDissector = 17,
  /** BPF_CGROUP_SYSCTL */
  CgroupSysctl = 18,
  /** BPF_CGROUP_UDP4_RECVMSG */
  CgroupUDP4Recvmsg = 19,
  /** BPF_CGROUP_UDP6_RECVMSG */
  CgroupUDP6Recvmsg = 20,
  /** BPF_CGROUP_GETSOCKOPT */
  CgroupGetsockopt = 21,
  /** BPF_CGROUP_SETSOCKOPT */
  CgroupSetsockopt = 22,
  /** BPF_TRACE_RAW_TP */
  TraceRawTP = 23,
  /** BPF_TRACE_FENTRY */
  TraceFentry = 24,
  /** BPF_TRACE_FEXIT */
  TraceFexit = 25,
  /** BPF_MODIFY_RETURN */
  ModifyReturn = 26,
  /** BPF_LSM_MAC */
  LSMMAC = 27,
  /** BPF_TRACE_ITER */
  TraceIter = 28,
  /** BPF_CGROUP_INET4_GETPEERNAME */
  CgroupInet4Getpeername = 29,
  /** BPF_CGROUP_INET6_GETPEERNAME */
  CgroupInet6Getpeername = 30,
  /** BPF_CGROUP_INET4_GETSOCKNAME */
  CgroupInet4Getsockname = 31,
  /** BPF_CGROUP_INET6_GETSOCKNAME */
  CgroupInet6Getsockname = 32,
  /** BPF_XDP_DEVMAP */
  XDPDevMap = 33,
  /** BPF_CGROUP_INET_SOCK_RELEASE */
  CgroupInetSockRelease = 34,
  /** BPF_XDP_CPUMAP */
  XDPCPUMap = 35,
  /** BPF_SK_LOOKUP */
  SKLookup = 36,
  /** BPF_XDP */
  XDP = 37,
  /** BPF_SK_SKB_VERDICT */
  SKSKBVerdict = 38,
  /** BPF_SK_REUSEPORT_SELECT */
  SKReuseportSelect = 39,
  /** BPF_SK_REUSEPORT_SELECT_OR_MIGRATE */
  SKReuseportSelectOrMigrate = 40,
  /** BPF_PERF_EVENT */
  PerfEvent = 41,
  /** BPF_TRACE_KPROBE_MULTI */
  TraceKprobeMulti = 42,
  /** BPF_LSM_CGROUP */
  LSMCgroup = 43,
  /** BPF_STRUCT_OPS */
  StructOps = 44,
  /** BPF_NETFILTER */
  Netfilter = 45,
  /** BPF_TCX_INGRESS */
  TCXIngress = 46,
  /** BPF_TCX_EGRESS */
  TCXEgress = 47,
  /** BPF_TRACE_UPROBE_MULTI */
  TraceUprobeMulti = 48,
  /** BPF_CGROUP_UNIX_CONNECT */
  CgroupUnixConnect = 49,
  /** BPF_CGROUP_UNIX_SENDMSG */
  CgroupUnixSendmsg = 50,
  /** BPF_CGROUP_UNIX_RECVMSG */
  CgroupUnixRecvmsg = 51,
  /** BPF_CGROUP_UNIX_GETPEERNAME */
  CgroupUnixGetpeername = 52,
  /** BPF_CGROUP_UNIX_GETSOCKNAME */
  CgroupUnixGetsockname = 53,
  /** BPF_NETKIT_PRIMARY */
  NetkitPrimary = 54,
  /** BPF_NETKIT_PEER */
  NetkitPeer = 55,
  /** BPF_TRACE_KPROBE_SESSION */
  TraceKprobeSession = 56,
  /** BPF_TRACE_UPROBE_SESSION */
  TraceUprobeSession = 57,
}


/** The UAPI name of a map type, e.g. `"PERCPU_HASH"`. */
export function mapTypeName(type: number): string {
  return type in MapType ? uapiName(MapType[type]!) : `map type ${type}`;
}

/** The UAPI name of a program type, e.g. `"SCHED_CLS"`. */
export function programTypeName(type: number): string {
  return type in ProgramType ? uapiName(ProgramType[type]!) : `program type ${type}`;
}

const names = new Map<string, string>();

for (const [camel, uapi] of [
  ['Unspec', 'UNSPEC'],
  ['Hash', 'HASH'],
  ['Array', 'ARRAY'],
  ['ProgArray', 'PROG_ARRAY'],
  ['PerfEventArray', 'PERF_EVENT_ARRAY'],
  ['PerCPUHash', 'PERCPU_HASH'],
  ['PerCPUArray', 'PERCPU_ARRAY'],
  ['StackTrace', 'STACK_TRACE'],
  ['CgroupArray', 'CGROUP_ARRAY'],
  ['LRUHash', 'LRU_HASH'],
  ['LRUPerCPUHash', 'LRU_PERCPU_HASH'],
  ['LPMTrie', 'LPM_TRIE'],
  ['ArrayOfMaps', 'ARRAY_OF_MAPS'],
  ['HashOfMaps', 'HASH_OF_MAPS'],
  ['DevMap', 'DEVMAP'],
  ['SockMap', 'SOCKMAP'],
  ['CPUMap', 'CPUMAP'],
  ['XSKMap', 'XSKMAP'],
  ['SockHash', 'SOCKHASH'],
  ['CgroupStorage', 'CGROUP_STORAGE'],
  ['ReuseportSockarray', 'REUSEPORT_SOCKARRAY'],
  ['PerCPUCgroupStorage', 'PERCPU_CGROUP_STORAGE'],
  ['Queue', 'QUEUE'],
  ['Stack', 'STACK'],
  ['SKStorage', 'SK_STORAGE'],
  ['DevMapHash', 'DEVMAP_HASH'],
  ['StructOps', 'STRUCT_OPS'],
  ['RingBuf', 'RINGBUF'],
  ['InodeStorage', 'INODE_STORAGE'],
  ['TaskStorage', 'TASK_STORAGE'],
  ['BloomFilter', 'BLOOM_FILTER'],
  ['UserRingBuf', 'USER_RINGBUF'],
  ['CgrpStorage', 'CGRP_STORAGE'],
  ['Arena', 'ARENA'],
  ['Unspec', 'UNSPEC'],
  ['SocketFilter', 'SOCKET_FILTER'],
  ['Kprobe', 'KPROBE'],
  ['SchedCls', 'SCHED_CLS'],
  ['SchedAct', 'SCHED_ACT'],
  ['Tracepoint', 'TRACEPOINT'],
  ['XDP', 'XDP'],
  ['PerfEvent', 'PERF_EVENT'],
  ['CgroupSKB', 'CGROUP_SKB'],
  ['CgroupSock', 'CGROUP_SOCK'],
  ['LWTIn', 'LWT_IN'],
  ['LWTOut', 'LWT_OUT'],
  ['LWTXmit', 'LWT_XMIT'],
  ['SockOps', 'SOCK_OPS'],
  ['SKSKB', 'SK_SKB'],
  ['CgroupDevice', 'CGROUP_DEVICE'],
  ['SKMsg', 'SK_MSG'],
  ['RawTracepoint', 'RAW_TRACEPOINT'],
  ['CgroupSockAddr', 'CGROUP_SOCK_ADDR'],
  ['LWTSeg6Local', 'LWT_SEG6LOCAL'],
  ['LIRCMode2', 'LIRC_MODE2'],
  ['SKReuseport', 'SK_REUSEPORT'],
  ['FlowDissector', 'FLOW_DISSECTOR'],
  ['CgroupSysctl', 'CGROUP_SYSCTL'],
  ['RawTracepointWritable', 'RAW_TRACEPOINT_WRITABLE'],
  ['CgroupSockopt', 'CGROUP_SOCKOPT'],
  ['Tracing', 'TRACING'],
  ['StructOps', 'STRUCT_OPS'],
  ['Ext', 'EXT'],
  ['LSM', 'LSM'],
  ['SKLookup', 'SK_LOOKUP'],
  ['Syscall', 'SYSCALL'],
  ['Netfilter', 'NETFILTER'],
] as const) names.set(camel, uapi);


function uapiName(camel: string): string {
  return names.get(camel) ?? camel;
}
