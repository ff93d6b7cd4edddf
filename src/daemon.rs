//! The state owner: one task holds the running configuration and the
//! runtime state, and serves requests and reloads one at a time, so no
//! lock guards any of it.

use crate::dataplane::{iface_spec, DpCommand, DpStats};
use crate::iface::{IfaceTable, Stamp};
use crate::info::Info;
use crate::{persist, redact, show};
use arc_swap::ArcSwap;
use ike::driver::{Command as IkeCommand, Snapshot};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, info, warn};
use vtysh::diff::ChangeKind;
use vtysh::protocol::{ErrorInfo, Request, Response};
use vtysh::{Config, ExecCommand, FileError, Outcome, Session, ShowCmd};

/// A message to the state owner.
#[derive(Debug)]
pub enum Msg {
    /// A client request, with the connection's session; the reply carries
    /// the session back (changed or not) and the response.
    Request {
        /// Connection number, for logs.
        conn: u64,
        /// The connection's session.
        session: Session,
        /// The request, or why it could not be decoded.
        request: Result<Request, String>,
        /// Where to send the answer.
        reply: oneshot::Sender<(Session, Response)>,
    },
    /// SIGHUP: reload the startup file.
    Reload,
}

/// Where a configuration change came from, for logs.
#[derive(Debug, Clone, Copy)]
enum Origin {
    Startup,
    Conn(u64),
    Reload,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Startup => f.write_str("startup"),
            Origin::Conn(n) => write!(f, "vty{n}"),
            Origin::Reload => f.write_str("reload"),
        }
    }
}

/// The daemon's state.
pub struct Daemon {
    info: Info,
    running: Config,
    ifaces: IfaceTable,
    /// Incremented by every commit that changed something.
    generation: u64,
    /// The IKE task, if it could open its sockets.
    ike: Option<mpsc::Sender<IkeCommand>>,
    /// What IKE was last told.
    ike_cfg: ike::sa::config::EngineConfig,
    /// Protected tunnels IKE cannot negotiate, and why.
    ike_problems: Vec<(String, String)>,
    /// The data plane, when it runs.
    dp: Option<mpsc::UnboundedSender<DpCommand>>,
    /// The BGP speaker.
    bgp: Option<mpsc::Sender<crate::bgp::Command>>,
    /// The RIB task.
    rib: Option<crate::routing::RibHandle>,
    /// The BFD task.
    bfd: Option<mpsc::Sender<crate::bfd_task::Command>>,
    /// The running configuration for other tasks (the SA events task reads
    /// interface settings from it), stored after every commit.
    published: Arc<ArcSwap<Config>>,
}

/// What a request handler produced, before the mode and prompt are added.
struct Reply {
    output: String,
    error: Option<ErrorInfo>,
    quit: bool,
}

impl Reply {
    fn ok(output: impl Into<String>) -> Self {
        Reply {
            output: output.into(),
            error: None,
            quit: false,
        }
    }
    fn err(e: impl Into<ErrorInfo>) -> Self {
        Reply {
            output: String::new(),
            error: Some(e.into()),
            quit: false,
        }
    }
    fn msg(message: impl Into<String>) -> Self {
        Self::err(ErrorInfo {
            message: message.into(),
            column: None,
        })
    }
}

impl Daemon {
    /// A daemon whose running configuration is `startup` (already loaded).
    pub fn new(
        info: Info,
        startup: Config,
        ike: Option<mpsc::Sender<IkeCommand>>,
        dp: Option<mpsc::UnboundedSender<DpCommand>>,
        bgp: Option<mpsc::Sender<crate::bgp::Command>>,
        rib: Option<crate::routing::RibHandle>,
    ) -> Self {
        let mut d = Daemon {
            info,
            running: Config::default(),
            ifaces: IfaceTable::default(),
            generation: 0,
            ike,
            ike_cfg: ike::sa::config::EngineConfig::default(),
            ike_problems: Vec::new(),
            dp,
            bgp,
            published: Arc::new(ArcSwap::from_pointee(Config::default())),
            rib,
            bfd: None,
        };
        d.commit(startup, Origin::Startup);
        d
    }

    /// The running configuration as other tasks see it.
    pub fn published(&self) -> Arc<ArcSwap<Config>> {
        self.published.clone()
    }

