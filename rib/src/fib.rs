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

mod error;
mod msg;
mod nl;
mod objects;

use std::collections::HashMap;
use std::net::IpAddr;

use crate::pmap::PrefixMap;
use crate::{FibChange, Resolved};
pub use error::FibError;
use futures::TryStreamExt;
use ipnetwork::IpNetwork;
use msg::*;
use nl::{Nl, Seen, Watch};
use objects::*;
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute, RouteScope, RouteType};
use rtnetlink::{Handle, RouteMessageBuilder};

/// rvpn's route protocol number (`ip route ... proto 202`), also on its
/// nexthop objects. FRR's daemons use 186-198 (196 is its staticd), BIRD
/// 12, the kernel's own are below 20; 202 is in none of iproute2's or
/// FRR's tables, so a restart's reconcile never removes another daemon's
/// routes or objects.
pub const RTPROT_RVPN: u8 = 202;

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

/// The FIB writer.
pub struct Fib {
    handle: Handle,
    nl: Nl,
    watch: Option<Watch>,
    mode: Mode,
    /// Our routes in the kernel (as far as we know), the object each
    /// names and whether it is installed as last written: one compact
    /// entry per prefix, not a copy of its selection (issue 16).
    kernel: PrefixMap<InKernel>,
    objs: Objects,
}

