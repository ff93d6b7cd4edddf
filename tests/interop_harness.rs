//! Smoke tests of the interop harness itself (tests/support): two
//! strongSwan peers in namespaces over a veth bring up a tunnel and carry
//! a ping; a wrong PSK fails; rvpnd runs in a namespace and answers vtysh;
//! the `swanctl --list-sas` parser reads real output.
//!
//! These need root and the strongSwan packages: run scripts/test, which
//! installs them. Nothing is skipped: without them the tests fail.

mod support;

use std::time::{Duration, Instant};
use support::netns::{veth, Netns};
use support::rvpn::Rvpnd;
use support::strongswan::{parse_list_sas, StrongSwan, SwanConn, SwanOpts};

const PSK: &str = "harness-smoke-psk-0123456789";

/// Two namespaces joined by a veth (10.99.0.1 and .2), each with a host
/// "behind" it on lo (10.10.1.1 and 10.10.2.1), and a charon in each.
struct Pair {
    left_sw: StrongSwan,
    right_sw: StrongSwan,
    // Dropped after the charons (fields drop in declaration order).
    left: Netns,
    right: Netns,
}

fn pair(right_psk: &str) -> Pair {
    support::require_interop();
    let left = Netns::new("l");
    let right = Netns::new("r");
    veth(&left, &right, "10.99.0.1/24", "10.99.0.2/24");
    left.add_lo_addr("10.10.1.1/32");
    right.add_lo_addr("10.10.2.1/32");
    let mut left_sw = StrongSwan::start(&left, SwanOpts::tagged("swl"));
    let mut right_sw = StrongSwan::start(&right, SwanOpts::tagged("swr"));
    left_sw.load(&[SwanConn::psk(
        "pair",
        "10.99.0.1",
        "10.99.0.2",
        "left@test",
        "right@test",
        PSK,
    )]);
    right_sw.load(&[SwanConn::psk(
        "pair",
        "10.99.0.2",
        "10.99.0.1",
        "right@test",
        "left@test",
        right_psk,
    )]);
    Pair {
        left_sw,
        right_sw,
        left,
        right,
    }
}

#[test]
fn strongswan_pair_establishes_and_carries_a_ping() {
    let t0 = Instant::now();
    let mut p = pair(PSK);
    let names = [p.left.name().to_string(), p.right.name().to_string()];
    let setup = t0.elapsed();

    let out = p
        .left_sw
        .initiate("net")
        .unwrap_or_else(|e| panic!("initiate failed:\n{e}\n--- log:\n{}", p.left_sw.log()));
    assert!(out.contains("established"), "{out}");
    let l = p
        .left_sw
        .wait_established("pair", "net", Duration::from_secs(5));
    let r = p
        .right_sw
        .wait_established("pair", "net", Duration::from_secs(5));
    let established = t0.elapsed();

    // The negotiated suite, as both ends see it.
    for sa in [&l, &r] {
        assert_eq!(sa.version, 2);
        assert_eq!(sa.encr_alg.as_deref(), Some("AES_GCM_16"), "{sa:#?}");
        assert_eq!(sa.encr_keysize, Some(256));
        assert_eq!(sa.integ_alg, None, "AEAD has no integrity algorithm");
        assert_eq!(sa.prf_alg.as_deref(), Some("PRF_HMAC_SHA2_256"));
        assert_eq!(sa.dh_group.as_deref(), Some("CURVE_25519"));
        let c = sa.child("net").expect("child net");
        assert_eq!(c.protocol, "ESP");
        assert_eq!(c.mode, "TUNNEL");
        assert_eq!(c.encr_alg, "AES_GCM_16");
        assert_eq!(c.encr_keysize, Some(256));
        // kernel-libipsec in 5.9.8 forces ESP-in-UDP.
        assert!(c.encap, "{c:#?}");
        assert_eq!(c.local_ts, ["0.0.0.0/0", "::/0"]);
        assert_eq!(c.remote_ts, ["0.0.0.0/0", "::/0"]);
    }
    assert!(l.initiator && !r.initiator);
    assert_eq!(
        (l.local_host.as_str(), l.remote_host.as_str()),
        ("10.99.0.1", "10.99.0.2")
    );
    assert_eq!(
        (l.local_id.as_str(), l.remote_id.as_str()),
        ("left@test", "right@test")
    );
    assert_eq!(
        (r.local_id.as_str(), r.remote_id.as_str()),
        ("right@test", "left@test")
    );
    assert_eq!(l.initiator_spi, r.initiator_spi);
    assert_eq!(l.responder_spi, r.responder_spi);
    let (lc, rc) = (l.child("net").unwrap(), r.child("net").unwrap());
    assert_eq!(
        lc.spi_in, rc.spi_out,
        "left's inbound SA is right's outbound"
    );
    assert_eq!(
        lc.spi_out, rc.spi_in,
        "left's outbound SA is right's inbound"
    );

    // Only the subnets behind each side go into the tunnel.
    p.left_sw.route_via_tunnel("10.10.2.0/24", "10.10.1.1");
    p.right_sw.route_via_tunnel("10.10.1.0/24", "10.10.2.1");
    p.left.ping_ok("10.10.1.1", "10.10.2.1", 3);
    let lc = p
        .left_sw
        .established("pair", "net")
        .expect("still up")
        .child("net")
        .cloned()
        .unwrap();
    assert!(
        lc.packets_out >= 3 && lc.packets_in >= 3,
        "the pings did not cross the tunnel: {lc:#?}"
    );
    // The IKE peer itself is still reached directly (not via ipsec0).
    p.left.ping_ok("10.99.0.1", "10.99.0.2", 1);
    let traffic = t0.elapsed();

    p.left_sw
        .terminate_ike("pair")
        .unwrap_or_else(|e| panic!("terminate: {e}"));
    assert!(
        support::wait_for(|| p.right_sw.list_sas().is_empty(), Duration::from_secs(5)),
        "right kept its SA after the delete: {:#?}",
        p.right_sw.list_sas()
    );

    // Teardown: charons and namespaces are gone after drop.
    let pids = [p.left_sw.pid().unwrap(), p.right_sw.pid().unwrap()];
    drop(p);
    let listed = String::from_utf8_lossy(
        &std::process::Command::new("ip")
            .args(["netns", "list"])
            .output()
            .expect("ip netns list")
            .stdout,
    )
    .into_owned();
    for n in &names {
        assert!(!listed.contains(n.as_str()), "{n} left behind:\n{listed}");
    }
    for pid in pids {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "charon {pid} left running"
        );
    }
    eprintln!(
        "timings: setup {setup:?}, established {established:?}, ping {traffic:?}, total {:?}",
        t0.elapsed()
    );
}

