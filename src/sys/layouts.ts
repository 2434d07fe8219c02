/**
 * One layout per bpf() command, transcribed from the kernel's `union bpf_attr`
 * (include/uapi/linux/bpf.h), and the `bpf_*_info` structs. The third element of each field is
 * the first mainline release whose kernel reads the field; `test/unit/attr-layout.test.ts`
 * checks every offset against the installed UAPI header.
 *
 * @module
 */
import { defineLayout } from './attr.js';

/** bpf() command numbers (`enum bpf_cmd`). */
export enum Cmd {
  MapCreate = 0,
  MapLookupElem = 1,
  MapUpdateElem = 2,
  MapDeleteElem = 3,
  MapGetNextKey = 4,
  ProgLoad = 5,
  ObjPin = 6,
  ObjGet = 7,
  ProgAttach = 8,
  ProgDetach = 9,
  ProgTestRun = 10,
  ProgGetNextId = 11,
  MapGetNextId = 12,
  ProgGetFdById = 13,
  MapGetFdById = 14,
  ObjGetInfoByFd = 15,
  ProgQuery = 16,
  RawTracepointOpen = 17,
  BtfLoad = 18,
  BtfGetFdById = 19,
  TaskFdQuery = 20,
  MapLookupAndDeleteElem = 21,
  MapFreeze = 22,
  BtfGetNextId = 23,
  MapLookupBatch = 24,
  MapLookupAndDeleteBatch = 25,
  MapUpdateBatch = 26,
  MapDeleteBatch = 27,
  LinkCreate = 28,
  LinkUpdate = 29,
  LinkGetFdById = 30,
  LinkGetNextId = 31,
  EnableStats = 32,
  IterCreate = 33,
  LinkDetach = 34,
  ProgBindMap = 35,
  TokenCreate = 36,
}

/** BPF_MAP_CREATE. */
export const MapCreate = defineLayout(
  'BPF_MAP_CREATE',
  Cmd.MapCreate,
  '3.18',
  {
    map_type: [0, 'u32', '3.18'],
    key_size: [4, 'u32', '3.18'],
    value_size: [8, 'u32', '3.18'],
    max_entries: [12, 'u32', '3.18'],
    map_flags: [16, 'u32', '4.6'],
    inner_map_fd: [20, 'u32', '4.12'],
    numa_node: [24, 'u32', '4.14'],
    map_name: [28, 'name', '4.15'],
    map_ifindex: [44, 'u32', '4.16'],
    btf_fd: [48, 'u32', '4.18'],
    btf_key_type_id: [52, 'u32', '4.18'],
    btf_value_type_id: [56, 'u32', '4.18'],
    btf_vmlinux_value_type_id: [60, 'u32', '5.6'],
    map_extra: [64, 'u64', '5.16'],
    value_type_btf_obj_fd: [72, 's32', '6.9'],
    map_token_fd: [76, 's32', '6.9'],
  },
  { returnsFd: true, token: { fd: 'map_token_fd', flags: 'map_flags' } },
);

const elemFields = {
  map_fd: [0, 'u32', '3.18'],
  key: [8, 'ptr', '3.18'],
  value: [16, 'ptr', '3.18'],
  flags: [24, 'u64', '3.18'],
} as const;

/** BPF_MAP_LOOKUP_ELEM (flags: BPF_F_LOCK since 5.1). */
export const MapLookupElem = defineLayout('BPF_MAP_LOOKUP_ELEM', Cmd.MapLookupElem, '3.18', elemFields);
/** BPF_MAP_UPDATE_ELEM. */
export const MapUpdateElem = defineLayout('BPF_MAP_UPDATE_ELEM', Cmd.MapUpdateElem, '3.18', elemFields);
/** BPF_MAP_DELETE_ELEM. */
export const MapDeleteElem = defineLayout('BPF_MAP_DELETE_ELEM', Cmd.MapDeleteElem, '3.18', {
  map_fd: elemFields.map_fd,
  key: elemFields.key,
});
/** BPF_MAP_GET_NEXT_KEY: `next_key` shares `value`'s slot. */
export const MapGetNextKey = defineLayout('BPF_MAP_GET_NEXT_KEY', Cmd.MapGetNextKey, '3.18', {
  map_fd: elemFields.map_fd,
  key: elemFields.key,
  next_key: [16, 'ptr', '3.18'],
});
/** BPF_MAP_LOOKUP_AND_DELETE_ELEM (queue/stack 4.20, hash maps 5.14). */
export const MapLookupAndDeleteElem = defineLayout(
  'BPF_MAP_LOOKUP_AND_DELETE_ELEM',
  Cmd.MapLookupAndDeleteElem,
  '4.20',
  { ...elemFields, flags: [24, 'u64', '5.14'] },
);
/** BPF_MAP_FREEZE. */
export const MapFreeze = defineLayout('BPF_MAP_FREEZE', Cmd.MapFreeze, '5.2', { map_fd: [0, 'u32', '5.2'] });

