//! Virtual-Template tunnels (IOS FlexVPN) and IKEv2 configuration
//! payloads (RFC 7296 3.15).
//!
//! A tunnel with [`TunnelConfig::virtual_template`] is a template: each
//! peer it authenticates gets a tunnel of its own, `Virtual-AccessN`,
//! a copy of the template under that name, which lives as long as the
//! peer has an IKE SA on it. A peer that comes back (a restart with
//! INITIAL_CONTACT, a second IKE SA) while its tunnel lives gets the same
//! one. Numbers are reused lowest first, as IOS does.
//!
//! A responder tunnel with a pool hands each peer that asks (a CFG_REQUEST
//! with INTERNAL_IP4_ADDRESS / INTERNAL_IP6_ADDRESS) an address, and the
//! configured routes as INTERNAL_IP4_SUBNET / INTERNAL_IP6_SUBNET. The
//! lease belongs to the tunnel and returns to the pool when the tunnel's
//! last IKE SA goes; a peer that comes back gets its old address again
//! when it is still free (as strongSwan's pools do). An initiator with
//! `request4`/`request6` asks for an address and keeps what it is given
//! (and the routes) for the Child SAs it hands to the data plane.

use super::config::{Identity, PoolRange, TunnelConfig};
use super::engine::{Engine, TunnelRt, TunnelStatus};
use super::msg::{Msg, Pl};
use crate::wire::{CfgAttrType, CfgAttribute, CfgType, CpPayload};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

/// What configuration payloads settled for a tunnel.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CpResult {
    /// As responder: the addresses we gave the peer.
    pub peer_addresses: Vec<(IpAddr, u8)>,
    /// As initiator: the addresses the responder gave us.
    pub local_addresses: Vec<(IpAddr, u8)>,
    /// The routes the peer gave (INTERNAL_IP4_SUBNET / INTERNAL_IP6_SUBNET):
    /// as initiator, the responder's reply; as responder, the initiator's
    /// request (IOS: the spoke's `route set interface`).
    pub routes: Vec<(IpAddr, u8)>,
}

/// One pool's leases.
#[derive(Debug)]
struct Pool {
    range: PoolRange,
    /// Offsets at and past this were never handed out.
    next_unused: u32,
    /// Offsets in use.
    online: HashSet<u32>,
    /// Offsets given back, with the peer that had them.
    offline: HashMap<u32, Vec<u8>>,
    /// Each peer's last offset.
    owner: HashMap<Vec<u8>, u32>,
}

impl Pool {
    fn new(range: PoolRange) -> Pool {
        Pool {
            range,
            next_unused: 0,
            online: HashSet::new(),
            offline: HashMap::new(),
            owner: HashMap::new(),
        }
    }

    /// An offset for `who`: the one asked for (`want`) if it is free and
    /// not someone else's from before, else theirs from before if free,
    /// else a never used one, else one given back by someone else.
    fn lease(&mut self, who: &[u8], want: Option<u32>) -> Option<u32> {
        let free = |p: &Pool, o: u32| o < p.range.size() && !p.online.contains(&o);
        let mine = self.owner.get(who).copied();
        let pick = want
            .filter(|&o| free(self, o) && (mine == Some(o) || !self.offline.contains_key(&o)))
            .or(mine.filter(|&o| free(self, o)))
            .or_else(|| {
                // Never used, skipping what was handed out on request.
                while self.next_unused < self.range.size()
                    && self.online.contains(&self.next_unused)
                {
                    self.next_unused += 1;
                }
                (self.next_unused < self.range.size()).then(|| {
                    self.next_unused += 1;
                    self.next_unused - 1
                })
            })
            .or_else(|| self.offline.keys().next().copied())?;
        if let Some(prev) = self.offline.remove(&pick) {
            if prev != who {
                self.owner.remove(&prev);
            }
        }
        self.online.insert(pick);
        self.owner.insert(who.to_vec(), pick);
        Some(pick)
    }

    fn release(&mut self, off: u32, who: &[u8]) {
        if self.online.remove(&off) {
            self.offline.insert(off, who.to_vec());
        }
    }

