//! End-to-end data-plane labs: two hosts talking through two gateways.
//!
//! ```text
//!  hostA ---- gwA (rvpnd) ---- [transit] ---- gwB (strongSwan | rvpnd) ---- hostB
//!  10.1.0.2   10.1.0.1                                        10.2.0.1   10.2.0.2
//!  fd01::2    fd01::1                                         fd02::1    fd02::2
//! ```
//!
//! The gateways' WAN side is either one veth ([`Path::Direct`]: gwA
//! 10.99.0.1, gwB 10.99.0.2) or two through a transit namespace (gwA
//! 10.98.1.1, transit 10.98.1.254 / 10.99.0.254, gwB 10.99.0.2) that routes
//! ([`Path::Routed`]) or source-NATs gwA ([`Path::Nat`], iptables
//! MASQUERADE). No namespace has a route between the host subnets other
//! than through the tunnel, so a packet between the hosts either crosses
//! it encrypted or is lost.
//!
//! gwA's rvpnd has `interface Tunnel1` (169.254.100.1/30, fd00:100::1/64)
//! to gwB; hostB's subnets are routed into Tunnel1 with kernel routes once
//! the TUN exists (the configuration also carries `ip route ... Tunnel1`
//! lines, in case the daemon programs static routes). On a strongSwan gwB,
//! hostA's subnets are routed into kernel-libipsec's `ipsec0`; on an rvpnd
//! gwB (169.254.100.2/30, fd00:100::2/64, `tunnel destination dynamic`)
//! into its Tunnel1.
//!
//! Traffic comes from a small python3 tool ([`TOOL`], written into the
//! lab's scratch directory) run with `ip netns exec` on the hosts: TCP
//! streams of deterministic pseudo-random bytes with SHA-256 on both ends,
//! numbered UDP datagrams whose content the receiver re-derives, and a UDP
//! echo probe stream that names every lost probe.
//!
//! Dropping a [`DpLab`] while the test panics prints both daemons' logs
//! (their files are kept as well: see [`super::Scratch`]).
//!
//! This file builds the lab ([`DpLab::start`]); [`config`] renders the
//! gateways' rvpn configuration, [`traffic`] runs pings, transfers and
//! probe streams between the hosts with the [`tool`], and [`inspect`]
//! reads what the lab shows (captures, rvpn's SAs, links).

mod config;
mod inspect;
mod tool;
mod traffic;

// Callers name everything as `hosts::X`; each test binary uses only some
// of it, so the re-exports would warn in the others.
#[allow(unused_imports)]
pub use config::GwSpec;
#[allow(unused_imports)]
pub use inspect::{
    has_link, link_mtu, rvpn_child_installs, rvpn_ike_spis, rvpn_sas, rvpn_spis_in,
    sa_packet_counters, session, Wire,
};
#[allow(unused_imports)]
pub use tool::TOOL;
#[allow(unused_imports)]
pub use traffic::{assert_same_stream, last_json, UdpStream};

use super::netns::{veth, Netns};
use super::rvpn::Rvpnd;
use super::strongswan::{ChildSaInfo, StrongSwan, SwanConn, SwanOpts};
use super::{output_text, wait_for, Scratch};
use std::fmt::Write as _;
use std::fs;
use std::time::Duration;

pub const PSK: &str = "dataplane-e2e-psk-0123456789abcdef";

