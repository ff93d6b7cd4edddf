//! IKE fragmentation (RFC 7383) with strongSwan (charon 5.9.x,
//! kernel-libipsec) in network namespaces: rvpn fragments its IKE_AUTH
//! and reassembles strongSwan's, in both roles; and over a path with a
//! small MTU that drops IP fragments, IKE_AUTH gets through only with
//! IKE fragmentation (issue 15). Needs root and the packages that
//! scripts/test installs.

mod support;

use serde_json::Value;
use std::time::Duration;
use support::netns::{veth, Netns};
use support::rvpn::Rvpnd;
use support::strongswan::{StrongSwan, SwanConn, SwanOpts};
use support::wait_for;

const RVPN: &str = "10.98.0.1";
const SWAN: &str = "10.98.0.2";
const PSK: &str = "fragment-psk-0123456789abcdef";

/// rvpn's configuration: one tunnel to strongSwan (`dest`: its address,
/// or `dynamic` to answer it), `global` lines first (the fragmentation
/// command), and ESP transform sets to offer (more make IKE_AUTH bigger).
fn rvpn_config(dest: &str, global: &str, transforms: &[&str]) -> String {
    let mut c = format!("hostname rvpn1\n{global}\n");
    c += "crypto ikev2 proposal P\n encryption aes-gcm-256\n prf sha384\n group 31\n!\n";
    c += &format!(
        "crypto ikev2 keyring K\n peer swan\n  address {SWAN}\n  identity fqdn swan.test\n  pre-shared-key 0 {PSK}\n!\n"
    );
    c += "crypto ikev2 profile PROF\n match identity remote fqdn swan.test\n identity local fqdn rvpn.test\n";
    c += " authentication local pre-share\n authentication remote pre-share\n keyring local K\n proposal P\n!\n";
    let mut names = Vec::new();
    for (i, t) in transforms.iter().enumerate() {
        c += &format!("crypto ipsec transform-set T{i} {t}\n!\n");
        names.push(format!("T{i}"));
    }
    c += &format!(
        "crypto ipsec profile IPS\n set transform-set {}\n set ikev2-profile PROF\n!\n",
        names.join(" ")
    );
    c += &format!(
        "interface Tunnel1\n ip address 169.254.100.1/30\n tunnel source {RVPN}\n tunnel destination {dest}\n tunnel protection ipsec profile IPS\n!\n"
    );
    c
}

struct Lab {
    rvpn: Rvpnd,
    swan: StrongSwan,
    a: Netns,
    b: Netns,
}

/// Both ends on one link of `mtu`; strongSwan cuts its fragments for
/// `swan_fragment_size` (charon.fragment_size, the IP datagram size);
/// with `drop_ip_fragments`, both namespaces drop every IP fragment
/// before reassembly (raw PREROUTING: no conntrack, so no defrag first).
fn lab(
    rvpn_initiates: bool,
    rvpn_conf: &str,
    mtu: u16,
    swan_fragment_size: u16,
    drop_ip_fragments: bool,
) -> Lab {
    support::require_interop();
    let a = Netns::new("fr-rv");
    let b = Netns::new("fr-sw");
    let link = veth(&a, &b, &format!("{RVPN}/24"), &format!("{SWAN}/24"));
    for (ns, dev) in [(&a, &link.a_if), (&b, &link.b_if)] {
        ns.exec_ok(&["ip", "link", "set", dev, "mtu", &mtu.to_string()]);
        if drop_ip_fragments {
            ns.iptables(&["-t", "raw", "-A", "PREROUTING", "-f", "-j", "DROP"]);
        }
    }
    let mut opts = SwanOpts::tagged("fr-sw");
    opts.extra_charon
        .push(format!("fragment_size = {swan_fragment_size}"));
    let mut swan = StrongSwan::start(&b, opts);
    let mut conn = SwanConn::psk("rvpn", SWAN, RVPN, "swan.test", "rvpn.test", PSK);
    conn.proposals = "aes256gcm16-prfsha384-x25519".into();
    conn.esp_proposals = "aes256gcm16".into();
    conn.fragmentation = "yes".into();
    if !rvpn_initiates {
        conn.start_action = "start".into();
    }
    swan.load(&[conn]);
    let rvpn = Rvpnd::start(&a, rvpn_conf);
    Lab { rvpn, swan, a, b }
}

fn ike_sa(l: &Lab) -> Value {
    l.rvpn.show_json("show crypto ikev2 sa detail")["ike_sas"][0].clone()
}

fn is_up(l: &Lab) -> bool {
    l.rvpn.show_json("show crypto session")["sessions"][0]["status"] == "UP-ACTIVE"
}

