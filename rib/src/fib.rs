//! The kernel FIB over rtnetlink (issue 6): installs what the `rib`
//! crate selected, marked with rvpn's own route protocol number
//! ([`RTPROT_RVPN`]) so that a restart can find and remove its stale
//! routes without ever touching anyone else's.
//!
//! Two ways to say where a route goes ([`Mode`]):
//! - kernel nexthop objects (RTM_NEWNEXTHOP, Linux 5.3+), used when the
//!   kernel accepts them (probed once at open): one object per distinct
//!   resolved next hop (gateway, interface), one group object per
//!   distinct ECMP set, all with protocol [`RTPROT_RVPN`] and reference
//!   counted; a route names its object with RTA_NH_ID, so a route write
//!   is small and an ECMP set is written once, not once per route.
//!   Objects no route uses any more are deleted.
//! - RTA_MULTIPATH (the fallback, or [`Mode::Multipath`]): an ECMP set
//!   goes in as one route with its next hops inline; a single next hop as
//!   a plain route; an IPv4 route through an IPv6 next hop (RFC 8950)
//!   with RTA_VIA.
//!
//! Writes are batched (see `nl.rs`): hundreds of requests per `sendmsg`,
//! only refusals answered, so installing a million routes is bounded by
//! the kernel, not by round trips. Every route write is a replace, so
//! applying a change twice is harmless. A refused write is logged and
//! returned with the kernel's reason, per prefix, to be retried.
//!
//! The kernel removes nexthop objects by itself when their interface goes
//! down (with the routes that use them) and shrinks the groups that held
//! them, without a nexthop notification: a socket subscribed to link and
//! nexthop notifications makes the writer compare its objects with a
//! dump after any link change, and stop using the ones that are gone or
//! changed (new ones are made for the next routes that need them; the
//! old ones are deleted once unused).

mod nl;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use crate::{FibChange, Resolved, Selected};
use futures::TryStreamExt;
use ipnetwork::IpNetwork;
use nl::{Msg, Nl, Seen, Watch};
use rtnetlink::packet_core::Emitable;
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteMessage, RouteScope, RouteType,
};
use rtnetlink::{Handle, RouteMessageBuilder};

/// rvpn's route protocol number (`ip route ... proto 202`), also on its
/// nexthop objects. FRR's daemons use 186-198 (196 is its staticd), BIRD
/// 12, the kernel's own are below 20; 202 is in none of iproute2's or
/// FRR's tables, so a restart's reconcile never removes another daemon's
/// routes or objects.
pub const RTPROT_RVPN: u8 = 202;

const AF_INET: u8 = libc::AF_INET as u8;
const AF_INET6: u8 = libc::AF_INET6 as u8;
const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_NEWROUTE: u16 = 24;
const RTM_DELROUTE: u16 = 25;
const RTM_NEWNEXTHOP: u16 = 104;
const RTM_DELNEXTHOP: u16 = 105;
const RTM_GETNEXTHOP: u16 = 106;
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_MULTIPATH: u16 = 9;
const RTA_VIA: u16 = 18;
const RTA_NH_ID: u16 = 30;
const NHA_ID: u16 = 1;
const NHA_GROUP: u16 = 2;
const NHA_BLACKHOLE: u16 = 4;
const NHA_OIF: u16 = 5;
const NHA_GATEWAY: u16 = 6;
const RT_TABLE_MAIN: u8 = 254;
const RTN_UNICAST: u8 = 1;
const RTN_BLACKHOLE: u8 = 6;
const RT_SCOPE_NOWHERE: u8 = 255;

fn nl_err(e: rtnetlink::Error) -> String {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.to_io().to_string(),
        other => other.to_string(),
    }
}

/// How routes name their next hops in the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Nexthop objects if the kernel accepts them, else RTA_MULTIPATH.
    Auto,
    /// Kernel nexthop objects and groups (RTA_NH_ID); opening fails if
    /// the kernel refuses them.
    NexthopObjects,
    /// Next hops inline in each route (RTA_GATEWAY / RTA_VIA /
    /// RTA_MULTIPATH), as kernels before 5.3 need.
    Multipath,
}

/// A resolved next hop with its interface index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hop {
    Via {
        gateway: Option<IpAddr>,
        ifindex: u32,
    },
    Blackhole,
}

/// What a nexthop object is (its identity for sharing).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum NhKey {
    Hop {
        family: u8,
        gateway: Option<IpAddr>,
        ifindex: u32,
    },
    Blackhole {
        family: u8,
    },
    /// Member object ids, sorted.
    Group(Vec<u32>),
}

#[derive(Debug)]
struct NhObj {
    key: NhKey,
    /// Routes naming it, plus (for a single next hop) groups holding it.
    refs: u32,
}

/// rvpn's nexthop objects in the kernel.
#[derive(Debug, Default)]
struct Objects {
    by_id: HashMap<u32, NhObj>,
    /// The objects new routes may use (an object the kernel changed or
    /// removed on its own is only in `by_id`, until it is unused).
    by_key: HashMap<NhKey, u32>,
    /// Ids are never reused within a run (a late notification about an
    /// old object must not hit a new one), and skip the ones found in
    /// the kernel at open.
    next_id: u32,
    taken: std::collections::HashSet<u32>,
    /// Objects that may have become unused.
    garbage: BTreeSet<u32>,
}

impl Objects {
    fn alloc(&mut self) -> Option<u32> {
        for _ in 0..1_000_000 {
            self.next_id = self.next_id.wrapping_add(1).max(1);
            let id = self.next_id;
            if !self.taken.contains(&id) && !self.by_id.contains_key(&id) {
                return Some(id);
            }
        }
        None
    }
    fn acquire(&mut self, id: u32) {
        if let Some(o) = self.by_id.get_mut(&id) {
            o.refs += 1;
        }
    }
    fn release(&mut self, id: u32) {
        if let Some(o) = self.by_id.get_mut(&id) {
            o.refs = o.refs.saturating_sub(1);
            if o.refs == 0 {
                self.garbage.insert(id);
            }
        }
    }
    /// Stops using `id` for new routes (the kernel removed or changed it).
    fn retire(&mut self, id: u32) {
        if let Some(o) = self.by_id.get(&id) {
            if self.by_key.get(&o.key) == Some(&id) {
                self.by_key.remove(&o.key);
            }
            if o.refs == 0 {
                self.garbage.insert(id);
            }
        }
    }
}

/// A nexthop object as a dump or notification shows it.
struct KernelNh {
    id: u32,
    protocol: u8,
    group: Option<Vec<u32>>,
}

fn parse_nh(payload: &[u8]) -> Option<KernelNh> {
    let protocol = *payload.get(2)?;
    let mut id = None;
    let mut group = None;
    for (kind, data) in nl::attrs(payload.get(8..)?) {
        match kind {
            NHA_ID => id = nl::u32_at(data, 0),
            NHA_GROUP => {
                let mut g: Vec<u32> = data
                    .chunks_exact(8)
                    .filter_map(|c| nl::u32_at(c, 0))
                    .collect();
                g.sort_unstable();
                group = Some(g);
            }
            _ => {}
        }
    }
    Some(KernelNh {
        id: id?,
        protocol,
        group,
    })
}

fn nhmsg(family: u8) -> [u8; 8] {
    [family, 0, RTPROT_RVPN, 0, 0, 0, 0, 0]
}

fn nh_dump_msg() -> Vec<u8> {
    // A dump request's header must be all zero.
    Msg::new(RTM_GETNEXTHOP, nl::NLM_F_DUMP).raw(&[0; 8]).done()
}

fn nh_del_msg(id: u32) -> Vec<u8> {
    Msg::new(RTM_DELNEXTHOP, 0)
        .raw(&[0; 8])
        .attr(NHA_ID, &id.to_ne_bytes())
        .done()
}