const batchFields = {
  in_batch: [0, 'ptr', '5.6'],
  out_batch: [8, 'ptr', '5.6'],
  keys: [16, 'ptr', '5.6'],
  values: [24, 'ptr', '5.6'],
  count: [32, 'u32', '5.6'],
  map_fd: [36, 'u32', '5.6'],
  elem_flags: [40, 'u64', '5.6'],
  flags: [48, 'u64', '5.6'],
} as const;

/** BPF_MAP_LOOKUP_BATCH. */
export const MapLookupBatch = defineLayout('BPF_MAP_LOOKUP_BATCH', Cmd.MapLookupBatch, '5.6', batchFields);
/** BPF_MAP_LOOKUP_AND_DELETE_BATCH. */
export const MapLookupAndDeleteBatch = defineLayout(
  'BPF_MAP_LOOKUP_AND_DELETE_BATCH',
  Cmd.MapLookupAndDeleteBatch,
  '5.6',
  batchFields,
);
/** BPF_MAP_UPDATE_BATCH. */
export const MapUpdateBatch = defineLayout('BPF_MAP_UPDATE_BATCH', Cmd.MapUpdateBatch, '5.6', batchFields);
/** BPF_MAP_DELETE_BATCH. */
export const MapDeleteBatch = defineLayout('BPF_MAP_DELETE_BATCH', Cmd.MapDeleteBatch, '5.6', batchFields);

/** BPF_PROG_LOAD. */
export const ProgLoad = defineLayout(
  'BPF_PROG_LOAD',
  Cmd.ProgLoad,
  '3.19',
  {
    prog_type: [0, 'u32', '3.19'],
    insn_cnt: [4, 'u32', '3.19'],
    insns: [8, 'ptr', '3.19'],
    license: [16, 'ptr', '3.19'],
    log_level: [24, 'u32', '3.19'],
    log_size: [28, 'u32', '3.19'],
    log_buf: [32, 'ptr', '3.19'],
    kern_version: [40, 'u32', '4.1'],
    prog_flags: [44, 'u32', '4.12'],
    prog_name: [48, 'name', '4.15'],
    prog_ifindex: [64, 'u32', '4.15'],
    expected_attach_type: [68, 'u32', '4.17'],
    prog_btf_fd: [72, 'u32', '5.0'],
    func_info_rec_size: [76, 'u32', '5.0'],
    func_info: [80, 'ptr', '5.0'],
    func_info_cnt: [88, 'u32', '5.0'],
    line_info_rec_size: [92, 'u32', '5.0'],
    line_info: [96, 'ptr', '5.0'],
    line_info_cnt: [104, 'u32', '5.0'],
    attach_btf_id: [108, 'u32', '5.5'],
    attach_prog_fd: [112, 'u32', '5.5'],
    core_relo_cnt: [116, 'u32', '5.17'],
    fd_array: [120, 'ptr', '5.17'],
    core_relos: [128, 'ptr', '5.17'],
    core_relo_rec_size: [136, 'u32', '5.17'],
    log_true_size: [140, 'u32', '6.4'],
    prog_token_fd: [144, 's32', '6.9'],
    fd_array_cnt: [148, 'u32', '6.14'],
  },
  { returnsFd: true, token: { fd: 'prog_token_fd', flags: 'prog_flags' } },
);

const objFields = {
  pathname: [0, 'ptr', '4.4'],
  bpf_fd: [8, 'u32', '4.4'],
  file_flags: [12, 'u32', '4.15'],
  path_fd: [16, 's32', '6.5'],
} as const;

/** BPF_OBJ_PIN. */
export const ObjPin = defineLayout('BPF_OBJ_PIN', Cmd.ObjPin, '4.4', objFields);
/** BPF_OBJ_GET. */
export const ObjGet = defineLayout('BPF_OBJ_GET', Cmd.ObjGet, '4.4', objFields, { returnsFd: true });

