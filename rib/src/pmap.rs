//! A map keyed by prefix, in [`CowMap`]s with compact keys (issue 16):
//! an IPv4 prefix is 8 octets (address as an integer, length), not the 18
//! of an `IpNetwork`, which every table of a million IPv4 prefixes keeps
//! once per entry. Same order as `IpNetwork`'s (IPv4 first, then by
//! address, then by length); cloning is as cheap as a `CowMap`'s.

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnetwork::{IpNetwork, Ipv4Network, Ipv6Network};

use crate::cow::CowMap;

/// An IPv4 prefix as a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct K4 {
    addr: u32,
    len: u8,
}

/// An IPv6 prefix as a key (octets compare as the address does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct K6 {
    addr: [u8; 16],
    len: u8,
}

impl crate::cow::Rank for K4 {
    fn rank(&self) -> u64 {
        crate::cow::rank_v4(self.addr, self.len)
    }
}

impl crate::cow::Rank for K6 {
    fn rank(&self) -> u64 {
        crate::cow::rank_v6(&self.addr)
    }
}

fn k4(n: &Ipv4Network) -> K4 {
    K4 {
        addr: u32::from(n.ip()),
        len: n.prefix(),
    }
}

fn k6(n: &Ipv6Network) -> K6 {
    K6 {
        addr: n.ip().octets(),
        len: n.prefix(),
    }
}

fn net4(k: &K4) -> IpNetwork {
    let a = Ipv4Addr::from(k.addr);
    // The length came from a valid network.
    IpNetwork::V4(Ipv4Network::new(a, k.len).unwrap_or_else(|_| Ipv4Network::from(a)))
}

fn net6(k: &K6) -> IpNetwork {
    let a = Ipv6Addr::from(k.addr);
    IpNetwork::V6(Ipv6Network::new(a, k.len).unwrap_or_else(|_| Ipv6Network::from(a)))
}

/// A sorted map of prefixes to `V`.
#[derive(Debug)]
pub struct PrefixMap<V> {
    v4: CowMap<K4, V>,
    v6: CowMap<K6, V>,
}

impl<V> Clone for PrefixMap<V> {
    fn clone(&self) -> Self {
        PrefixMap {
            v4: self.v4.clone(),
            v6: self.v6.clone(),
        }
    }
}

impl<V> Default for PrefixMap<V> {
    fn default() -> Self {
        PrefixMap {
            v4: CowMap::default(),
            v6: CowMap::default(),
        }
    }
}

impl<V: Clone> PrefixMap<V> {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many prefixes.
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// Whether it has none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value of `p`.
    pub fn get(&self, p: &IpNetwork) -> Option<&V> {
        match p {
            IpNetwork::V4(n) => self.v4.get(&k4(n)),
            IpNetwork::V6(n) => self.v6.get(&k6(n)),
        }
    }

    /// Whether `p` has a value.
    pub fn contains_key(&self, p: &IpNetwork) -> bool {
        self.get(p).is_some()
    }

    /// The value of `p`, mutable.
    pub fn get_mut(&mut self, p: &IpNetwork) -> Option<&mut V> {
        match p {
            IpNetwork::V4(n) => self.v4.get_mut(&k4(n)),
            IpNetwork::V6(n) => self.v6.get_mut(&k6(n)),
        }
    }

    /// Sets the value of `p`; returns the one it replaces.
    pub fn insert(&mut self, p: IpNetwork, v: V) -> Option<V> {
        match p {
            IpNetwork::V4(n) => self.v4.insert(k4(&n), v),
            IpNetwork::V6(n) => self.v6.insert(k6(&n), v),
        }
    }

    /// Removes `p`; returns its value.
    pub fn remove(&mut self, p: &IpNetwork) -> Option<V> {
        match p {
            IpNetwork::V4(n) => self.v4.remove(&k4(n)),
            IpNetwork::V6(n) => self.v6.remove(&k6(n)),
        }
    }

    /// Every prefix and its value, in order (IPv4 first).
    pub fn iter(&self) -> impl Iterator<Item = (IpNetwork, &V)> {
        let v4 = self.v4.iter().map(|(k, v)| (net4(k), v));
        let v6 = self.v6.iter().map(|(k, v)| (net6(k), v));
        v4.chain(v6)
    }

    /// Every prefix, in order.
    pub fn keys(&self) -> impl Iterator<Item = IpNetwork> + '_ {
        self.iter().map(|(p, _)| p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn same_order_and_contents_as_a_btreemap_of_ipnetworks() {
        let ps = [
            "10.0.0.0/8",
            "10.0.0.0/24",
            "9.255.0.0/16",
            "0.0.0.0/0",
            "255.255.255.255/32",
            "2001:db8::/32",
            "::/0",
            "2001:db8::/48",
            "fe80::/10",
            "128.0.0.0/1",
        ];
        let mut m: PrefixMap<usize> = PrefixMap::new();
        let mut model: BTreeMap<IpNetwork, usize> = BTreeMap::new();
        for (i, p) in ps.iter().enumerate() {
            let p: IpNetwork = p.parse().unwrap();
            assert_eq!(m.insert(p, i), model.insert(p, i));
        }
        assert!(m.iter().map(|(p, v)| (p, *v)).eq(model.clone()));
        let gone: IpNetwork = "2001:db8::/32".parse().unwrap();
        assert_eq!(m.remove(&gone), model.remove(&gone));
        *m.get_mut(&"0.0.0.0/0".parse().unwrap()).unwrap() += 100;
        *model.get_mut(&"0.0.0.0/0".parse().unwrap()).unwrap() += 100;
        assert!(m.iter().map(|(p, v)| (p, *v)).eq(model.clone()));
        assert_eq!(m.len(), model.len());
        assert!(!m.contains_key(&gone));
        assert_eq!(std::mem::size_of::<(K4, u32)>(), 12);
    }
}