    /// Tell IKE about the tunnels of the running configuration if they changed.
    fn sync_ike(&mut self) {
        let (cfg, problems) = crate::ike_config::engine_config(&self.running);
        for (t, why) in &problems {
            if !self.ike_problems.iter().any(|(n, w)| n == t && w == why) {
                warn!("{t}: IKE cannot negotiate: {why}");
            }
        }
        self.ike_problems = problems;
        if cfg == self.ike_cfg {
            return;
        }
        self.ike_cfg = cfg.clone();
        if let Some(tx) = &self.ike {
            if tx.try_send(IkeCommand::SetConfig(cfg)).is_err() {
                error!("IKE task is not accepting configuration");
            }
        }
    }

    /// What the IKE task knows now (empty when IKE is not running).
    async fn ike_snapshot(&self) -> Snapshot {
        let Some(tx) = &self.ike else {
            return Snapshot::default();
        };
        ask(tx, "IKE", IkeCommand::Snapshot)
            .await
            .unwrap_or_default()
    }

    /// Tell the data plane about changed and removed tunnel interfaces.
    fn sync_dataplane(&self, changes: &[vtysh::diff::Change]) {
        let Some(dp) = &self.dp else { return };
        for c in changes {
            let vtysh::diff::Section::Interface(name) = &c.section else {
                continue;
            };
            if !vtysh::model::is_tunnel_name(name) {
                continue;
            }
            let cmd = match c.kind {
                ChangeKind::Removed => DpCommand::RemoveInterface { name: name.clone() },
                ChangeKind::Modified | ChangeKind::Added => {
                    DpCommand::Update(iface_spec(&self.running, name))
                }
            };
            let _ = dp.send(cmd);
        }
    }

    /// Data plane counters (None when no data plane runs).
    async fn dp_stats(&self) -> Option<DpStats> {
        let dp = self.dp.as_ref()?;
        let (tx, rx) = oneshot::channel();
        dp.send(DpCommand::Stats(tx)).ok()?;
        match tokio::time::timeout(ANSWER_TIMEOUT, rx).await {
            Ok(r) => r.ok(),
            Err(_) => {
                warn!(
                    "the data plane did not answer within {} s",
                    ANSWER_TIMEOUT.as_secs()
                );
                None
            }
        }
    }

    /// Gives the RIB the running configuration (static routes, tunnel
    /// interfaces).
    fn sync_rib(&self) {
        if let Some(r) = &self.rib {
            let cmd = crate::routing::Command::SetConfig(Box::new(self.running.clone()));
            if r.tx.send(cmd).is_err() {
                error!("RIB task is not accepting configuration");
            }
        }
    }

    /// Gives BGP the running configuration.
    fn sync_bgp(&self) {
        if let Some(tx) = &self.bgp {
            let cmd = crate::bgp::Command::SetConfig(Box::new(self.running.clone()));
            if tx.try_send(cmd).is_err() {
                error!("BGP task is not accepting configuration");
            }
        }
    }

    /// Attaches the BFD task and gives it the running configuration.
    pub fn with_bfd(mut self, tx: mpsc::Sender<crate::bfd_task::Command>) -> Self {
        self.bfd = Some(tx);
        self.sync_bfd();
        self
    }

    /// Gives BFD the running configuration (it keeps what did not change).
    fn sync_bfd(&self) {
        if let Some(tx) = &self.bfd {
            let cmd = crate::bfd_task::Command::SetConfig(Box::new(self.running.clone()));
            if tx.try_send(cmd).is_err() {
                error!("BFD task is not accepting configuration");
            }
        }
    }

    /// `show bfd peers ...`, answered by the BFD task.
    async fn show_bfd(&self, brief: bool, json: bool) -> Reply {
        let Some(tx) = &self.bfd else {
            return Reply::msg("% BFD is not running");
        };
        let r = ask(tx, "BFD", |reply| crate::bfd_task::Command::Show {
            brief,
            json,
            reply,
        })
        .await;
        answer(r)
    }

    /// Serve messages until every sender is gone.
    pub async fn run(mut self, mut rx: mpsc::Receiver<Msg>) {
        while let Some(msg) = rx.recv().await {
            match msg {
                Msg::Request {
                    conn,
                    mut session,
                    request,
                    reply,
                } => {
                    let r = self.handle(conn, &mut session, request).await;
                    let resp = Response {
                        ok: r.error.is_none(),
                        output: r.output,
                        error: r.error,
                        mode: session.mode(),
                        prompt: session.prompt(&self.running),
                        quit: r.quit,
                    };
                    // The client may have gone; nothing to do then.
                    let _ = reply.send((session, resp));
                }
                Msg::Reload => self.reload().await,
            }
        }
        debug!("state owner stopping");
    }