fn ip_bytes(a: &IpAddr) -> Vec<u8> {
    match a {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

fn nh_new_msg(id: u32, key: &NhKey) -> Vec<u8> {
    let m = Msg::new(RTM_NEWNEXTHOP, nl::NLM_F_CREATE | nl::NLM_F_EXCL);
    match key {
        NhKey::Hop {
            family,
            gateway,
            ifindex,
        } => {
            let mut m = m.raw(&nhmsg(*family)).attr(NHA_ID, &id.to_ne_bytes());
            if let Some(g) = gateway {
                m = m.attr(NHA_GATEWAY, &ip_bytes(g));
            }
            m.attr(NHA_OIF, &ifindex.to_ne_bytes()).done()
        }
        NhKey::Blackhole { family } => m
            .raw(&nhmsg(*family))
            .attr(NHA_ID, &id.to_ne_bytes())
            .attr(NHA_BLACKHOLE, &[])
            .done(),
        NhKey::Group(members) => {
            // struct nexthop_grp { u32 id; u8 weight (minus one); u8; u16 }
            let mut g = Vec::with_capacity(members.len() * 8);
            for m in members {
                g.extend_from_slice(&m.to_ne_bytes());
                g.extend_from_slice(&[0; 4]);
            }
            m.raw(&nhmsg(0))
                .attr(NHA_ID, &id.to_ne_bytes())
                .attr(NHA_GROUP, &g)
                .done()
        }
    }
}

fn family_of(p: &IpNetwork) -> u8 {
    if p.is_ipv4() {
        AF_INET
    } else {
        AF_INET6
    }
}

/// struct rtmsg for a route of rvpn in the main table.
fn rtmsg(p: &IpNetwork, scope: u8, kind: u8) -> [u8; 12] {
    [
        family_of(p),
        p.prefix(),
        0,
        0,
        RT_TABLE_MAIN,
        RTPROT_RVPN,
        scope,
        kind,
        0,
        0,
        0,
        0,
    ]
}

/// Appends a route message of rvpn for `p` in the main table: rtmsg,
/// RTA_DST, then `tail` (the attributes saying where it goes).
fn put_route(buf: &mut Vec<u8>, kind: u16, flags: u16, p: &IpNetwork, rtype: u8, tail: &[u8]) {
    let at = buf.len();
    buf.extend_from_slice(&0u32.to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(&(flags | nl::NLM_F_REQUEST).to_ne_bytes());
    buf.extend_from_slice(&[0; 8]);
    // Deletes leave the type unspecified (a blackhole route must match
    // too) and the scope "nowhere", as `ip route del` does.
    let scope = if kind == RTM_DELROUTE {
        RT_SCOPE_NOWHERE
    } else {
        0
    };
    buf.extend_from_slice(&rtmsg(p, scope, rtype));
    nl::put_attr(buf, RTA_DST, &ip_bytes(&p.network()));
    buf.extend_from_slice(tail);
    let len = (buf.len() - at) as u32;
    if let Some(h) = buf.get_mut(at..at + 4) {
        h.copy_from_slice(&len.to_ne_bytes());
    }
}

/// RTA_GATEWAY, or RTA_VIA for a gateway of the other family.
fn put_gateway(buf: &mut Vec<u8>, v4_route: bool, g: &IpAddr) {
    if v4_route == g.is_ipv4() {
        nl::put_attr(buf, RTA_GATEWAY, &ip_bytes(g));
    } else {
        let family = u16::from(if g.is_ipv4() { AF_INET } else { AF_INET6 });
        let mut via = family.to_ne_bytes().to_vec();
        via.extend_from_slice(&ip_bytes(g));
        nl::put_attr(buf, RTA_VIA, &via);
    }
}

/// The route type and the attributes after RTA_DST of a route with its
/// next hops inline (RTA_MULTIPATH mode).
fn inline_tail(v4_route: bool, hops: &[Hop]) -> Result<(u8, Vec<u8>), String> {
    if hops.contains(&Hop::Blackhole) {
        return Ok((RTN_BLACKHOLE, Vec::new()));
    }
    let vias: Vec<(Option<IpAddr>, u32)> = hops
        .iter()
        .filter_map(|h| match h {
            Hop::Via { gateway, ifindex } => Some((*gateway, *ifindex)),
            Hop::Blackhole => None,
        })
        .collect();
    let mut t = Vec::new();
    match vias.as_slice() {
        [] => return Err("no next hop".into()),
        [(gw, oif)] => {
            nl::put_attr(&mut t, RTA_OIF, &oif.to_ne_bytes());
            if let Some(g) = gw {
                put_gateway(&mut t, v4_route, g);
            }
        }
        many => {
            // struct rtnexthop { u16 len; u8 flags; u8 hops; i32 ifindex }
            // and its attributes, per next hop.
            let mut mp = Vec::new();
            for (gw, oif) in many {
                let mut inner = Vec::new();
                if let Some(g) = gw {
                    put_gateway(&mut inner, v4_route, g);
                }
                mp.extend_from_slice(&((8 + inner.len()) as u16).to_ne_bytes());
                mp.extend_from_slice(&[0, 0]);
                mp.extend_from_slice(&oif.to_ne_bytes());
                mp.extend_from_slice(&inner);
            }
            nl::put_attr(&mut t, RTA_MULTIPATH, &mp);
        }
    }
    Ok((RTN_UNICAST, t))
}

fn emit_route(kind: u16, flags: u16, m: &RouteMessage) -> Vec<u8> {
    let mut body = vec![0u8; m.buffer_len()];
    m.emit(&mut body);
    Msg::new(kind, flags).raw(&body).done()
}

/// The object key of each next hop of a route (IPv4 or not), or None
/// where the kernel's objects cannot express it (an IPv6 route through
/// an IPv4 gateway: left to the inline form, which refuses it with a
/// reason).
fn keys_of(v4_route: bool, hops: &[Hop]) -> Option<Vec<NhKey>> {
    let route_family = if v4_route { AF_INET } else { AF_INET6 };
    if hops.contains(&Hop::Blackhole) {
        return Some(vec![NhKey::Blackhole {
            family: route_family,
        }]);
    }
    hops.iter()
        .map(|h| match h {
            Hop::Blackhole => None,
            Hop::Via { gateway, ifindex } => {
                let family = match gateway {
                    None => route_family,
                    Some(IpAddr::V6(_)) => AF_INET6,
                    Some(IpAddr::V4(_)) if route_family == AF_INET => AF_INET,
                    Some(IpAddr::V4(_)) => return None,
                };
                Some(NhKey::Hop {
                    family,
                    gateway: *gateway,
                    ifindex: *ifindex,
                })
            }
        })
        .collect()
}

/// How the routes through one distinct next-hop set are written.
struct SetPlan {
    /// Route type and the attributes after RTA_DST; or why not.
    tail: Result<(u8, Vec<u8>), String>,
    /// The nexthop object the routes name (0: inline next hops).
    target: u32,
    /// The inline form of an IPv4 route through an IPv6 object, for a
    /// kernel that refuses the object in an IPv4 route.
    fallback: Option<(u8, Vec<u8>)>,
}

/// Books a route write before its answer (undone if refused): the
/// kernel-side map and refcounts, the installed view. Returns the object
/// the route named before (None: no route).
fn book_set(
    objs: &mut Objects,
    kernel: &mut HashMap<IpNetwork, u32>,
    installed: &mut BTreeMap<IpNetwork, Selected>,
    (p, sel, target): (&IpNetwork, &Selected, u32),
) -> Option<u32> {
    if target != 0 {
        objs.acquire(target);
    }
    let old = kernel.insert(*p, target);
    if let Some(o) = old.filter(|o| *o != 0) {
        objs.release(o);
    }
    installed.insert(*p, sel.clone());
    old
}

/// Undoes [`book_set`] for a refused write (the kernel keeps what it had).
fn unbook_set(
    objs: &mut Objects,
    kernel: &mut HashMap<IpNetwork, u32>,
    installed: &mut BTreeMap<IpNetwork, Selected>,
    (p, target, old): (&IpNetwork, u32, Option<u32>),
) {
    match old {
        Some(o) => {
            kernel.insert(*p, o);
            if o != 0 {
                objs.acquire(o);
            }
        }
        None => {
            kernel.remove(p);
        }
    }
    if target != 0 {
        objs.release(target);
    }
    installed.remove(p);
}

/// The FIB writer.
pub struct Fib {
    handle: Handle,
    nl: Nl,
    watch: Option<Watch>,
    mode: Mode,
    /// What is in the kernel (as far as we know).
    installed: BTreeMap<IpNetwork, Selected>,
    /// Our routes in the kernel and the object each names (0: none).
    kernel: HashMap<IpNetwork, u32>,
    objs: Objects,
}

/// Whether the kernel takes nexthop objects from us: a dump, then a
/// blackhole object created and deleted. Returns the ids in use.
fn probe() -> Result<std::collections::HashSet<u32>, String> {
    let dump = nl::blocking_dump(&nh_dump_msg()).map_err(|e| format!("nexthop dump: {e}"))?;
    let taken: std::collections::HashSet<u32> = dump
        .iter()
        .filter_map(|p| parse_nh(p))
        .map(|n| n.id)
        .collect();
    let id = taken
        .iter()
        .max()
        .copied()
        .unwrap_or(0)
        .wrapping_add(1)
        .max(1);
    let create = nh_new_msg(id, &NhKey::Blackhole { family: AF_INET });
    let errs =
        nl::blocking_acks(&[create, nh_del_msg(id)]).map_err(|e| format!("nexthop probe: {e}"))?;
    match errs.as_slice() {
        [0, 0] => {
            let mut t = taken;
            t.insert(id);
            Ok(t)
        }
        [e, ..] => Err(format!(
            "nexthop probe refused: {}",
            std::io::Error::from_raw_os_error(*e)
        )),
        [] => Err("nexthop probe: no answer".into()),
    }
}

impl Fib {
    /// Opens a netlink connection in the current network namespace
    /// ([`Mode::Auto`]). Needs a tokio runtime with I/O enabled.
    pub fn open() -> std::io::Result<Fib> {
        Fib::open_with(Mode::Auto)
    }

    /// Opens with a given [`Mode`].
    pub fn open_with(mode: Mode) -> std::io::Result<Fib> {
        let (conn, handle, _) = rtnetlink::new_connection()?;
        tokio::spawn(conn);
        let nl = Nl::open()?;
        let mut objs = Objects::default();
        let mut watch = None;
        let effective = match mode {
            Mode::Multipath => Mode::Multipath,
            Mode::Auto | Mode::NexthopObjects => match probe() {
                Ok(taken) => {
                    objs.next_id = taken.iter().max().copied().unwrap_or(0);
                    objs.taken = taken;
                    watch = Some(Watch::open()?);
                    Mode::NexthopObjects
                }
                Err(e) if mode == Mode::NexthopObjects => {
                    return Err(std::io::Error::other(e));
                }
                Err(e) => {
                    tracing::info!("kernel nexthop objects not used ({e}): routes carry their next hops (RTA_MULTIPATH)");
                    Mode::Multipath
                }
            },
        };
        Ok(Fib {
            handle,
            nl,
            watch,
            mode: effective,
            installed: BTreeMap::new(),
            kernel: HashMap::new(),
            objs,
        })
    }

    /// The mode in use: [`Mode::NexthopObjects`] or [`Mode::Multipath`].
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// What is installed (for `show ip route`'s installed marks).
    pub fn installed(&self) -> &BTreeMap<IpNetwork, Selected> {
        &self.installed
    }

    /// How many nexthop objects of ours are in the kernel.
    pub fn nexthop_objects(&self) -> usize {
        self.objs.by_id.len()
    }

    /// Removes every route with rvpn's protocol that is not in
    /// `installed` (leftovers of an earlier run), then every rvpn nexthop
    /// object this writer did not make; returns how many routes.
    pub async fn reconcile(&mut self) -> Result<usize, String> {
        self.reconcile_counts().await.map(|(r, _)| r)
    }

    /// [`Fib::reconcile`], returning (routes, nexthop objects) removed.
    pub async fn reconcile_counts(&mut self) -> Result<(usize, usize), String> {
        let mut stale: Vec<(Option<IpNetwork>, Vec<u8>)> = Vec::new();
        for v6 in [false, true] {
            let filter = if v6 {
                RouteMessageBuilder::<std::net::Ipv6Addr>::new().build()
            } else {
                RouteMessageBuilder::<std::net::Ipv4Addr>::new().build()
            };
            let mut routes = self.handle.route().get(filter).execute();
            while let Some(m) = routes.try_next().await.map_err(nl_err)? {
                if u8::from(m.header.protocol) != RTPROT_RVPN {
                    continue;
                }
                let dst = m.attributes.iter().find_map(|a| match a {
                    RouteAttribute::Destination(RouteAddress::Inet(a)) => Some(IpAddr::V4(*a)),
                    RouteAttribute::Destination(RouteAddress::Inet6(a)) => Some(IpAddr::V6(*a)),
                    _ => None,
                });
                let len = m.header.destination_prefix_length;
                let prefix = match dst {
                    Some(a) => IpNetwork::new(a, len).ok(),
                    None if v6 => {
                        IpNetwork::new(IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED), 0).ok()
                    }
                    None => IpNetwork::new(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 0).ok(),
                };
                if prefix.is_some_and(|p| !self.installed.contains_key(&p)) {
                    // Delete exactly this route: its table and metric.
                    let mut d = m.clone();
                    d.attributes.retain(|a| {
                        matches!(
                            a,
                            RouteAttribute::Destination(_)
                                | RouteAttribute::Table(_)
                                | RouteAttribute::Priority(_)
                        )
                    });
                    d.header.kind = RouteType::Unspec;
                    d.header.scope = RouteScope::NoWhere;
                    stale.push((prefix, emit_route(RTM_DELROUTE, 0, &d)));
                }
            }
        }
        let msgs: Vec<Vec<u8>> = stale.iter().map(|(_, m)| m.clone()).collect();
        let res = self.nl.write(&msgs);
        let mut routes = 0;
        let mut errors = Vec::new();
        for ((p, _), r) in stale.iter().zip(res) {
            match r {
                Ok(()) => {
                    routes += 1;
                    if let Some(id) = p.and_then(|p| self.kernel.remove(&p)) {
                        self.objs.release(id);
                    }
                }
                Err((libc::ESRCH, _)) => {}
                Err((_, e)) => errors.push(format!(
                    "{}: {e}",
                    p.map(|p| p.to_string()).unwrap_or_default()
                )),
            }
        }
        let mut nhs = 0;
        if self.mode == Mode::NexthopObjects {
            self.collect_garbage();
            let dump = self
                .nl
                .dump(nh_dump_msg())
                .await
                .map_err(|e| format!("nexthop dump: {e}"))?;
            let stale: Vec<KernelNh> = dump
                .iter()
                .filter_map(|p| parse_nh(p))
                .filter(|n| n.protocol == RTPROT_RVPN && !self.objs.by_id.contains_key(&n.id))
                .collect();
            // Groups before their members.
            for groups in [true, false] {
                let ids: Vec<u32> = stale
                    .iter()
                    .filter(|n| n.group.is_some() == groups)
                    .map(|n| n.id)
                    .collect();
                let msgs: Vec<Vec<u8>> = ids.iter().map(|id| nh_del_msg(*id)).collect();
                for (id, r) in ids.iter().zip(self.nl.write(&msgs)) {
                    match r {
                        Ok(()) => nhs += 1,
                        Err((libc::ENOENT, _)) => {}
                        Err((_, e)) => errors.push(format!("nexthop id {id}: {e}")),
                    }
                }
            }
        }
        if routes + nhs > 0 {
            tracing::info!("reconcile: removed {routes} stale routes and {nhs} stale nexthop objects of protocol {RTPROT_RVPN}");
        }
        match errors.first() {
            None => Ok((routes, nhs)),
            Some(e) => Err(format!(
                "reconcile: {} removals refused, first: {e}",
                errors.len()
            )),
        }
    }

    async fn ifindex(&self, name: &str) -> Result<u32, String> {
        let mut links = self
            .handle
            .link()
            .get()
            .match_name(name.to_string())
            .execute();
        let m = links
            .try_next()
            .await
            .map_err(|e| format!("interface {name}: {}", nl_err(e)))?
            .ok_or_else(|| format!("interface {name} does not exist"))?;
        Ok(m.header.index)
    }

    /// The interface index of every interface the changes name.
    async fn ifindexes(&self, changes: &[FibChange]) -> HashMap<String, Result<u32, String>> {
        let mut out: HashMap<String, Result<u32, String>> = HashMap::new();
        for c in changes {
            if let FibChange::Set(_, sel) = c {
                for h in sel.nexthops.iter() {
                    if let Resolved::Via { ifname, .. } = h {
                        if !out.contains_key(ifname) {
                            let r = self.ifindex(ifname).await;
                            out.insert(ifname.clone(), r);
                        }
                    }
                }
            }
        }
        out
    }

    /// Takes note of what the kernel did to our objects on its own.
    async fn observe_kernel(&mut self) {
        let Some(w) = self.watch.as_mut() else {
            return;
        };
        let mut seen: Vec<(u16, KernelNh)> = Vec::new();
        let mut resync = false;
        for s in w.drain() {
            match s {
                // A link changed: its objects may be gone (no nexthop
                // notification says so).
                Seen::Msg(RTM_NEWLINK | RTM_DELLINK, _) => resync = true,
                Seen::Msg(kind, payload) => {
                    if let Some(n) = parse_nh(&payload) {
                        seen.push((kind, n));
                    }
                }
                Seen::Overrun => resync = true,
            }
        }
        if resync {
            // Compare with a fresh dump instead.
            seen.clear();
            match self.nl.dump(nh_dump_msg()).await {
                Ok(dump) => {
                    let present: HashMap<u32, KernelNh> = dump
                        .iter()
                        .filter_map(|p| parse_nh(p))
                        .map(|n| (n.id, n))
                        .collect();
                    let ours: Vec<u32> = self.objs.by_id.keys().copied().collect();
                    for id in ours {
                        if !present.contains_key(&id) {
                            self.objs.retire(id);
                        }
                    }
                    seen.extend(present.into_values().map(|n| (RTM_NEWNEXTHOP, n)));
                }
                Err(e) => {
                    tracing::warn!("nexthop dump: {e}: not reusing any nexthop object");
                    let ours: Vec<u32> = self.objs.by_id.keys().copied().collect();
                    for id in ours {
                        self.objs.retire(id);
                    }
                }
            }
        }
        for (kind, n) in seen {
            let Some(o) = self.objs.by_id.get(&n.id) else {
                continue;
            };
            let changed = match (&o.key, &n.group) {
                _ if kind == RTM_DELNEXTHOP => true,
                (NhKey::Group(members), Some(g)) => members != g,
                (NhKey::Group(_), None) => true,
                (_, Some(_)) => true,
                _ => false,
            };
            if changed {
                tracing::info!(
                    "nexthop object {} changed by the kernel: no longer used for new routes",
                    n.id
                );
                self.objs.retire(n.id);
            }
        }
    }

    /// Creates the objects of `keys` that do not exist; returns the
    /// refusals by key.
    fn create_objects(&mut self, keys: Vec<NhKey>, refused: &mut HashMap<NhKey, String>) {
        let mut todo: Vec<(u32, NhKey)> = Vec::new();
        for k in keys {
            if self.objs.by_key.contains_key(&k) || refused.contains_key(&k) {
                continue;
            }
            match self.objs.alloc() {
                Some(id) => {
                    // Reserve the key so a duplicate in `keys` is skipped.
                    self.objs.by_key.insert(k.clone(), id);
                    todo.push((id, k));
                }
                None => {
                    refused.insert(k, "no free nexthop id".into());
                }
            }
        }
        let msgs: Vec<Vec<u8>> = todo.iter().map(|(id, k)| nh_new_msg(*id, k)).collect();
        let res = self.nl.write(&msgs);
        for ((id, key), r) in todo.into_iter().zip(res) {
            match r {
                Ok(()) => {
                    if let NhKey::Group(members) = &key {
                        for m in members {
                            self.objs.acquire(*m);
                        }
                    }
                    self.objs.by_id.insert(id, NhObj { key, refs: 0 });
                    // Unused until a route names it.
                    self.objs.garbage.insert(id);
                }
                Err((errno, e)) => {
                    self.objs.by_key.remove(&key);
                    if errno == libc::EEXIST {
                        // Someone else's object took the id meanwhile.
                        self.objs.taken.insert(id);
                    }
                    refused.insert(key, format!("nexthop object: {e}"));
                }
            }
        }
    }

    /// Deletes the objects no route or group uses any more.
    fn collect_garbage(&mut self) {
        for groups in [true, false] {
            let ids: Vec<u32> =
                self.objs
                    .garbage
                    .iter()
                    .copied()
                    .filter(|id| {
                        self.objs.by_id.get(id).is_some_and(|o| {
                            o.refs == 0 && matches!(o.key, NhKey::Group(_)) == groups
                        })
                    })
                    .collect();
            let msgs: Vec<Vec<u8>> = ids.iter().map(|id| nh_del_msg(*id)).collect();
            for (id, r) in ids.iter().zip(self.nl.write(&msgs)) {
                match r {
                    Ok(()) | Err((libc::ENOENT, _)) => {
                        if let Some(o) = self.objs.by_id.remove(id) {
                            if self.objs.by_key.get(&o.key) == Some(id) {
                                self.objs.by_key.remove(&o.key);
                            }
                            if let NhKey::Group(members) = o.key {
                                for m in members {
                                    self.objs.release(m);
                                }
                            }
                        }
                        self.objs.garbage.remove(id);
                    }
                    // Kept in `garbage`: tried again next time.
                    Err((_, e)) => tracing::warn!("deleting nexthop object {id}: {e}"),
                }
            }
        }
        let objs = &self.objs.by_id;
        self.objs
            .garbage
            .retain(|id| objs.get(id).is_some_and(|o| o.refs == 0));
    }

    /// Applies FIB changes. Returns the ones the kernel refused, with why
    /// (they stay out of [`Fib::installed`], to be retried).
    ///
    /// Blocks while the kernel takes the writes (a million routes take
    /// seconds); from a few thousand routes on, it encodes on this thread
    /// while a second one sends.
    pub async fn apply(&mut self, changes: &[FibChange]) -> Vec<(IpNetwork, String)> {
        let ifx = self.ifindexes(changes).await;
        let objects = self.mode == Mode::NexthopObjects;
        if objects {
            self.observe_kernel().await;
        }
        let mut failed: Vec<(IpNetwork, String)> = Vec::new();

        // The distinct next-hop sets (with the route's family) and which
        // one each Set uses: a table's routes share a handful.
        let mut sets: Vec<(bool, &[Resolved])> = Vec::new();
        let mut set_of: Vec<usize> = Vec::with_capacity(changes.len());
        let mut index: HashMap<(bool, &[Resolved]), usize> = HashMap::new();
        let mut last: Option<((bool, &[Resolved]), usize)> = None;
        for c in changes {
            let FibChange::Set(p, sel) = c else {
                set_of.push(usize::MAX);
                continue;
            };
            let key = (p.is_ipv4(), &sel.nexthops[..]);
            let k = match last {
                Some((l, k)) if l == key => k,
                _ => *index.entry(key).or_insert_with(|| {
                    sets.push(key);
                    sets.len() - 1
                }),
            };
            last = Some((key, k));
            set_of.push(k);
        }
        drop(index);
        let hops: Vec<Result<Vec<Hop>, String>> = sets
            .iter()
            .map(|(_, nhs)| {
                nhs.iter()
                    .map(|h| match h {
                        Resolved::Blackhole => Ok(Hop::Blackhole),
                        Resolved::Via { gateway, ifname } => match ifx.get(ifname) {
                            Some(Ok(i)) => Ok(Hop::Via {
                                gateway: *gateway,
                                ifindex: *i,
                            }),
                            Some(Err(e)) => Err(e.clone()),
                            None => Err(format!("interface {ifname}: not looked up")),
                        },
                    })
                    .collect()
            })
            .collect();
        let keys: Vec<Option<Vec<NhKey>>> = sets
            .iter()
            .zip(&hops)
            .map(|((v4, _), h)| match h {
                Ok(h) if objects && !h.is_empty() => keys_of(*v4, h),
                _ => None,
            })
            .collect();

        // Their objects: single next hops, then groups of them.
        let mut refused: HashMap<NhKey, String> = HashMap::new();
        let singles: Vec<NhKey> = keys
            .iter()
            .flatten()
            .flatten()
            .filter(|k| !self.objs.by_key.contains_key(k))
            .cloned()
            .collect();
        self.create_objects(singles, &mut refused);
        // Per set: the object it names, as a key (a one-member "group"
        // is the single object itself).
        let wanted: Vec<Option<Result<NhKey, String>>> = keys
            .iter()
            .map(|ks| {
                let ks = ks.as_ref()?;
                let mut ids = Vec::with_capacity(ks.len());
                for k in ks {
                    match (self.objs.by_key.get(k), refused.get(k)) {
                        (Some(id), _) => ids.push(*id),
                        (None, Some(e)) => return Some(Err(e.clone())),
                        (None, None) => return Some(Err("nexthop object missing".into())),
                    }
                }
                ids.sort_unstable();
                ids.dedup();
                Some(Ok(NhKey::Group(ids)))
            })
            .collect();
        let groups: Vec<NhKey> = wanted
            .iter()
            .flatten()
            .flatten()
            .filter(|g| matches!(g, NhKey::Group(ids) if ids.len() > 1))
            .filter(|g| !self.objs.by_key.contains_key(g))
            .cloned()
            .collect();
        self.create_objects(groups, &mut refused);
        let plans: Vec<SetPlan> = sets
            .iter()
            .zip(hops.iter().zip(keys.iter().zip(wanted)))
            .map(|((v4, _), (h, (ks, want)))| {
                let h = match h {
                    Ok(h) => h,
                    Err(e) => {
                        return SetPlan {
                            tail: Err(e.clone()),
                            target: 0,
                            fallback: None,
                        }
                    }
                };
                let target = match want {
                    None => {
                        return SetPlan {
                            tail: inline_tail(*v4, h),
                            target: 0,
                            fallback: None,
                        }
                    }
                    Some(Err(e)) => Err(e),
                    Some(Ok(NhKey::Group(ids))) if ids.len() == 1 => {
                        ids.first().copied().ok_or_else(String::new)
                    }
                    Some(Ok(g)) => match (self.objs.by_key.get(&g), refused.get(&g)) {
                        (Some(id), _) => Ok(*id),
                        (None, Some(e)) => Err(e.clone()),
                        (None, None) => Err("nexthop group missing".into()),
                    },
                };
                let v6_hop = ks
                    .iter()
                    .flatten()
                    .any(|k| matches!(k, NhKey::Hop { family, .. } if *family == AF_INET6));
                match target {
                    Ok(id) => {
                        let mut t = Vec::with_capacity(8);
                        nl::put_attr(&mut t, RTA_NH_ID, &id.to_ne_bytes());
                        SetPlan {
                            tail: Ok((RTN_UNICAST, t)),
                            target: id,
                            fallback: if *v4 && v6_hop {
                                inline_tail(*v4, h).ok()
                            } else {
                                None
                            },
                        }
                    }
                    Err(e) => SetPlan {
                        tail: Err(e),
                        target: 0,
                        fallback: None,
                    },
                }
            })
            .collect();

        // The route writes, in the order given, booked as they are
        // encoded and undone for the refused ones.
        let mut sent: Vec<usize> = Vec::with_capacity(changes.len());
        for (i, (c, s)) in changes.iter().zip(&set_of).enumerate() {
            match c {
                FibChange::Set(p, _) => match plans.get(*s).map(|pl| &pl.tail) {
                    Some(Ok(_)) => sent.push(i),
                    Some(Err(e)) => failed.push((*p, e.clone())),
                    None => failed.push((*p, "no plan".into())),
                },
                FibChange::Remove(p) => {
                    if self.kernel.contains_key(p) {
                        sent.push(i);
                    } else {
                        self.installed.remove(p);
                    }
                }
            }
        }
        let mut olds: Vec<Option<u32>> = Vec::with_capacity(sent.len());
        self.kernel.reserve(sent.len());
        let Fib {
            nl,
            objs,
            kernel,
            installed,
            ..
        } = self;
        let refusals = nl.write_with(sent.len(), |j, buf| {
            let i = sent.get(j).copied().unwrap_or(usize::MAX);
            match (changes.get(i), set_of.get(i).and_then(|s| plans.get(*s))) {
                (Some(FibChange::Set(p, sel)), Some(plan)) => {
                    if let Ok((rtype, tail)) = &plan.tail {
                        let flags = nl::NLM_F_CREATE | nl::NLM_F_REPLACE;
                        put_route(buf, RTM_NEWROUTE, flags, p, *rtype, tail);
                        olds.push(book_set(objs, kernel, installed, (p, sel, plan.target)));
                    }
                }
                (Some(FibChange::Remove(p)), _) => {
                    put_route(buf, RTM_DELROUTE, 0, p, 0, &[]);
                    let old = kernel.remove(p);
                    if let Some(o) = old.filter(|o| *o != 0) {
                        objs.release(o);
                    }
                    installed.remove(p);
                    olds.push(old);
                }
                _ => olds.push(None),
            }
        });
        // IPv4 routes through IPv6 objects that the kernel refused: once
        // more with the next hops inline (kernels without RFC 8950 for
        // objects).
        let mut retry: Vec<usize> = Vec::new();
        for (j, errno, text) in refusals {
            let i = sent.get(j).copied().unwrap_or(usize::MAX);
            let old = olds.get(j).copied().flatten();
            match (changes.get(i), set_of.get(i).and_then(|s| plans.get(*s))) {
                (Some(FibChange::Set(p, _)), Some(plan)) => {
                    unbook_set(objs, kernel, installed, (p, plan.target, old));
                    if errno == libc::EINVAL && plan.fallback.is_some() {
                        retry.push(i);
                    } else {
                        failed.push((*p, text));
                    }
                }
                // Already gone (e.g. with its interface) is fine.
                (Some(FibChange::Remove(p)), _) if errno != libc::ESRCH => {
                    if let Some(o) = old {
                        kernel.insert(*p, o);
                        if o != 0 {
                            objs.acquire(o);
                        }
                    }
                    failed.push((*p, text));
                }
                _ => {}
            }
        }
        if !retry.is_empty() {
            let mut olds: Vec<Option<u32>> = Vec::with_capacity(retry.len());
            let refusals = nl.write_with(retry.len(), |j, buf| {
                let i = retry.get(j).copied().unwrap_or(usize::MAX);
                if let (Some(FibChange::Set(p, sel)), Some(plan)) =
                    (changes.get(i), set_of.get(i).and_then(|s| plans.get(*s)))
                {
                    if let Some((rtype, tail)) = &plan.fallback {
                        let flags = nl::NLM_F_CREATE | nl::NLM_F_REPLACE;
                        put_route(buf, RTM_NEWROUTE, flags, p, *rtype, tail);
                        olds.push(book_set(objs, kernel, installed, (p, sel, 0)));
                    }
                }
            });
            for (j, _, text) in refusals {
                let i = retry.get(j).copied().unwrap_or(usize::MAX);
                if let Some(FibChange::Set(p, _)) = changes.get(i) {
                    let old = olds.get(j).copied().flatten();
                    unbook_set(objs, kernel, installed, (p, 0, old));
                    failed.push((*p, text));
                }
            }
        }
        for (p, e) in &failed {
            self.installed.remove(p);
            tracing::warn!("FIB: kernel refused {p}: {e} (to be retried)");
        }
        if objects {
            self.collect_garbage();
        }
        failed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Candidate, NextHop, Rib, Source};
    use std::process::Command;

    fn sh(args: &[&str]) -> String {
        let o = Command::new(args[0]).args(&args[1..]).output().unwrap();
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// `ip -n NS ARGS...`
    fn ip(ns: &str, args: &[&str]) -> String {
        let mut a = vec!["ip", "-n", ns];
        a.extend_from_slice(args);
        sh(&a)
    }

    /// Runs `f` on a thread inside network namespace `ns` with its own
    /// runtime (netlink sockets belong to the namespace they were opened
    /// in). A failed assertion inside fails the test.
    fn in_ns<T: Send + 'static, F: std::future::Future<Output = T>>(
        ns: &str,
        f: impl FnOnce() -> F + Send + 'static,
    ) -> T {
        let path = format!("/run/netns/{ns}");
        std::thread::spawn(move || {
            let fd = std::fs::File::open(&path).unwrap();
            use std::os::fd::AsRawFd;
            // SAFETY: setns on a valid namespace fd affects only this thread.
            let r = unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(r, 0, "setns");
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(f())
        })
        .join()
        .unwrap()
    }

    struct Ns(String);
    impl Drop for Ns {
        fn drop(&mut self) {
            let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
        }
    }

    /// A fresh namespace with two veth pairs standing in for two tunnels:
    /// d1 169.254.11.2/30 + fd00:11::2/64, d2 169.254.12.2/30 +
    /// fd00:12::2/64 (the peers .1 / ::1 are the next hops). None (and a
    /// SKIPPED line) when not root.
    fn setup(tag: &str) -> Option<Ns> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("SKIPPED: needs root (network namespaces)");
            return None;
        }
        let name = format!("rvfib{}{tag}", std::process::id());
        sh(&["ip", "netns", "add", &name]);
        let ns = Ns(name);
        ip(&ns.0, &["link", "set", "lo", "up"]);
        for (i, a, a6) in [
            ("d1", "169.254.11.2/30", "fd00:11::2/64"),
            ("d2", "169.254.12.2/30", "fd00:12::2/64"),
        ] {
            let peer = format!("{i}p");
            ip(
                &ns.0,
                &["link", "add", i, "type", "veth", "peer", "name", &peer],
            );
            ip(&ns.0, &["addr", "add", a, "dev", i]);
            ip(&ns.0, &["addr", "add", a6, "dev", i, "nodad"]);
            ip(&ns.0, &["link", "set", i, "up"]);
            ip(&ns.0, &["link", "set", &peer, "up"]);
        }
        Some(ns)
    }

    fn via(gw: &str, ifname: &str) -> Resolved {
        Resolved::Via {
            gateway: Some(gw.parse().unwrap()),
            ifname: ifname.into(),
        }
    }
    fn set(p: &str, nexthops: Vec<Resolved>) -> FibChange {
        FibChange::Set(
            p.parse().unwrap(),
            Selected {
                source: Source::Bgp,
                distance: 20,
                metric: 0,
                nexthops: nexthops.into(),
            },
        )
    }
    fn ecmp() -> Vec<Resolved> {
        vec![via("169.254.11.1", "d1"), via("169.254.12.1", "d2")]
    }
    fn net(p: &str) -> IpNetwork {
        p.parse().unwrap()
    }
    /// The nhid of `prefix` in `ip route show` output.
    fn nhid_of(out: &str, prefix: &str) -> Option<u32> {
        let line = out
            .lines()
            .find(|l| l.split_whitespace().any(|w| w == prefix))?;
        let mut w = line.split_whitespace();
        w.find(|x| *x == "nhid")?;
        w.next()?.parse().ok()
    }
    /// The member ids of group `id` (`ip nexthop show id ID`).
    fn group_members(ns: &str, id: u32) -> Vec<u32> {
        let out = ip(ns, &["nexthop", "show", "id", &id.to_string()]);
        let mut w = out.split_whitespace();
        assert!(w.any(|x| x == "group"), "{out}");
        w.next()
            .unwrap()
            .split('/')
            .map(|m| m.split(',').next().unwrap().parse().unwrap())
            .collect()
    }

    /// Two tunnels' worth of connected networks, a BGP route through both:
    /// the kernel gets one route with two next hops, marked proto 202; it
    /// shrinks to one when a tunnel goes; a restart's reconcile removes
    /// our leftovers and leaves a route of another protocol alone. In
    /// both modes.
    fn ecmp_route_and_reconcile(mode: Mode) {
        let Some(ns) = setup(if mode == Mode::Multipath { "m" } else { "o" }) else {
            return;
        };
        // Someone else's route, which reconcile must leave alone.
        ip(
            &ns.0,
            &[
                "route",
                "add",
                "10.77.0.0/16",
                "via",
                "169.254.11.1",
                "proto",
                "static",
            ],
        );
        let mut rib = Rib::new();
        for (p, i) in [("169.254.11.0/30", "d1"), ("169.254.12.0/30", "d2")] {
            rib.set(
                Source::Connected,
                p.parse().unwrap(),
                Some(Candidate {
                    distance: 0,
                    metric: 0,
                    nexthops: vec![NextHop::Interface(i.into())].into(),
                }),
            );
        }
        rib.set(
            Source::Bgp,
            "10.2.0.0/24".parse().unwrap(),
            Some(Candidate {
                distance: 20,
                metric: 0,
                nexthops: vec![
                    NextHop::Gateway("169.254.11.1".parse().unwrap()),
                    NextHop::Gateway("169.254.12.1".parse().unwrap()),
                ]
                .into(),
            }),
        );
        // Only the BGP route is ours to install (connected ones are the
        // kernel's own).
        let changes: Vec<FibChange> = rib
            .resolve()
            .into_iter()
            .filter(|c| matches!(c, FibChange::Set(_, s) if s.source == Source::Bgp))
            .collect();
        assert_eq!(changes.len(), 1);
        let (failed, installed, used) = in_ns(&ns.0, move || async move {
            let mut fib = Fib::open_with(mode).unwrap();
            let failed = fib.apply(&changes).await;
            let installed = fib.installed().keys().copied().collect::<Vec<_>>();
            (failed, installed, fib.mode())
        });
        assert_eq!(used, mode);
        assert!(failed.is_empty(), "{failed:?}");
        assert_eq!(installed, vec![net("10.2.0.0/24")]);
        let out = ip(&ns.0, &["route", "show", "proto", "202"]);
        assert!(out.contains("10.2.0.0/24"), "{out}");
        assert!(out.contains("nexthop via 169.254.11.1 dev d1"), "{out}");
        assert!(out.contains("nexthop via 169.254.12.1 dev d2"), "{out}");
        assert_eq!(out.contains("nhid"), mode == Mode::NexthopObjects, "{out}");

        // Tunnel 2 goes: one next hop left.
        rib.set(Source::Connected, "169.254.12.0/30".parse().unwrap(), None);
        let changes: Vec<FibChange> = rib
            .resolve()
            .into_iter()
            .filter(|c| match c {
                FibChange::Set(_, s) => s.source == Source::Bgp,
                FibChange::Remove(p) => p.prefix() != 30,
            })
            .collect();
        let name = ns.0.clone();
        let (failed, n) = in_ns(&ns.0, move || async move {
            let mut fib = Fib::open_with(mode).unwrap();
            let f = fib.apply(&changes).await;
            let out = ip(&name, &["route", "show", "proto", "202"]);
            assert!(
                out.contains("10.2.0.0/24")
                    && out.contains("via 169.254.11.1 dev d1")
                    && !out.contains("169.254.12.1"),
                "{out}"
            );
            // A new process: nothing installed yet, so reconcile
            // removes our route and nothing else.
            let mut fresh = Fib::open_with(mode).unwrap();
            let n = fresh.reconcile().await.unwrap();
            (f, n)
        });
        assert!(failed.is_empty(), "{failed:?}");
        assert_eq!(n, 1, "one leftover of ours removed");
        let out = ip(&ns.0, &["route", "show"]);
        assert!(!out.contains("10.2.0.0/24"), "{out}");
        assert!(
            out.contains("10.77.0.0/16"),
            "the static route stays: {out}"
        );
        let out = ip(&ns.0, &["nexthop", "show"]);
        assert!(out.trim().is_empty(), "no nexthop object left: {out}");
    }

    #[test]
    fn ecmp_route_in_the_kernel_and_reconcile() {
        ecmp_route_and_reconcile(Mode::NexthopObjects);
    }

    #[test]
    fn ecmp_route_in_the_kernel_and_reconcile_multipath() {
        ecmp_route_and_reconcile(Mode::Multipath);
    }

    /// Group objects: two ECMP routes share one group of two next-hop
    /// objects; shrinking both to one next hop makes them name that
    /// object and deletes the group and the other object; blackhole,
    /// IPv6 and IPv4-via-IPv6 routes use objects too; removing every
    /// route deletes every object.
    #[test]
    fn nexthop_objects_groups_shrink_blackhole_v6() {
        let Some(ns) = setup("g") else {
            return;
        };
        let name = ns.0.clone();
        in_ns(&ns.0, move || async move {
            let n = name.as_str();
            let mut fib = Fib::open().unwrap();
            assert_eq!(fib.mode(), Mode::NexthopObjects, "this kernel has them");
            let failed = fib
                .apply(&[
                    set("10.2.0.0/24", ecmp()),
                    set("10.3.0.0/24", ecmp()),
                    set("10.4.0.0/24", vec![Resolved::Blackhole]),
                    set("fd00:99::/64", vec![via("fd00:11::1", "d1")]),
                    set("10.5.0.0/24", vec![via("fd00:11::1", "d1")]),
                    set("fd00:98::/64", vec![Resolved::Blackhole]),
                ])
                .await;
            assert!(failed.is_empty(), "{failed:?}");
            assert_eq!(fib.installed().len(), 6);
            let out = ip(n, &["route", "show", "proto", "202"]);
            let g = nhid_of(&out, "10.2.0.0/24").expect(&out);
            assert_eq!(nhid_of(&out, "10.3.0.0/24"), Some(g), "one group: {out}");
            let members = group_members(n, g);
            assert_eq!(members.len(), 2, "{members:?}");
            let all = ip(n, &["nexthop", "show"]);
            for (m, want) in members
                .iter()
                .zip(["via 169.254.11.1 dev d1", "via 169.254.12.1 dev d2"])
            {
                let o = ip(n, &["nexthop", "show", "id", &m.to_string()]);
                assert!(o.contains(want), "{o}\n{all}");
            }
            assert!(out.contains("blackhole 10.4.0.0/24 nhid"), "{out}");
            assert!(out.contains("via inet6 fd00:11::1 dev d1"), "{out}");
            assert!(nhid_of(&out, "10.5.0.0/24").is_some(), "{out}");
            let out6 = ip(n, &["-6", "route", "show", "proto", "202"]);
            assert!(nhid_of(&out6, "fd00:99::/64").is_some(), "{out6}");
            assert!(out6.contains("via fd00:11::1 dev d1"), "{out6}");
            assert!(out6.contains("blackhole fd00:98::/64"), "{out6}");
            // d1, d2, group, v4 blackhole, v6 gateway, v6 blackhole.
            assert_eq!(fib.nexthop_objects(), 6, "{all}");
            assert_eq!(all.lines().count(), 6, "{all}");

            // Tunnel 2 goes: both routes through d1 only.
            let one = vec![via("169.254.11.1", "d1")];
            let failed = fib
                .apply(&[set("10.2.0.0/24", one.clone()), set("10.3.0.0/24", one)])
                .await;
            assert!(failed.is_empty(), "{failed:?}");
            let out = ip(n, &["route", "show", "proto", "202"]);
            let a = nhid_of(&out, "10.2.0.0/24").expect(&out);
            assert_eq!(nhid_of(&out, "10.3.0.0/24"), Some(a), "{out}");
            assert!(members.contains(&a), "the d1 object stays: {out}");
            assert!(!out.contains("169.254.12.1"), "{out}");
            let all = ip(n, &["nexthop", "show"]);
            assert!(!all.contains("group"), "group deleted: {all}");
            assert!(!all.contains("169.254.12.1"), "d2 object deleted: {all}");
            assert_eq!(fib.nexthop_objects(), 4, "{all}");

            // Everything goes.
            let failed = fib
                .apply(
                    &[
                        "10.2.0.0/24",
                        "10.3.0.0/24",
                        "10.4.0.0/24",
                        "10.5.0.0/24",
                        "fd00:99::/64",
                        "fd00:98::/64",
                    ]
                    .map(|p| FibChange::Remove(net(p))),
                )
                .await;
            assert!(failed.is_empty(), "{failed:?}");
            assert!(fib.installed().is_empty());
            assert_eq!(ip(n, &["route", "show", "proto", "202"]), "");
            assert_eq!(ip(n, &["-6", "route", "show", "proto", "202"]), "");
            assert_eq!(ip(n, &["nexthop", "show"]), "");
            assert_eq!(fib.nexthop_objects(), 0);
        });
    }

    /// Blackhole, IPv6 and IPv4-via-IPv6 routes in the RTA_MULTIPATH mode.
    #[test]
    fn multipath_mode_blackhole_v6_and_v4_via_v6() {
        let Some(ns) = setup("b") else {
            return;
        };
        let name = ns.0.clone();
        in_ns(&ns.0, move || async move {
            let n = name.as_str();
            let mut fib = Fib::open_with(Mode::Multipath).unwrap();
            let failed = fib
                .apply(&[
                    set("10.4.0.0/24", vec![Resolved::Blackhole]),
                    set("fd00:99::/64", vec![via("fd00:11::1", "d1")]),
                    set(
                        "fd00:97::/64",
                        vec![via("fd00:11::1", "d1"), via("fd00:12::1", "d2")],
                    ),
                    set("10.5.0.0/24", vec![via("fd00:11::1", "d1")]),
                    set("fd00:98::/64", vec![Resolved::Blackhole]),
                ])
                .await;
            assert!(failed.is_empty(), "{failed:?}");
            let out = ip(n, &["route", "show", "proto", "202"]);
            assert!(out.contains("blackhole 10.4.0.0/24"), "{out}");
            assert!(
                out.contains("10.5.0.0/24 via inet6 fd00:11::1 dev d1"),
                "{out}"
            );
            assert!(!out.contains("nhid"), "{out}");
            let out6 = ip(n, &["-6", "route", "show", "proto", "202"]);
            assert!(
                out6.contains("fd00:99::/64 via fd00:11::1 dev d1"),
                "{out6}"
            );
            assert!(out6.contains("nexthop via fd00:12::1 dev d2"), "{out6}");
            assert!(out6.contains("blackhole fd00:98::/64"), "{out6}");
            assert_eq!(ip(n, &["nexthop", "show"]), "");
            let failed = fib
                .apply(&["10.4.0.0/24", "fd00:98::/64"].map(|p| FibChange::Remove(net(p))))
                .await;
            assert!(failed.is_empty(), "{failed:?}");
            let out = ip(n, &["route", "show", "proto", "202"]);
            assert!(!out.contains("10.4.0.0"), "blackhole removed: {out}");
        });
    }

    /// A write the kernel refuses (a gateway not on the interface's
    /// network) is reported for its prefix with the kernel's reason, as
    /// is a next hop on an interface that does not exist, while the
    /// rest of the same batch goes in; once the cause is gone, the retry
    /// succeeds.
    fn refused_write(mode: Mode) {
        let Some(ns) = setup(if mode == Mode::Multipath { "rm" } else { "ro" }) else {
            return;
        };
        let name = ns.0.clone();
        in_ns(&ns.0, move || async move {
            let n = name.as_str();
            let mut fib = Fib::open_with(mode).unwrap();
            let changes = [
                set("10.6.0.0/24", vec![via("169.254.11.1", "d1")]),
                set("10.7.0.0/24", vec![via("192.0.2.1", "d1")]),
                set("10.8.0.0/24", ecmp()),
                set("10.9.0.0/24", vec![via("169.254.11.1", "nosuch0")]),
                set(
                    "10.10.0.0/24",
                    vec![via("169.254.11.1", "d1"), via("192.0.2.1", "d2")],
                ),
                set("10.11.0.0/24", ecmp()),
            ];
            let mut failed = fib.apply(&changes).await;
            failed.sort();
            let prefixes: Vec<IpNetwork> = failed.iter().map(|(p, _)| *p).collect();
            assert_eq!(
                prefixes,
                vec![net("10.7.0.0/24"), net("10.9.0.0/24"), net("10.10.0.0/24")],
                "{failed:?}"
            );
            for (p, why) in &failed {
                let want = if *p == net("10.9.0.0/24") {
                    "interface nosuch0"
                } else {
                    "gateway"
                };
                assert!(why.contains(want), "{p}: {why}");
            }
            let out = ip(n, &["route", "show", "proto", "202"]);
            for p in ["10.6.0.0/24", "10.8.0.0/24", "10.11.0.0/24"] {
                assert!(out.contains(p), "{p}: {out}");
                assert!(fib.installed().contains_key(&net(p)));
            }
            for p in ["10.7.0.0/24", "10.9.0.0/24", "10.10.0.0/24"] {
                assert!(!out.contains(p), "{p}: {out}");
                assert!(!fib.installed().contains_key(&net(p)));
            }
            // 192.0.2.0/24 becomes reachable on d1: the retry goes in.
            ip(n, &["addr", "add", "192.0.2.2/24", "dev", "d1"]);
            let retry: Vec<FibChange> = changes
                .iter()
                .filter(|c| matches!(c, FibChange::Set(p, _) if *p == net("10.7.0.0/24")))
                .cloned()
                .collect();
            let failed = fib.apply(&retry).await;
            assert!(failed.is_empty(), "{failed:?}");
            let out = ip(n, &["route", "show", "proto", "202"]);
            assert!(out.contains("10.7.0.0/24"), "{out}");
            if mode == Mode::NexthopObjects {
                // Refused objects were not left behind: d1, d2, their
                // group, 192.0.2.1 on d1.
                let all = ip(n, &["nexthop", "show"]);
                assert_eq!(all.lines().count(), 4, "{all}");
                assert_eq!(fib.nexthop_objects(), 4, "{all}");
            }
        });
    }

    #[test]
    fn refused_write_reported_others_installed() {
        refused_write(Mode::NexthopObjects);
    }

    #[test]
    fn refused_write_reported_others_installed_multipath() {
        refused_write(Mode::Multipath);
    }

    /// A restart: stale routes of ours (inline and through a stale
    /// object) and stale objects of ours go; a `proto static` route and
    /// a nexthop object of someone else (with a route using it) stay, as
    /// does what the new writer installed.
    #[test]
    fn reconcile_removes_stale_routes_and_objects_only() {
        let Some(ns) = setup("c") else {
            return;
        };
        let n = ns.0.as_str();
        ip(
            n,
            &[
                "route",
                "add",
                "10.9.0.0/24",
                "via",
                "169.254.11.1",
                "proto",
                "202",
            ],
        );
        ip(
            n,
            &[
                "nexthop",
                "add",
                "id",
                "900",
                "via",
                "169.254.12.1",
                "dev",
                "d2",
                "proto",
                "202",
            ],
        );
        ip(
            n,
            &["nexthop", "add", "id", "903", "blackhole", "proto", "202"],
        );
        ip(
            n,
            &[
                "route",
                "add",
                "10.10.0.0/24",
                "nhid",
                "900",
                "proto",
                "202",
            ],
        );
        ip(
            n,
            &[
                "nexthop",
                "add",
                "id",
                "901",
                "via",
                "169.254.11.1",
                "dev",
                "d1",
            ],
        );
        ip(
            n,
            &[
                "route",
                "add",
                "10.77.0.0/16",
                "via",
                "169.254.11.1",
                "proto",
                "static",
            ],
        );
        ip(
            n,
            &[
                "route",
                "add",
                "10.78.0.0/16",
                "nhid",
                "901",
                "proto",
                "static",
            ],
        );
        let name = ns.0.clone();
        let (counts, installed) = in_ns(&ns.0, move || async move {
            let mut fib = Fib::open().unwrap();
            let failed = fib
                .apply(&[set("10.2.0.0/24", ecmp()), set("10.9.0.0/24", ecmp())])
                .await;
            assert!(failed.is_empty(), "{failed:?}");
            let out = ip(&name, &["route", "show", "proto", "202"]);
            let g = nhid_of(&out, "10.2.0.0/24").expect(&out);
            assert_eq!(nhid_of(&out, "10.9.0.0/24"), Some(g), "{out}");
            assert!(g > 903, "a fresh id, not one in use: {g}");
            let counts = fib.reconcile_counts().await.unwrap();
            (counts, fib.installed().len())
        });
        assert_eq!(counts, (1, 2), "10.10.0.0/24; objects 900 and 903");
        assert_eq!(installed, 2);
        let out = ip(n, &["route", "show"]);
        assert!(
            out.contains("10.2.0.0/24") && out.contains("10.9.0.0/24"),
            "{out}"
        );
        assert!(!out.contains("10.10.0.0/24"), "{out}");
        assert!(
            out.contains("10.77.0.0/16") && out.contains("10.78.0.0/16"),
            "{out}"
        );
        let all = ip(n, &["nexthop", "show"]);
        assert!(
            !all.contains("id 900 ") && !all.contains("id 903 "),
            "{all}"
        );
        assert!(
            all.contains("id 901 "),
            "someone else's object stays: {all}"
        );
        assert!(all.contains("group"), "ours stay: {all}");
    }

    /// The kernel removes the objects of an interface that goes down and
    /// shrinks the groups holding them: the writer hears of it and makes
    /// new objects for the next routes instead of naming the shrunk
    /// group.
    #[test]
    fn objects_the_kernel_removed_are_not_reused() {
        let Some(ns) = setup("w") else {
            return;
        };
        let name = ns.0.clone();
        in_ns(&ns.0, move || async move {
            let n = name.as_str();
            let mut fib = Fib::open().unwrap();
            let failed = fib.apply(&[set("10.2.0.0/24", ecmp())]).await;
            assert!(failed.is_empty(), "{failed:?}");
            let out = ip(n, &["route", "show", "proto", "202"]);
            let g = nhid_of(&out, "10.2.0.0/24").expect(&out);
            ip(n, &["link", "set", "d2", "down"]);
            ip(n, &["link", "set", "d2", "up"]);
            assert_eq!(group_members(n, g).len(), 1, "the kernel shrank it");
            let failed = fib.apply(&[set("10.3.0.0/24", ecmp())]).await;
            assert!(failed.is_empty(), "{failed:?}");
            let out = ip(n, &["route", "show", "proto", "202"]);
            let g2 = nhid_of(&out, "10.3.0.0/24").expect(&out);
            assert_ne!(g, g2, "{out}");
            assert_eq!(group_members(n, g2).len(), 2, "{out}");
            // The RIB moves the old route too: the shrunk group goes.
            let failed = fib.apply(&[set("10.2.0.0/24", ecmp())]).await;
            assert!(failed.is_empty(), "{failed:?}");
            let out = ip(n, &["route", "show", "proto", "202"]);
            assert_eq!(nhid_of(&out, "10.2.0.0/24"), Some(g2), "{out}");
            let all = ip(n, &["nexthop", "show"]);
            assert!(!all.contains(&format!("id {g} ")), "{all}");
            assert_eq!(all.lines().count(), 3, "{all}");
        });
    }

    /// Enough routes for the pipelined path (several batches, a second
    /// thread sending): every route is in the kernel, the refused ones
    /// (a gateway off-link, refused by the route write itself in the
    /// inline mode) are reported for exactly their prefixes, and a
    /// second apply removes them all.
    fn many_routes(mode: Mode) {
        let Some(ns) = setup(if mode == Mode::Multipath { "pm" } else { "po" }) else {
            return;
        };
        let name = ns.0.clone();
        in_ns(&ns.0, move || async move {
            let n = name.as_str();
            let total: u32 = 6000;
            let bad = |i: u32| i % 1000 == 999;
            let prefix = |i: u32| {
                let a = std::net::Ipv4Addr::from(0x2000_0000u32 + (i << 8));
                IpNetwork::new(IpAddr::V4(a), 24).unwrap()
            };
            let changes: Vec<FibChange> = (0..total)
                .map(|i| {
                    let hops = if bad(i) {
                        vec![via("192.0.2.1", "d1"), via("169.254.12.1", "d2")]
                    } else {
                        ecmp()
                    };
                    FibChange::Set(
                        prefix(i),
                        Selected {
                            source: Source::Bgp,
                            distance: 20,
                            metric: 0,
                            nexthops: hops.into(),
                        },
                    )
                })
                .collect();
            let mut fib = Fib::open_with(mode).unwrap();
            let mut failed: Vec<IpNetwork> = fib
                .apply(&changes)
                .await
                .into_iter()
                .map(|(p, _)| p)
                .collect();
            failed.sort();
            let want: Vec<IpNetwork> = (0..total).filter(|i| bad(*i)).map(prefix).collect();
            assert_eq!(failed, want);
            let good = (total - want.len() as u32) as usize;
            assert_eq!(fib.installed().len(), good);
            let out = ip(n, &["-o", "route", "show", "proto", "202"]);
            assert_eq!(out.lines().count(), good);
            for p in &want {
                assert!(!out.contains(&format!("{p} ")), "{p}");
            }
            let removes: Vec<FibChange> =
                (0..total).map(|i| FibChange::Remove(prefix(i))).collect();
            let failed = fib.apply(&removes).await;
            assert!(failed.is_empty(), "{failed:?}");
            assert_eq!(ip(n, &["route", "show", "proto", "202"]), "");
            assert!(fib.installed().is_empty());
            assert_eq!(ip(n, &["nexthop", "show"]), "");
        });
    }

    #[test]
    fn many_routes_pipelined_with_refusals() {
        many_routes(Mode::NexthopObjects);
    }

    #[test]
    fn many_routes_pipelined_with_refusals_multipath() {
        many_routes(Mode::Multipath);
    }
}