pub const HOST_A: &str = "10.1.0.2";
pub const HOST_A6: &str = "fd01::2";
pub const NET_A: &str = "10.1.0.0/24";
pub const NET_A6: &str = "fd01::/64";
pub const GW_A_LAN: &str = "10.1.0.1";
pub const GW_A_LAN6: &str = "fd01::1";
pub const HOST_B: &str = "10.2.0.2";
pub const HOST_B6: &str = "fd02::2";
pub const NET_B: &str = "10.2.0.0/24";
pub const NET_B6: &str = "fd02::/64";
pub const GW_B_LAN: &str = "10.2.0.1";
pub const GW_B_LAN6: &str = "fd02::1";
/// gwA's WAN address without a transit namespace.
pub const GW_A_WAN_DIRECT: &str = "10.99.0.1";
/// gwA's WAN address behind the transit namespace.
pub const GW_A_WAN_BEHIND: &str = "10.98.1.1";
pub const TRANSIT_A: &str = "10.98.1.254";
pub const TRANSIT_B: &str = "10.99.0.254";
pub const GW_B_WAN: &str = "10.99.0.2";
pub const TUN_A: &str = "169.254.100.1/30";
pub const TUN_A6: &str = "fd00:100::1/64";
pub const TUN_B: &str = "169.254.100.2/30";
pub const TUN_B6: &str = "fd00:100::2/64";

/// How the gateways reach each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// One veth between gwA and gwB.
    Direct,
    /// Through a transit namespace that routes.
    Routed,
    /// Through a transit namespace that masquerades gwA's traffic.
    Nat,
}

/// What runs on gwB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerKind {
    StrongSwan,
    Rvpn,
}

/// One end of the lab.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    A,
    B,
}

impl Side {
    pub fn other(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }
    /// The host's address of a family.
    pub fn host(self, v6: bool) -> &'static str {
        match (self, v6) {
            (Side::A, false) => HOST_A,
            (Side::A, true) => HOST_A6,
            (Side::B, false) => HOST_B,
            (Side::B, true) => HOST_B6,
        }
    }
}

/// Settings of a lab.
#[derive(Debug, Clone)]
pub struct LabOpts {
    /// Prefix of the namespace tags (`dpe` plus something short).
    pub tag: String,
    pub peer: PeerKind,
    pub path: Path,
    /// `mtu` lines of the rvpn tunnel interfaces (None: the default).
    pub tunnel_mtu: Option<u32>,
    /// `set security-association lifetime seconds N` of rvpn's ipsec
    /// profile (both rvpnds).
    pub rvpn_child_lifetime: Option<u32>,
    /// `lifetime N` of rvpn's IKEv2 profile (both rvpnds).
    pub rvpn_ike_lifetime: Option<u32>,
    /// strongSwan's child `rekey_time` and `life_time`.
    pub swan_child_rekey: Option<Duration>,
    pub swan_child_life: Option<Duration>,
    /// `nat keepalive N` in rvpn's IKEv2 profile.
    pub nat_keepalive: Option<u32>,
    /// RUST_LOG of the rvpnds.
    pub rust_log: String,
}

impl LabOpts {
    pub fn new(tag: &str, peer: PeerKind, path: Path) -> LabOpts {
        LabOpts {
            tag: tag.into(),
            peer,
            path,
            tunnel_mtu: None,
            rvpn_child_lifetime: None,
            rvpn_ike_lifetime: None,
            swan_child_rekey: None,
            swan_child_life: None,
            nat_keepalive: None,
            rust_log: "debug".into(),
        }
    }
}

/// The daemon on gwB.
pub enum GwB {
    Swan(StrongSwan),
    Rvpn(Rvpnd),
}

/// A running lab. Fields drop in order: daemons first, then namespaces.
pub struct DpLab {
    pub rvpn: Rvpnd,
    pub peer: GwB,
    pub opts: LabOpts,
    /// gwA's WAN interface (towards gwB or the transit namespace).
    pub wan_a: String,
    /// gwB's WAN interface.
    pub wan_b: String,
    /// The transit namespace's interfaces towards gwA and towards gwB.
    pub transit_ifs: Option<(String, String)>,
    /// hostA's and hostB's interfaces (towards their gateways).
    pub host_a_if: String,
    pub host_b_if: String,
    tools: Scratch,
    pub host_a: Netns,
    pub gw_a: Netns,
    pub transit: Option<Netns>,
    pub gw_b: Netns,
    pub host_b: Netns,
}

