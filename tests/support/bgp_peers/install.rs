//! What the BGP interop tests need installed: the Debian packages, the
//! daemons' and clients' paths, and the check that they are there.

use super::super::{in_path, run_timeout};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The Debian 12 packages the BGP interop tests need (scripts/test
/// installs them).
pub const BGP_PACKAGES: &str = "frr bird2 gobgpd";

/// FRR's daemons (Debian 12).
pub const ZEBRA: &str = "/usr/lib/frr/zebra";
pub const BGPD: &str = "/usr/lib/frr/bgpd";
pub const BFDD: &str = "/usr/lib/frr/bfdd";
pub const VTYSH: &str = "/usr/bin/vtysh";
/// BIRD 2 and its client.
pub const BIRD: &str = "/usr/sbin/bird";
pub const BIRDC: &str = "/usr/sbin/birdc";
/// GoBGP's daemon and CLI.
pub const GOBGPD: &str = "/usr/bin/gobgpd";
pub const GOBGP: &str = "/usr/bin/gobgp";

/// Panic unless the BGP interop tests can run: root and the FRR, BIRD and
/// GoBGP binaries (and FRR's user). Never skips silently.
pub fn require_bgp_peers() {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    let mut missing: Vec<String> = [ZEBRA, BGPD, VTYSH, BIRD, BIRDC, GOBGPD, GOBGP]
        .iter()
        .filter(|p| !Path::new(p).is_file())
        .map(|p| p.to_string())
        .collect();
    for tool in ["ip", "unshare", "mount", "chown"] {
        if !in_path(tool) {
            missing.push(tool.to_string());
        }
    }
    let frr_user = run_timeout(
        Command::new("id").args(["-u", "frr"]),
        Duration::from_secs(5),
    )
    .status
    .success();
    if !frr_user {
        missing.push("user frr (package frr)".into());
    }
    assert!(
        euid == 0 && missing.is_empty(),
        "the BGP interop tests need root and the packages [{BGP_PACKAGES}]; \
         run scripts/test as root (it installs them).\n  root: {}\n  missing: {missing:?}",
        euid == 0
    );
}

/// [`require_bgp_peers`], and FRR's bfdd must be there too.
pub fn require_bfdd() {
    require_bgp_peers();
    assert!(
        std::path::Path::new(BFDD).is_file(),
        "{BFDD} is missing (package frr)"
    );
}
