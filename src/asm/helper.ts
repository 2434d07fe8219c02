/**
 * Helper function ids: the `imm` of a `call` whose `src` is `PseudoCall.Helper`.
 *
 * Generated from `__BPF_FUNC_MAPPER` in include/uapi/linux/bpf.h. Ids 0–209 come from the
 * Linux 6.1 header Debian 12 ships (/usr/include/linux/bpf.h); 210 and 211 (cgroup storage)
 * were added in Linux 6.2, after which the helper list was frozen: newer kernel functionality
 * is exposed as kfuncs instead. Ids are stable ABI, so an id never changes meaning.
 *
 * @module
 */

/** A BPF helper function id. Each member documents the C name (`bpf_<name>`). */
export enum Helper {
  /** Reserved: id 0 is no helper. */
  Unspec = 0,
  /** `bpf_map_lookup_elem` */
  MapLookupElem = 1,
  /** `bpf_map_update_elem` */
  MapUpdateElem = 2,
  /** `bpf_map_delete_elem` */
  MapDeleteElem = 3,
  /** `bpf_probe_read` */
  ProbeRead = 4,
  /** `bpf_ktime_get_ns` */
  KtimeGetNs = 5,
  /** `bpf_trace_printk` */
  TracePrintk = 6,
  /** `bpf_get_prandom_u32` */
  GetPrandomU32 = 7,
  /** `bpf_get_smp_processor_id` */
  GetSmpProcessorId = 8,
  /** `bpf_skb_store_bytes` */
  SkbStoreBytes = 9,
  /** `bpf_l3_csum_replace` */
  L3CsumReplace = 10,
  /** `bpf_l4_csum_replace` */
  L4CsumReplace = 11,
  /** `bpf_tail_call` */
  TailCall = 12,
  /** `bpf_clone_redirect` */
  CloneRedirect = 13,
  /** `bpf_get_current_pid_tgid` */
  GetCurrentPidTgid = 14,
  /** `bpf_get_current_uid_gid` */
  GetCurrentUidGid = 15,
  /** `bpf_get_current_comm` */
  GetCurrentComm = 16,
  /** `bpf_get_cgroup_classid` */
  GetCgroupClassid = 17,
  /** `bpf_skb_vlan_push` */
  SkbVlanPush = 18,
  /** `bpf_skb_vlan_pop` */
  SkbVlanPop = 19,
  /** `bpf_skb_get_tunnel_key` */
  SkbGetTunnelKey = 20,
  /** `bpf_skb_set_tunnel_key` */
  SkbSetTunnelKey = 21,
  /** `bpf_perf_event_read` */
  PerfEventRead = 22,
  /** `bpf_redirect` */
  Redirect = 23,
  /** `bpf_get_route_realm` */
  GetRouteRealm = 24,
  /** `bpf_perf_event_output` */
  PerfEventOutput = 25,
  /** `bpf_skb_load_bytes` */
  SkbLoadBytes = 26,
  /** `bpf_get_stackid` */
  GetStackid = 27,
  /** `bpf_csum_diff` */
  CsumDiff = 28,
  /** `bpf_skb_get_tunnel_opt` */
  SkbGetTunnelOpt = 29,
  /** `bpf_skb_set_tunnel_opt` */
  SkbSetTunnelOpt = 30,
  /** `bpf_skb_change_proto` */
  SkbChangeProto = 31,
  /** `bpf_skb_change_type` */
  SkbChangeType = 32,
  /** `bpf_skb_under_cgroup` */
  SkbUnderCgroup = 33,
  /** `bpf_get_hash_recalc` */
  GetHashRecalc = 34,
  /** `bpf_get_current_task` */
  GetCurrentTask = 35,
  /** `bpf_probe_write_user` */
  ProbeWriteUser = 36,
  /** `bpf_current_task_under_cgroup` */
  CurrentTaskUnderCgroup = 37,
  /** `bpf_skb_change_tail` */
  SkbChangeTail = 38,
  /** `bpf_skb_pull_data` */
  SkbPullData = 39,
  /** `bpf_csum_update` */
  CsumUpdate = 40,
  /** `bpf_set_hash_invalid` */
  SetHashInvalid = 41,
  /** `bpf_get_numa_node_id` */
  GetNumaNodeId = 42,
  /** `bpf_skb_change_head` */
  SkbChangeHead = 43,
  /** `bpf_xdp_adjust_head` */
  XdpAdjustHead = 44,
  /** `bpf_probe_read_str` */
  ProbeReadStr = 45,
  /** `bpf_get_socket_cookie` */
  GetSocketCookie = 46,
  /** `bpf_get_socket_uid` */
  GetSocketUid = 47,
  /** `bpf_set_hash` */
  SetHash = 48,
  /** `bpf_setsockopt` */
  Setsockopt = 49,
  /** `bpf_skb_adjust_room` */
  SkbAdjustRoom = 50,
  /** `bpf_redirect_map` */
  RedirectMap = 51,
  /** `bpf_sk_redirect_map` */
  SkRedirectMap = 52,
  /** `bpf_sock_map_update` */
  SockMapUpdate = 53,
  /** `bpf_xdp_adjust_meta` */
  XdpAdjustMeta = 54,
  /** `bpf_perf_event_read_value` */
  PerfEventReadValue = 55,
  /** `bpf_perf_prog_read_value` */
  PerfProgReadValue = 56,
  /** `bpf_getsockopt` */
  Getsockopt = 57,
  /** `bpf_override_return` */
  OverrideReturn = 58,
  /** `bpf_sock_ops_cb_flags_set` */
  SockOpsCbFlagsSet = 59,
  /** `bpf_msg_redirect_map` */
  MsgRedirectMap = 60,
  /** `bpf_msg_apply_bytes` */
  MsgApplyBytes = 61,
  /** `bpf_msg_cork_bytes` */
  MsgCorkBytes = 62,
  /** `bpf_msg_pull_data` */
  MsgPullData = 63,
  /** `bpf_bind` */
  Bind = 64,
  /** `bpf_xdp_adjust_tail` */
  XdpAdjustTail = 65,
  /** `bpf_skb_get_xfrm_state` */
  SkbGetXfrmState = 66,
  /** `bpf_get_stack` */
  GetStack = 67,
  /** `bpf_skb_load_bytes_relative` */
  SkbLoadBytesRelative = 68,
  /** `bpf_fib_lookup` */
  FibLookup = 69,
  /** `bpf_sock_hash_update` */
  SockHashUpdate = 70,
  /** `bpf_msg_redirect_hash` */
  MsgRedirectHash = 71,
  /** `bpf_sk_redirect_hash` */
  SkRedirectHash = 72,
  /** `bpf_lwt_push_encap` */
  LwtPushEncap = 73,
  /** `bpf_lwt_seg6_store_bytes` */
  LwtSeg6StoreBytes = 74,
  /** `bpf_lwt_seg6_adjust_srh` */
  LwtSeg6AdjustSrh = 75,
  /** `bpf_lwt_seg6_action` */
  LwtSeg6Action = 76,
  /** `bpf_rc_repeat` */
  RcRepeat = 77,
  /** `bpf_rc_keydown` */
  RcKeydown = 78,
  /** `bpf_skb_cgroup_id` */
  SkbCgroupId = 79,
  /** `bpf_get_current_cgroup_id` */
  GetCurrentCgroupId = 80,
  /** `bpf_get_local_storage` */
  GetLocalStorage = 81,
  /** `bpf_sk_select_reuseport` */
  SkSelectReuseport = 82,
  /** `bpf_skb_ancestor_cgroup_id` */
  SkbAncestorCgroupId = 83,
  /** `bpf_sk_lookup_tcp` */
  SkLookupTcp = 84,
  /** `bpf_sk_lookup_udp` */
  SkLookupUdp = 85,
  /** `bpf_sk_release` */
  SkRelease = 86,
  /** `bpf_map_push_elem` */
  MapPushElem = 87,
  /** `bpf_map_pop_elem` */
  MapPopElem = 88,
  /** `bpf_map_peek_elem` */
  MapPeekElem = 89,
  /** `bpf_msg_push_data` */
  MsgPushData = 90,
  /** `bpf_msg_pop_data` */
  MsgPopData = 91,
  /** `bpf_rc_pointer_rel` */
  RcPointerRel = 92,
  /** `bpf_spin_lock` */
  SpinLock = 93,
  /** `bpf_spin_unlock` */
  SpinUnlock = 94,
  /** `bpf_sk_fullsock` */
  SkFullsock = 95,
  /** `bpf_tcp_sock` */
  TcpSock = 96,
  /** `bpf_skb_ecn_set_ce` */
  SkbEcnSetCe = 97,
  /** `bpf_get_listener_sock` */
  GetListenerSock = 98,
  /** `bpf_skc_lookup_tcp` */
  SkcLookupTcp = 99,
  /** `bpf_tcp_check_syncookie` */
  TcpCheckSyncookie = 100,
  /** `bpf_sysctl_get_name` */
  SysctlGetName = 101,
  /** `bpf_sysctl_get_current_value` */
  SysctlGetCurrentValue = 102,
  /** `bpf_sysctl_get_new_value` */
  SysctlGetNewValue = 103,
  /** `bpf_sysctl_set_new_value` */
  SysctlSetNewValue = 104,
  /** `bpf_strtol` */
  Strtol = 105,
  /** `bpf_strtoul` */
  Strtoul = 106,
  /** `bpf_sk_storage_get` */
  SkStorageGet = 107,
  /** `bpf_sk_storage_delete` */
  SkStorageDelete = 108,
  /** `bpf_send_signal` */
  SendSignal = 109,
  /** `bpf_tcp_gen_syncookie` */
  TcpGenSyncookie = 110,
  /** `bpf_skb_output` */
  SkbOutput = 111,
  /** `bpf_probe_read_user` */
  ProbeReadUser = 112,
  /** `bpf_probe_read_kernel` */
  ProbeReadKernel = 113,
  /** `bpf_probe_read_user_str` */
  ProbeReadUserStr = 114,
  /** `bpf_probe_read_kernel_str` */
  ProbeReadKernelStr = 115,
  /** `bpf_tcp_send_ack` */
  TcpSendAck = 116,
  /** `bpf_send_signal_thread` */
  SendSignalThread = 117,
  /** `bpf_jiffies64` */
  Jiffies64 = 118,
  /** `bpf_read_branch_records` */
  ReadBranchRecords = 119,
  /** `bpf_get_ns_current_pid_tgid` */
  GetNsCurrentPidTgid = 120,
  /** `bpf_xdp_output` */
  XdpOutput = 121,
  /** `bpf_get_netns_cookie` */
  GetNetnsCookie = 122,
  /** `bpf_get_current_ancestor_cgroup_id` */
  GetCurrentAncestorCgroupId = 123,
  /** `bpf_sk_assign` */
  SkAssign = 124,
  /** `bpf_ktime_get_boot_ns` */
  KtimeGetBootNs = 125,
  /** `bpf_seq_printf` */
  SeqPrintf = 126,
  /** `bpf_seq_write` */
  SeqWrite = 127,
  /** `bpf_sk_cgroup_id` */
  SkCgroupId = 128,
  /** `bpf_sk_ancestor_cgroup_id` */
  SkAncestorCgroupId = 129,
  /** `bpf_ringbuf_output` */
  RingbufOutput = 130,
  /** `bpf_ringbuf_reserve` */
  RingbufReserve = 131,
  /** `bpf_ringbuf_submit` */
  RingbufSubmit = 132,
  /** `bpf_ringbuf_discard` */
  RingbufDiscard = 133,
  /** `bpf_ringbuf_query` */
  RingbufQuery = 134,
  /** `bpf_csum_level` */
  CsumLevel = 135,
  /** `bpf_skc_to_tcp6_sock` */
  SkcToTcp6Sock = 136,
  /** `bpf_skc_to_tcp_sock` */
  SkcToTcpSock = 137,
  /** `bpf_skc_to_tcp_timewait_sock` */
  SkcToTcpTimewaitSock = 138,
  /** `bpf_skc_to_tcp_request_sock` */
  SkcToTcpRequestSock = 139,
  /** `bpf_skc_to_udp6_sock` */
  SkcToUdp6Sock = 140,
  /** `bpf_get_task_stack` */
  GetTaskStack = 141,
  /** `bpf_load_hdr_opt` */
  LoadHdrOpt = 142,
  /** `bpf_store_hdr_opt` */
  StoreHdrOpt = 143,
  /** `bpf_reserve_hdr_opt` */
  ReserveHdrOpt = 144,
  /** `bpf_inode_storage_get` */
  InodeStorageGet = 145,
  /** `bpf_inode_storage_delete` */
  InodeStorageDelete = 146,
  /** `bpf_d_path` */
  DPath = 147,
  /** `bpf_copy_from_user` */
  CopyFromUser = 148,
  /** `bpf_snprintf_btf` */
  SnprintfBtf = 149,
  /** `bpf_seq_printf_btf` */
  SeqPrintfBtf = 150,
  /** `bpf_skb_cgroup_classid` */
  SkbCgroupClassid = 151,
  /** `bpf_redirect_neigh` */
  RedirectNeigh = 152,
  /** `bpf_per_cpu_ptr` */
  PerCpuPtr = 153,
  /** `bpf_this_cpu_ptr` */
  ThisCpuPtr = 154,
  /** `bpf_redirect_peer` */
  RedirectPeer = 155,
  /** `bpf_task_storage_get` */
  TaskStorageGet = 156,
  /** `bpf_task_storage_delete` */
  TaskStorageDelete = 157,
  /** `bpf_get_current_task_btf` */
  GetCurrentTaskBtf = 158,
  /** `bpf_bprm_opts_set` */
  BprmOptsSet = 159,
  /** `bpf_ktime_get_coarse_ns` */
  KtimeGetCoarseNs = 160,
  /** `bpf_ima_inode_hash` */
  ImaInodeHash = 161,
  /** `bpf_sock_from_file` */
  SockFromFile = 162,
  /** `bpf_check_mtu` */
  CheckMtu = 163,
  /** `bpf_for_each_map_elem` */
  ForEachMapElem = 164,
  /** `bpf_snprintf` */
  Snprintf = 165,
  /** `bpf_sys_bpf` */
  SysBpf = 166,
  /** `bpf_btf_find_by_name_kind` */
  BtfFindByNameKind = 167,
  /** `bpf_sys_close` */
  SysClose = 168,
  /** `bpf_timer_init` */
  TimerInit = 169,
  /** `bpf_timer_set_callback` */
  TimerSetCallback = 170,
  /** `bpf_timer_start` */
  TimerStart = 171,
  /** `bpf_timer_cancel` */
  TimerCancel = 172,
  /** `bpf_get_func_ip` */
  GetFuncIp = 173,
  /** `bpf_get_attach_cookie` */
  GetAttachCookie = 174,
  /** `bpf_task_pt_regs` */
  TaskPtRegs = 175,
  /** `bpf_get_branch_snapshot` */
  GetBranchSnapshot = 176,
  /** `bpf_trace_vprintk` */
  TraceVprintk = 177,
  /** `bpf_skc_to_unix_sock` */
  SkcToUnixSock = 178,
  /** `bpf_kallsyms_lookup_name` */
  KallsymsLookupName = 179,
  /** `bpf_find_vma` */
  FindVma = 180,
  /** `bpf_loop` */
  Loop = 181,
  /** `bpf_strncmp` */
  Strncmp = 182,
  /** `bpf_get_func_arg` */
  GetFuncArg = 183,
  /** `bpf_get_func_ret` */
  GetFuncRet = 184,
  /** `bpf_get_func_arg_cnt` */
  GetFuncArgCnt = 185,
  /** `bpf_get_retval` */
  GetRetval = 186,
  /** `bpf_set_retval` */
  SetRetval = 187,
  /** `bpf_xdp_get_buff_len` */
  XdpGetBuffLen = 188,
  /** `bpf_xdp_load_bytes` */
  XdpLoadBytes = 189,
  /** `bpf_xdp_store_bytes` */
  XdpStoreBytes = 190,
  /** `bpf_copy_from_user_task` */
  CopyFromUserTask = 191,
  /** `bpf_skb_set_tstamp` */
  SkbSetTstamp = 192,
  /** `bpf_ima_file_hash` */
  ImaFileHash = 193,
  /** `bpf_kptr_xchg` */
  KptrXchg = 194,
  /** `bpf_map_lookup_percpu_elem` */
  MapLookupPercpuElem = 195,
  /** `bpf_skc_to_mptcp_sock` */
  SkcToMptcpSock = 196,
  /** `bpf_dynptr_from_mem` */
  DynptrFromMem = 197,
  /** `bpf_ringbuf_reserve_dynptr` */
  RingbufReserveDynptr = 198,
  /** `bpf_ringbuf_submit_dynptr` */
  RingbufSubmitDynptr = 199,
  /** `bpf_ringbuf_discard_dynptr` */
  RingbufDiscardDynptr = 200,
  /** `bpf_dynptr_read` */
  DynptrRead = 201,
  /** `bpf_dynptr_write` */
  DynptrWrite = 202,
  /** `bpf_dynptr_data` */
  DynptrData = 203,
  /** `bpf_tcp_raw_gen_syncookie_ipv4` */
  TcpRawGenSyncookieIpv4 = 204,
  /** `bpf_tcp_raw_gen_syncookie_ipv6` */
  TcpRawGenSyncookieIpv6 = 205,
  /** `bpf_tcp_raw_check_syncookie_ipv4` */
  TcpRawCheckSyncookieIpv4 = 206,
  /** `bpf_tcp_raw_check_syncookie_ipv6` */
  TcpRawCheckSyncookieIpv6 = 207,
  /** `bpf_ktime_get_tai_ns` */
  KtimeGetTaiNs = 208,
  /** `bpf_user_ringbuf_drain` */
  UserRingbufDrain = 209,
  /** `bpf_cgrp_storage_get` */
  CgrpStorageGet = 210,
  /** `bpf_cgrp_storage_delete` */
  CgrpStorageDelete = 211,
}

