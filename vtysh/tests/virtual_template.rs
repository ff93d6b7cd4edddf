//! Virtual-Template hubs (IOS FlexVPN): every command, every refusal and
//! its reason, the validation of references, and the round trip of the
//! documented hub and spoke.

use vtysh::model::*;
use vtysh::{diff, load_config, render, validate, Config, Mode, Outcome, Section, Session};

/// Run lines from config mode without whole-config validation; the first
/// refused line's message is the error.
fn apply(base: &Config, lines: &[&str]) -> Result<(Config, Mode), String> {
    let mut cfg = base.clone();
    let mut s = Session::new_config();
    for l in lines {
        match s.execute_unvalidated(l, &cfg) {
            Ok(Outcome::Changed(c)) => cfg = *c,
            Ok(_) => {}
            Err(e) => return Err(e.message),
        }
    }
    Ok((cfg, s.mode()))
}

fn ok(base: &Config, lines: &[&str]) -> Config {
    match apply(base, lines) {
        Ok((c, _)) => c,
        Err(e) => panic!("{lines:?} refused: {e}"),
    }
}

/// The message of the refusal of the last line (the others, run in the
/// same session before it, must pass).
fn refused(base: &Config, lines: &[&str]) -> String {
    let mut cfg = base.clone();
    let mut s = Session::new_config();
    for (i, l) in lines.iter().enumerate() {
        match s.execute_unvalidated(l, &cfg) {
            Ok(Outcome::Changed(c)) => cfg = *c,
            Ok(_) => {}
            Err(e) if i + 1 == lines.len() => return e.message,
            Err(e) => panic!("{l:?} refused: {}", e.message),
        }
    }
    panic!("{:?} was accepted", lines.last())
}

fn errors(c: &Config) -> Vec<String> {
    validate(c).iter().map(ToString::to_string).collect()
}

fn roundtrip(cfg: &Config) {
    let text = render(cfg);
    let back =
        load_config(&text, &Config::default()).unwrap_or_else(|e| panic!("{text}\n{}", e[0]));
    assert_eq!(&back, cfg, "render(cfg) parses to another model:\n{text}");
    assert_eq!(render(&back), text, "rendering is not stable");
}

const HUB: &str = include_str!("fixtures/vt-hub.conf");
const SPOKE: &str = include_str!("fixtures/vt-spoke.conf");

#[test]
fn the_documented_hub_loads_validates_and_round_trips() {
    let cfg = load_config(HUB, &Config::default()).unwrap_or_else(|e| panic!("{}", e[0]));
    assert!(cfg.aaa_new_model);
    assert!(cfg.aaa_authorization_network.contains("SPOKES-AUTH"));
    let pool = cfg.ip_local_pools["SPOKES-POOL"];
    assert_eq!(pool.first.to_string(), "169.254.100.2");
    assert_eq!(pool.last.to_string(), "169.254.103.254");
    assert_eq!(pool.size(), 1021);
    let pol = &cfg.ikev2_authorization_policies["SPOKES-POL"];
    assert_eq!(pol.pool.as_deref(), Some("SPOKES-POOL"));
    assert_eq!(
        pol.route_set_interfaces,
        vec![RouteSetInterface::Named("Loopback0".into())]
    );
    let p = &cfg.ikev2_profiles["SPOKES"];
    assert_eq!(p.virtual_template, Some(1));
    assert_eq!(
        p.aaa_authorization,
        vec![AaaAuthorization {
            cert: false,
            list: "SPOKES-AUTH".into(),
            policy: "SPOKES-POL".into()
        }]
    );
    let vt = &cfg.interfaces["Virtual-Template1"];
    assert_eq!(vt.unnumbered.as_deref(), Some("Loopback0"));
    assert!(vt.ipv4.is_none());
    assert_eq!(
        vt.tunnel.as_ref().and_then(|t| t.protection.as_deref()),
        Some("VTI")
    );
    assert_eq!(
        InterfaceKind::of("Virtual-Template1"),
        InterfaceKind::VirtualTemplate(1)
    );
    roundtrip(&cfg);
}

