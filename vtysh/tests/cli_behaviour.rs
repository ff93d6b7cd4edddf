//! What an operator sees when typing into the shell: modes, abbreviations,
//! carets, refusals with reasons, and `no` forms that undo.

use vtysh::{load_config, render, CliError, Config, ExecCommand, Mode, Outcome, Session, ShowCmd};

const BASE: &str = "hostname r1
crypto ikev2 proposal P
 encryption aes-gcm-256
 prf sha256
 group 19
crypto ikev2 keyring K
 peer p1
  address 192.0.2.2
  pre-shared-key 0 a-long-enough-secret-1
crypto ikev2 profile PROF
 keyring local K
 proposal P
crypto ipsec transform-set TS esp-gcm 256
crypto ipsec profile IPS
 set transform-set TS
 set ikev2-profile PROF
interface Tunnel1
 ip address 169.254.1.1/30
 tunnel source 192.0.2.1
 tunnel destination 192.0.2.2
 tunnel protection ipsec profile IPS
router bgp 65000
 neighbor 169.254.1.2 remote-as 65001
";

fn base() -> Config {
    load_config(BASE, &Config::default()).unwrap_or_else(|e| panic!("{e:?}"))
}

/// Run lines in one session from exec mode; return the final config, or
/// the first error with the config as it was before that line.
fn run(cfg: &Config, lines: &[&str]) -> (Config, Session, Result<(), CliError>) {
    let mut cfg = cfg.clone();
    let mut s = Session::new();
    for l in lines {
        match s.execute(l, &cfg) {
            Ok(Outcome::Changed(c)) => cfg = *c,
            Ok(_) => {}
            Err(e) => return (cfg, s, Err(e)),
        }
    }
    (cfg, s, Ok(()))
}

fn refused(lines: &[&str], expect: &str) -> CliError {
    let b = base();
    let (after, _, r) = run(&b, lines);
    let e = r.expect_err("the last line must be refused");
    assert!(
        e.message.contains(expect),
        "message {:?} lacks {expect:?}",
        e.message
    );
    // Nothing of the refused line landed (earlier lines may have).
    let (before_last, _, _) = run(&b, &lines[..lines.len() - 1]);
    assert_eq!(render(&after), render(&before_last));
    e
}

#[test]
fn modes_prompts_and_abbreviations() {
    let b = base();
    let mut s = Session::new();
    assert_eq!(s.prompt(&b), "r1#");
    s.execute("conf t", &b).unwrap();
    assert_eq!(s.prompt(&b), "r1(config)#");
    let Outcome::Changed(c) = s.execute("int Tunnel5", &b).unwrap() else {
        panic!("interface creates a section")
    };
    assert_eq!(s.prompt(&c), "r1(config-if)#");
    let Outcome::Changed(c) = s.execute("ip add 169.254.5.1/30", &c).unwrap() else {
        panic!()
    };
    assert!(render(&c).contains("interface Tunnel5\n ip address 169.254.5.1/30\n"));
    // A parent-mode command leaves the sub-mode.
    s.execute("router bgp 65000", &c).unwrap();
    assert_eq!(s.mode(), Mode::RouterBgp);
    s.execute("address-family ipv4 unicast", &c).unwrap();
    assert_eq!(s.mode(), Mode::RouterBgpAf);
    s.execute("exit-address-family", &c).unwrap();
    assert_eq!(s.mode(), Mode::RouterBgp);
    s.execute("exit", &c).unwrap();
    assert_eq!(s.mode(), Mode::Config);
    assert_eq!(
        s.execute("do sh run", &c).unwrap(),
        Outcome::Exec(ExecCommand::Show {
            cmd: ShowCmd::RunningConfig {
                include_secrets: false
            },
            json: false
        })
    );
    assert_eq!(s.mode(), Mode::Config, "do keeps the mode");
    s.execute("end", &c).unwrap();
    assert_eq!(s.mode(), Mode::Exec);
    assert_eq!(
        s.execute("sh crypto sess det json", &c).unwrap(),
        Outcome::Exec(ExecCommand::Show {
            cmd: ShowCmd::CryptoSession { detail: true },
            json: true
        })
    );
    assert_eq!(
        s.execute("wr mem", &c).unwrap(),
        Outcome::Exec(ExecCommand::WriteMemory)
    );
    assert_eq!(s.execute("exit", &c).unwrap(), Outcome::Quit);
}

