//! Which session a received Control packet belongs to (RFC 5880 section
//! 6.3, RFC 5881 section 3): by Your Discriminator when it is nonzero,
//! else by the source address and the interface it arrived on.

use std::collections::HashMap;
use std::net::IpAddr;

/// What demultiplexing needs to know of a session.
pub trait Demux {
    /// The remote system's address.
    fn peer(&self) -> IpAddr;
    /// The interface the session runs over, once known.
    fn ifindex(&self) -> Option<u32>;
}

fn same_if(s: &impl Demux, ifindex: Option<u32>) -> bool {
    match (s.ifindex(), ifindex) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    }
}

/// The local discriminator of the session a packet from `src`, received
/// on `ifindex`, with Your Discriminator `your_discr`, belongs to. A
/// nonzero discriminator must name a session with that peer (on that
/// interface); zero picks the session with that peer on that interface,
/// one bound to the interface before one not yet bound.
pub fn demux<S: Demux>(
    sessions: &HashMap<u32, S>,
    your_discr: u32,
    src: IpAddr,
    ifindex: Option<u32>,
) -> Option<u32> {
    if your_discr != 0 {
        let s = sessions.get(&your_discr)?;
        return (s.peer() == src && same_if(s, ifindex)).then_some(your_discr);
    }
    let mut loose = None;
    for (d, s) in sessions {
        if s.peer() != src || !same_if(s, ifindex) {
            continue;
        }
        if s.ifindex().is_some() && ifindex.is_some() {
            return Some(*d);
        }
        loose = Some(loose.map_or(*d, |l: u32| l.min(*d)));
    }
    loose
}

#[cfg(test)]
mod tests {
    use super::*;

    struct S(IpAddr, Option<u32>);
    impl Demux for S {
        fn peer(&self) -> IpAddr {
            self.0
        }
        fn ifindex(&self) -> Option<u32> {
            self.1
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn by_discriminator_then_by_address_and_interface() {
        let mut m = HashMap::new();
        m.insert(10, S(ip("10.0.0.2"), Some(3)));
        m.insert(11, S(ip("10.0.0.2"), Some(4)));
        m.insert(12, S(ip("fd00::2"), None));
        m.insert(13, S(ip("10.0.0.9"), None));
        // Your Discriminator names the session, if the peer matches.
        assert_eq!(demux(&m, 11, ip("10.0.0.2"), Some(4)), Some(11));
        assert_eq!(demux(&m, 11, ip("10.0.0.2"), None), Some(11));
        assert_eq!(demux(&m, 11, ip("10.0.0.3"), Some(4)), None, "other peer");
        assert_eq!(demux(&m, 11, ip("10.0.0.2"), Some(3)), None, "other link");
        assert_eq!(demux(&m, 99, ip("10.0.0.2"), Some(3)), None, "unknown");
        // Zero: the peer on that interface.
        assert_eq!(demux(&m, 0, ip("10.0.0.2"), Some(3)), Some(10));
        assert_eq!(demux(&m, 0, ip("10.0.0.2"), Some(4)), Some(11));
        assert_eq!(demux(&m, 0, ip("10.0.0.2"), Some(5)), None);
        // A session not bound to an interface takes any.
        assert_eq!(demux(&m, 0, ip("fd00::2"), Some(7)), Some(12));
        assert_eq!(demux(&m, 0, ip("10.0.0.9"), None), Some(13));
        assert_eq!(demux(&m, 0, ip("10.0.0.77"), None), None);
    }

    #[test]
    fn bound_session_wins_over_unbound() {
        let mut m = HashMap::new();
        m.insert(1, S(ip("10.0.0.2"), None));
        m.insert(2, S(ip("10.0.0.2"), Some(3)));
        assert_eq!(demux(&m, 0, ip("10.0.0.2"), Some(3)), Some(2));
        assert_eq!(demux(&m, 0, ip("10.0.0.2"), Some(4)), Some(1));
    }
}