#[test]
fn the_documented_spoke_loads_validates_and_round_trips() {
    let cfg = load_config(SPOKE, &Config::default()).unwrap_or_else(|e| panic!("{}", e[0]));
    let t = &cfg.interfaces["Tunnel1"];
    assert!(t.address_negotiated);
    assert!(t.ipv4.is_none());
    assert_eq!(
        cfg.ikev2_profiles["HUB"].aaa_authorization[0].policy,
        "HUB-POL"
    );
    roundtrip(&cfg);
}

#[test]
fn the_examples_are_the_ones_in_docs_cli_md() {
    let doc = include_str!("../../docs/CLI.md");
    let verbatim = |text: &str, from: &str| -> String {
        let start = text.find(from).expect("the fixture has the example");
        text[start..].to_string()
    };
    let hub = verbatim(HUB, "aaa new-model");
    assert!(
        doc.contains(&hub),
        "docs/CLI.md lacks the hub example:\n{hub}"
    );
    let spoke = verbatim(SPOKE, "interface Tunnel1");
    assert!(
        doc.contains(&spoke),
        "docs/CLI.md lacks the spoke tunnel:\n{spoke}"
    );
}

#[test]
fn the_running_config_prints_in_ios_order() {
    let cfg = load_config(HUB, &Config::default()).unwrap_or_else(|e| panic!("{}", e[0]));
    let text = render(&cfg);
    let at = |s: &str| {
        text.find(s)
            .unwrap_or_else(|| panic!("no {s:?} in\n{text}"))
    };
    let order = [
        "aaa new-model\n",
        "aaa authorization network SPOKES-AUTH local\n",
        "ip local pool SPOKES-POOL 169.254.100.2 169.254.103.254\n",
        "crypto ikev2 keyring SPOKES\n",
        "crypto ikev2 authorization policy SPOKES-POL\n pool SPOKES-POOL\n route set interface Loopback0\n!\n",
        "crypto ikev2 profile SPOKES\n",
        " aaa authorization group psk list SPOKES-AUTH SPOKES-POL\n virtual-template 1\n",
        "interface Loopback0\n ip address 169.254.100.1/32\n",
        "interface Virtual-Template1 type tunnel\n ip unnumbered Loopback0\n tunnel source 192.0.2.1\n",
        "router bgp 65000\n",
    ];
    for w in order.windows(2) {
        assert!(
            at(w[0]) < at(w[1]),
            "{:?} is not before {:?}:\n{text}",
            w[0],
            w[1]
        );
    }
    let spoke = load_config(SPOKE, &Config::default()).unwrap_or_else(|e| panic!("{}", e[0]));
    assert!(render(&spoke).contains("interface Tunnel1\n ip address negotiated\n"));
}

#[test]
fn aaa_commands() {
    let d = Config::default();
    assert_eq!(
        refused(&d, &["aaa authorization network L local"]),
        "% aaa authorization needs aaa new-model first (IOS refuses it before aaa new-model too)"
    );
    let c = ok(&d, &["aaa new-model", "aaa authorization network L local"]);
    assert!(c.aaa_new_model && c.aaa_authorization_network.contains("L"));
    let m = refused(&c, &["aaa authorization network L group radius"]);
    assert!(m.contains("group radius: rvpn has no AAA server"), "{m}");
    assert!(m.contains("use 'local'"), "{m}");
    assert_eq!(
        refused(&c, &["no aaa new-model"]),
        "% aaa authorization network L needs aaa new-model: remove the aaa authorization lines first"
    );
    let c = ok(
        &c,
        &["no aaa authorization network L local", "no aaa new-model"],
    );
    assert_eq!(c, d);
    assert_eq!(
        refused(&c, &["no aaa authorization network L"]),
        "% No aaa authorization network list named L"
    );
    // A list without new-model (a hand-edited model) fails validation.
    let mut bad = Config::default();
    bad.aaa_authorization_network.insert("L".into());
    assert_eq!(
        errors(&bad),
        vec!["aaa authorization network L: needs aaa new-model (enter 'aaa new-model' first)"]
    );
}

