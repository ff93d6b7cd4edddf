//! What a lab shows: rvpn's sessions and SAs, links, and what a capture
//! on a WAN link holds.

use super::super::netns::Netns;
use super::super::rvpn::Rvpnd;
use super::{HOST_A, HOST_B};
use serde_json::Value;

/// `show crypto session detail`'s first session.
pub fn session(r: &Rvpnd) -> Value {
    r.show_json("show crypto session detail")["sessions"][0].clone()
}

/// Whether `ns` has an interface `ifname`.
pub fn has_link(ns: &Netns, ifname: &str) -> bool {
    ns.exec(&["ip", "link", "show", ifname]).status.success()
}

/// The MTU of `ifname` in `ns`, if it exists.
pub fn link_mtu(ns: &Netns, ifname: &str) -> Option<u32> {
    let o = ns.exec(&["ip", "-o", "link", "show", ifname]);
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let mut it = text.split_whitespace();
    while let Some(w) = it.next() {
        if w == "mtu" {
            return it.next().and_then(|m| m.parse().ok());
        }
    }
    None
}

/// What a capture on a WAN link shows, by kind of packet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wire {
    /// ESP in UDP (RFC 3948), tcpdump's "UDP-encap: ESP".
    pub udp_esp: usize,
    /// ESP as IP protocol 50.
    pub raw_esp: usize,
    /// IKE on port 500.
    pub ike_500: usize,
    /// IKE on port 4500 (non-ESP marker).
    pub ike_4500: usize,
    /// NAT-T keepalives.
    pub keepalive: usize,
    /// Packets naming a host's address: inner traffic in the clear.
    pub plaintext: usize,
    pub other: usize,
    /// A few of the plaintext lines, for messages.
    pub plaintext_samples: Vec<String>,
    /// A few of the "other" lines.
    pub other_samples: Vec<String>,
}

impl Wire {
    /// Classify `tcpdump -n -r` output.
    pub fn of(text: &str) -> Wire {
        let mut w = Wire::default();
        let inner = [HOST_A, HOST_B, "fd01:", "fd02:"];
        for l in text.lines().filter(|l| !l.trim().is_empty()) {
            if inner.iter().any(|a| l.contains(a)) {
                w.plaintext += 1;
                if w.plaintext_samples.len() < 5 {
                    w.plaintext_samples.push(l.to_string());
                }
            } else if l.contains("UDP-encap: ESP") {
                w.udp_esp += 1;
            } else if l.contains("ESP(") {
                w.raw_esp += 1;
            } else if l.contains("NONESP-encap") {
                w.ike_4500 += 1;
            } else if l.contains("isakmp-nat-keep-alive") || l.contains("keep-alive") {
                w.keepalive += 1;
            } else if l.contains("isakmp") {
                w.ike_500 += 1;
            } else {
                w.other += 1;
                if w.other_samples.len() < 5 {
                    w.other_samples.push(l.to_string());
                }
            }
        }
        w
    }

    /// All ESP packets, in UDP or raw.
    pub fn esp(&self) -> usize {
        self.udp_esp + self.raw_esp
    }

    /// One line for reports.
    pub fn summary(&self) -> String {
        format!(
            "ESP-in-UDP {}, raw ESP (proto 50) {}, IKE/500 {}, IKE/4500 {}, keepalives {}, \
             plaintext inner {}, other {}",
            self.udp_esp,
            self.raw_esp,
            self.ike_500,
            self.ike_4500,
            self.keepalive,
            self.plaintext,
            self.other
        )
    }
}

/// rvpn's SAs (`show crypto ipsec sa json`).
pub fn rvpn_sas(r: &Rvpnd) -> Vec<Value> {
    r.show_json("show crypto ipsec sa")["ipsec_sas"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The inbound SPIs rvpn lists now.
pub fn rvpn_spis_in(r: &Rvpnd) -> Vec<String> {
    rvpn_sas(r)
        .iter()
        .filter_map(|s| s["spi_in"].as_str().map(str::to_string))
        .collect()
}

/// The initiator SPIs of rvpn's IKE SAs now.
pub fn rvpn_ike_spis(r: &Rvpnd) -> Vec<String> {
    r.show_json("show crypto ikev2 sa")["ike_sas"]
        .as_array()
        .map(|l| {
            l.iter()
                .filter_map(|s| s["spi_i"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Child SAs rvpn installed so far (its log's "IPsec SA up" lines).
pub fn rvpn_child_installs(r: &Rvpnd) -> usize {
    r.log().matches("IPsec SA up").count()
}

/// Packet counters of an SA of `show crypto ipsec sa json`, under any of
/// the names a show command might use: (inbound, outbound).
pub fn sa_packet_counters(sa: &Value) -> (Option<u64>, Option<u64>) {
    let pick = |names: &[&str]| {
        names.iter().find_map(|n| {
            let mut v = sa;
            for part in n.split('.') {
                v = &v[part];
            }
            v.as_u64()
        })
    };
    (
        pick(&[
            "in_packets",
            "packets_in",
            "pkts_decaps",
            "pkts_in",
            "inbound.packets",
            "in.packets",
            "counters.in_packets",
        ]),
        pick(&[
            "out_packets",
            "packets_out",
            "pkts_encaps",
            "pkts_out",
            "outbound.packets",
            "out.packets",
            "counters.out_packets",
        ]),
    )
}
