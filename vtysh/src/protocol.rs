//! The vtysh <-> rvpnd protocol over the Unix socket.
//!
//! Newline-delimited JSON: the client writes one [`Request`] per line, the
//! daemon answers each with exactly one [`Response`] line, in order.

use crate::mode::Mode;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Default socket path; `RVPN_SOCKET` overrides it for both programs.
pub const DEFAULT_SOCKET: &str = "/run/rvpn/rvpnd.sock";

/// The socket path in force: `RVPN_SOCKET` if set and non-empty, else the default.
pub fn socket_path() -> PathBuf {
    match std::env::var_os("RVPN_SOCKET") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(DEFAULT_SOCKET),
    }
}

/// A client request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Request {
    /// Ask for the current prompt and mode; changes nothing.
    Hello,
    /// One command line, as typed, in the connection's current mode.
    Line {
        /// The line.
        line: String,
    },
    /// A whole configuration text applied as one transaction on top of the
    /// running config (`vtysh -f`): every line parses and the result
    /// validates, or nothing changes. `name` is used in error messages.
    ApplyConfig {
        /// What to call the text in error messages (a file name).
        name: String,
        /// The configuration text.
        text: String,
    },
}

/// Where and why a line was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorInfo {
    /// The message, starting with `% `.
    pub message: String,
    /// Byte column in the line the error points at (caret position), if any.
    pub column: Option<usize>,
}

/// The daemon's answer to one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// False when the command was refused; nothing changed then.
    pub ok: bool,
    /// Text for standard output (show output, info messages).
    pub output: String,
    /// The refusal, when `ok` is false.
    pub error: Option<ErrorInfo>,
    /// The connection's mode after the request.
    pub mode: Mode,
    /// The prompt after the request, e.g. `hub1(config-if)#`.
    pub prompt: String,
    /// The session ended (`exit` from exec mode); the client should close.
    pub quit: bool,
}

impl ErrorInfo {
    /// Render an error the way a router does: the line (after `prefix`, the
    /// prompt or nothing), a caret under the bad word, and the message.
    pub fn render(&self, prefix: &str, line: &str) -> String {
        match self.column {
            Some(col) => {
                let pad = prefix.chars().count() + line[..col.min(line.len())].chars().count();
                format!("{prefix}{line}\n{}^\n{}\n", " ".repeat(pad), self.message)
            }
            None => format!("{}\n", self.message),
        }
    }
}