#[test]
fn ip_local_pools() {
    let d = Config::default();
    let c = ok(
        &d,
        &[
            "ip local pool ONE 10.9.0.1",
            "ip local pool BIG 10.16.0.0 10.31.255.255",
        ],
    );
    assert_eq!(c.ip_local_pools["ONE"].size(), 1);
    assert_eq!(c.ip_local_pools["BIG"].size(), MAX_LOCAL_POOL_ADDRESSES);
    roundtrip(&c);
    assert_eq!(
        refused(&d, &["ip local pool P 10.0.0.9 10.0.0.1"]),
        "% ip local pool P: the last address 10.0.0.1 is below the first 10.0.0.9"
    );
    assert_eq!(
        refused(&d, &["ip local pool P 10.0.0.0 10.16.0.0"]),
        "% ip local pool P: 1048577 addresses, more than rvpn's 1048576 (a /12) per pool"
    );
    let c = ok(&c, &["no ip local pool ONE"]);
    assert!(!c.ip_local_pools.contains_key("ONE"));
    assert_eq!(
        refused(&c, &["no ip local pool ONE"]),
        "% No ip local pool named ONE"
    );
    // Overlaps with each other and with this router's addresses.
    let c = ok(
        &d,
        &[
            "ip local pool A 10.0.0.1 10.0.0.100",
            "ip local pool B 10.0.0.100 10.0.0.200",
            "interface Loopback0",
            "ip address 10.0.0.50/32",
        ],
    );
    assert_eq!(
        errors(&c),
        vec![
            "ip local pool A: 10.0.0.1-10.0.0.100 holds 10.0.0.50, the address of interface Loopback0: a peer would be given this router's own address",
            "ip local pool B: 10.0.0.100-10.0.0.200 overlaps ip local pool A (10.0.0.1-10.0.0.100)",
        ]
    );
}

#[test]
fn ipv6_local_pools() {
    let d = Config::default();
    let c = ok(&d, &["ipv6 local pool V6 2001:db8:1::5/48 64"]);
    let p = c.ipv6_local_pools["V6"];
    assert_eq!(p.prefix.to_string(), "2001:db8:1::/48");
    assert_eq!(p.assign_len, 64);
    roundtrip(&c);
    assert_eq!(
        refused(&d, &["ipv6 local pool V6 2001:db8::/64 48"]),
        "% ipv6 local pool V6: the assigned length 48 is shorter than the pool's /64"
    );
    assert_eq!(
        refused(&d, &["ipv6 local pool V6 2001:db8::/32 64"]),
        "% ipv6 local pool V6: 2^32 prefixes, more than rvpn's 1048576 per pool"
    );
    let c = ok(&c, &["ipv6 local pool W 2001:db8:1:5::/108 128"]);
    assert_eq!(
        errors(&c),
        vec!["ipv6 local pool W: 2001:db8:1:5::/108 overlaps ipv6 local pool V6 (2001:db8:1::/48)"]
    );
    let c = ok(&c, &["no ipv6 local pool W", "no ipv6 local pool V6"]);
    assert_eq!(c, d);
}

