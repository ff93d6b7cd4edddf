//! The rvpn command language: a grammar of command templates with
//! router-style abbreviations, `?` help and Tab completion; a typed
//! configuration model; a validator; a renderer that prints the model back
//! as configuration text; and the vtysh <-> rvpnd protocol.
//!
//! rvpnd uses [`Session`] to execute lines and [`load_config`] to read
//! files; the `vtysh` binary uses [`help`] and [`complete`] locally and
//! talks [`protocol`] to the daemon.

pub mod commands;
pub mod diff;
pub mod grammar;
pub mod mode;
pub mod model;
pub mod protocol;
pub mod render;
pub mod session;
pub mod validate;

pub use commands::{complete, help};
pub use diff::{diff, Change, ChangeKind, Section};
pub use mode::Mode;
pub use model::Config;
pub use render::render;
pub use session::{
    load_config, BgpRoutesDir, CliError, ExecCommand, FileError, Frame, Outcome, Session, ShowCmd,
    SoftDir,
};
pub use validate::{validate, ValidationError};
