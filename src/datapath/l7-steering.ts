/**
 * How the datapath hands (endpoint, port) pairs that carry L7 rules to the node's L7 proxy, as the
 * numbers both sides must agree on: the nftables backend steers with TPROXY and policy routing
 * (compile/nftables.ts `l7_prerouting`, apply/l7-routing.ts), the proxy (src/l7) listens where the packets
 * are steered to.
 *
 * The path of a steered connection, inside the node's network namespace:
 * - prerouting (priority mangle): the packet's destination (ingress) or source (egress) and TCP port are in
 *   a steering set → the packet mark gets `L7_MARK`, and TPROXY assigns it to the proxy's socket without
 *   rewriting it; the policy rule `fwmark L7_MARK/L7_MARK lookup L7_ROUTE_TABLE` and that table's
 *   `local default dev lo` route deliver it locally, so it goes to `input`, never to `forward`;
 * - the proxy accepts it (its local address is the original destination), and connects upstream to that
 *   address from the client's own address (IP_TRANSPARENT), through `output`;
 * - packets of sockets the proxy already owns (`socket transparent 1`: the rest of the client's stream and
 *   the server's replies to the spoofed upstream connection) get the mark too and are delivered locally;
 * - no proxy listening: TPROXY finds no socket, and the next rule drops the same match. Fail closed.
 */

/** Where the proxy listens: `0.0.0.0:15001` (and `[::]:15001`) with IP_TRANSPARENT, in the node's netns. */
export const L7_PROXY_PORT = 15001;

/**
 * The packet (meta) mark bit of a steered packet. One bit, tested and set under its own mask: other
 * software on the node keeps its own state in other bits of the same 32-bit mark (kube-proxy, Calico,
 * Cilium, service meshes). Distinct from STRICT_CUT_MARK, which lives in the conntrack mark.
 */
export const L7_MARK = 0x00200000;

/** The routing table (and nothing else in it) that delivers marked packets locally. */
export const L7_ROUTE_TABLE = 15001;