#[test]
fn authorization_policy_mode() {
    let d = Config::default();
    let (c, mode) = apply(&d, &["crypto ikev2 authorization policy POL"]).unwrap();
    assert_eq!(mode, Mode::Ikev2AuthorizationPolicy);
    assert_eq!(
        mode.prompt("hub1"),
        "hub1(config-ikev2-profile-author-policy)#"
    );
    let c = ok(
        &c,
        &[
            "crypto ikev2 authorization policy POL",
            "pool P4",
            "ipv6 pool P6",
            "route set interface",
            "route set interface Loopback0",
            "route set interface Loopback0",
            "route accept any distance 5",
            "exit",
        ],
    );
    let p = &c.ikev2_authorization_policies["POL"];
    assert_eq!(p.pool.as_deref(), Some("P4"));
    assert_eq!(p.ipv6_pool.as_deref(), Some("P6"));
    assert_eq!(
        p.route_set_interfaces,
        vec![
            RouteSetInterface::Own,
            RouteSetInterface::Named("Loopback0".into())
        ]
    );
    assert_eq!(p.route_accept_distance, Some(5));
    assert!(render(&c).contains(
        "crypto ikev2 authorization policy POL\n pool P4\n ipv6 pool P6\n route set interface\n route set interface Loopback0\n route accept any distance 5\n!\n"
    ));
    // Every reference is checked.
    assert_eq!(
        errors(&c),
        vec![
            "crypto ikev2 authorization policy POL: pool P4: no such pool (define 'ip local pool P4 FIRST LAST' first)",
            "crypto ikev2 authorization policy POL: ipv6 pool P6: no such pool (define 'ipv6 local pool P6 PREFIX/LEN ASSIGN-LEN' first)",
            "crypto ikev2 authorization policy POL: route set interface Loopback0: no such interface",
        ]
    );
    let e = &["crypto ikev2 authorization policy POL"];
    let c2 = ok(
        &c,
        &[
            e[0],
            "no pool",
            "no ipv6 pool P6",
            "no route set interface Loopback0",
            "no route set interface",
            "no route accept any distance",
        ],
    );
    assert_eq!(
        c2.ikev2_authorization_policies["POL"],
        AuthorizationPolicy::default()
    );
    assert_eq!(
        refused(&c2, &[e[0], "no route set interface Loopback0"]),
        "% No such route set interface line in this policy"
    );
    let c3 = ok(&c2, &[e[0], "route accept any"]);
    assert_eq!(
        c3.ikev2_authorization_policies["POL"].route_accept_distance,
        None
    );
    assert!(refused(&c2, &[e[0], "no route accept any"])
        .starts_with("% rvpn always installs the routes the responder pushes"));
    assert!(refused(&c2, &[e[0], "route accept any tag 7"])
        .starts_with("% route accept any tag: rvpn's routes carry no tags"));
    let c4 = ok(&c2, &["no crypto ikev2 authorization policy POL"]);
    assert!(c4.ikev2_authorization_policies.is_empty());
}

#[test]
fn unsupported_policy_lines_are_refused_with_the_reason() {
    let c = ok(
        &Config::default(),
        &["crypto ikev2 authorization policy POL"],
    );
    let e = "crypto ikev2 authorization policy POL";
    for (line, want) in [
        ("route set access-list SPLIT", "% route set access-list: rvpn has no access lists; push routes with route set interface, or run BGP over the tunnel"),
        ("dns 192.0.2.53", "% dns: rvpn pushes no DNS servers"),
        ("ipv6 dns 2001:db8::53", "% ipv6 dns: rvpn pushes no DNS servers"),
        ("wins 192.0.2.1", "% wins: rvpn pushes no WINS servers"),
        ("netmask 255.255.255.0", "% netmask: rvpn hands each peer a single address"),
        ("route set remote ipv4 10.0.0.0 255.0.0.0", "% route set remote: rvpn pushes no routes to the peer's own networks"),
        ("route set local ipv4 10.0.0.0 255.0.0.0", "% route set local: rvpn pushes the prefixes of interfaces only"),
        ("def-domain example.net", "% def-domain: rvpn pushes no DNS domain"),
        ("banner hello", "% banner: rvpn pushes no banner"),
        ("split-dns example.net", "% split-dns: rvpn pushes no DNS settings"),
        ("subnet-acl SPLIT", "% subnet-acl: rvpn has no access lists"),
        ("ipv6 subnet-acl SPLIT", "% ipv6 subnet-acl: rvpn has no access lists"),
    ] {
        let m = refused(&c, &[e, line]);
        assert!(m.starts_with(want), "{line}: {m}");
    }
}

