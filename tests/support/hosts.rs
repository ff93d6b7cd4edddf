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

use super::netns::{veth, Netns};
use super::rvpn::Rvpnd;
use super::strongswan::{ChildSaInfo, StrongSwan, SwanConn, SwanOpts};
use super::{output_text, run_timeout, wait_for, Scratch};
use serde_json::Value;
use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;
use std::process::Output;
use std::time::{Duration, Instant};

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

/// The rvpn configuration of one gateway.
#[derive(Debug, Clone)]
pub struct GwSpec {
    pub hostname: String,
    pub local_id: String,
    pub remote_id: String,
    /// The keyring peer's address.
    pub peer_addr: String,
    pub source: String,
    /// An address or `dynamic`.
    pub destination: String,
    pub tun4: String,
    pub tun6: String,
    pub mtu: Option<u32>,
    pub child_lifetime: Option<u32>,
    pub ike_lifetime: Option<u32>,
    pub nat_keepalive: Option<u32>,
    /// Prefixes behind the other end (`ip route` / `ipv6 route` into Tunnel1).
    pub routes: Vec<String>,
}

impl GwSpec {
    /// The configuration text (AES-256-GCM, SHA-384, x25519 for IKE,
    /// `esp-gcm 256` for ESP, PSK).
    pub fn render(&self) -> String {
        let mut c = String::new();
        let w = &mut c;
        let _ = writeln!(w, "hostname {}", self.hostname);
        let _ = write!(
            w,
            "crypto ikev2 proposal P
 encryption aes-gcm-256
 prf sha384
 group 31
!
crypto ikev2 keyring K
 peer other
  address {peer}
  identity fqdn {rid}
  pre-shared-key 0 {PSK}
!
crypto ikev2 profile PROF
 match identity remote fqdn {rid}
 identity local fqdn {lid}
 authentication local pre-share
 authentication remote pre-share
 keyring local K
 proposal P
",
            peer = self.peer_addr,
            rid = self.remote_id,
            lid = self.local_id,
        );
        if let Some(l) = self.ike_lifetime {
            let _ = writeln!(w, " lifetime {l}");
        }
        if let Some(k) = self.nat_keepalive {
            let _ = writeln!(w, " nat keepalive {k}");
        }
        let _ = write!(
            w,
            "!
crypto ipsec transform-set TS esp-gcm 256
!
crypto ipsec profile IPS
 set transform-set TS
 set ikev2-profile PROF
"
        );
        if let Some(l) = self.child_lifetime {
            let _ = writeln!(w, " set security-association lifetime seconds {l}");
        }
        let _ = write!(
            w,
            "!
interface Tunnel1
 ip address {}
 ipv6 address {}
",
            self.tun4, self.tun6
        );
        if let Some(m) = self.mtu {
            let _ = writeln!(w, " mtu {m}");
        }
        let _ = write!(
            w,
            " tunnel source {}
 tunnel destination {}
 tunnel protection ipsec profile IPS
!
",
            self.source, self.destination
        );
        for r in &self.routes {
            let fam = if r.contains(':') { "ipv6" } else { "ip" };
            let _ = writeln!(w, "{fam} route {r} Tunnel1");
        }
        c
    }
}

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

    fn tool(&self) -> String {
        self.tools.join("dpe.py").to_string_lossy().into_owned()
    }

    fn tool_log(&self, what: &str) -> PathBuf {
        self.tools.join(&format!("{what}-{}.log", super::unique()))
    }

    /// `ping -c COUNT -i 0.2 -W 1` from one host to the other.
    pub fn ping(&self, from: Side, v6: bool, count: u32) -> Output {
        self.host(from)
            .ping(from.host(v6), from.other().host(v6), count)
    }

    /// Panic unless every one of `count` pings is answered.
    pub fn ping_ok(&self, from: Side, v6: bool, count: u32) {
        let o = self.ping(from, v6, count);
        let text = output_text(&o);
        assert!(
            o.status.success() && text.contains(" 0% packet loss"),
            "ping {} -> {} lost packets:\n{text}",
            from.host(v6),
            from.other().host(v6)
        );
    }

    /// Start a tool server on `side`'s host and wait until it listens.
    fn server(&self, side: Side, args: &[&str]) -> (super::Proc, PathBuf) {
        let log = self.tool_log(args[0]);
        let tool = self.tool();
        let mut argv = vec!["python3", "-u", tool.as_str()];
        argv.extend_from_slice(args);
        let mut p = self.host(side).spawn(&argv, &log);
        let ok = wait_for(
            || {
                p.exited().is_some()
                    || fs::read_to_string(&log)
                        .unwrap_or_default()
                        .contains("LISTENING")
            },
            Duration::from_secs(10),
        );
        assert!(
            ok && p.exited().is_none(),
            "{args:?} on host {side:?} did not start:\n{}",
            fs::read_to_string(&log).unwrap_or_default()
        );
        (p, log)
    }

    /// Run a tool client on `side`'s host (bounded by `timeout`): its
    /// JSON result or what went wrong.
    fn client(&self, side: Side, args: &[&str], timeout: Duration) -> Result<Value, String> {
        let tool = self.tool();
        let mut argv = vec!["python3", "-u", tool.as_str()];
        argv.extend_from_slice(args);
        let o = run_timeout(&mut self.host(side).command(&argv), timeout);
        let text = output_text(&o);
        match last_json(&String::from_utf8_lossy(&o.stdout)) {
            Some(v) if o.status.success() => Ok(v),
            _ => Err(format!(
                "{args:?} on host {side:?} failed ({}):\n{text}",
                o.status
            )),
        }
    }

    /// Wait for a tool server to finish (bounded): its JSON result.
    fn server_result(
        &self,
        mut p: super::Proc,
        log: &std::path::Path,
        timeout: Duration,
    ) -> Result<Value, String> {
        let st = p.wait(timeout);
        let text = fs::read_to_string(log).unwrap_or_default();
        match (st, last_json(&text)) {
            (Some(s), Some(v)) if s.success() => Ok(v),
            _ => {
                p.kill();
                Err(format!(
                    "server {} ended with {st:?}:\n{text}",
                    log.display()
                ))
            }
        }
    }

    /// Send `bytes` deterministic pseudo-random bytes (from `seed`) over
    /// TCP from `from`'s host to the other host. Ok with (sender's,
    /// receiver's) reports: `bytes`, `sha256`, `secs`, `mss`.
    pub fn tcp_transfer(
        &self,
        from: Side,
        v6: bool,
        bytes: usize,
        seed: u64,
    ) -> Result<(Value, Value), String> {
        let to = from.other();
        let (p, log) = self.server(to, &["tcp-sink", to.host(v6), "5201", "60"]);
        let sent = self.client(
            from,
            &[
                "tcp-send",
                to.host(v6),
                "5201",
                &bytes.to_string(),
                &seed.to_string(),
                "60",
                from.host(v6),
            ],
            Duration::from_secs(90),
        );
        let got = self.server_result(p, &log, Duration::from_secs(10));
        match (sent, got) {
            (Ok(s), Ok(g)) => Ok((s, g)),
            (s, g) => Err(format!("sender: {s:?}\nreceiver: {g:?}")),
        }
    }

    /// Send `count` numbered UDP datagrams (64 to 1300 bytes, content
    /// derived from `seed` and the number) at `pps` from `from`'s host to
    /// the other host. Ok with (sender's, receiver's) reports.
    pub fn udp_transfer(
        &self,
        from: Side,
        v6: bool,
        count: u32,
        pps: u32,
        seed: u64,
    ) -> Result<(Value, Value), String> {
        let to = from.other();
        let c = count.to_string();
        let s = seed.to_string();
        let (p, log) = self.server(to, &["udp-sink", to.host(v6), "5202", &c, &s, "60"]);
        let sent = self.client(
            from,
            &[
                "udp-send",
                to.host(v6),
                "5202",
                &c,
                &pps.to_string(),
                &s,
                from.host(v6),
            ],
            Duration::from_secs(60),
        );
        let got = self.server_result(p, &log, Duration::from_secs(15));
        match (sent, got) {
            (Ok(s), Ok(g)) => Ok((s, g)),
            (s, g) => Err(format!("sender: {s:?}\nreceiver: {g:?}")),
        }
    }

    /// Start a stream of `count` numbered UDP datagrams at `pps` from
    /// `from`'s host to the other host (port 5204) in the background;
    /// [`UdpStream::finish`] collects the reports.
    pub fn udp_stream_start(
        &self,
        from: Side,
        v6: bool,
        count: u32,
        pps: u32,
        seed: u64,
    ) -> UdpStream {
        let to = from.other();
        let (c, s) = (count.to_string(), seed.to_string());
        let limit = (u64::from(count) / u64::from(pps.max(1)) + 30).to_string();
        let (sink, sink_log) = self.server(to, &["udp-sink", to.host(v6), "5204", &c, &s, &limit]);
        let log = self.tool_log("udp-send");
        let tool = self.tool();
        let p = pps.to_string();
        let argv = [
            "python3",
            "-u",
            tool.as_str(),
            "udp-send",
            to.host(v6),
            "5204",
            &c,
            &p,
            &s,
            from.host(v6),
        ];
        let sender = self.host(from).spawn(&argv, &log);
        UdpStream {
            sender,
            sender_log: log,
            sink,
            sink_log,
            timeout: Duration::from_secs(u64::from(count) / u64::from(pps.max(1)) + 20),
        }
    }

    /// A UDP echo probe every `interval_ms` for `secs` from `from`'s host
    /// to an echo server on the other host, calling `tick` every 200 ms
    /// meanwhile. The prober's report: `sent`, `received`, `lost_count`,
    /// `lost` ([seq, seconds after the start]), `rtt_ms_*`.
    pub fn probe_stream(
        &self,
        from: Side,
        v6: bool,
        interval_ms: u32,
        secs: u32,
        mut tick: impl FnMut(),
    ) -> Result<Value, String> {
        let to = from.other();
        let dur = (secs + 20).to_string();
        let (srv, srv_log) = self.server(to, &["echo", to.host(v6), "5203", &dur]);
        let log = self.tool_log("probe");
        let tool = self.tool();
        let (i, s) = (interval_ms.to_string(), secs.to_string());
        let argv = [
            "python3",
            "-u",
            tool.as_str(),
            "probe",
            to.host(v6),
            "5203",
            &i,
            &s,
            from.host(v6),
        ];
        let mut p = self.host(from).spawn(&argv, &log);
        let deadline = Instant::now() + Duration::from_secs(u64::from(secs) + 15);
        while p.exited().is_none() && Instant::now() < deadline {
            tick();
            std::thread::sleep(Duration::from_millis(200));
        }
        let st = p.wait(Duration::from_secs(1));
        let text = fs::read_to_string(&log).unwrap_or_default();
        let echoed = self.server_result(srv, &srv_log, Duration::from_secs(5));
        match (st, last_json(&text)) {
            (Some(s), Some(mut v)) if s.success() => {
                if let Ok(e) = echoed {
                    v["echoed"] = e["echoed"].clone();
                }
                Ok(v)
            }
            _ => {
                p.kill();
                Err(format!("probe ended with {st:?}:\n{text}"))
            }
        }
    }
}