    /// The offset of `addr` in this pool.
    fn offset_of(&self, addr: IpAddr) -> Option<u32> {
        match (self.range, addr) {
            (PoolRange::V4 { first, .. }, IpAddr::V4(a)) => {
                let o = u32::from(a).checked_sub(u32::from(first))?;
                (o < self.range.size()).then_some(o)
            }
            (
                PoolRange::V6 {
                    prefix, assign_len, ..
                },
                IpAddr::V6(a),
            ) => {
                let shift = 128u32.checked_sub(u32::from(assign_len))?;
                let d = u128::from(a).checked_sub(u128::from(prefix))?;
                let o = if shift >= 128 { 0 } else { d >> shift };
                let o = u32::try_from(o).ok()?;
                (o < self.range.size()).then_some(o)
            }
            _ => None,
        }
    }
}

/// A Virtual-Access tunnel: the template's configuration under the
/// instance's name, and whom it serves.
#[derive(Debug)]
struct Instance {
    cfg: TunnelConfig,
    number: u32,
    /// The template's tunnel name.
    template: String,
    /// The peer's identity, encoded (type and data).
    peer: Vec<u8>,
}

/// Virtual-Access tunnels, pools and what configuration payloads gave.
#[derive(Debug, Default)]
pub(crate) struct VtState {
    instances: HashMap<String, Instance>,
    /// (template name, peer) -> instance name.
    by_peer: HashMap<(String, Vec<u8>), String>,
    /// Virtual-Access numbers given back, below `next`.
    free: BTreeSet<u32>,
    next: u32,
    pools: HashMap<String, Pool>,
    /// Tunnel -> (pool name, offset, peer) of each lease it holds.
    leases: HashMap<String, Vec<(String, u32, Vec<u8>)>>,
    /// Tunnel -> what configuration payloads settled.
    cp: HashMap<String, CpResult>,
}

/// The prefix of a Virtual-Access tunnel's name.
pub const VIRTUAL_ACCESS: &str = "Virtual-Access";

fn peer_key(rid: Option<&Identity>) -> Vec<u8> {
    rid.map(|r| {
        let (t, mut d) = r.encode();
        d.insert(0, t);
        d
    })
    .unwrap_or_default()
}

impl VtState {
    /// The configuration of a Virtual-Access tunnel.
    pub(crate) fn instance_cfg(&self, name: &str) -> Option<&TunnelConfig> {
        self.instances.get(name).map(|i| &i.cfg)
    }

    /// The Virtual-Access tunnels cloned from template `template`.
    pub(crate) fn instances_of(&self, template: &str) -> Vec<String> {
        self.instances
            .iter()
            .filter(|(_, i)| i.template == template)
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// What configuration payloads gave tunnel `name`.
    pub(crate) fn cp_of(&self, name: &str) -> Option<&CpResult> {
        self.cp.get(name)
    }

    /// How many Virtual-Access tunnels exist.
    #[cfg(test)]
    pub(crate) fn instance_count(&self) -> usize {
        self.instances.len()
    }

    /// Keep the leases of pools whose range did not change; others start
    /// empty (their tunnels changed with them and were torn down).
    pub(crate) fn sync_pools(&mut self, tunnels: &[TunnelConfig]) {
        let mut want: HashMap<String, PoolRange> = HashMap::new();
        for t in tunnels {
            for (name, range) in [&t.cp.pool4, &t.cp.pool6].into_iter().flatten() {
                want.insert(name.clone(), *range);
            }
        }
        self.pools.retain(|n, p| want.get(n) == Some(&p.range));
        for (n, r) in want {
            self.pools.entry(n).or_insert_with(|| Pool::new(r));
        }
    }
}

impl Engine {
    /// The Virtual-Access tunnel of template `t` for the peer `rid`: the
    /// one it has, or a new one (lowest free number).
    pub(crate) fn instantiate(
        &mut self,
        t: &TunnelConfig,
        rid: Option<&Identity>,
        now: Instant,
    ) -> TunnelConfig {
        let peer = peer_key(rid);
        let key = (t.name.clone(), peer.clone());
        if let Some(cfg) = self
            .vt
            .by_peer
            .get(&key)
            .and_then(|n| self.vt.instance_cfg(n))
        {
            return cfg.clone();
        }
        let number = match self.vt.free.pop_first() {
            Some(n) => n,
            None => {
                self.vt.next += 1;
                self.vt.next
            }
        };
        let name = format!("{VIRTUAL_ACCESS}{number}");
        let mut cfg = t.clone();
        cfg.name = name.clone();
        self.logf(format!(
            "{}: peer {} gets {name}",
            t.name,
            rid.map(|r| r.to_string()).unwrap_or_default()
        ));
        self.vt.by_peer.insert(key, name.clone());
        self.vt.instances.insert(
            name.clone(),
            Instance {
                cfg: cfg.clone(),
                number,
                template: t.name.clone(),
                peer,
            },
        );
        self.tunnels.insert(
            name,
            TunnelRt {
                status: TunnelStatus::Negotiating,
                since: now,
                retry_at: None,
                backoff: Duration::from_secs(1),
                last_down: None,
            },
        );
        cfg
    }

