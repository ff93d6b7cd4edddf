//! A shell session: the mode stack of one vtysh connection, and the
//! execution of command lines against the running configuration.

use crate::commands::{registry, Ctx};
use crate::grammar::MatchError;
use crate::mode::Mode;
use crate::model::{Afi, Config};
use crate::protocol::ErrorInfo;
use crate::validate::validate;
use serde::Serialize;

/// One level of the mode stack, with what it configures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Frame {
    /// Exec mode, the bottom of every stack.
    Exec,
    /// `configure terminal`.
    Config,
    /// `interface IFNAME`: the interface's name.
    Interface(String),
    /// `crypto ikev2 proposal PROPOSAL`: the proposal's name.
    Ikev2Proposal(String),
    /// `crypto ikev2 keyring KEYRING`: the keyring's name.
    Ikev2Keyring(String),
    /// `peer PEER` inside a keyring.
    Ikev2KeyringPeer {
        /// The keyring's name.
        keyring: String,
        /// The peer's name.
        peer: String,
    },
    /// `crypto pki trustpoint TRUSTPOINT`: the trustpoint's name.
    PkiTrustpoint(String),
    /// `crypto ikev2 profile PROFILE`: the profile's name.
    Ikev2Profile(String),
    /// `crypto ikev2 authorization policy POLICY`: the policy's name.
    Ikev2AuthorizationPolicy(String),
    /// `crypto ipsec transform-set TRANSFORMSET ...`: the set's name.
    IpsecTransformSet(String),
    /// `crypto ipsec profile PROFILE`: the profile's name.
    IpsecProfile(String),
    /// `router bgp ASN`.
    RouterBgp,
    /// `address-family ...` inside `router bgp`: the family.
    RouterBgpAf(Afi),
    /// `route-map ROUTEMAP <permit
    /// deny> SEQ`.
    RouteMap {
        /// The route map's name.
        name: String,
        /// The entry's sequence number.
        seq: u32,
    },
}

impl Frame {
    /// The mode this frame puts the shell in.
    pub fn mode(&self) -> Mode {
        match self {
            Frame::Exec => Mode::Exec,
            Frame::Config => Mode::Config,
            Frame::Interface(_) => Mode::Interface,
            Frame::Ikev2Proposal(_) => Mode::Ikev2Proposal,
            Frame::Ikev2Keyring(_) => Mode::Ikev2Keyring,
            Frame::Ikev2KeyringPeer { .. } => Mode::Ikev2KeyringPeer,
            Frame::PkiTrustpoint(_) => Mode::PkiTrustpoint,
            Frame::Ikev2Profile(_) => Mode::Ikev2Profile,
            Frame::Ikev2AuthorizationPolicy(_) => Mode::Ikev2AuthorizationPolicy,
            Frame::IpsecTransformSet(_) => Mode::IpsecTransformSet,
            Frame::IpsecProfile(_) => Mode::IpsecProfile,
            Frame::RouterBgp => Mode::RouterBgp,
            Frame::RouterBgpAf(_) => Mode::RouterBgpAf,
            Frame::RouteMap { .. } => Mode::RouteMap,
        }
    }
}

/// The `show` commands rvpnd answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum ShowCmd {
    /// `show running-config [include-secrets]`
    RunningConfig {
        /// Show the keys and passwords instead of hiding them.
        include_secrets: bool,
    },
    /// `show startup-config [include-secrets]`
    StartupConfig {
        /// Show the keys and passwords instead of hiding them.
        include_secrets: bool,
    },
    /// `show version`
    Version,
    /// `show interface [NAME] [brief]`
    Interface {
        /// One interface, or all.
        name: Option<String>,
        /// One line per interface.
        brief: bool,
    },
    /// `show ip interface brief`
    IpInterfaceBrief,
    /// `show crypto session [detail]`
    CryptoSession {
        /// Per-SA details.
        detail: bool,
    },
    /// `show crypto ikev2 sa [detail]`
    CryptoIkev2Sa {
        /// Per-SA details.
        detail: bool,
    },
    /// `show crypto ikev2 stats`: half-open SAs, COOKIE demands and what
    /// the in-negotiation limits dropped.
    CryptoIkev2Stats,
    /// `show crypto pki certificates [TRUSTPOINT]`
    CryptoPkiCertificates {
        /// Only this trustpoint's certificates, or all.
        trustpoint: Option<String>,
    },
    /// `show crypto pki trustpoints`
    CryptoPkiTrustpoints,
    /// `show crypto ipsec sa [interface NAME]`
    CryptoIpsecSa {
        /// Only the SAs of this tunnel interface, or all.
        interface: Option<String>,
    },
    /// `show ip bgp summary` (both families) / `show bgp ipv4|ipv6 unicast
    /// summary` (one).
    BgpSummary {
        /// One family, or both.
        afi: Option<crate::model::Afi>,
    },
    /// `show ip bgp [PREFIX|ADDR]` / `show bgp ipv4|ipv6 unicast
    /// [PREFIX|ADDR]`: the table, one prefix, or the longest match of an
    /// address.
    BgpRoutes {
        /// The family.
        afi: crate::model::Afi,
        /// The prefix or address, or the whole table.
        prefix: Option<String>,
    },
    /// `show ip route [PREFIX|ADDR]` / `show ipv6 route [PREFIX|ADDR]`:
    /// the routing table, or one prefix (an address by longest match).
    IpRoute {
        /// IPv6 rather than IPv4.
        v6: bool,
        /// The prefix or address, or the whole table.
        prefix: Option<String>,
    },
    /// `show ip bgp neighbors [ADDR [advertised-routes|received-routes]]`
    BgpNeighbors {
        /// One neighbor, or all.
        addr: Option<std::net::IpAddr>,
        /// The neighbor's routes instead of its details.
        routes: Option<BgpRoutesDir>,
    },
    /// `show bfd peers [brief]`
    BfdPeers {
        /// One line per peer.
        brief: bool,
    },
}