/** BPF_PROG_ATTACH. */
export const ProgAttach = defineLayout('BPF_PROG_ATTACH', Cmd.ProgAttach, '4.10', {
  target_fd: [0, 'u32', '4.10'],
  attach_bpf_fd: [4, 'u32', '4.10'],
  attach_type: [8, 'u32', '4.10'],
  attach_flags: [12, 'u32', '4.10'],
  replace_bpf_fd: [16, 'u32', '5.6'],
  relative_fd: [20, 'u32', '6.6'],
  expected_revision: [24, 'u64', '6.6'],
});
/** BPF_PROG_DETACH. */
export const ProgDetach = defineLayout('BPF_PROG_DETACH', Cmd.ProgDetach, '4.10', {
  target_fd: [0, 'u32', '4.10'],
  attach_bpf_fd: [4, 'u32', '4.10'],
  attach_type: [8, 'u32', '4.10'],
  attach_flags: [12, 'u32', '6.6'],
  relative_fd: [20, 'u32', '6.6'],
  expected_revision: [24, 'u64', '6.6'],
});

/** BPF_PROG_TEST_RUN. */
export const ProgTestRun = defineLayout('BPF_PROG_TEST_RUN', Cmd.ProgTestRun, '4.12', {
  prog_fd: [0, 'u32', '4.12'],
  retval: [4, 'u32', '4.12'],
  data_size_in: [8, 'u32', '4.12'],
  data_size_out: [12, 'u32', '4.12'],
  data_in: [16, 'ptr', '4.12'],
  data_out: [24, 'ptr', '4.12'],
  repeat: [32, 'u32', '4.12'],
  duration: [36, 'u32', '4.12'],
  ctx_size_in: [40, 'u32', '5.2'],
  ctx_size_out: [44, 'u32', '5.2'],
  ctx_in: [48, 'ptr', '5.2'],
  ctx_out: [56, 'ptr', '5.2'],
  flags: [64, 'u32', '5.10'],
  cpu: [68, 'u32', '5.10'],
  batch_size: [72, 'u32', '5.18'],
});

const nextIdFields = {
  start_id: [0, 'u32', '4.13'],
  next_id: [4, 'u32', '4.13'],
} as const;
// *_GET_FD_BY_ID read `open_flags` at offset 8, so the id's slot and next_id's slot are sent too.
const fdByIdFields = {
  id: [0, 'u32', '4.13'],
  next_id: [4, 'u32', '4.13'],
  open_flags: [8, 'u32', '4.15'],
} as const;

/** BPF_PROG_GET_NEXT_ID. */
export const ProgGetNextId = defineLayout('BPF_PROG_GET_NEXT_ID', Cmd.ProgGetNextId, '4.13', nextIdFields);
/** BPF_MAP_GET_NEXT_ID. */
export const MapGetNextId = defineLayout('BPF_MAP_GET_NEXT_ID', Cmd.MapGetNextId, '4.13', nextIdFields);
/** BPF_BTF_GET_NEXT_ID. */
export const BtfGetNextId = defineLayout('BPF_BTF_GET_NEXT_ID', Cmd.BtfGetNextId, '5.4', {
  start_id: [0, 'u32', '5.4'],
  next_id: [4, 'u32', '5.4'],
});
/** BPF_LINK_GET_NEXT_ID. */
export const LinkGetNextId = defineLayout('BPF_LINK_GET_NEXT_ID', Cmd.LinkGetNextId, '5.8', {
  start_id: [0, 'u32', '5.8'],
  next_id: [4, 'u32', '5.8'],
});
/** BPF_PROG_GET_FD_BY_ID. */
export const ProgGetFdById = defineLayout('BPF_PROG_GET_FD_BY_ID', Cmd.ProgGetFdById, '4.13', fdByIdFields, {
  returnsFd: true,
});
/** BPF_MAP_GET_FD_BY_ID. */
export const MapGetFdById = defineLayout('BPF_MAP_GET_FD_BY_ID', Cmd.MapGetFdById, '4.13', fdByIdFields, {
  returnsFd: true,
});
/** BPF_BTF_GET_FD_BY_ID. */
export const BtfGetFdById = defineLayout(
  'BPF_BTF_GET_FD_BY_ID',
  Cmd.BtfGetFdById,
  '4.18',
  { id: [0, 'u32', '4.18'], next_id: [4, 'u32', '4.18'], open_flags: [8, 'u32', '6.9'] },
  { returnsFd: true },
);
/** BPF_LINK_GET_FD_BY_ID. */
export const LinkGetFdById = defineLayout(
  'BPF_LINK_GET_FD_BY_ID',
  Cmd.LinkGetFdById,
  '5.8',
  { id: [0, 'u32', '5.8'], next_id: [4, 'u32', '5.8'], open_flags: [8, 'u32', '5.8'] },
  { returnsFd: true },
);