    /// Tunnel `name` may have lost its last IKE SA: if so, its leases go
    /// back to their pools and, if it is a Virtual-Access, it is gone.
    pub(crate) fn tunnel_released(&mut self, name: &str) {
        if self.sas.any_of_tunnel(name, |_| true) {
            return;
        }
        for (pool, off, who) in self.vt.leases.remove(name).unwrap_or_default() {
            if let Some(p) = self.vt.pools.get_mut(&pool) {
                p.release(off, &who);
            }
        }
        if let Some(i) = self.vt.instances.remove(name) {
            self.vt.by_peer.remove(&(i.template, i.peer));
            self.vt.cp.remove(name);
            self.tunnels.remove(name);
            if i.number == self.vt.next {
                self.vt.next -= 1;
                while self.vt.next > 0 && self.vt.free.remove(&self.vt.next) {
                    self.vt.next -= 1;
                }
            } else {
                self.vt.free.insert(i.number);
            }
            self.logf(format!("{name}: no IKE SA left, removed"));
        }
    }

    /// As responder: the CFG_REPLY for the request in `msg` (None when the
    /// peer asked nothing), leasing addresses for tunnel `t`; or why the
    /// peer cannot have one.
    pub(crate) fn cp_answer(
        &mut self,
        t: &TunnelConfig,
        rid: Option<&Identity>,
        msg: &Msg,
    ) -> Result<Option<Pl>, String> {
        let Some(req) = msg.payloads.iter().find_map(|p| match p {
            Pl::Cp(c) if c.cfg_type == CfgType::CFG_REQUEST => Some(c),
            _ => None,
        }) else {
            return Ok(None);
        };
        let who = peer_key(rid);
        let mut attributes = Vec::new();
        let mut result = CpResult::default();
        for (want_type, pool) in [
            (CfgAttrType::INTERNAL_IP4_ADDRESS, &t.cp.pool4),
            (CfgAttrType::INTERNAL_IP6_ADDRESS, &t.cp.pool6),
        ] {
            let Some(asked) = req.attributes.iter().find(|a| a.attr_type == want_type) else {
                continue;
            };
            let Some((pname, _)) = pool else { continue };
            let held = self
                .vt
                .leases
                .get(&t.name)
                .and_then(|l| l.iter().find(|(p, _, _)| p == pname).map(|(_, o, _)| *o));
            let Some(p) = self.vt.pools.get_mut(pname) else {
                continue;
            };
            let off = match held {
                Some(o) => o,
                None => {
                    let want = requested(&asked.value).and_then(|a| p.offset_of(a));
                    let Some(o) = p.lease(&who, want) else {
                        return Err(format!(
                            "pool {pname} exhausted: all {} addresses in use",
                            p.range.size()
                        ));
                    };
                    self.vt.leases.entry(t.name.clone()).or_default().push((
                        pname.clone(),
                        o,
                        who.clone(),
                    ));
                    o
                }
            };
            let Some((addr, len)) = p.range.nth(off) else {
                continue;
            };
            attributes.push(address_attr(addr, len));
            result.peer_addresses.push((addr, len));
        }
        for &(net, len) in &t.cp.routes {
            attributes.push(subnet_attr(net, len));
        }
        // The initiator's own routes (IOS: `route set interface` on the
        // spoke's authorization policy).
        result.routes = subnets(&req.attributes);
        self.vt.cp.insert(t.name.clone(), result);
        Ok(Some(Pl::Cp(CpPayload {
            cfg_type: CfgType::CFG_REPLY,
            attributes,
        })))
    }