/// Which routes of a neighbor `show ip bgp neighbors X ...` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum BgpRoutesDir {
    /// `advertised-routes`: what we send the neighbor.
    Advertised,
    /// `received-routes`: what the neighbor sent us.
    Received,
}

/// `clear ip bgp ... soft [in|out]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SoftDir {
    /// `soft in`: re-apply inbound policy.
    In,
    /// `soft out`: re-send with outbound policy.
    Out,
    /// `soft`: both directions.
    Both,
}

/// An exec command for the daemon to carry out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum ExecCommand {
    /// A show command; `json` when the line ended in `json`.
    Show {
        /// Which show command.
        cmd: ShowCmd,
        /// JSON output instead of text.
        json: bool,
    },
    /// `write memory`, `write`, `copy running-config startup-config`.
    WriteMemory,
    /// `clear crypto session [peer ADDR]` / `clear crypto ikev2 sa [peer ADDR]`:
    /// delete the SAs (telling the peer) and negotiate again.
    ClearCrypto {
        /// Only the SAs with this peer, or all.
        peer: Option<std::net::IpAddr>,
    },
    /// `clear ip bgp <*|ADDR> [soft [in|out]]`: reset sessions (all with
    /// `None`), or re-apply policy without a reset.
    ClearBgp {
        /// One neighbor, or every neighbor (`*`).
        peer: Option<std::net::IpAddr>,
        /// Re-apply policy without a reset, or reset the session.
        soft: Option<SoftDir>,
    },
}

/// What a line did.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Mode change, comment or blank line: nothing for the daemon to do.
    Nothing,
    /// The configuration changed; this is the new, validated configuration.
    /// The daemon commits it (applies the difference) or, if it cannot,
    /// reports an error and keeps the old one.
    Changed(Box<Config>),
    /// An exec command for the daemon.
    Exec(ExecCommand),
    /// `exit`/`quit` from exec mode: close the session.
    Quit,
}

/// A refused line: message and, where it points at a word, its column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    /// The message, as the shell prints it.
    pub message: String,
    /// The column of the word it points at (where the caret goes), if any.
    pub column: Option<usize>,
}

impl CliError {
    /// An error that points at no word.
    pub fn new(message: impl Into<String>) -> Self {
        let mut message = message.into();
        if !message.starts_with('%') {
            message = format!("% {message}");
        }
        CliError {
            message,
            column: None,
        }
    }
    /// An error with a caret at `column`.
    pub fn at(column: Option<usize>, message: impl Into<String>) -> Self {
        CliError {
            column,
            ..Self::new(message)
        }
    }
}

impl From<MatchError> for CliError {
    fn from(e: MatchError) -> Self {
        CliError {
            message: e.message(),
            column: e.column(),
        }
    }
}

impl From<CliError> for ErrorInfo {
    fn from(e: CliError) -> Self {
        ErrorInfo {
            message: e.message,
            column: e.column,
        }
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The mode stack of one connection. The first frame is always exec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    frames: Vec<Frame>,
}

impl Default for Session {
    fn default() -> Self {
        Self::new()
    }
}

impl Session {
    /// A session in exec mode.
    pub fn new() -> Self {
        Session {
            frames: vec![Frame::Exec],
        }
    }

    /// A session in configuration mode (for applying files).
    pub fn new_config() -> Self {
        Session {
            frames: vec![Frame::Exec, Frame::Config],
        }
    }

    /// The current mode.
    pub fn mode(&self) -> Mode {
        self.frames.last().map_or(Mode::Exec, Frame::mode)
    }

    /// The mode stack, innermost last.
    pub fn frames(&self) -> &[Frame] {
        &self.frames
    }

    /// The prompt for the current mode, e.g. `hub1(config-if)#`.
    pub fn prompt(&self, running: &Config) -> String {
        self.mode().prompt(running.hostname())
    }