/** BPF_OBJ_GET_INFO_BY_FD. */
export const ObjGetInfoByFd = defineLayout('BPF_OBJ_GET_INFO_BY_FD', Cmd.ObjGetInfoByFd, '4.13', {
  bpf_fd: [0, 'u32', '4.13'],
  info_len: [4, 'u32', '4.13'],
  info: [8, 'ptr', '4.13'],
});

/** BPF_RAW_TRACEPOINT_OPEN. */
export const RawTracepointOpen = defineLayout(
  'BPF_RAW_TRACEPOINT_OPEN',
  Cmd.RawTracepointOpen,
  '4.17',
  { name: [0, 'ptr', '4.17'], prog_fd: [8, 'u32', '4.17'], cookie: [16, 'u64', '6.10'] },
  { returnsFd: true },
);

/** BPF_BTF_LOAD. */
export const BtfLoad = defineLayout(
  'BPF_BTF_LOAD',
  Cmd.BtfLoad,
  '4.18',
  {
    btf: [0, 'ptr', '4.18'],
    btf_log_buf: [8, 'ptr', '4.18'],
    btf_size: [16, 'u32', '4.18'],
    btf_log_size: [20, 'u32', '4.18'],
    btf_log_level: [24, 'u32', '4.18'],
    btf_log_true_size: [28, 'u32', '6.4'],
    btf_flags: [32, 'u32', '6.9'],
    btf_token_fd: [36, 's32', '6.9'],
  },
  { returnsFd: true, token: { fd: 'btf_token_fd', flags: 'btf_flags' } },
);

/**
 * BPF_LINK_CREATE. The tail is a union per attach kind; each variant gets its own field names
 * here so the size computation and the version table stay per variant.
 */
export const LinkCreate = defineLayout(
  'BPF_LINK_CREATE',
  Cmd.LinkCreate,
  '5.7',
  {
    prog_fd: [0, 'u32', '5.7'],
    map_fd: [0, 'u32', '6.4'],
    target_fd: [4, 'u32', '5.7'],
    attach_type: [8, 'u32', '5.7'],
    flags: [12, 'u32', '5.7'],
    target_btf_id: [16, 'u32', '5.10'],
    iter_info: [16, 'ptr', '5.9'],
    iter_info_len: [24, 'u32', '5.9'],
    perf_event_bpf_cookie: [16, 'u64', '5.15'],
    kprobe_multi_flags: [16, 'u32', '5.18'],
    kprobe_multi_cnt: [20, 'u32', '5.18'],
    kprobe_multi_syms: [24, 'ptr', '5.18'],
    kprobe_multi_addrs: [32, 'ptr', '5.18'],
    kprobe_multi_cookies: [40, 'ptr', '5.18'],
    tracing_target_btf_id: [16, 'u32', '5.19'],
    tracing_cookie: [24, 'u64', '5.19'],
    uprobe_multi_path: [16, 'ptr', '6.6'],
    uprobe_multi_offsets: [24, 'ptr', '6.6'],
    uprobe_multi_ref_ctr_offsets: [32, 'ptr', '6.6'],
    uprobe_multi_cookies: [40, 'ptr', '6.6'],
    uprobe_multi_cnt: [48, 'u32', '6.6'],
    uprobe_multi_flags: [52, 'u32', '6.6'],
    uprobe_multi_pid: [56, 'u32', '6.6'],
    netfilter_pf: [16, 'u32', '6.4'],
    netfilter_hooknum: [20, 'u32', '6.4'],
    netfilter_priority: [24, 's32', '6.4'],
    netfilter_flags: [28, 'u32', '6.4'],
    tcx_relative_fd: [16, 'u32', '6.6'],
    tcx_expected_revision: [24, 'u64', '6.6'],
    netkit_relative_fd: [16, 'u32', '6.7'],
    netkit_expected_revision: [24, 'u64', '6.7'],
  },
  { returnsFd: true },
);

