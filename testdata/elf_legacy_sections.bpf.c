// SPDX-License-Identifier: MIT
// Section names as objects written for cilium/ebpf or libbpf before 1.0 spell them: a known
// name followed by anything (`socket/anything`, `xdp_foo`). test/unit/section-names.test.ts
// checks what each one resolves to, test/kernel/legacy-sections.test.ts loads and runs them.
// `kprobe__do_exit` is not legacy-matched: prefixes apply to whole-name rows only.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("socket/anything")
int legacy_socket(void *ctx)
{
	return 11;
}

SEC("xdp_foo")
int legacy_xdp(void *ctx)
{
	return XDP_PASS;
}

SEC("classifier/ingress_x")
int legacy_classifier(void *ctx)
{
	return 7;
}

SEC("sk_lookup/steer")
int legacy_sk_lookup(void *ctx)
{
	return SK_PASS;
}

SEC("?kprobe__do_exit")
int not_legacy(void *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