/// Whether the kernel takes nexthop objects from us: a dump, then a
/// blackhole object created and deleted. Returns the ids in use.
fn probe() -> Result<std::collections::HashSet<u32>, FibError> {
    let dump = nl::blocking_dump(&nh_dump_msg()).map_err(|source| FibError::Io {
        what: "nexthop dump",
        source,
    })?;
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
    let errs = nl::blocking_acks(&[create, nh_del_msg(id)]).map_err(|source| FibError::Io {
        what: "nexthop probe",
        source,
    })?;
    match errs.as_slice() {
        [0, 0] => {
            let mut t = taken;
            t.insert(id);
            Ok(t)
        }
        [e, ..] => Err(FibError::ProbeRefused(*e)),
        [] => Err(FibError::ProbeUnanswered),
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
            kernel: PrefixMap::new(),
            objs,
        })
    }

    /// The mode in use: [`Mode::NexthopObjects`] or [`Mode::Multipath`].
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Whether the route of `p` is in the kernel as last written (for
    /// `show ip route`'s installed marks).
    pub fn is_installed(&self, p: &IpNetwork) -> bool {
        self.kernel.get(p).is_some_and(|r| r.installed())
    }

    /// The prefixes whose routes are installed, in order.
    pub fn installed(&self) -> impl Iterator<Item = IpNetwork> + '_ {
        self.kernel
            .iter()
            .filter(|(_, r)| r.installed())
            .map(|(p, _)| p)
    }

    /// How many nexthop objects of ours are in the kernel.
    pub fn nexthop_objects(&self) -> usize {
        self.objs.by_id.len()
    }

    /// Removes every route with rvpn's protocol that is not in
    /// `installed` (leftovers of an earlier run), then every rvpn nexthop
    /// object this writer did not make; returns how many routes.
    pub async fn reconcile(&mut self) -> Result<usize, FibError> {
        self.reconcile_counts().await.map(|(r, _)| r)
    }

    /// [`Fib::reconcile`], returning (routes, nexthop objects) removed.
    pub async fn reconcile_counts(&mut self) -> Result<(usize, usize), FibError> {
        let mut stale: Vec<(Option<IpNetwork>, Vec<u8>)> = Vec::new();
        for v6 in [false, true] {
            let filter = if v6 {
                RouteMessageBuilder::<std::net::Ipv6Addr>::new().build()
            } else {
                RouteMessageBuilder::<std::net::Ipv4Addr>::new().build()
            };
            let mut routes = self.handle.route().get(filter).execute();
            while let Some(m) = routes
                .try_next()
                .await
                .map_err(|source| FibError::Netlink {
                    what: "route dump".into(),
                    source,
                })?
            {
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
                if prefix.is_some_and(|p| !self.is_installed(&p)) {
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
                    if let Some(id) = p.and_then(|p| self.kernel.remove(&p)).map(|r| r.obj()) {
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
                .map_err(|source| FibError::Io {
                    what: "nexthop dump",
                    source,
                })?;
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
            Some(first) => Err(FibError::Removals {
                count: errors.len(),
                first: first.clone(),
            }),
        }
    }

    async fn ifindex(&self, name: &str) -> Result<u32, FibError> {
        // The RIB names interfaces as the operator does.
        let mut links = self
            .handle
            .link()
            .get()
            .match_name(kernel_name(name))
            .execute();
        let m = links
            .try_next()
            .await
            .map_err(|source| FibError::Netlink {
                what: format!("interface {name}"),
                source,
            })?
            .ok_or_else(|| FibError::NoInterface(name.to_string()))?;
        Ok(m.header.index)
    }

    /// The interface index of every interface the changes name.
    async fn ifindexes(&self, changes: &[FibChange]) -> HashMap<String, Result<u32, FibError>> {
        let mut out: HashMap<String, Result<u32, FibError>> = HashMap::new();
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
                // notification says so). Only a link our objects go out
                // of: a hub's new tunnel interfaces (thousands) would
                // otherwise cost a dump of every nexthop each.
                Seen::Msg(RTM_NEWLINK | RTM_DELLINK, payload) => match link_index(&payload) {
                    Some(ix) if !self.objs.uses_ifindex(ix) => {}
                    _ => resync = true,
                },
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
                            Some(Err(e)) => Err(e.to_string()),
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
                            scope: RT_SCOPE_UNIVERSE,
                        }
                    }
                };
                let scope = if !h.is_empty()
                    && h.iter()
                        .all(|x| matches!(x, Hop::Via { gateway: None, .. }))
                {
                    RT_SCOPE_LINK
                } else {
                    RT_SCOPE_UNIVERSE
                };
                let target = match want {
                    None => {
                        return SetPlan {
                            tail: inline_tail(*v4, h),
                            target: 0,
                            fallback: None,
                            scope,
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
                            scope,
                        }
                    }
                    Err(e) => SetPlan {
                        tail: Err(e),
                        target: 0,
                        fallback: None,
                        scope,
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
                    // Not ours in the kernel: nothing to remove.
                    if self.kernel.contains_key(p) {
                        sent.push(i);
                    }
                }
            }
        }
        let mut olds: Vec<Option<u32>> = Vec::with_capacity(sent.len());
        let Fib {
            nl, objs, kernel, ..
        } = self;
        let refusals = nl.write_with(sent.len(), |j, buf| {
            let i = sent.get(j).copied().unwrap_or(usize::MAX);
            match (changes.get(i), set_of.get(i).and_then(|s| plans.get(*s))) {
                (Some(FibChange::Set(p, _)), Some(plan)) => {
                    if let Ok((rtype, tail)) = &plan.tail {
                        let flags = nl::NLM_F_CREATE | nl::NLM_F_REPLACE;
                        put_route(buf, RTM_NEWROUTE, flags, p, (*rtype, plan.scope), tail);
                        olds.push(book_set(objs, kernel, (p, plan.target)));
                    }
                }
                (Some(FibChange::Remove(p)), _) => {
                    put_route(buf, RTM_DELROUTE, 0, p, (0, RT_SCOPE_NOWHERE), &[]);
                    let old = kernel.remove(p).map(|r| r.obj());
                    if let Some(o) = old.filter(|o| *o != 0) {
                        objs.release(o);
                    }
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
                    unbook_set(objs, kernel, (p, plan.target, old));
                    if errno == libc::EINVAL && plan.fallback.is_some() {
                        retry.push(i);
                    } else {
                        failed.push((*p, text));
                    }
                }
                // Already gone (e.g. with its interface) is fine.
                (Some(FibChange::Remove(p)), _) if errno != libc::ESRCH => {
                    if let Some(o) = old {
                        let r = InKernel::new(o, false);
                        kernel.insert(*p, r);
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
                if let (Some(FibChange::Set(p, _)), Some(plan)) =
                    (changes.get(i), set_of.get(i).and_then(|s| plans.get(*s)))
                {
                    if let Some((rtype, tail)) = &plan.fallback {
                        let flags = nl::NLM_F_CREATE | nl::NLM_F_REPLACE;
                        put_route(buf, RTM_NEWROUTE, flags, p, (*rtype, plan.scope), tail);
                        olds.push(book_set(objs, kernel, (p, 0)));
                    }
                }
            });
            for (j, _, text) in refusals {
                let i = retry.get(j).copied().unwrap_or(usize::MAX);
                if let Some(FibChange::Set(p, _)) = changes.get(i) {
                    let old = olds.get(j).copied().flatten();
                    unbook_set(objs, kernel, (p, 0, old));
                    failed.push((*p, text));
                }
            }
        }
        for (p, e) in &failed {
            if let Some(r) = self.kernel.get_mut(p) {
                r.uninstall();
            }
            // The caller logs it (once per reason, not per retry).
            tracing::debug!("FIB: kernel refused {p}: {e} (to be retried)");
        }
        if objects {
            self.collect_garbage();
        }
        failed
    }
}

/// The kernel's name of interface `name`: `Virtual-Access17` is 16
/// characters, over Linux's 15, and is `rvpn-va17` in the kernel (the
/// data plane names it so: `esp_io::link::linux_name`).
fn kernel_name(name: &str) -> String {
    match name.strip_prefix("Virtual-Access") {
        Some(n) if n.parse::<u32>().is_ok() => format!("rvpn-va{n}"),
        _ => name.to_string(),
    }
}