    async fn handle(
        &mut self,
        conn: u64,
        session: &mut Session,
        request: Result<Request, String>,
    ) -> Reply {
        match request {
            Err(e) => {
                debug!(conn, "undecodable request");
                Reply::msg(format!("% Bad request: {e}"))
            }
            Ok(Request::Hello) => Reply::ok(""),
            Ok(Request::Line { line }) => {
                // Never log the line: it may hold a secret.
                debug!(conn, len = line.len(), mode = ?session.mode(), "line");
                self.line(conn, session, &line).await
            }
            Ok(Request::ApplyConfig { name, text }) => {
                debug!(conn, len = text.len(), "apply-config");
                self.apply_config(conn, &name, &text).await
            }
        }
    }

    async fn line(&mut self, conn: u64, session: &mut Session, line: &str) -> Reply {
        let before = session.clone();
        let running = &self.running;
        let executed = catch_unwind(AssertUnwindSafe(|| session.execute(line, running)));
        let Ok(executed) = executed else {
            *session = before;
            error!(conn, "command handler panicked; nothing changed");
            return Reply::msg("% Internal error: the command failed; nothing changed");
        };
        match executed {
            Err(e) => Reply::err(e),
            Ok(Outcome::Nothing) => Reply::ok(""),
            Ok(Outcome::Changed(cfg)) => {
                self.drain_tunnels(&cfg).await;
                // Committing cannot fail until there is a data plane that
                // can refuse; when it can, a failed commit restores
                // `before` and reports the refusal.
                self.commit(*cfg, Origin::Conn(conn));
                Reply::ok("")
            }
            Ok(Outcome::Exec(cmd)) => self.exec(conn, cmd).await,
            Ok(Outcome::Quit) => Reply {
                output: String::new(),
                error: None,
                quit: true,
            },
        }
    }

    /// Before a change shuts a tunnel down (or removes it): take its
    /// routes out of the kernel first, so that no packet is routed into
    /// it once its SAs are deleted (a planned shutdown loses nothing).
    /// Waits for the RIB at most one second.
    async fn drain_tunnels(&self, new: &Config) {
        let Some(r) = &self.rib else { return };
        let going = self.running.interfaces.iter().any(|(name, old)| {
            old.tunnel.is_some()
                && !old.shutdown
                && new
                    .interfaces
                    .get(name)
                    .is_none_or(|n| n.shutdown || n.tunnel.is_none())
        });
        if !going {
            return;
        }
        let (tx, rx) = oneshot::channel();
        let cmd = crate::routing::Command::SetConfigAck(Box::new(new.clone()), tx);
        if r.tx.send(cmd).is_ok()
            && tokio::time::timeout(std::time::Duration::from_secs(1), rx)
                .await
                .is_err()
        {
            warn!("the RIB did not drain the tunnel's routes within 1 s; going on");
        }
    }

    async fn apply_config(&mut self, conn: u64, name: &str, text: &str) -> Reply {
        let running = &self.running;
        let Ok(loaded) = catch_unwind(AssertUnwindSafe(|| vtysh::load_config(text, running)))
        else {
            error!(conn, "configuration loader panicked; nothing changed");
            return Reply::msg(
                "% Internal error: the configuration could not be applied; nothing changed",
            );
        };
        match loaded {
            Ok(cfg) => {
                self.drain_tunnels(&cfg).await;
                self.commit(cfg, Origin::Conn(conn));
                Reply::ok("")
            }
            Err(errs) => Reply::msg(file_errors_message(name, &errs)),
        }
    }