    /// As initiator: the CFG_REQUEST for tunnel `t`, if it asks for an
    /// address or offers routes of its own. A tunnel that was given an
    /// address before asks for it again (RFC 7296 3.15.1; strongSwan
    /// asks for its previous virtual IP likewise): a responder that
    /// restarted, its pool empty, then hands every spoke back the address
    /// it had, whatever order they return in, and sessions bound to those
    /// addresses (BGP) find them where they were.
    pub(crate) fn cp_request(&self, t: &TunnelConfig) -> Option<Pl> {
        let before = self
            .vt
            .cp
            .get(&t.name)
            .map(|r| r.local_addresses.as_slice())
            .unwrap_or_default();
        // What we had, encoded as the responder encodes it; empty: any.
        let asked = |v6: bool, attr_type: CfgAttrType| CfgAttribute {
            attr_type,
            value: before
                .iter()
                .find(|(a, _)| a.is_ipv6() == v6)
                .map(|&(a, len)| address_attr(a, len).value)
                .unwrap_or_default(),
        };
        let mut attributes = Vec::new();
        if t.cp.request4 {
            attributes.push(asked(false, CfgAttrType::INTERNAL_IP4_ADDRESS));
        }
        if t.cp.request6 {
            attributes.push(asked(true, CfgAttrType::INTERNAL_IP6_ADDRESS));
        }
        for &(net, len) in &t.cp.routes {
            attributes.push(subnet_attr(net, len));
        }
        (!attributes.is_empty()).then_some(Pl::Cp(CpPayload {
            cfg_type: CfgType::CFG_REQUEST,
            attributes,
        }))
    }