impl DpLab {
    /// Build the namespaces, start both gateways, wait until the tunnel
    /// is up on both ends and route the host subnets into it.
    pub fn start(opts: LabOpts) -> DpLab {
        super::require_interop();
        assert!(
            super::in_path("python3"),
            "the data-plane labs run their traffic with python3: apt-get install python3"
        );
        let t = &opts.tag;
        let host_a = Netns::new(&format!("{t}ha"));
        let gw_a = Netns::new(&format!("{t}ga"));
        let gw_b = Netns::new(&format!("{t}gb"));
        let host_b = Netns::new(&format!("{t}hb"));
        let transit = (opts.path != Path::Direct).then(|| Netns::new(&format!("{t}tr")));

        // Hosts and their gateways.
        let la = veth(
            &host_a,
            &gw_a,
            &format!("{HOST_A}/24"),
            &format!("{GW_A_LAN}/24"),
        );
        host_a.add_addr(&la.a_if, &format!("{HOST_A6}/64"));
        gw_a.add_addr(&la.b_if, &format!("{GW_A_LAN6}/64"));
        let lb = veth(
            &host_b,
            &gw_b,
            &format!("{HOST_B}/24"),
            &format!("{GW_B_LAN}/24"),
        );
        host_b.add_addr(&lb.a_if, &format!("{HOST_B6}/64"));
        gw_b.add_addr(&lb.b_if, &format!("{GW_B_LAN6}/64"));
        host_a.route(&["default", "via", GW_A_LAN]);
        host_a.exec_ok(&["ip", "-6", "route", "replace", "default", "via", GW_A_LAN6]);
        host_b.route(&["default", "via", GW_B_LAN]);
        host_b.exec_ok(&["ip", "-6", "route", "replace", "default", "via", GW_B_LAN6]);
        gw_a.enable_forwarding();
        gw_b.enable_forwarding();

        // The WAN.
        let gw_a_wan;
        let (wan_a, wan_b, transit_ifs);
        match &transit {
            None => {
                gw_a_wan = GW_A_WAN_DIRECT;
                let v = veth(
                    &gw_a,
                    &gw_b,
                    &format!("{GW_A_WAN_DIRECT}/24"),
                    &format!("{GW_B_WAN}/24"),
                );
                wan_a = v.a_if;
                wan_b = v.b_if;
                transit_ifs = None;
            }
            Some(tr) => {
                gw_a_wan = GW_A_WAN_BEHIND;
                let va = veth(
                    &gw_a,
                    tr,
                    &format!("{GW_A_WAN_BEHIND}/24"),
                    &format!("{TRANSIT_A}/24"),
                );
                let vb = veth(
                    tr,
                    &gw_b,
                    &format!("{TRANSIT_B}/24"),
                    &format!("{GW_B_WAN}/24"),
                );
                // Only the WAN prefixes: nothing routes the host subnets
                // outside the tunnel.
                gw_a.route(&["10.99.0.0/24", "via", TRANSIT_A]);
                if opts.path == Path::Nat {
                    tr.masquerade(&vb.a_if);
                } else {
                    tr.enable_forwarding();
                    gw_b.route(&["10.98.1.0/24", "via", TRANSIT_B]);
                }
                wan_a = va.a_if;
                wan_b = vb.b_if;
                transit_ifs = Some((va.b_if, vb.a_if));
            }
        }

        let tools = Scratch::new(&format!("{t}tool"));
        fs::write(tools.join("dpe.py"), TOOL).expect("write dpe.py");

        let spec_a = GwSpec {
            hostname: "gwa".into(),
            local_id: "gwa.test".into(),
            remote_id: "gwb.test".into(),
            peer_addr: GW_B_WAN.into(),
            source: gw_a_wan.into(),
            destination: GW_B_WAN.into(),
            tun4: TUN_A.into(),
            tun6: TUN_A6.into(),
            mtu: opts.tunnel_mtu,
            child_lifetime: opts.rvpn_child_lifetime,
            ike_lifetime: opts.rvpn_ike_lifetime,
            nat_keepalive: opts.nat_keepalive,
            routes: vec![NET_B.into(), NET_B6.into()],
        };
        let rvpn_opts = |tag: &str| super::rvpn::RvpndOpts {
            tag: tag.into(),
            rust_log: opts.rust_log.clone(),
            ..Default::default()
        };
        // gwB first (it answers), then gwA (it initiates).
        let peer = match opts.peer {
            PeerKind::StrongSwan => {
                let mut sw = StrongSwan::start(&gw_b, SwanOpts::tagged(&format!("{t}sw")));
                let mut c = SwanConn::psk(
                    "rvpn",
                    GW_B_WAN,
                    if opts.path == Path::Nat {
                        "%any"
                    } else {
                        gw_a_wan
                    },
                    "gwb.test",
                    "gwa.test",
                    PSK,
                );
                c.proposals = "aes256gcm16-prfsha384-x25519".into();
                c.esp_proposals = "aes256gcm16".into();
                c.child_rekey_time = opts.swan_child_rekey;
                c.child_life_time = opts.swan_child_life;
                sw.load(&[c]);
                GwB::Swan(sw)
            }
            PeerKind::Rvpn => {
                let spec_b = GwSpec {
                    hostname: "gwb".into(),
                    local_id: "gwb.test".into(),
                    remote_id: "gwa.test".into(),
                    peer_addr: if opts.path == Path::Nat {
                        "0.0.0.0/0".into()
                    } else {
                        gw_a_wan.into()
                    },
                    source: GW_B_WAN.into(),
                    destination: "dynamic".into(),
                    tun4: TUN_B.into(),
                    tun6: TUN_B6.into(),
                    routes: vec![NET_A.into(), NET_A6.into()],
                    ..spec_a.clone()
                };
                GwB::Rvpn(Rvpnd::start_with(
                    &gw_b,
                    &spec_b.render(),
                    rvpn_opts(&format!("{t}rb")),
                ))
            }
        };
        let rvpn = Rvpnd::start_with(&gw_a, &spec_a.render(), rvpn_opts(&format!("{t}ra")));
        let mut lab = DpLab {
            rvpn,
            peer,
            opts,
            wan_a,
            wan_b,
            transit_ifs,
            host_a_if: la.a_if.clone(),
            host_b_if: lb.a_if.clone(),
            tools,
            host_a,
            gw_a,
            transit,
            gw_b,
            host_b,
        };
        lab.wait_up();
        lab.route_into_tunnels();
        lab
    }