#[test]
fn bad_words_get_a_caret_and_ambiguity_names_candidates() {
    let b = base();
    let mut s = Session::new();
    let e = s.execute("show interfce brief", &b).unwrap_err();
    assert_eq!(e.column, Some(5));
    assert!(e.message.contains("Invalid input"));
    let e = s.execute("c", &b).unwrap_err();
    assert!(e.message.contains("configure, copy"), "{}", e.message);
    s.execute("configure terminal", &b).unwrap();
    let e = s.execute("crypto i", &b).unwrap_err();
    assert!(
        e.message.contains("ikev2") && e.message.contains("ipsec"),
        "{}",
        e.message
    );
    assert_eq!(e.column, Some(7));
    let e = s.execute("interface", &b).unwrap_err();
    assert!(e.message.contains("incomplete"), "{}", e.message);
}

#[test]
fn insecure_algorithms_are_refused_naming_the_safer_choice() {
    let e = refused(
        &[
            "conf t",
            "crypto ikev2 proposal X",
            "encryption aes-gcm-128 3des",
        ],
        "use aes-gcm-256",
    );
    assert_eq!(e.column, Some(23), "caret under 3des");
    refused(
        &["conf t", "crypto ikev2 proposal X", "encryption des"],
        "DES is refused",
    );
    refused(
        &["conf t", "crypto ikev2 proposal X", "integrity md5"],
        "use sha256",
    );
    for g in ["1", "2", "5", "24"] {
        let l = format!("group 19 {g}");
        let e = refused(&["conf t", "crypto ikev2 proposal X", &l], "use group 19");
        assert_eq!(e.column, Some(9));
    }
    refused(
        &["conf t", "crypto ipsec profile IPS", "set pfs group2"],
        "refused as insecure",
    );
    refused(
        &[
            "conf t",
            "crypto ipsec transform-set T2 esp-3des esp-sha256-hmac",
        ],
        "use esp-gcm 256",
    );
    refused(
        &[
            "conf t",
            "crypto ipsec transform-set T2 esp-aes 256 esp-md5-hmac",
        ],
        "use esp-sha256-hmac",
    );
    refused(
        &["conf t", "crypto ipsec transform-set T2 esp-aes 256"],
        "needs an HMAC",
    );
}

#[test]
fn weak_choices_need_allow_weak() {
    refused(
        &["conf t", "crypto ikev2 proposal P", "prf sha1"],
        "allow-weak",
    );
    refused(
        &[
            "conf t",
            "crypto ipsec transform-set T2 esp-aes 128 esp-sha-hmac",
        ],
        "allow-weak",
    );
    refused(
        &[
            "conf t",
            "crypto ikev2 keyring K",
            "peer p1",
            "pre-shared-key 0 short-secret",
        ],
        "shorter than 16",
    );
    let (c, _, r) = run(
        &base(),
        &[
            "conf t",
            "crypto allow-weak",
            "crypto ikev2 proposal P",
            "prf sha1 sha256",
            "crypto ikev2 keyring K",
            "peer p1",
            "pre-shared-key 0 short",
        ],
    );
    r.unwrap();
    assert!(render(&c).contains("prf sha1 sha256"));
    // Taking allow-weak away while sha1 is in use is refused.
    let (_, _, r) = run(&c, &["conf t", "no crypto allow-weak"]);
    assert!(r.unwrap_err().message.contains("sha1 is weak"));
}

#[test]
fn references_must_exist_and_used_objects_cannot_vanish() {
    refused(
        &["conf t", "crypto ikev2 profile PROF", "keyring local NOPE"],
        "no such keyring",
    );
    refused(
        &["conf t", "crypto ikev2 profile PROF", "proposal NOPE"],
        "no such proposal",
    );
    refused(
        &[
            "conf t",
            "crypto ipsec profile IPS",
            "set transform-set NOPE",
        ],
        "no such transform set",
    );
    refused(
        &[
            "conf t",
            "crypto ipsec profile IPS",
            "set ikev2-profile NOPE",
        ],
        "no such IKEv2 profile",
    );
    refused(
        &[
            "conf t",
            "interface Tunnel1",
            "tunnel protection ipsec profile NOPE",
        ],
        "no such IPsec profile",
    );
    refused(&["conf t", "no crypto ikev2 keyring K"], "no such keyring");
    refused(
        &["conf t", "no crypto ipsec profile IPS"],
        "no such IPsec profile",
    );
    refused(
        &[
            "conf t",
            "router bgp 65000",
            "neighbor 169.254.9.9 peer-group NOPE",
        ],
        "does not exist",
    );
}

