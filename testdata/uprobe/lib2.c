// The second translation unit of libfixture.so: another local function named ebpf_ts_local.
__attribute__((noinline, used)) static int ebpf_ts_local(int x) { return x * 5; }
int ebpf_ts_call_local2(int x) { return ebpf_ts_local(x); }
