// libusdtfixture.so: a probe in a shared library, which attaching by pid must find through
// /proc/PID/maps (testdata/usdt/target links against it).
#include <sys/sdt.h>

__attribute__((noinline)) void ebpf_ts_lib_hello(long n)
{
	DTRACE_PROBE2(ebpf_ts_lib, hello, n, n * 3);
}