    async fn exec(&mut self, conn: u64, cmd: ExecCommand) -> Reply {
        match cmd {
            ExecCommand::ClearCrypto { peer } => match &self.ike {
                Some(tx) => {
                    if tokio::time::timeout(ANSWER_TIMEOUT, tx.send(IkeCommand::Clear(peer)))
                        .await
                        .is_err()
                    {
                        return Reply::msg("% IKE is busy; try again");
                    }
                    info!(
                        conn,
                        "clear crypto session{}",
                        peer.map(|p| format!(" peer {p}")).unwrap_or_default()
                    );
                    Reply::ok("")
                }
                None => Reply::msg("% IKE is not running (its UDP ports could not be opened)"),
            },
            ExecCommand::Show { cmd, json }
                if matches!(
                    cmd,
                    ShowCmd::BgpSummary { .. }
                        | ShowCmd::BgpRoutes { .. }
                        | ShowCmd::BgpNeighbors { .. }
                ) =>
            {
                let Some(tx) = &self.bgp else {
                    return Reply::msg("% BGP is not running");
                };
                let r = ask(tx, "BGP", |reply| crate::bgp::Command::Show {
                    cmd,
                    json,
                    reply,
                })
                .await;
                answer(r)
            }
            ExecCommand::Show {
                cmd: ShowCmd::IpRoute { v6, prefix },
                json,
            } => {
                let Some(r) = &self.rib else {
                    return Reply::msg("% The routing table is not running");
                };
                let table = r.view.load();
                match crate::routing::show::show(
                    &table,
                    v6,
                    prefix.as_deref(),
                    json,
                    Instant::now(),
                ) {
                    Ok(out) => Reply::ok(out),
                    Err(e) => Reply::msg(e),
                }
            }
            ExecCommand::Show {
                cmd: ShowCmd::BfdPeers { brief },
                json,
            } => self.show_bfd(brief, json).await,
            ExecCommand::ClearBgp { peer, soft } => {
                let Some(tx) = &self.bgp else {
                    return Reply::msg("% BGP is not running");
                };
                info!(
                    conn,
                    "clear ip bgp {}{}",
                    peer.map_or("*".to_string(), |p| p.to_string()),
                    match soft {
                        None => "",
                        Some(vtysh::SoftDir::In) => " soft in",
                        Some(vtysh::SoftDir::Out) => " soft out",
                        Some(vtysh::SoftDir::Both) => " soft",
                    }
                );
                let r = ask(tx, "BGP", |reply| crate::bgp::Command::Clear {
                    peer,
                    soft,
                    reply,
                })
                .await;
                answer(r)
            }
            ExecCommand::Show { cmd, json } => {
                let snapshot = self.ike_snapshot().await;
                let dp = self.dp_stats().await;
                let view = show::View {
                    running: &self.running,
                    ifaces: &self.ifaces,
                    info: &self.info,
                    generation: self.generation,
                    now: Stamp::now(),
                    ike: &snapshot,
                    ike_problems: &self.ike_problems,
                    dp: dp.as_ref(),
                };
                match show::show(&view, &cmd, json).await {
                    Ok(out) => Reply::ok(out),
                    Err(e) => Reply::err(e),
                }
            }
            ExecCommand::WriteMemory => {
                let text = vtysh::render(&self.running);
                let path = self.info.startup.clone();
                let res =
                    tokio::task::spawn_blocking(move || persist::write_atomic(&path, &text)).await;
                match res {
                    Ok(Ok(())) => {
                        info!(conn, file = %self.info.startup.display(), generation = self.generation, "configuration saved");
                        Reply::ok("Building configuration...\n[OK]\n")
                    }
                    Ok(Err(e)) => {
                        warn!(conn, file = %self.info.startup.display(), error = %e, "write memory failed");
                        Reply::msg(format!(
                            "% Cannot write {}: {e}",
                            self.info.startup.display()
                        ))
                    }
                    Err(e) => {
                        error!(error = %e, "write memory task failed");
                        Reply::msg("% Internal error while writing the configuration")
                    }
                }
            }
        }
    }

    /// SIGHUP: load the startup file against an empty configuration and
    /// apply the difference; on any error keep running as before.
    async fn reload(&mut self) {
        let path = self.info.startup.clone();
        let loaded = tokio::task::spawn_blocking(move || persist::load_startup(&path)).await;
        match loaded {
            Ok(Ok(Some(cfg))) => {
                self.drain_tunnels(&cfg).await;
                let n = self.commit(cfg, Origin::Reload);
                info!(changes = n, generation = self.generation, "reload done");
            }
            Ok(Ok(None)) => {
                warn!(file = %self.info.startup.display(), "reload failed: file not found; running configuration kept");
            }
            Ok(Err(persist::StartupError::Read(e))) => {
                warn!(file = %self.info.startup.display(), error = %e, "reload failed: cannot read file; running configuration kept");
            }
            Ok(Err(persist::StartupError::Invalid(errs))) => {
                warn!(file = %self.info.startup.display(), errors = errs.len(), "reload failed: file does not load; running configuration kept");
                for e in &errs {
                    // Line numbers and reasons only: the line text may hold a secret.
                    warn!(file = %self.info.startup.display(), "reload error: {}", redact::file_error(e, false));
                }
            }
            Err(e) => error!(error = %e, "reload task failed"),
        }
    }