#[test]
fn addresses_must_not_overlap_or_collide() {
    refused(
        &["conf t", "interface Tunnel2", "ip address 169.254.1.2/30"],
        "overlaps 169.254.1.1/30 of interface Tunnel1",
    );
    refused(
        &["conf t", "interface Tunnel2", "ip address 169.254.1.1/30"],
        "collides with",
    );
    refused(
        &["conf t", "interface Tunnel2", "ip address 169.254.0.1/16"],
        "overlaps",
    );
    refused(
        &["conf t", "interface Tunnel2", "ip address 169.254.2.0/30"],
        "network address",
    );
    refused(
        &[
            "conf t",
            "interface Tunnel2",
            "tunnel source 192.0.2.1",
            "tunnel destination 192.0.2.2",
        ],
        "same as interface Tunnel1",
    );
    refused(
        &[
            "conf t",
            "interface Tunnel2",
            "tunnel mode ipsec ipv6",
            "tunnel destination 192.0.2.9",
        ],
        "does not match tunnel mode ipsec ipv6",
    );
    let (c, _, r) = run(
        &base(),
        &["conf t", "interface Tunnel2", "ip address 169.254.1.5/30"],
    );
    r.unwrap();
    assert!(c.interfaces.contains_key("Tunnel2"));
}

#[test]
fn bgp_neighbor_must_be_in_an_address_family() {
    refused(
        &[
            "conf t",
            "router bgp 65000",
            "address-family ipv4 unicast",
            "no neighbor 169.254.1.2 activate",
        ],
        "in no address family",
    );
    let (c, _, r) = run(
        &base(),
        &[
            "conf t",
            "router bgp 65000",
            "address-family ipv6",
            "neighbor 169.254.1.2 activate",
            "exit",
            "address-family ipv4",
            "no neighbor 169.254.1.2 activate",
        ],
    );
    r.unwrap();
    let text = render(&c);
    assert!(
        text.contains(" address-family ipv6 unicast\n  neighbor 169.254.1.2 activate\n"),
        "{text}"
    );
    assert!(
        text.contains("  no neighbor 169.254.1.2 activate\n"),
        "{text}"
    );
    refused(&["conf t", "router bgp 65001"], "AS is 65000");
    refused(
        &[
            "conf t",
            "router bgp 65000",
            "neighbor 10.9.9.9 description x",
        ],
        "remote-as or peer-group",
    );
}