/** BPF_LINK_UPDATE. */
export const LinkUpdate = defineLayout('BPF_LINK_UPDATE', Cmd.LinkUpdate, '5.7', {
  link_fd: [0, 'u32', '5.7'],
  new_prog_fd: [4, 'u32', '5.7'],
  flags: [8, 'u32', '5.7'],
  old_prog_fd: [12, 'u32', '5.7'],
  new_map_fd: [4, 'u32', '6.4'],
  old_map_fd: [12, 'u32', '6.4'],
});

/** BPF_LINK_DETACH. */
export const LinkDetach = defineLayout('BPF_LINK_DETACH', Cmd.LinkDetach, '5.9', { link_fd: [0, 'u32', '5.9'] });

/** BPF_ENABLE_STATS. */
export const EnableStats = defineLayout('BPF_ENABLE_STATS', Cmd.EnableStats, '5.8', { type: [0, 'u32', '5.8'] }, {
  returnsFd: true,
});

/** BPF_ITER_CREATE. */
export const IterCreate = defineLayout(
  'BPF_ITER_CREATE',
  Cmd.IterCreate,
  '5.8',
  { link_fd: [0, 'u32', '5.8'], flags: [4, 'u32', '5.8'] },
  { returnsFd: true },
);

/** BPF_PROG_BIND_MAP. */
export const ProgBindMap = defineLayout('BPF_PROG_BIND_MAP', Cmd.ProgBindMap, '5.10', {
  prog_fd: [0, 'u32', '5.10'],
  map_fd: [4, 'u32', '5.10'],
  flags: [8, 'u32', '5.10'],
});

/**
 * BPF_TOKEN_CREATE (6.9): a token from the root of a bpffs mounted with `delegate_*` options, in
 * the user namespace that owns the mount.
 */
export const TokenCreate = defineLayout(
  'BPF_TOKEN_CREATE',
  Cmd.TokenCreate,
  '6.9',
  { flags: [0, 'u32', '6.9'], bpffs_fd: [4, 'u32', '6.9'] },
  { returnsFd: true },
);

/**
 * BPF_PROG_QUERY. Callers set `revision` (0n) so the attr is always sent whole:
 * bpf_mprog_query() (tcx, netkit, 6.6) and __cgroup_bpf_query() (6.16) copy the revision to
 * `uattr->query.revision` however short the attr was; older kernels accept the zero tail.
 */
export const ProgQuery = defineLayout('BPF_PROG_QUERY', Cmd.ProgQuery, '4.15', {
  target_fd: [0, 'u32', '4.15'],
  attach_type: [4, 'u32', '4.15'],
  query_flags: [8, 'u32', '4.15'],
  attach_flags: [12, 'u32', '4.15'],
  prog_ids: [16, 'ptr', '4.15'],
  prog_cnt: [24, 'u32', '4.15'],
  prog_attach_flags: [32, 'ptr', '6.0'],
  link_ids: [40, 'ptr', '6.6'],
  link_attach_flags: [48, 'ptr', '6.6'],
  revision: [56, 'u64', '6.6'],
});

/** BPF_TASK_FD_QUERY. */
export const TaskFdQuery = defineLayout('BPF_TASK_FD_QUERY', Cmd.TaskFdQuery, '4.18', {
  pid: [0, 'u32', '4.18'],
  fd: [4, 'u32', '4.18'],
  flags: [8, 'u32', '4.18'],
  buf_len: [12, 'u32', '4.18'],
  buf: [16, 'ptr', '4.18'],
  prog_id: [24, 'u32', '4.18'],
  fd_type: [28, 'u32', '4.18'],
  probe_offset: [32, 'u64', '4.18'],
  probe_addr: [40, 'u64', '4.18'],
});