#[test]
fn strongswan_pair_with_mismatched_psk_fails_authentication() {
    let t0 = Instant::now();
    let p = pair("a-different-psk-9876543210");
    let res = p.left_sw.initiate("net");
    assert!(res.is_err(), "initiate succeeded with a wrong PSK: {res:?}");
    // Bounded: nothing comes up within 2 s on either side.
    let up = support::wait_for(
        || {
            [&p.left_sw, &p.right_sw]
                .iter()
                .any(|s| s.list_sas().iter().any(|sa| sa.state == "ESTABLISHED"))
        },
        Duration::from_secs(2),
    );
    assert!(!up, "an IKE SA was ESTABLISHED with mismatched PSKs");
    assert!(
        p.left_sw
            .wait_log("AUTHENTICATION_FAILED", Duration::from_secs(2)),
        "initiator log lacks AUTHENTICATION_FAILED:\n{}",
        p.left_sw.log()
    );
    assert!(
        p.right_sw.log().contains("MAC mismatched"),
        "responder log lacks the PSK mismatch:\n{}",
        p.right_sw.log()
    );
    eprintln!("timings: negative case {:?}", t0.elapsed());
}

#[test]
fn rvpnd_runs_in_a_namespace_and_answers_vtysh() {
    support::require_interop();
    support::rvpn::vtysh_bin();
    let ns = Netns::new("d");
    let mut d = Rvpnd::start(&ns, "hostname lab1\n!\n");
    let v = d.show_json("show version");
    assert!(v.is_object(), "{v}");
    let run = d.vtysh_ok(&["show running-config"]);
    assert!(run.contains("hostname lab1"), "{run}");
    // The daemon runs inside the namespace, not in the host's.
    let pid = d.pid().expect("running");
    assert!(
        ns.pids().contains(&(pid as i32)),
        "rvpnd {pid} not in {}",
        ns.name()
    );
    d.restart();
    assert!(d
        .vtysh_ok(&["show running-config"])
        .contains("hostname lab1"));
    assert!(d.running());
}

#[test]
fn list_sas_parser_reads_swanctl_pretty_output() {
    let text = "list-sa event {
  pair {
    uniqueid = 1
    version = 2
    state = ESTABLISHED
    local-host = 10.99.0.1
    local-port = 4500
    local-id = C=CH, O=strongSwan, CN=left
    remote-host = 10.99.0.2
    remote-port = 4500
    remote-id = right@test
    initiator = yes
    initiator-spi = eb09e93c253eee5a
    responder-spi = ce1126bac4acce27
    nat-remote = yes
    encr-alg = AES_CBC
    encr-keysize = 128
    integ-alg = HMAC_SHA2_256_128
    prf-alg = PRF_HMAC_SHA2_256
    dh-group = ECP_256
    child-sas {
      net-1 {
        name = net
        uniqueid = 1
        reqid = 1
        state = INSTALLED
        mode = TUNNEL
        protocol = ESP
        encap = yes
        spi-in = 9d828219
        spi-out = 43128861
        encr-alg = AES_GCM_16
        encr-keysize = 256
        bytes-in = 252
        packets-in = 3
        bytes-out = 504
        packets-out = 6
        local-ts = [
          0.0.0.0/0
          ::/0
        ]
        remote-ts = [
          10.10.2.0/24
        ]
      }
    }
  }
}
list-sas reply {
}
";
    let sas = parse_list_sas(text);
    assert_eq!(sas.len(), 1);
    let sa = &sas[0];
    assert_eq!(sa.name, "pair");
    assert_eq!(sa.state, "ESTABLISHED");
    assert_eq!(sa.local_id, "C=CH, O=strongSwan, CN=left");
    assert_eq!(sa.local_port, 4500);
    assert!(sa.initiator && sa.nat_remote && !sa.nat_local);
    assert_eq!(sa.integ_alg.as_deref(), Some("HMAC_SHA2_256_128"));
    assert_eq!(sa.dh_group.as_deref(), Some("ECP_256"));
    let c = sa.child("net").expect("child");
    assert_eq!(c.spi_in, "9d828219");
    assert_eq!(
        (c.bytes_in, c.packets_in, c.bytes_out, c.packets_out),
        (252, 3, 504, 6)
    );
    assert_eq!(c.local_ts, ["0.0.0.0/0", "::/0"]);
    assert_eq!(c.remote_ts, ["10.10.2.0/24"]);
    assert!(parse_list_sas("list-sas reply {\n}\n").is_empty());
}