#[test]
fn profile_aaa_authorization_and_virtual_template() {
    let base = ok(&Config::default(), &["crypto ikev2 profile P"]);
    let e = "crypto ikev2 profile P";
    let c = ok(
        &base,
        &[
            e,
            "aaa authorization group psk list L1 POL1",
            "aaa authorization group cert list L2 POL2",
            "aaa authorization group psk list L3 POL3",
            "virtual-template 7",
        ],
    );
    let p = &c.ikev2_profiles["P"];
    assert_eq!(
        p.aaa_authorization,
        vec![
            AaaAuthorization {
                cert: true,
                list: "L2".into(),
                policy: "POL2".into()
            },
            AaaAuthorization {
                cert: false,
                list: "L3".into(),
                policy: "POL3".into()
            },
        ]
    );
    assert_eq!(p.virtual_template, Some(7));
    assert_eq!(
        errors(&c),
        vec![
            "crypto ikev2 profile P: aaa authorization group cert list L2 POL2: no such list (define 'aaa authorization network L2 local' first)",
            "crypto ikev2 profile P: aaa authorization group cert list L2 POL2: no such policy (define 'crypto ikev2 authorization policy POL2' first)",
            "crypto ikev2 profile P: aaa authorization group psk list L3 POL3: no such list (define 'aaa authorization network L3 local' first)",
            "crypto ikev2 profile P: aaa authorization group psk list L3 POL3: no such policy (define 'crypto ikev2 authorization policy POL3' first)",
            "crypto ikev2 profile P: virtual-template 7: no such interface (define 'interface Virtual-Template7 type tunnel' first)",
        ]
    );
    let m = refused(
        &base,
        &[e, "aaa authorization group psk list L name-mangler MANGLER"],
    );
    assert!(m.starts_with("% name-mangler: rvpn gives every peer of the profile the one policy named on this line"), "{m}");
    let m = refused(&base, &[e, "aaa authorization user psk cached"]);
    assert!(
        m.starts_with("% aaa authorization user: rvpn authorizes groups only"),
        "{m}"
    );
    let m = refused(&base, &[e, "virtual-template 4096"]);
    assert!(m.contains("4096 is not in (1-4095)"), "{m}");
    let c = ok(
        &c,
        &[
            e,
            "no aaa authorization group cert",
            "no aaa authorization group psk list L3 POL3",
            "no virtual-template",
        ],
    );
    assert_eq!(c, base);
    assert_eq!(
        refused(&c, &[e, "no aaa authorization group psk"]),
        "% No aaa authorization group psk in this profile"
    );
}