/// Each (setup, line, undo) leaves the config as it was after setup.
#[test]
fn every_no_form_undoes_its_command() {
    let cases: &[(&str, &str, &str)] = &[
        ("conf t", "crypto allow-weak", "no crypto allow-weak"),
        (
            "conf t",
            "crypto ikev2 cookie-challenge 10",
            "no crypto ikev2 cookie-challenge",
        ),
        (
            "conf t",
            "crypto ikev2 limit max-in-negotiation-sa 500",
            "no crypto ikev2 limit max-in-negotiation-sa",
        ),
        (
            "conf t",
            "crypto ikev2 limit max-in-negotiation-sa-per-address 3",
            "no crypto ikev2 limit max-in-negotiation-sa-per-address 3",
        ),
        (
            "conf t",
            "crypto ikev2 proposal Q",
            "no crypto ikev2 proposal Q",
        ),
        (
            "crypto ikev2 proposal P",
            "integrity sha512",
            "no integrity",
        ),
        ("crypto ikev2 keyring K", "peer p2", "no peer p2"),
        ("peer p1", "identity fqdn p1.example.net", "no identity"),
        ("peer p1", "identity email a@example.net", "no identity"),
        ("peer p1", "description far away", "no description"),
        (
            "peer p1",
            "pre-shared-key local 0 another-long-secret-x",
            "no pre-shared-key local",
        ),
        (
            "conf t",
            "crypto pki trustpoint CA",
            "no crypto pki trustpoint CA",
        ),
        (
            "crypto pki trustpoint CA2",
            "ca-certificate /etc/ca.pem",
            "no ca-certificate",
        ),
        (
            "crypto pki trustpoint CA3",
            "revocation-check crl /etc/ca.crl",
            "no revocation-check",
        ),
        (
            "crypto ikev2 profile PROF",
            "match identity remote fqdn domain example.net",
            "no match identity remote fqdn domain example.net",
        ),
        (
            "crypto ikev2 profile PROF",
            "match identity remote address 10.0.0.0/8",
            "no match identity remote",
        ),
        (
            "crypto ikev2 profile PROF",
            "identity local address 192.0.2.1",
            "no identity local",
        ),
        (
            "crypto ikev2 profile PROF",
            "authentication remote pre-share",
            "no authentication remote",
        ),
        (
            "crypto ikev2 profile PROF",
            "authentication local ecdsa-sig",
            "no authentication local",
        ),
        ("crypto ikev2 profile PROF", "dpd 10 3 on-demand", "no dpd"),
        ("crypto ikev2 profile PROF", "lifetime 3600", "no lifetime"),
        (
            "crypto ikev2 profile PROF",
            "nat keepalive 20",
            "no nat keepalive",
        ),
        // MOBIKE is on by default (strongSwan): the `no` form is the one
        // that shows.
        ("crypto ikev2 profile PROF", "no mobike", "mobike"),
        (
            "crypto ikev2 profile PROF",
            "description hubs",
            "no description",
        ),
        ("crypto ipsec transform-set TS", "mode transport", "no mode"),
        (
            "conf t",
            "crypto ipsec transform-set T3 esp-chacha20-poly1305 esp-aes 256 esp-sha512-hmac",
            "no crypto ipsec transform-set T3",
        ),
        ("crypto ipsec profile IPS", "set pfs group31", "no set pfs"),
        (
            "crypto ipsec profile IPS",
            "set security-association lifetime seconds 3600",
            "no set security-association lifetime seconds",
        ),
        (
            "crypto ipsec profile IPS",
            "set security-association lifetime kilobytes 100000",
            "no set security-association lifetime kilobytes",
        ),
        (
            "crypto ipsec profile IPS",
            "set security-association replay window-size 1024",
            "no set security-association replay window-size",
        ),
        ("interface Tunnel1", "description to p1", "no description"),
        ("interface Tunnel1", "shutdown", "no shutdown"),
        ("interface Tunnel1", "mtu 1400", "no mtu"),
        (
            "interface Tunnel1",
            "ip tcp adjust-mss 1360",
            "no ip tcp adjust-mss",
        ),
        (
            "interface Tunnel1",
            "ipv6 address 2001:db8::1/64",
            "no ipv6 address 2001:db8::1/64",
        ),
        (
            "interface Tunnel1",
            "tunnel mode ipsec ipv4",
            "no tunnel mode",
        ),
        ("conf t", "interface Loopback0", "no interface Loopback0"),
        (
            "conf t",
            "ip route 10.9.0.0/16 192.0.2.254 20",
            "no ip route 10.9.0.0/16",
        ),
        (
            "conf t",
            "ipv6 route 2001:db8:9::/48 Null0",
            "no ipv6 route 2001:db8:9::/48 Null0",
        ),
        (
            "conf t",
            "ip prefix-list L seq 5 permit 10.0.0.0/8 ge 16 le 24",
            "no ip prefix-list L",
        ),
        (
            "conf t",
            "ipv6 prefix-list L6 permit 2001:db8::/32 le 64",
            "no ipv6 prefix-list L6",
        ),
        (
            "conf t",
            "bgp community-list standard C permit 65000:1 no-export",
            "no bgp community-list standard C",
        ),
        (
            "conf t",
            "bgp as-path access-list A permit ^65001( |$)",
            "no bgp as-path access-list A",
        ),
        ("conf t", "route-map RM deny 20", "no route-map RM deny 20"),
        (
            "route-map RM2 permit 10",
            "set local-preference 50",
            "no set local-preference",
        ),
        (
            "route-map RM3 permit 10",
            "set as-path prepend 65000 65000",
            "no set as-path prepend",
        ),
        (
            "route-map RM4 permit 10",
            "match ip address prefix-list L",
            "no match ip address prefix-list",
        ),
        (
            "route-map RM5 permit 10",
            "set community 65000:1 additive",
            "no set community",
        ),
        (
            "router bgp 65000",
            "bgp router-id 10.0.0.1",
            "no bgp router-id",
        ),
        (
            "router bgp 65000",
            "no bgp ebgp-requires-policy",
            "bgp ebgp-requires-policy",
        ),
        ("router bgp 65000", "timers bgp 3 9", "no timers bgp"),
        (
            "router bgp 65000",
            "neighbor G peer-group",
            "no neighbor G peer-group",
        ),
        (
            "router bgp 65000",
            "neighbor 169.254.1.2 password Md5-Secret-123",
            "no neighbor 169.254.1.2 password",
        ),
        (
            "router bgp 65000",
            "neighbor 169.254.1.2 timers 3 9",
            "no neighbor 169.254.1.2 timers",
        ),
        (
            "router bgp 65000",
            "neighbor 169.254.1.2 bfd",
            "no neighbor 169.254.1.2 bfd",
        ),
        (
            "router bgp 65000",
            "neighbor 169.254.1.2 bfd 3 100 200",
            "no neighbor 169.254.1.2 bfd",
        ),
        (
            "interface Tunnel1",
            "bfd interval 100 min_rx 150 multiplier 5",
            "no bfd interval",
        ),
        (
            "router bgp 65000",
            "neighbor 169.254.1.6 remote-as external",
            "no neighbor 169.254.1.6",
        ),
        (
            "address-family ipv4 unicast",
            "maximum-paths 4",
            "no maximum-paths",
        ),
        (
            "address-family ipv4 unicast",
            "network 10.0.0.0/16",
            "no network 10.0.0.0/16",
        ),
        (
            "address-family ipv4 unicast",
            "redistribute connected route-map X",
            "no redistribute connected",
        ),
        (
            "address-family ipv4 unicast",
            "neighbor 169.254.1.2 next-hop-self",
            "no neighbor 169.254.1.2 next-hop-self",
        ),
        (
            "address-family ipv4 unicast",
            "neighbor 169.254.1.2 prefix-list L in",
            "no neighbor 169.254.1.2 prefix-list L in",
        ),
        (
            "address-family ipv4 unicast",
            "neighbor 169.254.1.2 route-map RM out",
            "no neighbor 169.254.1.2 route-map RM out",
        ),
        (
            "address-family ipv6 unicast",
            "network 2001:db8::/32",
            "no network 2001:db8::/32",
        ),
    ];
    for (setup, line, undo) in cases {
        let mut path = vec!["conf t"];
        // Sub-mode setups are entered from config mode (and may need their parent).
        if setup.starts_with("peer") {
            path.push("crypto ikev2 keyring K");
        }
        if setup.starts_with("address-family") {
            path.push("router bgp 65000");
        }
        if *setup != "conf t" {
            path.push(setup);
        }
        let (start, _, r) = run(&base(), &path);
        r.unwrap_or_else(|e| panic!("setup {setup}: {}", e.message));
        let mut all = path.clone();
        all.push(line);
        let (mid, _, r) = run(&base(), &all);
        r.unwrap_or_else(|e| panic!("{line}: {}", e.message));
        assert_ne!(render(&mid), render(&start), "{line} changed nothing");
        all.push(undo);
        let (end, _, r) = run(&base(), &all);
        r.unwrap_or_else(|e| panic!("{undo}: {}", e.message));
        assert_eq!(render(&end), render(&start), "{undo} did not undo {line}");
    }
}