/** Every command layout, for diagnostics and the layout test. */
export const commandLayouts = [
  MapCreate,
  MapLookupElem,
  MapUpdateElem,
  MapDeleteElem,
  MapGetNextKey,
  MapLookupAndDeleteElem,
  MapFreeze,
  MapLookupBatch,
  MapLookupAndDeleteBatch,
  MapUpdateBatch,
  MapDeleteBatch,
  ProgLoad,
  ObjPin,
  ObjGet,
  ProgAttach,
  ProgDetach,
  ProgTestRun,
  ProgGetNextId,
  MapGetNextId,
  BtfGetNextId,
  LinkGetNextId,
  ProgGetFdById,
  MapGetFdById,
  BtfGetFdById,
  LinkGetFdById,
  ObjGetInfoByFd,
  RawTracepointOpen,
  BtfLoad,
  LinkCreate,
  LinkUpdate,
  LinkDetach,
  EnableStats,
  IterCreate,
  ProgBindMap,
  TokenCreate,
  ProgQuery,
  TaskFdQuery,
] as const;

/** `struct bpf_prog_info`. */
export const ProgInfo = defineLayout('bpf_prog_info', -1, '4.13', {
  type: [0, 'u32', '4.13'],
  id: [4, 'u32', '4.13'],
  tag: [8, 'bytes', '4.13', 8],
  jited_prog_len: [16, 'u32', '4.13'],
  xlated_prog_len: [20, 'u32', '4.13'],
  jited_prog_insns: [24, 'ptr', '4.13'],
  xlated_prog_insns: [32, 'ptr', '4.13'],
  load_time: [40, 'u64', '4.15'],
  created_by_uid: [48, 'u32', '4.15'],
  nr_map_ids: [52, 'u32', '4.15'],
  map_ids: [56, 'ptr', '4.15'],
  name: [64, 'name', '4.15'],
  ifindex: [80, 'u32', '4.16'],
  gpl_compatible: [84, 'u32', '4.18'],
  netns_dev: [88, 'u64', '4.16'],
  netns_ino: [96, 'u64', '4.16'],
  nr_jited_ksyms: [104, 'u32', '4.18'],
  nr_jited_func_lens: [108, 'u32', '4.18'],
  jited_ksyms: [112, 'ptr', '4.18'],
  jited_func_lens: [120, 'ptr', '4.18'],
  btf_id: [128, 'u32', '5.0'],
  func_info_rec_size: [132, 'u32', '5.0'],
  func_info: [136, 'ptr', '5.0'],
  nr_func_info: [144, 'u32', '5.0'],
  nr_line_info: [148, 'u32', '5.0'],
  line_info: [152, 'ptr', '5.0'],
  jited_line_info: [160, 'ptr', '5.0'],
  nr_jited_line_info: [168, 'u32', '5.0'],
  line_info_rec_size: [172, 'u32', '5.0'],
  jited_line_info_rec_size: [176, 'u32', '5.0'],
  nr_prog_tags: [180, 'u32', '5.0'],
  prog_tags: [184, 'ptr', '5.0'],
  run_time_ns: [192, 'u64', '5.1'],
  run_cnt: [200, 'u64', '5.1'],
  recursion_misses: [208, 'u64', '5.12'],
  verified_insns: [216, 'u32', '5.16'],
  attach_btf_obj_id: [220, 'u32', '6.0'],
  attach_btf_id: [224, 'u32', '6.0'],
  pad: [228, 'u32', '6.0'],
});

/** `struct bpf_map_info`. */
export const MapInfo = defineLayout('bpf_map_info', -1, '4.13', {
  type: [0, 'u32', '4.13'],
  id: [4, 'u32', '4.13'],
  key_size: [8, 'u32', '4.13'],
  value_size: [12, 'u32', '4.13'],
  max_entries: [16, 'u32', '4.13'],
  map_flags: [20, 'u32', '4.13'],
  name: [24, 'name', '4.15'],
  ifindex: [40, 'u32', '4.16'],
  btf_vmlinux_value_type_id: [44, 'u32', '5.6'],
  netns_dev: [48, 'u64', '4.16'],
  netns_ino: [56, 'u64', '4.16'],
  btf_id: [64, 'u32', '4.18'],
  btf_key_type_id: [68, 'u32', '4.18'],
  btf_value_type_id: [72, 'u32', '4.18'],
  pad: [76, 'u32', '4.18'],
  map_extra: [80, 'u64', '5.16'],
});

/** `struct bpf_btf_info`. */
export const BtfInfo = defineLayout('bpf_btf_info', -1, '4.18', {
  btf: [0, 'ptr', '4.18'],
  btf_size: [8, 'u32', '4.18'],
  id: [12, 'u32', '4.18'],
  name: [16, 'ptr', '5.11'],
  name_len: [24, 'u32', '5.11'],
  kernel_btf: [28, 'u32', '5.11'],
});

