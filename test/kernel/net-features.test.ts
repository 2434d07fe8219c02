// The feature probe of every network and cgroup attach point, on whatever kernel runs the
// tests: from the version that introduced it the probe says "supported" (unless the kernel's
// config leaves it out, which the answer must then name); before, "not supported" naming that
// version. Cheap (no traffic), so test:vm runs it on every kernel, also where the traffic
// tests of an attach point run on one kernel only (scripts/test-vm.mjs).
import { describe, it } from 'vitest';
import type { Feature } from '../../src/features/feature.js';
import { cgroupLinkFeature } from '../../src/link/cgroup.js';
import { netfilterDefragFeature, netfilterFeature } from '../../src/link/netfilter.js';
import { netkitFeature } from '../../src/link/netkit.js';
import { netnsLinkFeature } from '../../src/link/netns.js';
import { sockmapLinkFeature } from '../../src/link/sockmap.js';
import { tcxFeature } from '../../src/link/tcx.js';
import { xdpLinkFeature } from '../../src/link/xdp.js';
import { expectVersionedFeature } from './helpers/kernel-features.js';

const noRoot = process.getuid?.() === 0 ? '' : 'needs root for bpf()';

const features: Array<[name: string, feature: Feature, since: string, config?: string]> = [
  ['cgroup link', cgroupLinkFeature, '5.7'],
  ['netns link', netnsLinkFeature, '5.8'],
  ['XDP link', xdpLinkFeature, '5.9'],
  ['netfilter link', netfilterFeature, '6.4', 'CONFIG_NETFILTER_BPF_LINK'],
  ['netfilter IP defragmentation', netfilterDefragFeature, '6.6', 'CONFIG_NETFILTER_BPF_LINK'],
  ['tcx', tcxFeature, '6.6', 'CONFIG_NET_XGRESS'],
  ['netkit', netkitFeature, '6.7', 'CONFIG_NETKIT'],
  ['sockmap link', sockmapLinkFeature, '6.10'],
];

describe.skipIf(noRoot !== '')('network and cgroup attach point probes', () => {
  it.each(features)('%s: supported from Linux %s, named before', (_name, feature, since, config) => {
    expectVersionedFeature(feature.check(), since, config);
  });
});