#[test]
fn virtual_template_and_loopback_interfaces() {
    let d = Config::default();
    assert_eq!(
        refused(&d, &["interface Virtual-Template1"]),
        "% Virtual-Template1 needs 'type tunnel': rvpn's Virtual-Templates are IPsec tunnel templates only (interface Virtual-Template1 type tunnel)"
    );
    assert_eq!(
        refused(&d, &["interface Virtual-Template1 type ethernet"]),
        "% type ethernet: rvpn's Virtual-Templates are IPsec tunnel templates only (type tunnel)"
    );
    assert_eq!(
        refused(&d, &["interface Virtual-Template0 type tunnel"]),
        "% Virtual-Template numbers are 1 to 4095, without leading zeros"
    );
    assert_eq!(
        refused(&d, &["interface Virtual-Access3"]),
        "% Virtual-Access interfaces are created from a Virtual-Template when a peer authenticates; configure interface Virtual-TemplateN"
    );
    assert_eq!(
        refused(&d, &["interface Tunnel1 type tunnel"]),
        "% 'type' applies to Virtual-Template interfaces only"
    );
    let vt = "interface Virtual-Template4095 type tunnel";
    let (c, mode) = apply(
        &d,
        &[
            vt,
            "description hub template",
            "ip unnumbered Loopback0",
            "tunnel source 192.0.2.1",
            "tunnel mode ipsec ipv4",
            "tunnel protection ipsec profile VTI",
            "mtu 1400",
            "ip tcp adjust-mss 1360",
            "bfd interval 300 min_rx 300 multiplier 3",
            "shutdown",
        ],
    )
    .unwrap();
    assert_eq!(mode, Mode::Interface);
    let i = &c.interfaces["Virtual-Template4095"];
    assert!(i.tunnel.is_some() && i.shutdown);
    assert_eq!(i.unnumbered.as_deref(), Some("Loopback0"));
    // Once it exists, the template is entered without 'type tunnel'.
    ok(&c, &["interface Virtual-Template4095", "no shutdown"]);
    let gone = ok(&c, &["no interface Virtual-Template4095 type tunnel"]);
    assert!(gone.interfaces.is_empty());
    for (line, want) in [
        ("ip address 10.0.0.1/32", "% ip address on a Virtual-Template: use ip unnumbered LoopbackN; each Virtual-Access borrows the Loopback's address"),
        ("ipv6 address 2001:db8::1/64", "% ipv6 address on a Virtual-Template: every Virtual-Access would carry the same address; hand peers addresses with ipv6 pool in the authorization policy"),
        ("tunnel destination 198.51.100.1", "% tunnel destination on a Virtual-Template: the peer of each Virtual-Access is whoever authenticates"),
        ("ip address negotiated", "% ip address negotiated applies to tunnel interfaces (TunnelN): the tunnel takes its address from the hub's IKEv2 configuration payload"),
        ("ipv6 unnumbered Loopback0", "% ipv6 unnumbered: rvpn borrows IPv4 addresses only (ip unnumbered); peers get IPv6 addresses from an ipv6 local pool (ipv6 pool in the authorization policy)"),
        ("ip unnumbered Virtual-Template4095", "% An interface cannot borrow its own address"),
    ] {
        assert_eq!(refused(&c, &[vt, line]), want, "{line}");
    }
    // Loopbacks: addresses, description, shutdown; no tunnel lines.
    let c = ok(
        &d,
        &[
            "interface Loopback0",
            "ip address 169.254.100.1 255.255.255.255",
            "ipv6 address 2001:db8:ff::1/128",
            "description for unnumbered",
            "shutdown",
        ],
    );
    assert!(c.interfaces["Loopback0"].tunnel.is_none());
    roundtrip(&c);
    assert_eq!(
        refused(&c, &["interface Loopback0", "tunnel source 192.0.2.1"]),
        "% Tunnel commands apply to tunnel interfaces (TunnelN, Virtual-TemplateN) only"
    );
    assert_eq!(
        refused(&c, &["interface Loopback0", "ip unnumbered eth0"]),
        "% ip unnumbered applies to tunnel and Virtual-Template interfaces"
    );
    assert_eq!(
        refused(&d, &["interface eth0", "ip address negotiated"]),
        "% ip address negotiated applies to tunnel interfaces (TunnelN): the tunnel takes its address from the hub's IKEv2 configuration payload"
    );
}

#[test]
fn a_tunnel_address_unnumbered_or_negotiated_replaces_the_other() {
    let t = "interface Tunnel1";
    let c = ok(&Config::default(), &[t, "ip address 169.254.1.1/30"]);
    let c = ok(&c, &[t, "ip unnumbered Loopback0"]);
    let i = &c.interfaces["Tunnel1"];
    assert_eq!((i.ipv4, i.unnumbered.as_deref()), (None, Some("Loopback0")));
    let c = ok(&c, &[t, "ip address negotiated"]);
    let i = &c.interfaces["Tunnel1"];
    assert!(i.address_negotiated && i.unnumbered.is_none());
    let c = ok(&c, &[t, "ip address 169.254.1.1/30"]);
    let i = &c.interfaces["Tunnel1"];
    assert!(!i.address_negotiated && i.ipv4.is_some());
    // `no ip address negotiated` leaves an ip address alone; `no ip
    // address` removes either.
    let n = ok(&c, &[t, "no ip address negotiated"]);
    assert!(n.interfaces["Tunnel1"].ipv4.is_some());
    let n = ok(&c, &[t, "ip address negotiated", "no ip address"]);
    assert!(!n.interfaces["Tunnel1"].address_negotiated);
    let n = ok(&c, &[t, "ip unnumbered Loopback0", "no ip unnumbered"]);
    assert!(n.interfaces["Tunnel1"].unnumbered.is_none());
}

