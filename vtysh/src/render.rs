//! The model printed back as configuration text. `render(parse(text))`
//! parses to the same model.

use crate::model::*;
use std::fmt::Write;

/// What masked secrets are shown as; refused as a key on input.
pub const MASK: &str = "********";

/// The configuration with secrets in clear (for `write memory` and
/// `show running-config include-secrets`).
pub fn render(cfg: &Config) -> String {
    Renderer {
        secrets: true,
        out: String::new(),
    }
    .config(cfg)
}

/// The configuration with pre-shared keys and passwords masked
/// (for `show running-config`).
pub fn render_masked(cfg: &Config) -> String {
    Renderer {
        secrets: false,
        out: String::new(),
    }
    .config(cfg)
}

struct Renderer {
    secrets: bool,
    out: String,
}

macro_rules! line {
    ($r:expr, $($arg:tt)*) => {{
        let _ = writeln!($r.out, $($arg)*);
    }};
}

fn join<T: ToString>(v: &[T]) -> String {
    v.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

impl Renderer {
    fn secret(&self, s: &Secret) -> String {
        if self.secrets {
            s.expose().to_string()
        } else {
            MASK.to_string()
        }
    }

    fn config(mut self, c: &Config) -> String {
        if let Some(h) = &c.hostname {
            line!(self, "hostname {h}");
            line!(self, "!");
        }
        if c.aaa_new_model || !c.aaa_authorization_network.is_empty() {
            if c.aaa_new_model {
                line!(self, "aaa new-model");
            }
            for l in &c.aaa_authorization_network {
                line!(self, "aaa authorization network {l} local");
            }
            line!(self, "!");
        }
        for (n, p) in &c.ip_local_pools {
            if p.first == p.last {
                line!(self, "ip local pool {n} {}", p.first);
            } else {
                line!(self, "ip local pool {n} {} {}", p.first, p.last);
            }
        }
        for (n, p) in &c.ipv6_local_pools {
            line!(self, "ipv6 local pool {n} {} {}", p.prefix, p.assign_len);
        }
        if !c.ip_local_pools.is_empty() || !c.ipv6_local_pools.is_empty() {
            line!(self, "!");
        }
        if c.allow_weak {
            line!(self, "crypto allow-weak");
            line!(self, "!");
        }
        if let Some(n) = c.cookie_challenge {
            line!(self, "crypto ikev2 cookie-challenge {n}");
            line!(self, "!");
        }
        if let Some(n) = c.max_in_negotiation_sa {
            line!(self, "crypto ikev2 limit max-in-negotiation-sa {n}");
            line!(self, "!");
        }
        if let Some(n) = c.max_in_negotiation_sa_per_address {
            line!(
                self,
                "crypto ikev2 limit max-in-negotiation-sa-per-address {n}"
            );
            line!(self, "!");
        }
        match c.fragmentation {
            Fragmentation::Default => {}
            Fragmentation::Mtu(m) => {
                line!(self, "crypto ikev2 fragmentation mtu {m}");
                line!(self, "!");
            }
            Fragmentation::Off => {
                line!(self, "no crypto ikev2 fragmentation");
                line!(self, "!");
            }
        }
        for (n, p) in &c.ikev2_proposals {
            self.proposal(n, p);
        }
        for (n, k) in &c.ikev2_keyrings {
            self.keyring(n, k);
        }
        for (n, p) in &c.ikev2_authorization_policies {
            self.authorization_policy(n, p);
        }
        for (n, t) in &c.trustpoints {
            line!(self, "crypto pki trustpoint {n}");
            if let Some(v) = &t.ca_certificate {
                line!(self, " ca-certificate {v}");
            }
            if let Some(v) = &t.certificate {
                line!(self, " certificate {v}");
            }
            if let Some(v) = &t.private_key {
                line!(self, " private-key {v}");
            }
            match &t.revocation {
                Some(Revocation::Crl(p)) => line!(self, " revocation-check crl {p}"),
                Some(Revocation::None) => line!(self, " revocation-check none"),
                None => {}
            }
            line!(self, "!");
        }
        for (n, p) in &c.ikev2_profiles {
            self.ike_profile(n, p);
        }
        for (n, t) in &c.transform_sets {
            line!(
                self,
                "crypto ipsec transform-set {n} {}",
                join(&t.transforms)
            );
            line!(
                self,
                " mode {}",
                if t.mode == EspMode::Transport {
                    "transport"
                } else {
                    "tunnel"
                }
            );
            line!(self, "!");
        }
        for (n, p) in &c.ipsec_profiles {
            self.ipsec_profile(n, p);
        }
        let mut ifs: Vec<(&String, &Interface)> = c.interfaces.iter().collect();
        ifs.sort_by(|a, b| interface_order(a.0, b.0));
        for (n, i) in ifs {
            self.interface(n, i);
        }
        if let Some(b) = &c.bgp {
            self.bgp(b);
        }
        for (v6, lists) in [(false, &c.prefix_lists), (true, &c.prefix_lists_v6)] {
            for (n, l) in lists {
                for (seq, e) in &l.entries {
                    let mut s = format!(
                        "{} prefix-list {n} seq {seq} {} {}",
                        if v6 { "ipv6" } else { "ip" },
                        e.action.name(),
                        e.prefix
                    );
                    if let Some(g) = e.ge {
                        let _ = write!(s, " ge {g}");
                    }
                    if let Some(l) = e.le {
                        let _ = write!(s, " le {l}");
                    }
                    line!(self, "{s}");
                }
            }
        }
        for (n, l) in &c.community_lists {
            for (seq, e) in &l.entries {
                line!(
                    self,
                    "bgp community-list standard {n} seq {seq} {} {}",
                    e.action.name(),
                    e.communities.join(" ")
                );
            }
        }
        for (n, l) in &c.as_path_lists {
            for (seq, e) in &l.entries {
                line!(
                    self,
                    "bgp as-path access-list {n} seq {seq} {} {}",
                    e.action.name(),
                    e.regex
                );
            }
        }
        if !c.prefix_lists.is_empty()
            || !c.prefix_lists_v6.is_empty()
            || !c.community_lists.is_empty()
            || !c.as_path_lists.is_empty()
        {
            line!(self, "!");
        }
        for (n, rm) in &c.route_maps {
            for (seq, e) in &rm.entries {
                line!(self, "route-map {n} {} {seq}", e.action.name());
                if let Some(d) = &e.description {
                    line!(self, " description {d}");
                }
                for m in &e.matches {
                    line!(self, " {m}");
                }
                for s in &e.sets {
                    line!(self, " {s}");
                }
                line!(self, "!");
            }
        }
        for r in &c.static_routes {
            let v = if r.prefix.is_ipv4() { "ip" } else { "ipv6" };
            if r.distance == 1 {
                line!(self, "{v} route {} {}", r.prefix, r.next_hop);
            } else {
                line!(self, "{v} route {} {} {}", r.prefix, r.next_hop, r.distance);
            }
        }
        if !c.static_routes.is_empty() {
            line!(self, "!");
        }
        line!(self, "end");
        self.out
    }

    fn proposal(&mut self, n: &str, p: &Ikev2Proposal) {
        line!(self, "crypto ikev2 proposal {n}");
        if !p.encryption.is_empty() {
            line!(
                self,
                " encryption {}",
                p.encryption
                    .iter()
                    .map(|e| e.name())
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
        if !p.integrity.is_empty() {
            line!(
                self,
                " integrity {}",
                p.integrity
                    .iter()
                    .map(|e| e.name())
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
        if !p.prf.is_empty() {
            line!(
                self,
                " prf {}",
                p.prf.iter().map(|e| e.name()).collect::<Vec<_>>().join(" ")
            );
        }
        if !p.groups.is_empty() {
            line!(
                self,
                " group {}",
                p.groups
                    .iter()
                    .map(|g| g.0.to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
        line!(self, "!");
    }

    fn keyring(&mut self, n: &str, k: &Keyring) {
        line!(self, "crypto ikev2 keyring {n}");
        for (pn, p) in &k.peers {
            line!(self, " peer {pn}");
            if let Some(d) = &p.description {
                line!(self, "  description {d}");
            }
            if let Some(a) = &p.address {
                if a.prefix() == max_prefix(a.ip()) {
                    line!(self, "  address {}", a.ip());
                } else {
                    line!(self, "  address {a}");
                }
            }
            if let Some(id) = &p.identity {
                line!(self, "  identity {id}");
            }
            if let Some(s) = &p.pre_shared_key {
                line!(self, "  pre-shared-key 0 {}", self.secret(s));
            }
            if let Some(s) = &p.pre_shared_key_local {
                line!(self, "  pre-shared-key local 0 {}", self.secret(s));
            }
            if let Some(s) = &p.pre_shared_key_remote {
                line!(self, "  pre-shared-key remote 0 {}", self.secret(s));
            }
            line!(self, " !");
        }
        line!(self, "!");
    }

    fn ike_profile(&mut self, n: &str, p: &Ikev2Profile) {
        line!(self, "crypto ikev2 profile {n}");
        if let Some(d) = &p.description {
            line!(self, " description {d}");
        }
        for m in &p.match_identities {
            line!(self, " match identity remote {m}");
        }
        if let Some(id) = &p.identity_local {
            line!(self, " identity local {id}");
        }
        if let Some(a) = p.authentication_local {
            let pss = if p.rsa_pss { " pss" } else { "" };
            line!(self, " authentication local {}{pss}", a.name());
        }
        for a in &p.authentication_remote {
            line!(self, " authentication remote {}", a.name());
        }
        if let Some(k) = &p.keyring {
            line!(self, " keyring local {k}");
        }
        for t in &p.trustpoints {
            line!(self, " pki trustpoint {t}");
        }
        if !p.proposals.is_empty() {
            line!(self, " proposal {}", p.proposals.join(" "));
        }
        for a in &p.aaa_authorization {
            let kind = if a.cert { "cert" } else { "psk" };
            line!(
                self,
                " aaa authorization group {kind} list {} {}",
                a.list,
                a.policy
            );
        }
        if let Some(v) = p.virtual_template {
            line!(self, " virtual-template {v}");
        }
        if let Some(d) = p.dpd {
            let m = if d.mode == DpdMode::Periodic {
                "periodic"
            } else {
                "on-demand"
            };
            line!(self, " dpd {} {} {m}", d.interval, d.retry);
        }
        if let Some(l) = p.lifetime {
            line!(self, " lifetime {l}");
        }
        if let Some(k) = p.nat_keepalive {
            line!(self, " nat keepalive {k}");
        }
        if p.no_mobike {
            line!(self, " no mobike");
        }
        line!(self, "!");
    }

    fn ipsec_profile(&mut self, n: &str, p: &IpsecProfile) {
        line!(self, "crypto ipsec profile {n}");
        if let Some(d) = &p.description {
            line!(self, " description {d}");
        }
        if !p.transform_sets.is_empty() {
            line!(self, " set transform-set {}", p.transform_sets.join(" "));
        }
        if let Some(v) = &p.ikev2_profile {
            line!(self, " set ikev2-profile {v}");
        }
        if let Some(g) = p.pfs {
            line!(self, " set pfs group{}", g.0);
        }
        if let Some(s) = p.lifetime_seconds {
            line!(self, " set security-association lifetime seconds {s}");
        }
        if let Some(k) = p.lifetime_kilobytes {
            line!(self, " set security-association lifetime kilobytes {k}");
        }
        if let Some(w) = p.replay_window {
            line!(self, " set security-association replay window-size {w}");
        }
        line!(self, "!");
    }

    fn authorization_policy(&mut self, n: &str, p: &AuthorizationPolicy) {
        line!(self, "crypto ikev2 authorization policy {n}");
        if let Some(v) = &p.pool {
            line!(self, " pool {v}");
        }
        if let Some(v) = &p.ipv6_pool {
            line!(self, " ipv6 pool {v}");
        }
        for r in &p.route_set_interfaces {
            match r {
                RouteSetInterface::Own => line!(self, " route set interface"),
                RouteSetInterface::Named(i) => line!(self, " route set interface {i}"),
            }
        }
        if let Some(d) = p.route_accept_distance {
            line!(self, " route accept any distance {d}");
        }
        line!(self, "!");
    }

    fn interface(&mut self, n: &str, i: &Interface) {
        if matches!(InterfaceKind::of(n), InterfaceKind::VirtualTemplate(_)) {
            line!(self, "interface {n} type tunnel");
        } else {
            line!(self, "interface {n}");
        }
        if let Some(d) = &i.description {
            line!(self, " description {d}");
        }
        if let Some(a) = &i.ipv4 {
            line!(self, " ip address {a}");
        }
        if let Some(u) = &i.unnumbered {
            line!(self, " ip unnumbered {u}");
        }
        if i.address_negotiated {
            line!(self, " ip address negotiated");
        }
        for a in &i.ipv6 {
            line!(self, " ipv6 address {a}");
        }
        if let Some(m) = i.mtu {
            line!(self, " mtu {m}");
        }
        if let Some(t) = &i.tunnel {
            match &t.source {
                Some(TunnelSource::Address(a)) => line!(self, " tunnel source {a}"),
                Some(TunnelSource::Interface(s)) => line!(self, " tunnel source {s}"),
                None => {}
            }
            match &t.destination {
                Some(TunnelDestination::Address(a)) => line!(self, " tunnel destination {a}"),
                Some(TunnelDestination::Dynamic) => line!(self, " tunnel destination dynamic"),
                None => {}
            }
            match t.mode {
                Some(TunnelMode::IpsecIpv4) => line!(self, " tunnel mode ipsec ipv4"),
                Some(TunnelMode::IpsecIpv6) => line!(self, " tunnel mode ipsec ipv6"),
                None => {}
            }
            if let Some(p) = &t.protection {
                line!(self, " tunnel protection ipsec profile {p}");
            }
        }
        if let Some(m) = i.tcp_adjust_mss {
            line!(self, " ip tcp adjust-mss {m}");
        }
        if let Some(t) = i.bfd {
            line!(
                self,
                " bfd interval {} min_rx {} multiplier {}",
                t.min_tx_ms,
                t.min_rx_ms,
                t.detect_mult
            );
        }
        if i.shutdown {
            line!(self, " shutdown");
        }
        line!(self, "!");
    }

    fn neighbor(&mut self, who: &str, n: &NeighborConfig, group: bool) {
        if group {
            line!(self, " neighbor {who} peer-group");
        }
        if let Some(r) = n.remote_as {
            line!(self, " neighbor {who} remote-as {r}");
        }
        if let Some(g) = &n.peer_group {
            line!(self, " neighbor {who} peer-group {g}");
        }
        if let Some(d) = &n.description {
            line!(self, " neighbor {who} description {d}");
        }
        if let Some(p) = &n.password {
            line!(self, " neighbor {who} password {}", self.secret(p));
        }
        if let Some((k, h)) = n.timers {
            line!(self, " neighbor {who} timers {k} {h}");
        }
        if let Some(u) = &n.update_source {
            line!(self, " neighbor {who} update-source {u}");
        }
        if let Some(h) = n.ebgp_multihop {
            line!(self, " neighbor {who} ebgp-multihop {h}");
        }
        if let Some(p) = n.port {
            line!(self, " neighbor {who} port {p}");
        }
        match (n.bfd, n.bfd_timers) {
            (true, Some(t)) => line!(
                self,
                " neighbor {who} bfd {} {} {}",
                t.detect_mult,
                t.min_rx_ms,
                t.min_tx_ms
            ),
            (true, None) => line!(self, " neighbor {who} bfd"),
            _ => {}
        }
        if n.shutdown {
            line!(self, " neighbor {who} shutdown");
        }
    }

    fn bgp(&mut self, b: &Bgp) {
        line!(self, "router bgp {}", b.asn);
        if let Some(id) = b.router_id {
            line!(self, " bgp router-id {id}");
        }
        if !b.ebgp_requires_policy {
            line!(self, " no bgp ebgp-requires-policy");
        }
        if b.multipath_relax {
            line!(self, " bgp bestpath as-path multipath-relax");
        }
        if let Some((k, h)) = b.timers {
            line!(self, " timers bgp {k} {h}");
        }
        for (g, n) in &b.peer_groups {
            self.neighbor(g, n, true);
        }
        for (p, g) in &b.listen_ranges {
            line!(self, " bgp listen range {p} peer-group {g}");
        }
        if let Some(l) = b.listen_limit {
            line!(self, " bgp listen limit {l}");
        }
        for (a, n) in &b.neighbors {
            self.neighbor(&a.to_string(), n, false);
        }
        for afi in [Afi::Ipv4, Afi::Ipv6] {
            let af = b.af(afi);
            if af.is_empty() {
                continue;
            }
            line!(self, " !");
            line!(self, " address-family {} unicast", afi.name());
            for (p, rm) in &af.networks {
                match rm {
                    Some(r) => line!(self, "  network {p} route-map {r}"),
                    None => line!(self, "  network {p}"),
                }
            }
            for (s, rm) in &af.redistribute {
                match rm {
                    Some(r) => line!(self, "  redistribute {} route-map {r}", s.name()),
                    None => line!(self, "  redistribute {}", s.name()),
                }
            }
            if let Some(m) = af.maximum_paths {
                line!(self, "  maximum-paths {m}");
            }
            if let Some(m) = af.maximum_paths_ibgp {
                line!(self, "  maximum-paths ibgp {m}");
            }
            for (who, n) in &af.neighbors {
                match n.activate {
                    Some(true) => line!(self, "  neighbor {who} activate"),
                    Some(false) => line!(self, "  no neighbor {who} activate"),
                    None => {}
                }
                if n.next_hop_self {
                    line!(self, "  neighbor {who} next-hop-self");
                }
                if n.soft_reconfiguration_inbound {
                    line!(self, "  neighbor {who} soft-reconfiguration inbound");
                }
                if n.default_originate {
                    line!(self, "  neighbor {who} default-originate");
                }
                if n.addpath_tx_all_paths {
                    line!(self, "  neighbor {who} addpath-tx-all-paths");
                }
                if let Some(p) = &n.prefix_list_in {
                    line!(self, "  neighbor {who} prefix-list {p} in");
                }
                if let Some(p) = &n.prefix_list_out {
                    line!(self, "  neighbor {who} prefix-list {p} out");
                }
                if let Some(r) = &n.route_map_in {
                    line!(self, "  neighbor {who} route-map {r} in");
                }
                if let Some(r) = &n.route_map_out {
                    line!(self, "  neighbor {who} route-map {r} out");
                }
                if let Some(m) = &n.maximum_prefix {
                    line!(self, "  neighbor {who} maximum-prefix {}", m.args());
                }
            }
            line!(self, " exit-address-family");
        }
        line!(self, "!");
    }
}