    /// Make `new` the running configuration: apply the difference to the
    /// runtime state and log each changed section. Returns the number of
    /// changed sections.
    fn commit(&mut self, new: Config, origin: Origin) -> usize {
        let changes = vtysh::diff(&self.running, &new);
        if changes.is_empty() {
            debug!(%origin, "no configuration change");
            self.running = new;
            self.published.store(Arc::new(self.running.clone()));
            if matches!(origin, Origin::Startup) {
                self.sync_ike();
                self.sync_bgp();
                self.sync_rib();
            }
            return 0;
        }
        self.generation += 1;
        for c in &changes {
            let kind = match c.kind {
                ChangeKind::Added => "added",
                ChangeKind::Removed => "removed",
                ChangeKind::Modified => "modified",
            };
            info!(%origin, generation = self.generation, "config: {} {kind}", c.section);
        }
        self.ifaces
            .apply(&new, &changes, self.generation, Stamp::now());
        self.running = new;
        self.published.store(Arc::new(self.running.clone()));
        self.sync_dataplane(&changes);
        self.sync_ike();
        // BGP follows its own section, policy, interfaces (tunnel binding,
        // connected networks) and static routes.
        use vtysh::diff::Section as S;
        if changes.iter().any(|c| {
            !matches!(
                c.section,
                S::Hostname
                    | S::AllowWeak
                    | S::CookieChallenge
                    | S::MaxInNegotiationSa
                    | S::MaxInNegotiationSaPerAddress
                    | S::Ikev2Proposal(_)
                    | S::Ikev2Keyring(_)
                    | S::Trustpoint(_)
                    | S::Ikev2Profile(_)
                    | S::TransformSet(_)
                    | S::IpsecProfile(_)
            )
        }) {
            self.sync_bgp();
            self.sync_rib();
            self.sync_bfd();
        }
        changes.len()
    }
}

/// How long the state owner waits for another task's answer: a task that
/// hangs costs one request an error, never the state owner.
const ANSWER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Why another task gave no answer; `Display` is the client's error line.
#[derive(Debug, Clone, PartialEq, Eq)]
enum AskError {
    /// The task is gone (its channel is closed).
    NotRunning(&'static str),
    /// The task did not answer within [`ANSWER_TIMEOUT`].
    Timeout(&'static str),
}

impl std::fmt::Display for AskError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AskError::NotRunning(who) => write!(f, "% {who} is not running"),
            AskError::Timeout(who) => write!(
                f,
                "% {who} did not answer within {} s",
                ANSWER_TIMEOUT.as_secs()
            ),
        }
    }
}

/// Sends `who` the request `make` builds around a reply channel and waits
/// for the answer, at most [`ANSWER_TIMEOUT`] for both.
async fn ask<C, T>(
    tx: &mpsc::Sender<C>,
    who: &'static str,
    make: impl FnOnce(oneshot::Sender<T>) -> C,
) -> Result<T, AskError> {
    let (rtx, rrx) = oneshot::channel();
    let exchange = async {
        tx.send(make(rtx)).await.ok()?;
        rrx.await.ok()
    };
    match tokio::time::timeout(ANSWER_TIMEOUT, exchange).await {
        Ok(Some(v)) => Ok(v),
        Ok(None) => Err(AskError::NotRunning(who)),
        Err(_) => {
            warn!("{who} did not answer within {} s", ANSWER_TIMEOUT.as_secs());
            Err(AskError::Timeout(who))
        }
    }
}

/// A task's text answer (or its error text) as the reply to the client.
fn answer(r: Result<Result<String, String>, AskError>) -> Reply {
    match r {
        Ok(Ok(out)) => Reply::ok(out),
        Ok(Err(e)) => Reply::msg(e),
        Err(e) => Reply::msg(e.to_string()),
    }
}

/// The error message for a refused `ApplyConfig`: every error, one after
/// the other, named after the file.
fn file_errors_message(name: &str, errs: &[FileError]) -> String {
    // The file name on a line of its own keeps each caret under its word.
    let mut out = format!("% {name}: {} error(s), nothing applied", errs.len());
    for e in errs {
        out.push('\n');
        out.push_str(&redact::file_error(e, true));
    }
    out
}
