//! Bookkeeping of rvpn's kernel nexthop objects: what each one is, how
//! many routes and groups use it, and the booking of a route write before
//! the kernel answers it.

use crate::pmap::PrefixMap;
use ipnetwork::IpNetwork;
use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

/// A resolved next hop with its interface index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Hop {
    Via {
        gateway: Option<IpAddr>,
        ifindex: u32,
    },
    Blackhole,
}

/// What a nexthop object is (its identity for sharing).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum NhKey {
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
pub(super) struct NhObj {
    pub(super) key: NhKey,
    /// Routes naming it, plus (for a single next hop) groups holding it.
    pub(super) refs: u32,
}

/// rvpn's nexthop objects in the kernel.
#[derive(Debug, Default)]
pub(super) struct Objects {
    pub(super) by_id: HashMap<u32, NhObj>,
    /// The objects new routes may use (an object the kernel changed or
    /// removed on its own is only in `by_id`, until it is unused).
    pub(super) by_key: HashMap<NhKey, u32>,
    /// Ids are never reused within a run (a late notification about an
    /// old object must not hit a new one), and skip the ones found in
    /// the kernel at open.
    pub(super) next_id: u32,
    pub(super) taken: std::collections::HashSet<u32>,
    /// Objects that may have become unused.
    pub(super) garbage: BTreeSet<u32>,
}

impl Objects {
    /// Whether one of the objects goes out of interface `ix`.
    pub(super) fn uses_ifindex(&self, ix: u32) -> bool {
        self.by_id
            .values()
            .any(|o| matches!(o.key, NhKey::Hop { ifindex, .. } if ifindex == ix))
    }

    pub(super) fn alloc(&mut self) -> Option<u32> {
        for _ in 0..1_000_000 {
            // Below 2^31: an [`InKernel`] keeps its mark in the top bit.
            self.next_id = (self.next_id.wrapping_add(1) & !INSTALLED).max(1);
            let id = self.next_id;
            if !self.taken.contains(&id) && !self.by_id.contains_key(&id) {
                return Some(id);
            }
        }
        None
    }
    pub(super) fn acquire(&mut self, id: u32) {
        if let Some(o) = self.by_id.get_mut(&id) {
            o.refs += 1;
        }
    }
    pub(super) fn release(&mut self, id: u32) {
        if let Some(o) = self.by_id.get_mut(&id) {
            o.refs = o.refs.saturating_sub(1);
            if o.refs == 0 {
                self.garbage.insert(id);
            }
        }
    }
    /// Stops using `id` for new routes (the kernel removed or changed it).
    pub(super) fn retire(&mut self, id: u32) {
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

/// How the routes through one distinct next-hop set are written.
pub(super) struct SetPlan {
    /// Route type and the attributes after RTA_DST; or why not.
    pub(super) tail: Result<(u8, Vec<u8>), String>,
    /// The nexthop object the routes name (0: inline next hops).
    pub(super) target: u32,
    /// The inline form of an IPv4 route through an IPv6 object, for a
    /// kernel that refuses the object in an IPv4 route.
    pub(super) fallback: Option<(u8, Vec<u8>)>,
    /// RT_SCOPE_LINK when every next hop is an interface without a
    /// gateway (a host route to a spoke through its Virtual-Access, which
    /// BGP routes then resolve their gateway through), else universe.
    pub(super) scope: u8,
}

/// One of our routes in the kernel: the object it names (0: none) and
/// whether it is the route last written for its prefix (a refused
/// replace leaves the kernel's old route, which is no longer "installed").
/// Packed in 4 octets (the mark in the top bit; object ids stay below
/// 2^31, see [`Objects::alloc`]): with its 8-octet key a row is 12
/// octets, not 16 (a full table: 4 MB).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct InKernel(u32);

const INSTALLED: u32 = 1 << 31;

impl InKernel {
    pub(super) fn new(obj: u32, installed: bool) -> Self {
        InKernel((obj & !INSTALLED) | if installed { INSTALLED } else { 0 })
    }
    pub(super) fn obj(self) -> u32 {
        self.0 & !INSTALLED
    }
    pub(super) fn installed(self) -> bool {
        self.0 & INSTALLED != 0
    }
    pub(super) fn uninstall(&mut self) {
        self.0 &= !INSTALLED;
    }
}

/// Books a route write before its answer (undone if refused): the
/// kernel-side map, refcounts and the installed mark. Returns the object
/// the route named before (None: no route).
pub(super) fn book_set(
    objs: &mut Objects,
    kernel: &mut PrefixMap<InKernel>,
    (p, target): (&IpNetwork, u32),
) -> Option<u32> {
    if target != 0 {
        objs.acquire(target);
    }
    let old = kernel
        .insert(*p, InKernel::new(target, true))
        .map(InKernel::obj);
    if let Some(o) = old.filter(|o| *o != 0) {
        objs.release(o);
    }
    old
}

/// Undoes [`book_set`] for a refused write (the kernel keeps what it had).
pub(super) fn unbook_set(
    objs: &mut Objects,
    kernel: &mut PrefixMap<InKernel>,
    (p, target, old): (&IpNetwork, u32, Option<u32>),
) {
    match old {
        Some(o) => {
            kernel.insert(*p, InKernel::new(o, false));
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_keeps_its_object_and_mark_in_four_octets() {
        assert_eq!(std::mem::size_of::<InKernel>(), 4);
        for obj in [0, 1, 77, INSTALLED - 1] {
            for installed in [false, true] {
                let mut r = InKernel::new(obj, installed);
                assert_eq!((r.obj(), r.installed()), (obj, installed));
                r.uninstall();
                assert_eq!((r.obj(), r.installed()), (obj, false));
            }
        }
    }

    #[test]
    fn ids_stay_below_the_mark_and_skip_taken_ones() {
        // The kernel had an object with a high id (another program's):
        // the next ids wrap to 1, not into the mark's bit.
        let mut o = Objects {
            next_id: u32::MAX - 1,
            ..Default::default()
        };
        o.taken.insert(1);
        assert_eq!(o.alloc(), Some(INSTALLED - 1));
        assert_eq!(o.alloc(), Some(2));
        o.next_id = INSTALLED + 5;
        assert_eq!(o.alloc(), Some(6));
    }
}
