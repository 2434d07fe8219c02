// A shared object with the symbol shapes uprobe targets come in, for the Executable unit tests
// (test/unit/link-executable.test.ts): versioned symbols (default and not), an IFUNC, a weak
// function, a variable, and a local function whose name lib2.c uses too.

int ebpf_ts_plain(int x) { return x + 1; }

__attribute__((weak)) int ebpf_ts_weak(int x) { return x + 2; }

int ebpf_ts_old_impl(void) { return 1; }
int ebpf_ts_new_impl(void) { return 2; }
__asm__(".symver ebpf_ts_old_impl, ebpf_ts_versioned@EBPF_TS_1");
__asm__(".symver ebpf_ts_new_impl, ebpf_ts_versioned@@EBPF_TS_2");

static int ebpf_ts_ifunc_impl(void) { return 3; }
static void *ebpf_ts_ifunc_resolver(void) { return (void *)ebpf_ts_ifunc_impl; }
int ebpf_ts_ifunc(void) __attribute__((ifunc("ebpf_ts_ifunc_resolver")));

int ebpf_ts_counter = 7;

__attribute__((noinline, used)) static int ebpf_ts_local(int x) { return x * 3; }
int ebpf_ts_call_local(int x) { return ebpf_ts_local(x); }
