// Runs libbpf's CO-RE relocation on one BPF object and prints libbpf's debug log on stdout,
// for scripts/core-libbpf-fixture.mjs to turn into a test fixture. Built into /tmp by that
// script (never committed as a binary).
//
// usage: core-libbpf-harness OBJECT [TARGET_BTF]
//   TARGET_BTF is passed as btf_custom_path (raw BTF or an ELF with .BTF); without it libbpf
//   uses the running kernel's BTF (and module BTF), as a real load would.
//
// libbpf 1.1 has no "relocate without loading" entry point, so the object is loaded:
// bpf_object__load() applies every CO-RE relocation of every program before it loads the
// first program (bpf_object__relocate runs before bpf_object__load_progs), so the log is
// complete even though programs that use poisoned or context-illegal instructions are then
// rejected by the verifier. The exit status is 0 whenever relocation itself succeeded.
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <bpf/libbpf.h>

static int print_all(enum libbpf_print_level level, const char *fmt, va_list args)
{
	(void)level;
	return vfprintf(stdout, fmt, args);
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: %s OBJECT [TARGET_BTF]\n", argv[0]);
		return 2;
	}
	libbpf_set_print(print_all);
	LIBBPF_OPTS(bpf_object_open_opts, opts, .btf_custom_path = argc == 3 ? argv[2] : NULL);
	struct bpf_object *obj = bpf_object__open_file(argv[1], &opts);
	if (obj == NULL) {
		fprintf(stdout, "HARNESS: open failed\n");
		return 1;
	}
	int err = bpf_object__load(obj);
	fprintf(stdout, "HARNESS: load returned %d\n", err);
	bpf_object__close(obj);
	return 0;
}