#[test]
fn unnumbered_needs_an_interface_with_an_ip_address() {
    let c = ok(
        &Config::default(),
        &["interface Tunnel1", "ip unnumbered Loopback0"],
    );
    assert_eq!(
        errors(&c),
        vec!["interface Tunnel1: ip unnumbered Loopback0: no such interface (define 'interface Loopback0' with an ip address first)"]
    );
    let c = ok(&c, &["interface Loopback0", "ipv6 address 2001:db8::1/128"]);
    assert_eq!(
        errors(&c),
        vec!["interface Tunnel1: ip unnumbered Loopback0: Loopback0 has no ip address to borrow"]
    );
    let c = ok(&c, &["interface Loopback0", "ip address 10.0.0.1/32"]);
    assert_eq!(errors(&c), Vec::<String>::new());
}

#[test]
fn a_virtual_template_needs_protection_by_the_profile_that_names_it() {
    let hub = load_config(HUB, &Config::default()).unwrap_or_else(|e| panic!("{}", e[0]));
    let vt = "interface Virtual-Template1";
    let c = ok(&hub, &[vt, "no tunnel protection"]);
    assert_eq!(
        errors(&c),
        vec!["interface Virtual-Template1: needs tunnel protection ipsec profile PROFILE: a Virtual-Access without IPsec would carry nothing"]
    );
    let c = ok(&hub, &["crypto ikev2 profile SPOKES", "virtual-template 2"]);
    assert_eq!(
        errors(&c),
        vec![
            "crypto ikev2 profile SPOKES: virtual-template 2: no such interface (define 'interface Virtual-Template2 type tunnel' first)",
            "interface Virtual-Template1: tunnel protection ipsec profile VTI: its IKEv2 profile SPOKES has no 'virtual-template 1', so no peer would ever get a Virtual-Access from this template",
        ]
    );
    let c = ok(&hub, &["crypto ikev2 profile OTHER", "virtual-template 1"]);
    assert_eq!(
        errors(&c),
        vec!["crypto ikev2 profile OTHER: virtual-template 1: interface Virtual-Template1 is protected by IKEv2 profile SPOKES, not this one"]
    );
    // Removing the template a profile names is refused on commit.
    let mut s = Session::new_config();
    let e = s
        .execute("no interface Virtual-Template1", &hub)
        .unwrap_err();
    assert!(
        e.message.contains("virtual-template 1: no such interface"),
        "{}",
        e.message
    );
}

#[test]
fn each_new_section_is_its_own_diff() {
    let hub = load_config(HUB, &Config::default()).unwrap_or_else(|e| panic!("{}", e[0]));
    let c = ok(
        &hub,
        &[
            "ip local pool SPOKES-POOL 169.254.100.2 169.254.101.254",
            "crypto ikev2 authorization policy SPOKES-POL",
            "route set interface",
        ],
    );
    let sections: Vec<Section> = diff(&hub, &c).into_iter().map(|c| c.section).collect();
    assert_eq!(
        sections,
        vec![
            Section::LocalPool("SPOKES-POOL".into()),
            Section::AuthorizationPolicy("SPOKES-POL".into()),
        ]
    );
    let d = diff(&Config::default(), &hub);
    assert!(d.iter().any(|c| c.section == Section::Aaa));
    assert!(d
        .iter()
        .any(|c| c.to_string() == "crypto ikev2 authorization policy SPOKES-POL added"));
}

#[test]
fn help_lists_the_policy_commands() {
    let h = vtysh::help(Mode::Ikev2AuthorizationPolicy, "").unwrap();
    let toks: Vec<&str> = h.iter().map(|h| h.token.as_str()).collect();
    for t in ["pool", "ipv6", "route", "no", "exit"] {
        assert!(toks.contains(&t), "{t} missing from {toks:?}");
    }
    let h = vtysh::help(Mode::Ikev2AuthorizationPolicy, "route set ").unwrap();
    let toks: Vec<&str> = h.iter().map(|h| h.token.as_str()).collect();
    assert!(toks.contains(&"interface"), "{toks:?}");
    assert!(h.iter().all(|i| !i.help.is_empty() || i.token == "<cr>"));
}
