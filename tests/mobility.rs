//! Address changes under established tunnels, against strongSwan
//! (charon with kernel-libipsec) in network namespaces:
//!
//! - NAT rebinding: strongSwan behind a NAT whose mapping changes
//!   mid-tunnel (new source port); rvpn's IKE SA and Child SA follow the
//!   authenticated ESP from the new port without renegotiating.
//! - MOBIKE (RFC 4555): a strongSwan spoke with two uplinks loses the
//!   address of the first; it moves its IKE and Child SAs with
//!   UPDATE_SA_ADDRESSES and rvpn follows. And the reverse: rvpn is the
//!   spoke that moves, strongSwan the hub that follows.
//!
//! Each test pings through the tunnel every 20 ms across the change and
//! reports the loss (packets and the longest gap between replies).
//! Needs root and the packages that scripts/test installs.

mod support;

use serde_json::Value;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use support::netns::{veth, Netns};
use support::rvpn::Rvpnd;
use support::strongswan::{IkeSaInfo, StrongSwan, SwanConn, SwanOpts};
use support::{figure, wait_for, Scratch};

const PSK: &str = "mobility-psk-0123456789abcdef";
/// Ping interval across the change.
const PING_INTERVAL: Duration = Duration::from_millis(20);
/// The bound: the tunnel carries traffic again within 2 s.
const RECOVERY: Duration = Duration::from_secs(2);

/// rvpn as a hub: Tunnel1 takes any spoke of spokes.test.
fn hub_config() -> String {
    support::rvpn::hub_config(PSK, &[None])
}

/// rvpn as a spoke initiating to `hub` (no tunnel source: it goes out
/// from whatever address the route to the hub gives).
fn spoke_config(hub: &str) -> String {
    format!(
        "hostname spoke
crypto ikev2 keyring HUB
 peer hub
  address {hub}
  pre-shared-key 0 {PSK}
!
crypto ikev2 profile HUB
 match identity remote fqdn hub.test
 identity local fqdn spoke1.spokes.test
 authentication local pre-share
 authentication remote pre-share
 keyring local HUB
!
crypto ipsec profile IPS
 set ikev2-profile HUB
!
interface Tunnel1
 ip address 169.254.1.2/30
 tunnel destination {hub}
 tunnel protection ipsec profile IPS
"
    )
}