    /// Wait until both gateways have the tunnel up (rvpn: UP-ACTIVE,
    /// strongSwan: ESTABLISHED with the child INSTALLED).
    fn wait_up(&self) {
        let up = |r: &Rvpnd| session(r)["status"] == "UP-ACTIVE";
        let ok = wait_for(
            || {
                up(&self.rvpn)
                    && match &self.peer {
                        GwB::Rvpn(r) => up(r),
                        GwB::Swan(s) => s.established("rvpn", "net").is_some(),
                    }
            },
            Duration::from_secs(20),
        );
        assert!(
            ok,
            "the tunnel did not come up within 20 s: gwA {}",
            session(&self.rvpn)
        );
    }

    /// Route each host subnet into the tunnel on the gateway of the other
    /// host (kernel routes once the tunnel device exists).
    fn route_into_tunnels(&mut self) {
        route_into_tunnel1(&self.gw_a, &[NET_B, NET_B6]);
        match &mut self.peer {
            GwB::Swan(s) => {
                s.route_via_tunnel(NET_A, GW_B_LAN);
                s.route_via_tunnel(NET_A6, GW_B_LAN6);
            }
            GwB::Rvpn(_) => route_into_tunnel1(&self.gw_b, &[NET_A, NET_A6]),
        }
    }

    /// The host namespace of a side.
    pub fn host(&self, side: Side) -> &Netns {
        match side {
            Side::A => &self.host_a,
            Side::B => &self.host_b,
        }
    }

