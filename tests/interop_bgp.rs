//! BGP interop: rvpnd's BGP speaker against FRR 8.4, BIRD 2.0.12 and
//! GoBGP 3.10 in network namespaces, checked the way a user would: the
//! JSON shows on both sides (rvpnd `show ip bgp ... json`; FRR `show bgp
//! ... json`, BIRD `birdc show route ... all`, GoBGP `gobgp -j global
//! rib`). One scenario per function, each in namespaces of its own:
//!
//!  1 FRR eBGP IPv4: sessions, routes both ways, withdrawal
//!  2 FRR iBGP IPv4 + IPv6 (two sessions): next hops, LOCAL_PREF
//!  3 BIRD eBGP IPv4 + IPv6 (two sessions)
//!  4 GoBGP eBGP and iBGP (`remote-as internal`)
//!  5 TCP MD5: matching password; wrong password (then corrected)
//!  6 route refresh: `clear ip bgp X soft in|out` after route-map changes,
//!    without a session reset (FRR's connection counters)
//!  7 route-maps on both sides (MED from FRR; prepend, MED, prefix-list
//!    and local-preference on rvpn)
//!  8 RFC 8212: an eBGP peer without policy gets and gives nothing; with
//!    route-maps in and out it flows
//!  9 graceful restart (helper): FRR's bgpd killed and restarted; routes
//!    kept stale, never missing (polled every 100 ms), leftovers removed
//!    after End-of-RIB
//! 10 RFC 7606: a malformed MULTI_EXIT_DISC (examples/bgp_inject.rs) makes
//!    the prefix withdrawn, the session stays up
//! 11 multipath: two eBGP peers, `maximum-paths 2` + multipath-relax
//! 12 dynamic neighbors: `bgp listen range` + peer-group; `bgp listen
//!    limit 1` refuses a second spoke (then `limit 2` lets it in)
//!
//! The scenarios are in tests/interop_bgp/ by topic: sessions.rs (1-5),
//! policy.rs (6-8), robustness.rs (9, 10; inject.rs runs the injector)
//! and multipeer.rs (11, 12). What they share with other test binaries
//! is in tests/support/: the device under test (dut.rs), the two-node
//! lab (bgp_lab.rs), reading the BGP JSON (bgp_json.rs), the failure
//! reports (bgp_diag.rs) and the peers (bgp_peers/).
//!
//! Each scenario runs twice: `<name>` against rvpnd, and `standin_<name>`
//! (ignored by default) with FRR's bgpd in rvpnd's place, running the
//! same configuration text (plus `no bgp network import-check` and
//! `timers connect 2`). The stand-ins prove the peer configurations, the
//! peer-side checks and the test logic on this machine independently of
//! rvpnd:
//!
//!     cargo test -p rvpnd --test interop_bgp -- --ignored standin_
//!
//! Needs root and the packages frr, bird2 and gobgpd (scripts/test
//! installs them); without root every test prints why it is skipped and
//! returns, otherwise missing packages fail it. Test 10 runs the injector
//! example of the bgp crate: `cargo test --workspace` builds it; for a
//! single `cargo test -p rvpnd --test interop_bgp` the test builds it
//! (into TARGET/interop-inject) when it is missing or older than bgp/.
//!
//! On failure each test prints, after the panic message, the BGP state
//! and the log tails of every daemon of its lab (the scratch directories
//! with the whole logs are kept).

mod support;

#[path = "interop_bgp/inject.rs"]
mod inject;
#[path = "interop_bgp/multipeer.rs"]
mod multipeer;
#[path = "interop_bgp/policy.rs"]
mod policy;
#[path = "interop_bgp/robustness.rs"]
mod robustness;
#[path = "interop_bgp/sessions.rs"]
mod sessions;

use std::time::Duration;
use support::bgp_peers::require_bgp_peers;
use support::dut::Kind;

/// Session establishment (all three peers retry every 2 s here).
const UP: Duration = Duration::from_secs(30);
/// Route propagation once the sessions are up.
const ROUTES: Duration = Duration::from_secs(20);
/// A withdrawal or a policy change taking effect.
const CHANGE: Duration = Duration::from_secs(10);
/// How long "never" lasts for sessions that must not come up.
const NEVER: Duration = Duration::from_secs(12);

/// Whether the tests can run: false (with the reason printed) only when
/// not root; panics when root but the peers are not installed.
fn ready() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!(
            "SKIPPED: the BGP interop tests need root (network namespaces, FRR/BIRD/GoBGP \
             inside them); run scripts/test as root"
        );
        return false;
    }
    require_bgp_peers();
    true
}

macro_rules! scenario {
    ($group:ident :: $name:ident, $standin:ident) => {
        #[test]
        fn $name() {
            if ready() {
                $group::$name(Kind::Rvpn);
            }
        }

        #[test]
        #[ignore = "peer-side check: FRR stands in for rvpnd (run with --ignored)"]
        fn $standin() {
            if ready() {
                $group::$name(Kind::FrrStandIn);
            }
        }
    };
}

scenario!(sessions::frr_ebgp_ipv4, standin_frr_ebgp_ipv4);
scenario!(sessions::frr_ibgp_ipv4_ipv6, standin_frr_ibgp_ipv4_ipv6);
scenario!(sessions::bird_ebgp_ipv4_ipv6, standin_bird_ebgp_ipv4_ipv6);
scenario!(sessions::gobgp_ebgp, standin_gobgp_ebgp);
scenario!(sessions::gobgp_ibgp, standin_gobgp_ibgp);
scenario!(
    sessions::md5_matching_password,
    standin_md5_matching_password
);
scenario!(sessions::md5_wrong_password, standin_md5_wrong_password);
scenario!(
    policy::route_refresh_soft_in_out,
    standin_route_refresh_soft_in_out
);
scenario!(policy::route_maps_both_sides, standin_route_maps_both_sides);
scenario!(
    policy::rfc8212_no_policy_no_routes,
    standin_rfc8212_no_policy_no_routes
);
scenario!(
    robustness::graceful_restart_helper,
    standin_graceful_restart_helper
);
scenario!(
    robustness::malformed_med_treat_as_withdraw,
    standin_malformed_med_treat_as_withdraw
);
scenario!(
    multipeer::multipath_two_ebgp_peers,
    standin_multipath_two_ebgp_peers
);
scenario!(
    multipeer::dynamic_neighbors_listen_range,
    standin_dynamic_neighbors_listen_range
);
scenario!(
    multipeer::dynamic_neighbors_listen_limit,
    standin_dynamic_neighbors_listen_limit
);