    /// As initiator: keep what the responder's CFG_REPLY gave tunnel `t`.
    pub(crate) fn cp_received(&mut self, t: &TunnelConfig, msg: &Msg) {
        if self.cp_request(t).is_none() {
            return;
        }
        let mut r = CpResult::default();
        let reply = msg.payloads.iter().find_map(|p| match p {
            Pl::Cp(c) if c.cfg_type == CfgType::CFG_REPLY => Some(c),
            _ => None,
        });
        let attrs = reply.map(|c| c.attributes.as_slice()).unwrap_or_default();
        for a in attrs {
            let v = a.value.as_slice();
            match (a.attr_type, v.len()) {
                (CfgAttrType::INTERNAL_IP4_ADDRESS, 4) => {
                    r.local_addresses.push((IpAddr::V4(v4(v)), 32));
                }
                (CfgAttrType::INTERNAL_IP6_ADDRESS, 17) if v[16] <= 128 => {
                    r.local_addresses.push((IpAddr::V6(v6(v)), v[16]));
                }
                _ => {}
            }
        }
        r.routes = subnets(attrs);
        if !t.cp.request4 && !t.cp.request6 {
            // Only routes were offered.
        } else if r.local_addresses.is_empty() {
            self.logf(format!(
                "{}: asked for an address (ip address negotiated), the responder gave none",
                t.name
            ));
        } else {
            let list: Vec<String> = r
                .local_addresses
                .iter()
                .map(|(a, l)| format!("{a}/{l}"))
                .collect();
            self.logf(format!(
                "{}: responder assigned {} and {} route(s)",
                t.name,
                list.join(", "),
                r.routes.len()
            ));
        }
        self.vt.cp.insert(t.name.clone(), r);
    }
}

/// The INTERNAL_IP4_SUBNET / INTERNAL_IP6_SUBNET routes among `attrs`
/// (a malformed one is skipped).
fn subnets(attrs: &[CfgAttribute]) -> Vec<(IpAddr, u8)> {
    let mut out = Vec::new();
    for a in attrs {
        let v = a.value.as_slice();
        match (a.attr_type, v.len()) {
            (CfgAttrType::INTERNAL_IP4_SUBNET, 8) => {
                let mask = u32::from(v4(&v[4..]));
                if mask.leading_ones() + mask.trailing_zeros() == 32 {
                    out.push((IpAddr::V4(v4(v)), mask.leading_ones() as u8));
                }
            }
            (CfgAttrType::INTERNAL_IP6_SUBNET, 17) if v[16] <= 128 => {
                out.push((IpAddr::V6(v6(v)), v[16]));
            }
            _ => {}
        }
    }
    out
}

/// The address a request asks for, if it names one (strongSwan asks for
/// its previous address again).
fn requested(v: &[u8]) -> Option<IpAddr> {
    match v.len() {
        4 => Some(IpAddr::V4(v4(v))).filter(|a| !a.is_unspecified()),
        17 => Some(IpAddr::V6(v6(v))).filter(|a| !a.is_unspecified()),
        _ => None,
    }
}

fn v4(v: &[u8]) -> Ipv4Addr {
    Ipv4Addr::new(v[0], v[1], v[2], v[3])
}

fn v6(v: &[u8]) -> Ipv6Addr {
    let mut o = [0u8; 16];
    o.copy_from_slice(&v[..16]);
    Ipv6Addr::from(o)
}

fn address_attr(a: IpAddr, len: u8) -> CfgAttribute {
    match a {
        IpAddr::V4(a) => CfgAttribute::ipv4_address(a),
        IpAddr::V6(a) => {
            let mut value = a.octets().to_vec();
            value.push(len);
            CfgAttribute {
                attr_type: CfgAttrType::INTERNAL_IP6_ADDRESS,
                value,
            }
        }
    }
}

fn subnet_attr(net: IpAddr, len: u8) -> CfgAttribute {
    match net {
        IpAddr::V4(a) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(len.min(32)))
                .unwrap_or(0);
            let mut value = a.octets().to_vec();
            value.extend_from_slice(&mask.to_be_bytes());
            CfgAttribute {
                attr_type: CfgAttrType::INTERNAL_IP4_SUBNET,
                value,
            }
        }
        IpAddr::V6(a) => {
            let mut value = a.octets().to_vec();
            value.push(len.min(128));
            CfgAttribute {
                attr_type: CfgAttrType::INTERNAL_IP6_SUBNET,
                value,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4pool(a: &str, b: &str) -> Pool {
        Pool::new(PoolRange::V4 {
            first: a.parse().unwrap(),
            last: b.parse().unwrap(),
        })
    }

    #[test]
    fn leases_are_unique_and_a_returning_peer_gets_its_address_back() {
        let mut p = v4pool("10.0.0.1", "10.0.0.3");
        let a = p.lease(b"a", None).unwrap();
        let b = p.lease(b"b", None).unwrap();
        let c = p.lease(b"c", None).unwrap();
        assert_eq!((a, b, c), (0, 1, 2));
        assert_eq!(p.lease(b"d", None), None, "exhausted");
        p.release(b, b"b");
        // b comes back: same address.
        assert_eq!(p.lease(b"b", None), Some(1));
        p.release(a, b"a");
        // Someone new takes a's old address when nothing else is left...
        assert_eq!(p.lease(b"d", None), Some(0));
        p.release(0, b"d");
        // ...and a no longer owns it, but gets it again since it is free.
        assert_eq!(p.lease(b"a", None), Some(0));
    }

    #[test]
    fn a_requested_address_is_honoured_only_when_free() {
        let mut p = v4pool("10.0.0.1", "10.0.0.10");
        assert_eq!(p.lease(b"a", Some(5)), Some(5));
        assert_eq!(p.lease(b"b", Some(5)), Some(0), "taken: another one");
        assert_eq!(p.lease(b"c", None), Some(1));
        for _ in 2..5 {
            p.lease(b"x", None).unwrap();
        }
        assert_eq!(p.lease(b"y", None), Some(6), "5 is skipped: in use");
        assert_eq!(p.offset_of("10.0.0.6".parse().unwrap()), Some(5));
        assert_eq!(p.offset_of("10.0.0.11".parse().unwrap()), None);
        assert_eq!(p.offset_of("::1".parse().unwrap()), None);
    }

    #[test]
    fn ipv6_pools_cut_prefixes() {
        let r = PoolRange::V6 {
            prefix: "2001:db8::".parse().unwrap(),
            len: 48,
            assign_len: 64,
        };
        assert_eq!(r.size(), 65536);
        assert_eq!(r.nth(1), Some(("2001:db8:0:1::1".parse().unwrap(), 64)));
        let p = Pool::new(r);
        assert_eq!(p.offset_of("2001:db8:0:1::1".parse().unwrap()), Some(1));
        let one = PoolRange::V6 {
            prefix: "2001:db8::".parse().unwrap(),
            len: 120,
            assign_len: 128,
        };
        assert_eq!(one.nth(5), Some(("2001:db8::5".parse().unwrap(), 128)));
    }

    #[test]
    fn subnet_attributes_carry_masks() {
        let a = subnet_attr("10.1.0.0".parse().unwrap(), 16);
        assert_eq!(a.value, vec![10, 1, 0, 0, 255, 255, 0, 0]);
        let h = subnet_attr("10.1.0.1".parse().unwrap(), 32);
        assert_eq!(&h.value[4..], &[255, 255, 255, 255]);
        let z = subnet_attr("0.0.0.0".parse().unwrap(), 0);
        assert_eq!(&z.value[4..], &[0, 0, 0, 0]);
    }
}
