//! Facts about the running daemon fixed at startup (file and socket paths,
//! the requested data plane, the start time), apart from the state owner so
//! that `show` reads them without depending on it.

use crate::dataplane::Dataplane;
use std::path::PathBuf;
use std::time::Instant;

/// Facts about this daemon that do not change while it runs.
#[derive(Debug, Clone)]
pub struct Info {
    /// The startup configuration file.
    pub startup: PathBuf,
    /// The control socket.
    pub socket: PathBuf,
    /// The data plane the operator asked for.
    pub dataplane: Dataplane,
    /// When the daemon started.
    pub started: Instant,
}