const helperNames: readonly string[] = [
  'unspec',
  'map_lookup_elem',
  'map_update_elem',
  'map_delete_elem',
  'probe_read',
  'ktime_get_ns',
  'trace_printk',
  'get_prandom_u32',
  'get_smp_processor_id',
  'skb_store_bytes',
  'l3_csum_replace',
  'l4_csum_replace',
  'tail_call',
  'clone_redirect',
  'get_current_pid_tgid',
  'get_current_uid_gid',
  'get_current_comm',
  'get_cgroup_classid',
  'skb_vlan_push',
  'skb_vlan_pop',
  'skb_get_tunnel_key',
  'skb_set_tunnel_key',
  'perf_event_read',
  'redirect',
  'get_route_realm',
  'perf_event_output',
  'skb_load_bytes',
  'get_stackid',
  'csum_diff',
  'skb_get_tunnel_opt',
  'skb_set_tunnel_opt',
  'skb_change_proto',
  'skb_change_type',
  'skb_under_cgroup',
  'get_hash_recalc',
  'get_current_task',
  'probe_write_user',
  'current_task_under_cgroup',
  'skb_change_tail',
  'skb_pull_data',
  'csum_update',
  'set_hash_invalid',
  'get_numa_node_id',
  'skb_change_head',
  'xdp_adjust_head',
  'probe_read_str',
  'get_socket_cookie',
  'get_socket_uid',
  'set_hash',
  'setsockopt',
  'skb_adjust_room',
  'redirect_map',
  'sk_redirect_map',
  'sock_map_update',
  'xdp_adjust_meta',
  'perf_event_read_value',
  'perf_prog_read_value',
  'getsockopt',
  'override_return',
  'sock_ops_cb_flags_set',
  'msg_redirect_map',
  'msg_apply_bytes',
  'msg_cork_bytes',
  'msg_pull_data',
  'bind',
  'xdp_adjust_tail',
  'skb_get_xfrm_state',
  'get_stack',
  'skb_load_bytes_relative',
  'fib_lookup',
  'sock_hash_update',
  'msg_redirect_hash',
  'sk_redirect_hash',
  'lwt_push_encap',
  'lwt_seg6_store_bytes',
  'lwt_seg6_adjust_srh',
  'lwt_seg6_action',
  'rc_repeat',
  'rc_keydown',
  'skb_cgroup_id',
  'get_current_cgroup_id',
  'get_local_storage',
  'sk_select_reuseport',
  'skb_ancestor_cgroup_id',
  'sk_lookup_tcp',
  'sk_lookup_udp',
  'sk_release',
  'map_push_elem',
  'map_pop_elem',
  'map_peek_elem',
  'msg_push_data',
  'msg_pop_data',
  'rc_pointer_rel',
  'spin_lock',
  'spin_unlock',
  'sk_fullsock',
  'tcp_sock',
  'skb_ecn_set_ce',
  'get_listener_sock',
  'skc_lookup_tcp',
  'tcp_check_syncookie',
  'sysctl_get_name',
  'sysctl_get_current_value',
  'sysctl_get_new_value',
  'sysctl_set_new_value',
  'strtol',
  'strtoul',
  'sk_storage_get',
  'sk_storage_delete',
  'send_signal',
  'tcp_gen_syncookie',
  'skb_output',
  'probe_read_user',
  'probe_read_kernel',
  'probe_read_user_str',
  'probe_read_kernel_str',
  'tcp_send_ack',
  'send_signal_thread',
  'jiffies64',
  'read_branch_records',
  'get_ns_current_pid_tgid',
  'xdp_output',
  'get_netns_cookie',
  'get_current_ancestor_cgroup_id',
  'sk_assign',
  'ktime_get_boot_ns',
  'seq_printf',
  'seq_write',
  'sk_cgroup_id',
  'sk_ancestor_cgroup_id',
  'ringbuf_output',
  'ringbuf_reserve',
  'ringbuf_submit',
  'ringbuf_discard',
  'ringbuf_query',
  'csum_level',
  'skc_to_tcp6_sock',
  'skc_to_tcp_sock',
  'skc_to_tcp_timewait_sock',
  'skc_to_tcp_request_sock',
  'skc_to_udp6_sock',
  'get_task_stack',
  'load_hdr_opt',
  'store_hdr_opt',
  'reserve_hdr_opt',
  'inode_storage_get',
  'inode_storage_delete',
  'd_path',
  'copy_from_user',
  'snprintf_btf',
  'seq_printf_btf',
  'skb_cgroup_classid',
  'redirect_neigh',
  'per_cpu_ptr',
  'this_cpu_ptr',
  'redirect_peer',
  'task_storage_get',
  'task_storage_delete',
  'get_current_task_btf',
  'bprm_opts_set',
  'ktime_get_coarse_ns',
  'ima_inode_hash',
  'sock_from_file',
  'check_mtu',
  'for_each_map_elem',
  'snprintf',
  'sys_bpf',
  'btf_find_by_name_kind',
  'sys_close',
  'timer_init',
  'timer_set_callback',
  'timer_start',
  'timer_cancel',
  'get_func_ip',
  'get_attach_cookie',
  'task_pt_regs',
  'get_branch_snapshot',
  'trace_vprintk',
  'skc_to_unix_sock',
  'kallsyms_lookup_name',
  'find_vma',
  'loop',
  'strncmp',
  'get_func_arg',
  'get_func_ret',
  'get_func_arg_cnt',
  'get_retval',
  'set_retval',
  'xdp_get_buff_len',
  'xdp_load_bytes',
  'xdp_store_bytes',
  'copy_from_user_task',
  'skb_set_tstamp',
  'ima_file_hash',
  'kptr_xchg',
  'map_lookup_percpu_elem',
  'skc_to_mptcp_sock',
  'dynptr_from_mem',
  'ringbuf_reserve_dynptr',
  'ringbuf_submit_dynptr',
  'ringbuf_discard_dynptr',
  'dynptr_read',
  'dynptr_write',
  'dynptr_data',
  'tcp_raw_gen_syncookie_ipv4',
  'tcp_raw_gen_syncookie_ipv6',
  'tcp_raw_check_syncookie_ipv4',
  'tcp_raw_check_syncookie_ipv6',
  'ktime_get_tai_ns',
  'user_ringbuf_drain',
  'cgrp_storage_get',
  'cgrp_storage_delete',
];

/**
 * The C name of a helper (`1` → `'bpf_map_lookup_elem'`), or undefined for an id this
 * table does not know.
 */
export function helperName(id: number): string | undefined {
  const name = id > 0 ? helperNames[id] : undefined;
  return name === undefined ? undefined : `bpf_${name}`;
}

/** The id of a helper by C name, with or without the `bpf_` prefix, or undefined. */
export function helperByName(name: string): Helper | undefined {
  const bare = name.startsWith('bpf_') ? name.slice(4) : name;
  const id = helperNames.indexOf(bare);
  return id > 0 ? (id as Helper) : undefined;
}
