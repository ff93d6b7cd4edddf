//! Sans-IO IKE SA and Child SA state machines: [`Engine`] takes
//! datagrams, timer ticks and commands with the current time, and gives
//! back [`Output`]s. Nothing here reads the clock or touches a socket.

mod auth;
mod child;
pub mod codec;
pub mod config;
mod engine;
mod exchange;
pub mod frag;
pub mod guard;
mod history;
mod ike_sa;
mod info;
mod init;
mod install;
mod mobility;
pub mod msg;
pub mod proposal;
mod random;
mod sigauth;
mod table;
mod vtemplate;

pub use engine::{ChildMove, ChildSaParams, Engine, Output, TunnelStatus, HALF_OPEN_TIMEOUT};
pub use guard::GuardStats;
pub use info::{ChildSaInfo, IkeSaInfo};
pub use init::first_init_request;
pub use install::INSTALL_TIMEOUT;
pub use random::RNG_FAILURE;
pub use sigauth::AuthInfo;
pub use vtemplate::{CpResult, VIRTUAL_ACCESS};
#[cfg(test)]
mod tests;