fn ike_sas(rvpn: &Rvpnd) -> Vec<Value> {
    rvpn.show_json("show crypto ikev2 sa")["ike_sas"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The one established IKE SA of rvpn (panics unless exactly one).
fn one_sa(rvpn: &Rvpnd) -> Value {
    let sas = ike_sas(rvpn);
    assert_eq!(sas.len(), 1, "one IKE SA: {sas:#?}\n{}", rvpn.log());
    sas[0].clone()
}

fn wait_session_up(rvpn: &Rvpnd, swan: &StrongSwan, conn: &str) {
    let ok = wait_for(
        || rvpn.show_json("show crypto session")["sessions"][0]["status"] == "UP-ACTIVE",
        Duration::from_secs(20),
    );
    assert!(ok, "tunnel up\n{}\n---\n{}", rvpn.log(), swan.log());
    swan.wait_established(conn, "net", Duration::from_secs(10));
}

/// Wait for `Tunnel1` in `ns`, then route `dst` into it from `src`.
fn route_into_tunnel(ns: &Netns, rvpn: &Rvpnd, dst: &str, src: &str) {
    let ok = wait_for(
        || ns.exec(&["ip", "link", "show", "Tunnel1"]).status.success(),
        Duration::from_secs(5),
    );
    assert!(ok, "Tunnel1 exists\n{}", rvpn.log());
    ns.exec_ok(&["ip", "route", "replace", dst, "dev", "Tunnel1", "src", src]);
}

fn epoch_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

/// A ping every [`PING_INTERVAL`] for `secs` seconds, in the background.
struct Pinger {
    proc: support::Proc,
    dir: Scratch,
}

impl Pinger {
    fn start(ns: &Netns, src: &str, dst: &str, secs: u32) -> Pinger {
        let dir = Scratch::new("nmping");
        let i = format!("{}", PING_INTERVAL.as_secs_f64());
        let w = secs.to_string();
        let proc = ns.spawn(
            &[
                "ping", "-n", "-D", "-i", &i, "-W", "1", "-w", &w, "-I", src, dst,
            ],
            &dir.join("ping.log"),
        );
        Pinger { proc, dir }
    }

    /// Wait for the end and read what it saw.
    fn finish(mut self, secs: u32) -> PingResult {
        let st = self.proc.wait(Duration::from_secs(u64::from(secs) + 10));
        assert!(st.is_some(), "ping ended");
        let text = std::fs::read_to_string(self.dir.join("ping.log")).unwrap_or_default();
        PingResult::parse(&text)
    }
}

#[derive(Debug)]
struct PingResult {
    sent: u64,
    received: u64,
    /// Reply times (Unix seconds), in order.
    replies: Vec<f64>,
    text: String,
}

impl PingResult {
    fn parse(text: &str) -> PingResult {
        let mut replies = Vec::new();
        let (mut sent, mut received) = (0, 0);
        for l in text.lines() {
            if l.contains("bytes from") {
                if let Some(t) = l
                    .strip_prefix('[')
                    .and_then(|r| r.split(']').next())
                    .and_then(|t| t.parse::<f64>().ok())
                {
                    replies.push(t);
                }
            }
            if l.contains("packets transmitted") {
                let n: Vec<u64> = l
                    .split(|c: char| !c.is_ascii_digit())
                    .filter_map(|x| x.parse().ok())
                    .collect();
                if n.len() >= 2 {
                    sent = n[0];
                    received = n[1];
                }
            }
        }
        PingResult {
            sent,
            received,
            replies,
            text: text.lines().rev().take(5).collect::<Vec<_>>().join("\n"),
        }
    }

    fn lost(&self) -> u64 {
        self.sent.saturating_sub(self.received)
    }

    /// The longest time without a reply after `after` (the change):
    /// from the last reply before it (or `after`) to the first one
    /// following, and the gaps between later replies.
    fn outage_after(&self, after: f64) -> Duration {
        let mut prev = self
            .replies
            .iter()
            .copied()
            .rfind(|t| *t <= after)
            .unwrap_or(after);
        let mut worst = 0f64;
        for t in self.replies.iter().copied().filter(|t| *t > after) {
            worst = worst.max(t - prev);
            prev = t;
        }
        Duration::from_secs_f64(worst)
    }

    fn replies_after(&self, after: f64) -> usize {
        self.replies.iter().filter(|t| **t > after).count()
    }
}

/// Report and check a ping across a change made at `at`.
fn check_recovery(what: &str, p: &PingResult, at: f64) -> Duration {
    let outage = p.outage_after(at);
    figure(&format!(
        "{what}: ping every {} ms: {} sent, {} lost, longest gap {} ms after the change",
        PING_INTERVAL.as_millis(),
        p.sent,
        p.lost(),
        outage.as_millis()
    ));
    assert!(p.sent > 100, "ping ran: {p:?}");
    assert!(
        p.replies_after(at + RECOVERY.as_secs_f64()) > 50,
        "{what}: the tunnel carries traffic after the change: {p:?}"
    );
    assert!(
        outage <= RECOVERY,
        "{what}: traffic recovered within {RECOVERY:?}, took {outage:?}\n{}",
        p.text
    );
    outage
}

/// Ping from `src` to `dst` in `ns` across `change`, made 3 s into a 10 s
/// run: what ping saw, and when the change was made (Unix seconds).
fn ping_across(ns: &Netns, src: &str, dst: &str, change: impl FnOnce()) -> (PingResult, f64) {
    let secs = 10;
    let ping = Pinger::start(ns, src, dst, secs);
    std::thread::sleep(Duration::from_secs(3));
    let at = epoch_secs();
    change();
    (ping.finish(secs), at)
}

/// After the change: rvpn still has the IKE SA `before` (same SPIs) and
/// negotiated nothing itself, and strongSwan kept its IKE SA `swan0` (no
/// reauthentication). The Child SA stays too, unless strongSwan replaced
/// it: kernel-libipsec cannot change an installed SA's addresses, so
/// charon rekeys a Child SA whose IKE SA moved (its log: `... endpoint
/// changed ...` then `queueing CHILD_REKEY task`); rvpn then has exactly
/// one more Child SA, which the peer initiated. rvpn's IKE SA and
/// strongSwan's as they are now, and whether strongSwan rekeyed.
fn assert_same_sas(
    rvpn: &Rvpnd,
    before: &Value,
    swan: &StrongSwan,
    conn: &str,
    swan0: &IkeSaInfo,
) -> (Value, IkeSaInfo, bool) {
    let after = one_sa(rvpn);
    assert_eq!(
        (&after["spi_i"], &after["spi_r"]),
        (&before["spi_i"], &before["spi_r"]),
        "the same IKE SA: {before} -> {after}"
    );
    let log = rvpn.log();
    assert!(
        !log.contains("rekeying CHILD_SA") && !log.contains("rekeying IKE_SA"),
        "rvpn renegotiated nothing\n{log}"
    );
    let swan1 = swan.wait_established(conn, "net", Duration::from_secs(2));
    assert_eq!(
        (swan1.initiator_spi.as_str(), swan1.responder_spi.as_str()),
        (swan0.initiator_spi.as_str(), swan0.responder_spi.as_str()),
        "strongSwan keeps its IKE SA (no reauthentication)"
    );
    assert_eq!(swan.list_sas().len(), 1);
    let (c0, c1) = (swan0.child("net").unwrap(), swan1.child("net").unwrap());
    let rekeyed = (&c1.spi_in, &c1.spi_out) != (&c0.spi_in, &c0.spi_out);
    let ups = log.matches("IPsec SA up").count();
    if rekeyed {
        let slog = swan.log();
        let moved = slog.rfind("endpoint changed").unwrap_or(slog.len());
        assert!(
            slog[moved..].contains("queueing CHILD_REKEY task"),
            "a new Child SA only as strongSwan's rekey after its move\n{slog}"
        );
        assert_eq!(ups, 2, "one Child SA more, the peer's rekey\n{log}");
    } else {
        assert_eq!(ups, 1, "no new Child SA\n{log}");
    }
    (after, swan1, rekeyed)
}

fn port_of(sa: &Value) -> u16 {
    sa["remote"]
        .as_str()
        .and_then(|r| r.rsplit(':').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or(0)
}

/// The NAT's source ports for UDP: one range before the rebinding, another
/// after it.
fn snat_rule(out_if: &str, ports: &str) -> Vec<String> {
    [
        "POSTROUTING",
        "-o",
        out_if,
        "-p",
        "udp",
        "-j",
        "MASQUERADE",
        "--to-ports",
        ports,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

#[test]
fn nat_rebinding_mid_tunnel_is_followed_without_renegotiation() {
    support::require_interop();
    // strongSwan spoke (10.95.1.2) -- NAT (10.96.0.254) -- rvpn hub (10.96.0.1)
    let hub = Netns::new("nmhub");
    let nat = Netns::new("nmnat");
    let spoke = Netns::new("nmsp");
    let outside = veth(&nat, &hub, "10.96.0.254/24", "10.96.0.1/24");
    veth(&nat, &spoke, "10.95.1.254/24", "10.95.1.2/24");
    spoke.route(&["default", "via", "10.95.1.254"]);
    nat.enable_forwarding();
    let mut rule = vec!["-t".to_string(), "nat".into(), "-A".into()];
    rule.extend(snat_rule(&outside.a_if, "11000-11999"));
    nat.iptables(&rule.iter().map(String::as_str).collect::<Vec<_>>());

    let rvpn = Rvpnd::start(&hub, &hub_config());
    let mut swan = StrongSwan::start(&spoke, SwanOpts::tagged("nmsw"));
    let mut c = SwanConn::psk(
        "hub",
        "%any",
        "10.96.0.1",
        "spoke1.spokes.test",
        "hub.test",
        PSK,
    );
    c.start_action = "start".into();
    c.mobike = false;
    swan.load(&[c]);
    wait_session_up(&rvpn, &swan, "hub");

    spoke.add_lo_addr("10.10.2.1/32");
    swan.route_via_tunnel("169.254.1.0/30", "10.10.2.1");
    route_into_tunnel(&hub, &rvpn, "10.10.2.1/32", "169.254.1.1");
    spoke.ping_ok("10.10.2.1", "169.254.1.1", 3);

    let before = one_sa(&rvpn);
    assert_eq!(before["nat_remote"], true, "{before}");
    let p0 = port_of(&before);
    assert!(
        (11000..12000).contains(&p0),
        "mapped into the first range: {before}"
    );
    let swan0 = swan.wait_established("hub", "net", Duration::from_secs(2));

    // The NAT forgets its mappings (MASQUERADE drops them with the
    // address) and maps into another port range from now on.
    let (result, at) = ping_across(&spoke, "10.10.2.1", "169.254.1.1", || {
        let mut rule = vec!["-t".to_string(), "nat".into(), "-R".into()];
        let mut r = snat_rule(&outside.a_if, "12000-12999");
        r.insert(1, "1".into());
        rule.extend(r);
        nat.iptables(&rule.iter().map(String::as_str).collect::<Vec<_>>());
        nat.exec_ok(&["ip", "addr", "del", "10.96.0.254/24", "dev", &outside.a_if]);
        nat.add_addr(&outside.a_if, "10.96.0.254/24");
    });
    let (after, _, rekeyed) = assert_same_sas(&rvpn, &before, &swan, "hub", &swan0);
    assert!(!rekeyed, "strongSwan did not move: its Child SA stays");
    let p1 = port_of(&after);
    assert!(
        (12000..13000).contains(&p1),
        "rvpn follows the new mapping: {before} -> {after}\n{}",
        rvpn.log()
    );
    let session = &rvpn.show_json("show crypto session")["sessions"][0];
    assert_eq!(session["peer_port"], p1, "{session}");
    assert_eq!(session["peer"], "10.96.0.254", "{session}");
    let log = rvpn.log();
    assert!(log.contains("NAT mapping of CHILD_SA"), "{log}");
    check_recovery(
        &format!("NAT rebinding (strongSwan spoke behind NAT, port {p0} -> {p1})"),
        &result,
        at,
    );
}

/// A spoke namespace with two uplinks to a router in front of the hub:
/// 10.94.1.2 (preferred: metric 10) and 10.94.2.2 (metric 20); the hub is
/// 10.93.0.1 behind the router.
struct TwoUplinks {
    hub: Netns,
    spoke: Netns,
    _rtr: Netns,
    /// The spoke's end of the first uplink.
    first: String,
}

impl TwoUplinks {
    /// The first uplink loses its address (and with it the route).
    fn lose_first_uplink(&self) {
        self.spoke
            .exec_ok(&["ip", "addr", "del", "10.94.1.2/24", "dev", &self.first]);
    }
}

fn two_uplinks() -> TwoUplinks {
    let hub = Netns::new("nmhb");
    let rtr = Netns::new("nmrt");
    let spoke = Netns::new("nmmb");
    veth(&rtr, &hub, "10.93.0.254/24", "10.93.0.1/24");
    let l1 = veth(&rtr, &spoke, "10.94.1.1/24", "10.94.1.2/24");
    veth(&rtr, &spoke, "10.94.2.1/24", "10.94.2.2/24");
    rtr.enable_forwarding();
    hub.route(&["default", "via", "10.93.0.254"]);
    spoke.route(&["10.93.0.0/24", "via", "10.94.1.1", "metric", "10"]);
    spoke.route(&["10.93.0.0/24", "via", "10.94.2.1", "metric", "20"]);
    TwoUplinks {
        hub,
        spoke,
        _rtr: rtr,
        first: l1.b_if,
    }
}

#[test]
fn mobike_strongswan_spoke_moves_to_its_second_uplink() {
    support::require_interop();
    let l = two_uplinks();
    let rvpn = Rvpnd::start(&l.hub, &hub_config());
    let mut swan = StrongSwan::start(&l.spoke, SwanOpts::tagged("nmmsw"));
    let mut c = SwanConn::psk(
        "hub",
        "%any",
        "10.93.0.1",
        "spoke1.spokes.test",
        "hub.test",
        PSK,
    );
    c.start_action = "start".into();
    c.mobike = true;
    swan.load(&[c]);
    wait_session_up(&rvpn, &swan, "hub");
    let before = one_sa(&rvpn);
    assert_eq!(before["mobike"], true, "MOBIKE negotiated: {before}");
    assert!(
        before["remote"].as_str().unwrap().starts_with("10.94.1.2:"),
        "{before}"
    );
    let swan0 = swan.wait_established("hub", "net", Duration::from_secs(2));
    assert_eq!(swan0.local_host, "10.94.1.2");

    l.spoke.add_lo_addr("10.10.2.1/32");
    swan.route_via_tunnel("169.254.1.0/30", "10.10.2.1");
    route_into_tunnel(&l.hub, &rvpn, "10.10.2.1/32", "169.254.1.1");
    l.spoke.ping_ok("10.10.2.1", "169.254.1.1", 3);

    // The first uplink loses its address (and with it the route).
    let (result, at) = ping_across(&l.spoke, "10.10.2.1", "169.254.1.1", || {
        l.lose_first_uplink()
    });
    let (after, swan1, rekeyed) = assert_same_sas(&rvpn, &before, &swan, "hub", &swan0);
    assert!(
        after["remote"].as_str().unwrap().starts_with("10.94.2.2:"),
        "rvpn follows the spoke: {after}\n{}\n---\n{}",
        rvpn.log(),
        swan.log()
    );
    assert_eq!(swan1.local_host, "10.94.2.2", "{swan1:#?}");
    let session = &rvpn.show_json("show crypto session")["sessions"][0];
    assert_eq!(session["peer"], "10.94.2.2", "{session}");
    let log = rvpn.log();
    assert!(log.contains("with UPDATE_SA_ADDRESSES"), "{log}");
    check_recovery(
        &format!(
            "MOBIKE (strongSwan spoke moves, rvpn hub follows; strongSwan rekeyed its Child SA: {rekeyed})"
        ),
        &result,
        at,
    );
}

#[test]
fn mobike_rvpn_spoke_moves_to_its_second_uplink() {
    support::require_interop();
    let l = two_uplinks();
    // Roles swapped: strongSwan is the hub, rvpn the spoke with two uplinks.
    let mut swan = StrongSwan::start(&l.hub, SwanOpts::tagged("nmhsw"));
    let mut c = SwanConn::psk(
        "spoke",
        "10.93.0.1",
        "%any",
        "hub.test",
        "spoke1.spokes.test",
        PSK,
    );
    c.mobike = true;
    swan.load(&[c]);
    let rvpn = Rvpnd::start(&l.spoke, &spoke_config("10.93.0.1"));
    wait_session_up(&rvpn, &swan, "spoke");
    let before = one_sa(&rvpn);
    assert_eq!(before["mobike"], true, "MOBIKE negotiated: {before}");
    let swan0 = swan.wait_established("spoke", "net", Duration::from_secs(2));
    assert_eq!(swan0.remote_host, "10.94.1.2");

    l.hub.add_lo_addr("10.10.2.1/32");
    swan.route_via_tunnel("169.254.1.0/30", "10.10.2.1");
    route_into_tunnel(&l.spoke, &rvpn, "10.10.2.1/32", "169.254.1.2");
    l.spoke.ping_ok("169.254.1.2", "10.10.2.1", 3);

    let (result, at) = ping_across(&l.spoke, "169.254.1.2", "10.10.2.1", || {
        l.lose_first_uplink()
    });
    let (after, swan1, rekeyed) = assert_same_sas(&rvpn, &before, &swan, "spoke", &swan0);
    assert!(
        after["local"].as_str().unwrap().starts_with("10.94.2.2:"),
        "rvpn moved: {after}\n{}",
        rvpn.log()
    );
    assert_eq!(
        swan1.remote_host,
        "10.94.2.2",
        "strongSwan follows: {swan1:#?}\n{}",
        swan.log()
    );
    let log = rvpn.log();
    assert!(log.contains("with UPDATE_SA_ADDRESSES"), "{log}");
    check_recovery(
        &format!(
            "MOBIKE (rvpn spoke moves, strongSwan hub follows; strongSwan rekeyed its Child SA: {rekeyed})"
        ),
        &result,
        at,
    );
}