/**
 * `struct bpf_link_info`, common head plus the raw_tracepoint, tracing, perf_event,
 * kprobe_multi and uprobe_multi variants. perf_event's inner union starts at 24 (8-aligned
 * after its `type`); its members share `*_name` at 24, `name_len` at 32 and `offset` at 36.
 */
export const LinkInfo = defineLayout('bpf_link_info', -1, '5.8', {
  type: [0, 'u32', '5.8'],
  id: [4, 'u32', '5.8'],
  prog_id: [8, 'u32', '5.8'],
  raw_tracepoint_tp_name: [16, 'ptr', '5.8'],
  raw_tracepoint_tp_name_len: [24, 'u32', '5.8'],
  tracing_attach_type: [16, 'u32', '5.8'],
  tracing_target_obj_id: [20, 'u32', '5.13'],
  tracing_target_btf_id: [24, 'u32', '5.13'],
  perf_event_type: [16, 'u32', '6.6'],
  perf_event_name: [24, 'ptr', '6.6'],
  perf_event_name_len: [32, 'u32', '6.6'],
  perf_event_offset: [36, 'u32', '6.6'],
  perf_event_kprobe_addr: [40, 'u64', '6.6'],
  perf_event_kprobe_missed: [48, 'u64', '6.7'],
  perf_event_kprobe_cookie: [56, 'u64', '6.9'],
  perf_event_uprobe_cookie: [40, 'u64', '6.9'],
  perf_event_uprobe_ref_ctr_offset: [48, 'u64', '6.16'],
  perf_event_tracepoint_cookie: [40, 'u64', '6.9'],
  perf_event_event_config: [24, 'u64', '6.6'],
  perf_event_event_type: [32, 'u32', '6.6'],
  perf_event_event_cookie: [40, 'u64', '6.9'],
  kprobe_multi_addrs: [16, 'ptr', '6.6'],
  kprobe_multi_count: [24, 'u32', '6.6'],
  kprobe_multi_flags: [28, 'u32', '6.6'],
  kprobe_multi_missed: [32, 'u64', '6.7'],
  kprobe_multi_cookies: [40, 'ptr', '6.9'],
  uprobe_multi_path: [16, 'ptr', '6.8'],
  uprobe_multi_offsets: [24, 'ptr', '6.8'],
  uprobe_multi_ref_ctr_offsets: [32, 'ptr', '6.8'],
  uprobe_multi_cookies: [40, 'ptr', '6.8'],
  uprobe_multi_path_size: [48, 'u32', '6.8'],
  uprobe_multi_count: [52, 'u32', '6.8'],
  uprobe_multi_flags: [56, 'u32', '6.8'],
  uprobe_multi_pid: [60, 'u32', '6.8'],
  cgroup_cgroup_id: [16, 'u64', '5.8'],
  cgroup_attach_type: [24, 'u32', '5.8'],
  iter_target_name: [16, 'ptr', '5.9'],
  iter_target_name_len: [24, 'u32', '5.9'],
  iter_map_id: [28, 'u32', '5.9'],
  iter_cgroup_cgroup_id: [32, 'u64', '6.1'],
  iter_cgroup_order: [40, 'u32', '6.1'],
  iter_task_tid: [32, 'u32', '6.1'],
  iter_task_pid: [36, 'u32', '6.1'],
  netns_netns_ino: [16, 'u32', '5.8'],
  netns_attach_type: [20, 'u32', '5.8'],
  xdp_ifindex: [16, 'u32', '5.9'],
  struct_ops_map_id: [16, 'u32', '6.4'],
  netfilter_pf: [16, 'u32', '6.4'],
  netfilter_hooknum: [20, 'u32', '6.4'],
  netfilter_priority: [24, 's32', '6.4'],
  netfilter_flags: [28, 'u32', '6.4'],
  tcx_ifindex: [16, 'u32', '6.6'],
  tcx_attach_type: [20, 'u32', '6.6'],
  netkit_ifindex: [16, 'u32', '6.7'],
  netkit_attach_type: [20, 'u32', '6.7'],
  sockmap_map_id: [16, 'u32', '6.10'],
  sockmap_attach_type: [20, 'u32', '6.10'],
  pad: [64, 'u64', '5.8'],
});