/// Wait for the tunnel, then ping through it (rvpn's tunnel address to
/// an address on strongSwan's loopback, routed into its tunnel).
fn assert_up_and_pings(l: &mut Lab, what: &str) {
    let ok = wait_for(|| is_up(l), Duration::from_secs(15));
    assert!(
        ok,
        "{what}: not up: {}\n--- rvpnd:\n{}\n--- charon:\n{}",
        ike_sa(l),
        l.rvpn.log(),
        l.swan.log()
    );
    l.swan
        .wait_established("rvpn", "net", Duration::from_secs(5));
    let rvpn = &l.rvpn;
    support::strongswan::tunnel_to_swan_loopback(&l.a, &l.b, &mut l.swan, || rvpn.log());
    let out = l.a.ping("169.254.100.1", "10.10.2.1", 3);
    assert!(
        out.status.success(),
        "{what}: ping\n{}\n--- rvpnd:\n{}",
        String::from_utf8_lossy(&out.stdout),
        l.rvpn.log()
    );
}

/// Fragments of rvpn's (and strongSwan's) IKE_AUTH: strongSwan logs that
/// it reassembled rvpn's and split its own; rvpn counts both ways.
#[test]
fn ike_auth_in_fragments_both_ways_in_both_roles() {
    for rvpn_initiates in [true, false] {
        let dest = if rvpn_initiates { SWAN } else { "dynamic" };
        let conf = rvpn_config(dest, "crypto ikev2 fragmentation mtu 256", &["esp-gcm 256"]);
        let mut l = lab(rvpn_initiates, &conf, 1500, 256, false);
        let what = format!("rvpn_initiates={rvpn_initiates}");
        assert_up_and_pings(&mut l, &what);
        let sa = ike_sa(&l);
        assert_eq!(sa["fragmentation"], true, "{what}: {sa}");
        assert!(sa["fragments_sent"].as_u64().unwrap() >= 2, "{what}: {sa}");
        assert!(
            sa["fragments_received"].as_u64().unwrap() >= 2,
            "{what}: {sa}"
        );
        let log = l.swan.log();
        assert!(
            log.contains("reassembled fragmented IKE message"),
            "{what}: strongSwan reassembled ours\n{log}"
        );
        assert!(
            log.contains("into") && log.contains("fragments"),
            "{what}: strongSwan split its own\n{log}"
        );
        let text = l.rvpn.vtysh_ok(&["show crypto ikev2 sa detail"]);
        assert!(text.contains("Fragmentation: yes"), "{text}");
    }
}

/// ESP proposals enough to make rvpn's IKE_AUTH request bigger than the
/// 400-octet link with PSK authentication.
const MANY: [&str; 6] = [
    "esp-gcm 256",
    "esp-gcm 128",
    "esp-chacha20-poly1305",
    "esp-aes 256 esp-sha256-hmac",
    "esp-aes 128 esp-sha256-hmac",
    "esp-aes 256 esp-sha512-hmac",
];

/// Issue 15: a link of 400 octets whose path drops IP fragments. Without
/// IKE fragmentation, rvpn's IKE_AUTH is IP-fragmented and lost, and the
/// tunnel never comes up; with it, IKE_AUTH goes in IKE fragments.
#[test]
fn ike_auth_crosses_a_path_that_drops_ip_fragments_only_with_ike_fragments() {
    let off = rvpn_config(SWAN, "no crypto ikev2 fragmentation", &MANY);
    let l = lab(true, &off, 400, 400, true);
    // The whole retransmission schedule takes minutes; its first 15 s are
    // several times what a working setup needs here (about a second).
    let up = wait_for(|| is_up(&l), Duration::from_secs(15));
    let sa = ike_sa(&l);
    assert!(!up, "up without fragmentation?\n{}", l.rvpn.log());
    assert_eq!(sa["fragmentation"], false, "{sa}");
    assert!(
        l.swan.log().contains("generating IKE_SA_INIT response 0"),
        "IKE_SA_INIT fits the link: the failure is IKE_AUTH's\n{}",
        l.swan.log()
    );
    assert!(
        !l.swan.log().contains("IKE_AUTH request 1 ["),
        "strongSwan never got rvpn's IKE_AUTH\n{}",
        l.swan.log()
    );
    drop(l);

    let on = rvpn_config(SWAN, "crypto ikev2 fragmentation mtu 400", &MANY);
    let mut l = lab(true, &on, 400, 400, true);
    assert_up_and_pings(&mut l, "fragmentation on");
    let sa = ike_sa(&l);
    assert_eq!(sa["fragmentation"], true, "{sa}");
    assert!(sa["fragments_sent"].as_u64().unwrap() >= 2, "{sa}");
    // What strongSwan reassembled would not have fit the link whole
    // (IKE message + UDP + IPv4 header + non-ESP marker > 400).
    let log = l.swan.log();
    let size = reassembled_size(&log).unwrap_or_else(|| panic!("no reassembly:\n{log}"));
    assert!(size + 8 + 20 + 4 > 400, "{size} bytes would have fit");
}

/// The size strongSwan logs for the first message it reassembled:
/// "received fragment #2 of 2, reassembled fragmented IKE message (N bytes)".
fn reassembled_size(log: &str) -> Option<usize> {
    let at = log.find("reassembled fragmented IKE message (")?;
    let rest = &log[at + "reassembled fragmented IKE message (".len()..];
    rest.split(' ').next()?.parse().ok()
}