    /// Execute one line against the running configuration. A line that
    /// changes the configuration yields [`Outcome::Changed`] with the new
    /// configuration, already validated as a whole; a refused line leaves
    /// both the session and the configuration as they were.
    pub fn execute(&mut self, line: &str, running: &Config) -> Result<Outcome, CliError> {
        self.run(line, running, true)
    }

    /// Like [`Session::execute`] but without whole-config validation; used
    /// when a whole file is applied and validated once at the end.
    pub fn execute_unvalidated(
        &mut self,
        line: &str,
        running: &Config,
    ) -> Result<Outcome, CliError> {
        self.run(line, running, false)
    }

    fn run(&mut self, line: &str, running: &Config, check: bool) -> Result<Outcome, CliError> {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('!') || trimmed.starts_with('#') {
            return Ok(Outcome::Nothing);
        }
        let reg = registry();
        let mut first_err: Option<MatchError> = None;
        // The current mode first, then its parents: a line that belongs to
        // a parent mode leaves the sub-mode (as IOS and FRR do).
        for depth in (1..=self.frames.len()).rev() {
            let mode = self.frames[depth - 1].mode();
            if depth < self.frames.len() && mode == Mode::Exec {
                break;
            }
            match reg.parse(mode, line) {
                Ok((cmd, args)) => {
                    let mut ctx = Ctx::new(running, self.frames[..depth].to_vec());
                    (cmd.handler)(&mut ctx, &args)?;
                    let outcome = if ctx.quit {
                        Outcome::Quit
                    } else if let Some(e) = ctx.exec.take() {
                        Outcome::Exec(e)
                    } else if ctx.cfg != *running {
                        if check {
                            let errs = validate(&ctx.cfg);
                            if !errs.is_empty() {
                                let msgs: Vec<String> =
                                    errs.iter().map(|e| format!("% {e}")).collect();
                                return Err(CliError::new(msgs.join("\n")));
                            }
                        }
                        Outcome::Changed(Box::new(ctx.cfg))
                    } else {
                        Outcome::Nothing
                    };
                    self.frames = ctx.frames;
                    return Ok(outcome);
                }
                Err(e) => {
                    if first_err.is_none() {
                        first_err = Some(e);
                    }
                }
            }
        }
        Err(first_err.unwrap_or(MatchError::Empty).into())
    }
}

/// An error in a configuration file: the line number (1-based, 0 when the
/// error concerns the whole configuration) and the message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileError {
    /// The line number (1-based; 0 for the whole configuration).
    pub line: usize,
    /// The line as written in the file.
    pub text: String,
    /// Byte column in `text` of the word the error points at.
    pub column: Option<usize>,
    /// The message.
    pub message: String,
}

impl FileError {
    /// The error with the line shown through `show` (e.g. a function that
    /// masks secrets while keeping the length), a caret under the bad word,
    /// and the message.
    pub fn render_with(&self, show: impl Fn(&str) -> String) -> String {
        if self.line == 0 {
            return self.message.clone();
        }
        let prefix = format!("line {}: ", self.line);
        let mut out = format!("{prefix}{}\n", show(&self.text));
        if let Some(col) = self.column {
            let upto = &self.text[..col.min(self.text.len())];
            let pad = " ".repeat(prefix.len() + upto.chars().count());
            out.push_str(&format!("{pad}^\n"));
        }
        out.push_str(&self.message);
        out
    }
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render_with(|t| t.to_string()))
    }
}

/// Apply a configuration text on top of `base`, as if typed in
/// `configure terminal`, then validate the result once. Either every line
/// is accepted and the result is valid, or the errors are returned (all of
/// them, each with its line number) and nothing is changed.
///
/// For a startup config or a reload, `base` is `Config::default()`.
pub fn load_config(text: &str, base: &Config) -> Result<Config, Vec<FileError>> {
    let mut cfg = base.clone();
    let mut sess = Session::new_config();
    let mut errors = Vec::new();
    for (i, line) in text.lines().enumerate() {
        match sess.execute_unvalidated(line, &cfg) {
            Ok(Outcome::Changed(c)) => cfg = *c,
            Ok(Outcome::Nothing) => {}
            Ok(Outcome::Exec(_)) | Ok(Outcome::Quit) => errors.push(FileError {
                line: i + 1,
                text: line.to_string(),
                column: None,
                message: "% Not a configuration command".into(),
            }),
            Err(e) => errors.push(FileError {
                line: i + 1,
                text: line.to_string(),
                column: e.column,
                message: e.message,
            }),
        }
        // `end` or `exit` at the top of a file returns to config mode.
        if sess.mode() == Mode::Exec {
            sess = Session::new_config();
        }
    }
    if errors.is_empty() {
        errors.extend(validate(&cfg).into_iter().map(|e| FileError {
            line: 0,
            text: String::new(),
            column: None,
            message: format!("% {e}"),
        }));
    }
    if errors.is_empty() {
        Ok(cfg)
    } else {
        Err(errors)
    }
}