#[test]
fn in_negotiation_limits_render_and_must_stay_above_the_cookie_threshold() {
    let (c, _, r) = run(
        &base(),
        &[
            "conf t",
            "crypto ikev2 cookie-challenge 50",
            "crypto ikev2 limit max-in-negotiation-sa 800",
            "crypto ikev2 limit max-in-negotiation-sa-per-address 4",
        ],
    );
    r.unwrap();
    let text = render(&c);
    for line in [
        "crypto ikev2 cookie-challenge 50\n",
        "crypto ikev2 limit max-in-negotiation-sa 800\n",
        "crypto ikev2 limit max-in-negotiation-sa-per-address 4\n",
    ] {
        assert!(text.contains(line), "{line:?} missing from:\n{text}");
    }
    assert_eq!(load_config(&text, &Config::default()).unwrap(), c);
    // A limit at or under the COOKIE threshold (configured or default)
    // would drop initiators a COOKIE would have let in.
    let e = refused(
        &["conf t", "crypto ikev2 limit max-in-negotiation-sa 32"],
        "COOKIEs are demanded from 32 half-open IKE SAs",
    );
    assert!(e.message.contains("default"), "{}", e.message);
    refused(
        &[
            "conf t",
            "crypto ikev2 limit max-in-negotiation-sa 100",
            "crypto ikev2 cookie-challenge 100",
        ],
        "must be below this limit",
    );
    refused(
        &["conf t", "crypto ikev2 limit max-in-negotiation-sa 0"],
        "",
    );
}

#[test]
fn no_hostname_returns_to_the_default_name() {
    let (c, s, r) = run(&base(), &["conf t", "no hostname"]);
    r.unwrap();
    assert_eq!(s.prompt(&c), "rvpn(config)#");
    let (c, _, r) = run(&base(), &["conf t", "no router bgp 65000"]);
    r.unwrap();
    assert!(c.bgp.is_none());
}