/// A background UDP stream made by [`DpLab::udp_stream_start`].
pub struct UdpStream {
    sender: super::Proc,
    sender_log: PathBuf,
    sink: super::Proc,
    sink_log: PathBuf,
    timeout: Duration,
}

impl UdpStream {
    /// Wait for the sender to finish and the receiver to report (the
    /// receiver gives up 3 s after the last datagram): Ok with (sender's,
    /// receiver's) reports.
    pub fn finish(mut self) -> Result<(Value, Value), String> {
        let sent = match self.sender.wait(self.timeout) {
            Some(st) if st.success() => {
                last_json(&fs::read_to_string(&self.sender_log).unwrap_or_default())
                    .ok_or_else(|| "the UDP sender printed no report".to_string())
            }
            st => Err(format!(
                "the UDP sender ended with {st:?}:\n{}",
                fs::read_to_string(&self.sender_log).unwrap_or_default()
            )),
        };
        let st = self.sink.wait(Duration::from_secs(10));
        let text = fs::read_to_string(&self.sink_log).unwrap_or_default();
        let got = match (st, last_json(&text)) {
            (Some(s), Some(v)) if s.success() => Ok(v),
            _ => Err(format!("the UDP receiver ended with {st:?}:\n{text}")),
        };
        match (sent, got) {
            (Ok(s), Ok(g)) => Ok((s, g)),
            (s, g) => Err(format!("sender: {s:?}\nreceiver: {g:?}")),
        }
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

/// The last line of `text` that parses as a JSON object.
pub fn last_json(text: &str) -> Option<Value> {
    text.lines()
        .rev()
        .filter(|l| l.trim_start().starts_with('{'))
        .find_map(|l| serde_json::from_str(l).ok())
}

/// Panic unless a transfer's two reports agree on length and SHA-256
/// and the length is `bytes`.
pub fn assert_same_stream(what: &str, r: &Result<(Value, Value), String>, bytes: usize) {
    let (s, g) = match r {
        Ok(x) => x,
        Err(e) => panic!("{what}: transfer failed:\n{e}"),
    };
    assert_eq!(
        s["bytes"].as_u64(),
        Some(bytes as u64),
        "{what}: sender report {s}"
    );
    assert_eq!(
        g["bytes"].as_u64(),
        Some(bytes as u64),
        "{what}: the receiver got a different length: {g} (sender {s})"
    );
    assert_eq!(
        g["sha256"], s["sha256"],
        "{what}: content differs: receiver {g}, sender {s}"
    );
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

/// The traffic tool the lab runs on its hosts (python3, standard library).
pub const TOOL: &str = r#"#!/usr/bin/env python3
# rvpn data-plane lab traffic tool (written by tests/support/hosts.rs).
# Every mode prints one JSON line at the end; servers print LISTENING first.
#   tcp-sink BIND PORT TIMEOUT
#   tcp-send DST PORT NBYTES SEED TIMEOUT [SRC]
#   udp-sink BIND PORT COUNT SEED TIMEOUT
#   udp-send DST PORT COUNT PPS SEED [SRC]
#   echo BIND PORT DURATION
#   probe DST PORT INTERVAL_MS DURATION [SRC]
import hashlib, json, random, select, socket, struct, sys, time

SIZES = (64, 200, 512, 1000, 1200, 1300)


def fam(a):
    return socket.AF_INET6 if ":" in a else socket.AF_INET


def emit(d):
    print(json.dumps(d), flush=True)


def listening():
    print("LISTENING", flush=True)


def chunks(seed, n):
    r = random.Random(seed)
    while n > 0:
        k = min(n, 65536)
        yield r.randbytes(k)
        n -= k


def datagram(seed, seq):
    size = SIZES[seq % len(SIZES)]
    body = random.Random(seed * 1000003 + seq).randbytes(size - 8)
    return struct.pack("!II", seq, size) + body


def tcp_sink(bind, port, timeout):
    s = socket.socket(fam(bind), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((bind, int(port)))
    s.listen(1)
    s.settimeout(float(timeout))
    listening()
    c, peer = s.accept()
    c.settimeout(float(timeout))
    h = hashlib.sha256()
    n = 0
    t0 = time.monotonic()
    while True:
        b = c.recv(1 << 18)
        if not b:
            break
        h.update(b)
        n += len(b)
    secs = time.monotonic() - t0
    mss = c.getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG)
    c.close()
    emit({"bytes": n, "sha256": h.hexdigest(), "secs": round(secs, 3), "peer": peer[0], "mss": mss})


def tcp_send(dst, port, nbytes, seed, timeout, src=""):
    s = socket.socket(fam(dst), socket.SOCK_STREAM)
    s.settimeout(float(timeout))
    if src:
        s.bind((src, 0))
    s.connect((dst, int(port)))
    h = hashlib.sha256()
    n = 0
    t0 = time.monotonic()
    for b in chunks(int(seed), int(nbytes)):
        s.sendall(b)
        h.update(b)
        n += len(b)
    s.shutdown(socket.SHUT_WR)
    while s.recv(65536):
        pass
    secs = time.monotonic() - t0
    mss = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG)
    s.close()
    emit({"bytes": n, "sha256": h.hexdigest(), "secs": round(secs, 3), "mss": mss,
          "mbit_s": round(n * 8 / max(secs, 1e-6) / 1e6, 1)})


def udp_sink(bind, port, count, seed, timeout):
    count, seed = int(count), int(seed)
    s = socket.socket(fam(bind), socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind((bind, int(port)))
    listening()
    got = {}
    dups = corrupt = n = 0
    deadline = time.monotonic() + float(timeout)
    last = None
    while len(got) < count:
        now = time.monotonic()
        wait = deadline - now
        if last is not None:
            wait = min(wait, last + 3.0 - now)
        if wait <= 0:
            break
        r, _, _ = select.select([s], [], [], wait)
        if not r:
            continue
        b, _ = s.recvfrom(65536)
        n += 1
        last = time.monotonic()
        if len(b) < 8:
            corrupt += 1
            continue
        seq, _size = struct.unpack("!II", b[:8])
        if seq >= count or b != datagram(seed, seq):
            corrupt += 1
            continue
        if seq in got:
            dups += 1
            continue
        got[seq] = b
    h = hashlib.sha256()
    for q in sorted(got):
        h.update(got[q])
    missing = [q for q in range(count) if q not in got]
    emit({"received": n, "unique": len(got), "dups": dups, "corrupt": corrupt,
          "missing_count": len(missing), "missing": missing[:50],
          "bytes": sum(len(v) for v in got.values()), "sha256": h.hexdigest()})


def udp_send(dst, port, count, pps, seed, src=""):
    count, seed = int(count), int(seed)
    s = socket.socket(fam(dst), socket.SOCK_DGRAM)
    if src:
        s.bind((src, 0))
    h = hashlib.sha256()
    nbytes = errors = 0
    interval = 1.0 / float(pps)
    t0 = time.monotonic()
    for seq in range(count):
        d = t0 + seq * interval - time.monotonic()
        if d > 0:
            time.sleep(d)
        b = datagram(seed, seq)
        try:
            s.sendto(b, (dst, int(port)))
        except OSError:
            errors += 1
        h.update(b)
        nbytes += len(b)
    emit({"sent": count, "bytes": nbytes, "sha256": h.hexdigest(), "send_errors": errors,
          "secs": round(time.monotonic() - t0, 3)})


def echo(bind, port, duration):
    s = socket.socket(fam(bind), socket.SOCK_DGRAM)
    s.bind((bind, int(port)))
    listening()
    n = 0
    end = time.monotonic() + float(duration)
    while True:
        wait = end - time.monotonic()
        if wait <= 0:
            break
        r, _, _ = select.select([s], [], [], wait)
        if not r:
            continue
        b, peer = s.recvfrom(4096)
        if b == b"FIN":
            break
        n += 1
        s.sendto(b, peer)
    emit({"echoed": n})


def probe(dst, port, interval_ms, duration, src=""):
    s = socket.socket(fam(dst), socket.SOCK_DGRAM)
    if src:
        s.bind((src, 0))
    s.setblocking(False)
    addr = (dst, int(port))
    interval = float(interval_ms) / 1000.0
    total = int(float(duration) / interval)
    sent, rtt = {}, {}
    dups = errors = 0

    def drain():
        nonlocal dups
        while True:
            try:
                b = s.recv(4096)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue
            if len(b) < 4:
                continue
            q = struct.unpack("!I", b[:4])[0]
            if q in rtt:
                dups += 1
            elif q in sent:
                rtt[q] = time.monotonic() - sent[q]

    t0 = time.monotonic()
    seq = 0
    while seq < total:
        drain()
        now = time.monotonic()
        due = t0 + seq * interval
        if now >= due:
            try:
                s.sendto(struct.pack("!I", seq) + bytes(60), addr)
            except OSError:
                errors += 1
            sent[seq] = now
            seq += 1
            continue
        select.select([s], [], [], due - now)
    end = time.monotonic() + 2.0
    while len(rtt) < len(sent) and time.monotonic() < end:
        select.select([s], [], [], max(0.0, end - time.monotonic()))
        drain()
    for _ in range(3):
        try:
            s.sendto(b"FIN", addr)
        except OSError:
            pass
    lost = sorted(set(sent) - set(rtt))
    r = sorted(rtt.values())
    pct = lambda p: round(r[min(len(r) - 1, int(p * len(r)))] * 1000, 2) if r else None
    emit({"sent": len(sent), "received": len(rtt), "lost_count": len(lost),
          "lost": [[q, round(sent[q] - t0, 3)] for q in lost[:100]],
          "dups": dups, "send_errors": errors, "rtt_ms_p50": pct(0.5),
          "rtt_ms_p99": pct(0.99), "rtt_ms_max": round(r[-1] * 1000, 2) if r else None,
          "secs": round(time.monotonic() - t0, 3)})


MODES = {"tcp-sink": tcp_sink, "tcp-send": tcp_send, "udp-sink": udp_sink,
         "udp-send": udp_send, "echo": echo, "probe": probe}

if __name__ == "__main__":
    MODES[sys.argv[1]](*sys.argv[2:])
"#;
