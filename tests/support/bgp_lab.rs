//! The two-node lab of the BGP interop tests (the DUT's namespace and a
//! peer's, one veth between them) and the head of an FRR peer's
//! configuration.

use super::netns::{veth, Netns};

/// rvpn's end and the peer's end of the first link.
pub const RV4: &str = "10.1.0.1";
pub const PEER4: &str = "10.1.0.2";
pub const RV6: &str = "fd00:1::1";
pub const PEER6: &str = "fd00:1::2";

/// Two namespaces, rvpn's and the peer's, joined by a veth: 10.1.0.1/24
/// and fd00:1::1/64 on rvpn's end, .2 and ::2 on the peer's.
pub fn two_nodes(peer_tag: &str) -> (Netns, Netns) {
    let a = Netns::new("rv");
    let b = Netns::new(peer_tag);
    let v = veth(&a, &b, &format!("{RV4}/24"), &format!("{PEER4}/24"));
    a.add_addr(&v.a_if, &format!("{RV6}/64"));
    b.add_addr(&v.b_if, &format!("{PEER6}/64"));
    (a, b)
}

/// An FRR peer's `router bgp` head: eBGP without policies, `network`s
/// without zebra routes.
pub fn frr_head(asn: u32, router_id: &str) -> String {
    format!(
        "router bgp {asn}\n bgp router-id {router_id}\n no bgp ebgp-requires-policy\n \
         no bgp network import-check\n"
    )
}

/// `neighbor ADDR remote-as AS` with a 2 s connect retry.
pub fn frr_neighbor_lines(addr: &str, remote_as: &str) -> String {
    format!(" neighbor {addr} remote-as {remote_as}\n neighbor {addr} timers connect 2\n")
}