#[test]
fn help_lists_what_may_come_next() {
    let h = vtysh::help(Mode::Interface, "tunnel ").unwrap();
    let toks: Vec<&str> = h.iter().map(|h| h.token.as_str()).collect();
    assert_eq!(toks, vec!["destination", "mode", "protection", "source"]);
    let h = vtysh::help(Mode::Exec, "show interface ").unwrap();
    assert!(h.iter().any(|h| h.token == "<cr>"));
    assert!(h.iter().any(|h| h.token == "IFNAME"));
    assert!(
        h.iter().all(|h| !h.help.is_empty() || h.token == "<cr>"),
        "{h:?}"
    );
    let h = vtysh::help(Mode::Config, "crypto ikev2 pr").unwrap();
    assert_eq!(
        h.iter().map(|h| h.token.as_str()).collect::<Vec<_>>(),
        vec!["profile", "proposal"]
    );
    assert!(vtysh::help(Mode::Config, "crypto bogus ").is_err());
    assert_eq!(vtysh::complete(Mode::Exec, "conf"), vec!["configure"]);
    assert_eq!(
        vtysh::complete(Mode::Config, "crypto ikev2 k"),
        vec!["keyring"]
    );
    // Every keyword of every command has a help line.
    for m in Mode::ALL {
        for line in ["", "no "] {
            if let Ok(items) = vtysh::help(m, line) {
                for i in items {
                    assert!(
                        !i.help.is_empty() || i.token == "<cr>",
                        "{m:?}: {} has no help",
                        i.token
                    );
                }
            }
        }
    }
}

#[test]
fn secrets_stay_out_of_debug_json_and_masked_output() {
    let c = base();
    assert!(!format!("{c:?}").contains("a-long-enough-secret-1"));
    assert!(!serde_json::to_string(&c)
        .unwrap()
        .contains("a-long-enough-secret-1"));
    assert!(!vtysh::render::render_masked(&c).contains("a-long-enough-secret-1"));
    assert!(render(&c).contains("pre-shared-key 0 a-long-enough-secret-1"));
    // Pasting masked output back is refused rather than storing the mask.
    let masked = vtysh::render::render_masked(&c);
    let errs =
        load_config(&format!("crypto allow-weak\n{masked}"), &Config::default()).unwrap_err();
    assert!(errs.iter().any(|e| e.message.contains("mask")), "{errs:?}");
}

/// The BGP show and clear commands parse to what the daemon needs,
/// abbreviated as people type them.
#[test]
fn bgp_show_and_clear_commands() {
    use vtysh::model::Afi;
    use vtysh::{BgpRoutesDir, ExecCommand, ShowCmd, SoftDir};
    let b = base();
    let exec = |line: &str| {
        let mut s = Session::new();
        match s.execute(line, &b) {
            Ok(Outcome::Exec(cmd)) => cmd,
            other => panic!("{line}: {other:?}"),
        }
    };
    let show = |line: &str| match exec(line) {
        ExecCommand::Show { cmd, json } => (cmd, json),
        other => panic!("{line}: {other:?}"),
    };
    assert_eq!(
        show("sh ip bgp sum"),
        (ShowCmd::BgpSummary { afi: None }, false)
    );
    assert_eq!(
        show("show bgp ipv6 unicast summary json"),
        (
            ShowCmd::BgpSummary {
                afi: Some(Afi::Ipv6)
            },
            true
        )
    );
    assert_eq!(
        show("sh ip bgp 10.1.0.0/24 json"),
        (
            ShowCmd::BgpRoutes {
                afi: Afi::Ipv4,
                prefix: Some("10.1.0.0/24".into())
            },
            true
        )
    );
    assert_eq!(
        show("show bgp ipv6 unicast fd00::/64"),
        (
            ShowCmd::BgpRoutes {
                afi: Afi::Ipv6,
                prefix: Some("fd00::/64".into())
            },
            false
        )
    );
    assert_eq!(
        show("sh ip bgp nei 10.1.0.2 adv json"),
        (
            ShowCmd::BgpNeighbors {
                addr: Some("10.1.0.2".parse().unwrap()),
                routes: Some(BgpRoutesDir::Advertised)
            },
            true
        )
    );
    assert_eq!(
        exec("clear ip bgp 10.1.0.2 soft in"),
        ExecCommand::ClearBgp {
            peer: Some("10.1.0.2".parse().unwrap()),
            soft: Some(SoftDir::In)
        }
    );
    assert_eq!(
        exec("clear ip bgp * soft"),
        ExecCommand::ClearBgp {
            peer: None,
            soft: Some(SoftDir::Both)
        }
    );
    assert_eq!(
        exec("clear ip bgp *"),
        ExecCommand::ClearBgp {
            peer: None,
            soft: None
        }
    );
}