    /// The rvpnd on gwB, if gwB runs one.
    pub fn rvpn_b(&self) -> Option<&Rvpnd> {
        match &self.peer {
            GwB::Rvpn(r) => Some(r),
            GwB::Swan(_) => None,
        }
    }

    /// The strongSwan on gwB, if gwB runs one.
    pub fn swan(&self) -> Option<&StrongSwan> {
        match &self.peer {
            GwB::Swan(s) => Some(s),
            GwB::Rvpn(_) => None,
        }
    }

    /// strongSwan's installed child "net" (summed over every instance of
    /// it, so that counters survive a rekey's overlap), if gwB is
    /// strongSwan and the SA is up.
    pub fn swan_child(&self) -> Option<ChildSaInfo> {
        let sa = self.swan()?.established("rvpn", "net")?;
        let mut it = sa.children.iter().filter(|c| c.name == "net");
        let mut c = it.next()?.clone();
        for o in it {
            c.packets_in += o.packets_in;
            c.packets_out += o.packets_out;
            c.bytes_in += o.bytes_in;
            c.bytes_out += o.bytes_out;
        }
        Some(c)
    }

    /// Both daemons' logs (the last `lines` of each) and their state.
    pub fn logs(&self, lines: usize) -> String {
        let mut out = String::new();
        let tail = |text: &str| {
            let all: Vec<&str> = text.lines().collect();
            let from = all.len().saturating_sub(lines);
            let mut s = String::new();
            if from > 0 {
                let _ = writeln!(s, "[... {from} earlier lines]");
            }
            for l in &all[from..] {
                s.push_str(l);
                s.push('\n');
            }
            s
        };
        let show = |r: &Rvpnd| {
            let o = r.vtysh(&["show crypto session detail", "show crypto ipsec sa"]);
            output_text(&o)
        };
        let _ = write!(
            out,
            "\n===== gwA rvpnd ({}):\n{}\n===== gwA rvpnd log ({}):\n{}",
            self.gw_a.name(),
            show(&self.rvpn),
            self.rvpn.log_path().display(),
            tail(&self.rvpn.log())
        );
        match &self.peer {
            GwB::Rvpn(r) => {
                let _ = write!(
                    out,
                    "\n===== gwB rvpnd ({}):\n{}\n===== gwB rvpnd log ({}):\n{}",
                    self.gw_b.name(),
                    show(r),
                    r.log_path().display(),
                    tail(&r.log())
                );
            }
            GwB::Swan(s) => {
                let o = s.swanctl("--list-sas", &[]);
                let _ = write!(
                    out,
                    "\n===== gwB strongSwan ({}) --list-sas:\n{}\n===== gwB charon log:\n{}",
                    self.gw_b.name(),
                    output_text(&o),
                    tail(&s.log())
                );
            }
        }
        out
    }
}

impl Drop for DpLab {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "\n######## data-plane lab {} failed; daemons:{}",
                self.opts.tag,
                self.logs(400)
            );
        }
    }
}

/// Route `prefixes` into Tunnel1 of `ns` once it exists (at most 10 s),
/// saying on stderr whether the daemon had already installed them.
pub fn route_into_tunnel1(ns: &Netns, prefixes: &[&str]) {
    let ok = wait_for(|| has_link(ns, "Tunnel1"), Duration::from_secs(10));
    assert!(ok, "Tunnel1 never appeared in {}", ns.name());
    for p in prefixes {
        let fam = if p.contains(':') { "-6" } else { "-4" };
        let before = ns.exec(&["ip", fam, "route", "show", p]);
        let had = String::from_utf8_lossy(&before.stdout).contains("Tunnel1");
        if !had {
            eprintln!(
                "note: {}: the daemon has not installed `ip route {p} Tunnel1`; adding it",
                ns.name()
            );
        }
        ns.exec_ok(&["ip", fam, "route", "replace", p, "dev", "Tunnel1"]);
    }
}
