/**
 * netkit device pairs for kernel tests, made with rtnetlink (src/internal/netlink.ts): Debian
 * 12's iproute2 (6.1) does not know `type netkit`. The primary device goes into one test
 * namespace and its peer into another, so both die with the namespaces, whatever happens.
 *
 * RTM_NEWLINK as `ip link add NAME type netkit peer name PEER netns …` sends it:
 *
 * ```
 * ifinfomsg { index 0 }
 * IFLA_IFNAME        primary name
 * IFLA_LINKINFO      { IFLA_INFO_KIND "netkit",
 *                      IFLA_INFO_DATA { IFLA_NETKIT_MODE (L2 only; L3 is the default),
 *                                       IFLA_NETKIT_PEER_INFO = ifinfomsg + { IFLA_IFNAME peer,
 *                                                                             IFLA_NET_NS_FD } } }
 * ```
 */
import { closeSync, openSync } from 'node:fs';
import { inNetns } from '../../../src/internal/netns.js';
import { concatBytes, encodeIfInfoMsg, nla, NLM_F_CREATE, NLM_F_EXCL, RTM, withRouteNetlink } from '../../../src/internal/netlink.js';
import { netkitFeature } from '../../../src/link/netkit.js';
import { netnsUnavailable, type TestNetns } from './netns.js';

// include/uapi/linux/if_link.h
const IFLA_IFNAME = 3;
const IFLA_LINKINFO = 18;
const IFLA_NET_NS_FD = 28;
const IFLA_INFO_KIND = 1;
const IFLA_INFO_DATA = 2;
const IFLA_NETKIT_PEER_INFO = 1;
const IFLA_NETKIT_MODE = 5;
const NETKIT_L2 = 0;

/**
 * Why netkit traffic tests cannot run here, or undefined: they need what namespace tests need
 * and a kernel with netkit (6.7+, CONFIG_NETKIT).
 */
export function netkitUnavailable(): string | undefined {
  const ns = netnsUnavailable();
  if (ns !== undefined) return ns;
  const r = netkitFeature.check();
  if (r.supported === true) return undefined;
  return `netkit is not available: ${r.supported === false ? `${r.reason}${r.minimumVersion === undefined ? '' : ` (needs Linux ${r.minimumVersion})`}` : r.reason}`;
}

/**
 * A netkit pair: primary `primary` in `a` with address `addrA`/24, peer `peer` in `b` with
 * `addrB`/24, both up. L3 mode (the kernel's default) unless `l2`. Both modes are Ethernet
 * devices (netkit_setup() calls ether_setup()): L3 mode only means no ARP (IFF_NOARP) and
 * all-zero MAC addresses, so BPF programs still see a 14-byte Ethernet header before the IP
 * header. The default policy of both sides is NETKIT_PASS.
 */
export function netkitPair(a: TestNetns, primary: string, addrA: string, b: TestNetns, peer: string, addrB: string, options: { l2?: boolean } = {}): void {
  const peerNs = openSync(b.path, 'r');
  try {
    const peerInfo = concatBytes([encodeIfInfoMsg({ index: 0 }), nla.string(IFLA_IFNAME, peer), nla.u32(IFLA_NET_NS_FD, peerNs)]);
    const data = [...(options.l2 === true ? [nla.u32(IFLA_NETKIT_MODE, NETKIT_L2)] : []), nla.bytes(IFLA_NETKIT_PEER_INFO, peerInfo)];
    // The socket is made inside `a`, so the primary device is created there.
    inNetns(a.path, () =>
      withRouteNetlink((nl) =>
        nl.request(
          RTM.NEWLINK,
          NLM_F_CREATE | NLM_F_EXCL,
          [
            encodeIfInfoMsg({ index: 0 }),
            nla.string(IFLA_IFNAME, primary),
            nla.nested(IFLA_LINKINFO, [nla.string(IFLA_INFO_KIND, 'netkit'), nla.nested(IFLA_INFO_DATA, data)]),
          ],
          { context: `create netkit pair ${primary} (netns ${a.pid}) / ${peer} (netns ${b.pid})` },
        ),
      ),
    );
  } finally {
    closeSync(peerNs);
  }
  a.ip('addr', 'add', `${addrA}/24`, 'dev', primary);
  b.ip('addr', 'add', `${addrB}/24`, 'dev', peer);
  a.ip('link', 'set', primary, 'up');
  b.ip('link', 'set', peer, 'up');
}