/// BFD: `neighbor X bfd [MULT RX TX]` on neighbors and peer groups,
/// `bfd interval` per interface; the numbers are bounded like FRR's and
/// IOS's, and `show bfd peers [brief] [json]` parses.
#[test]
fn bfd_timers_on_neighbors_groups_and_interfaces() {
    use vtysh::model::BfdTimers;
    let b = base();
    let (cfg, _, r) = run(
        &b,
        &[
            "configure terminal",
            "interface Tunnel1",
            "bfd interval 100 min_rx 200 multiplier 4",
            "exit",
            "router bgp 65000",
            "neighbor G peer-group",
            "neighbor G remote-as external",
            "neighbor G bfd 5 50 60",
            "neighbor 169.254.1.2 bfd",
        ],
    );
    r.unwrap();
    assert_eq!(
        cfg.interfaces["Tunnel1"].bfd,
        Some(BfdTimers {
            detect_mult: 4,
            min_rx_ms: 200,
            min_tx_ms: 100
        })
    );
    let bgp = cfg.bgp.as_ref().unwrap();
    let g = &bgp.peer_groups["G"];
    assert!(g.bfd);
    assert_eq!(
        g.bfd_timers,
        Some(BfdTimers {
            detect_mult: 5,
            min_rx_ms: 50,
            min_tx_ms: 60
        })
    );
    let n = &bgp.neighbors[&"169.254.1.2".parse().unwrap()];
    assert!(n.bfd && n.bfd_timers.is_none());
    let text = render(&cfg);
    assert!(
        text.contains(" bfd interval 100 min_rx 200 multiplier 4\n"),
        "{text}"
    );
    assert!(text.contains(" neighbor G bfd 5 50 60\n"), "{text}");
    assert!(text.contains(" neighbor 169.254.1.2 bfd\n"), "{text}");
    // Round trip through the text.
    assert_eq!(load_config(&text, &Config::default()).unwrap(), cfg);
    // Out of range: FRR's bounds (multiplier 2-255, 50-60000 ms).
    for (enter, line) in [
        ("router bgp 65000", "neighbor 169.254.1.2 bfd 1 300 300"),
        ("router bgp 65000", "neighbor 169.254.1.2 bfd 3 49 300"),
        ("router bgp 65000", "neighbor 169.254.1.2 bfd 3 300 60001"),
        (
            "interface Tunnel1",
            "bfd interval 10 min_rx 300 multiplier 3",
        ),
        (
            "interface Tunnel1",
            "bfd interval 300 min_rx 300 multiplier 256",
        ),
    ] {
        let (_, _, r) = run(&b, &["configure terminal", enter, line]);
        assert!(r.is_err(), "{line} must be refused");
    }
    // Timers again without numbers keep bfd on and drop the timers.
    let (cfg2, _, r) = run(
        &cfg,
        &["configure terminal", "router bgp 65000", "neighbor G bfd"],
    );
    r.unwrap();
    let g = &cfg2.bgp.as_ref().unwrap().peer_groups["G"];
    assert!(g.bfd && g.bfd_timers.is_none());
    let mut s = Session::new();
    for (line, brief, json) in [
        ("show bfd peers", false, false),
        ("sh bfd peers json", false, true),
        ("show bfd peers brief", true, false),
    ] {
        assert_eq!(
            s.execute(line, &cfg).unwrap(),
            Outcome::Exec(ExecCommand::Show {
                cmd: ShowCmd::BfdPeers { brief },
                json
            }),
            "{line}"
        );
    }
}

/// `neighbor X update-source Y` stores Y, whatever X is (an IPv4
/// neighbor's own address used to be taken for the source).
#[test]
fn update_source_is_the_word_after_the_keyword() {
    let b = base();
    let (cfg, _, r) = run(
        &b,
        &[
            "configure terminal",
            "router bgp 65000",
            "neighbor 10.1.0.3 remote-as 65009",
            "neighbor 10.1.0.3 update-source lo0",
            "neighbor 10.1.0.4 remote-as 65009",
            "neighbor 10.1.0.4 update-source 10.9.9.9",
            "neighbor fd00::4 remote-as 65009",
            "neighbor fd00::4 update-source fd00::9",
        ],
    );
    r.unwrap();
    let bgp = cfg.bgp.as_ref().unwrap();
    let src = |a: &str| bgp.neighbors[&a.parse().unwrap()].update_source.clone();
    assert_eq!(src("10.1.0.3").as_deref(), Some("lo0"));
    assert_eq!(src("10.1.0.4").as_deref(), Some("10.9.9.9"));
    assert_eq!(src("fd00::4").as_deref(), Some("fd00::9"));
}

#[test]
fn maximum_prefix_renders_as_entered_and_bad_values_are_refused() {
    let n = "neighbor 169.254.1.2";
    // (mode typed in, line, family block it shows in)
    let cases = [
        (
            "address-family ipv4 unicast",
            format!("{n} maximum-prefix 100"),
            "ipv4",
        ),
        (
            "address-family ipv4 unicast",
            format!("{n} maximum-prefix 4294967295 75 warning-only"),
            "ipv4",
        ),
        (
            "address-family ipv6 unicast",
            format!("{n} maximum-prefix 10 90 restart 65535"),
            "ipv6",
        ),
        (
            "address-family ipv4 unicast",
            format!("{n} maximum-prefix 1 100 restart 1"),
            "ipv4",
        ),
        (
            "address-family ipv4 unicast",
            format!("{n} maximum-prefix 7 warning-only"),
            "ipv4",
        ),
        // Directly under router bgp: IPv4 unicast, as FRR.
        ("", format!("{n} maximum-prefix 500 restart 5"), "ipv4"),
        ("", "neighbor G maximum-prefix 20 50".to_string(), "ipv4"),
    ];
    for (mode, line, fam) in &cases {
        let mut lines = vec!["conf t", "router bgp 65000", "neighbor G peer-group"];
        if !mode.is_empty() {
            lines.push(mode);
        }
        lines.push(line);
        let (cfg, _, r) = run(&base(), &lines);
        r.unwrap_or_else(|e| panic!("{line}: {}", e.message));
        let text = render(&cfg);
        let block = format!(" address-family {fam} unicast\n");
        let at = text
            .find(&block)
            .unwrap_or_else(|| panic!("{line}:\n{text}"));
        let end = at + text[at..].find(" exit-address-family").unwrap();
        assert!(
            text[at..end].contains(&format!("\n  {line}\n")),
            "{line} is not shown as entered in {fam}:\n{text}"
        );
        // And the text loads back to the same configuration.
        let back = load_config(&text, &Config::default()).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(back, cfg, "{text}");
        // `no` takes it away again.
        let mut undo = lines.clone();
        let no = format!("no {}", line.split(" maximum-prefix").next().unwrap());
        let no = format!("{no} maximum-prefix");
        undo.push(&no);
        let (cleared, _, r) = run(&base(), &undo);
        r.unwrap_or_else(|e| panic!("{no}: {}", e.message));
        assert!(!render(&cleared).contains("maximum-prefix"), "{no}");
    }
    let af = ["conf t", "router bgp 65000", "address-family ipv4 unicast"];
    for (bad, why) in [
        ("maximum-prefix 0", "0 is not in (1-4294967295)"),
        (
            "maximum-prefix 4294967296",
            "4294967296 is not in (1-4294967295)",
        ),
        ("maximum-prefix 10 0", "0 is not in (1-100)"),
        ("maximum-prefix 10 101", "101 is not in (1-100)"),
        ("maximum-prefix 10 restart 0", "0 is not in (1-65535)"),
        (
            "maximum-prefix 10 restart 65536",
            "65536 is not in (1-65535)",
        ),
        ("maximum-prefix 10 x", "Invalid input"),
        ("maximum-prefix", "incomplete"),
        (
            "maximum-prefix 10 warning-only restart 5",
            "warning-only and restart exclude each other",
        ),
    ] {
        let line = format!("{n} {bad}");
        let mut lines = af.to_vec();
        lines.push(&line);
        let e = refused(&lines, why);
        if why != "incomplete" && !why.starts_with("warning-only") {
            assert!(e.column.is_some(), "{bad}: a caret under the bad word");
        }
    }
    refused(
        &[
            "conf t",
            "router bgp 65000",
            "neighbor 10.9.9.9 maximum-prefix 10",
        ],
        "remote-as or peer-group",
    );
}

#[test]
fn ike_fragmentation_is_on_by_default_and_renders_only_when_changed() {
    assert!(!render(&base()).contains("fragmentation"));
    for (lines, shown) in [
        (
            vec!["conf t", "crypto ikev2 fragmentation mtu 576"],
            Some("crypto ikev2 fragmentation mtu 576\n"),
        ),
        (
            vec!["conf t", "no crypto ikev2 fragmentation"],
            Some("no crypto ikev2 fragmentation\n"),
        ),
        (
            vec![
                "conf t",
                "no crypto ikev2 fragmentation",
                "crypto ikev2 fragmentation",
            ],
            None,
        ),
    ] {
        let (c, _, r) = run(&base(), &lines);
        r.unwrap();
        let text = render(&c);
        match shown {
            Some(l) => assert!(text.contains(l), "{l:?} missing from:\n{text}"),
            None => assert!(!text.contains("fragmentation"), "{text}"),
        }
        assert_eq!(load_config(&text, &Config::default()).unwrap(), c);
    }
    // IOS's range is 68-1500; under 256 no useful encrypted fragment fits.
    let e = refused(
        &["conf t", "crypto ikev2 fragmentation mtu 200"],
        "at least 256",
    );
    assert!(e.message.contains("200"), "{}", e.message);
    refused(&["conf t", "crypto ikev2 fragmentation mtu 1501"], "");
    refused(&["conf t", "crypto ikev2 fragmentation mtu 67"], "");
}
