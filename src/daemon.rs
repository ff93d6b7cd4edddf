//! The state owner: one task holds the running configuration and the
//! runtime state, and serves requests and reloads one at a time, so no
//! lock guards any of it.

use crate::dataplane::{iface_spec, DpCommand, DpStats};
use crate::iface::{IfaceTable, Stamp};
use crate::info::Info;
use crate::{persist, redact, show};
use ike::driver::{Command as IkeCommand, Snapshot};
use ike::sa::config::EngineConfig;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{mpsc, oneshot, watch};
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
    /// IKE's tunnel configuration (the latest counts), when IKE runs.
    ike_config: Option<watch::Sender<EngineConfig>>,
    /// What IKE was last told.
    ike_cfg: EngineConfig,
    /// Protected tunnels IKE cannot negotiate, and why.
    ike_problems: Vec<(String, String)>,
    /// The trustpoints of the running configuration, loaded.
    pki: crate::pki::Loaded,
    /// The data plane, when it runs.
    dp: Option<mpsc::UnboundedSender<DpCommand>>,
    /// The BGP speaker.
    bgp: Option<mpsc::Sender<crate::bgp::Command>>,
    /// The RIB task.
    rib: Option<crate::routing::RibHandle>,
    /// The BFD task.
    bfd: Option<mpsc::Sender<crate::bfd_task::Command>>,
    /// The running configuration for other tasks, stored after every
    /// commit: SA events read interface settings from it, BGP and BFD
    /// follow it (they are woken when a section of theirs changed).
    published: watch::Sender<Arc<Config>>,
}

/// The other tasks, as the state owner talks to them.
pub struct Links {
    /// IKE's requests, if IKE could open its sockets.
    pub ike: Option<mpsc::Sender<IkeCommand>>,
    /// IKE's tunnel configuration, if IKE runs.
    pub ike_config: Option<watch::Sender<EngineConfig>>,
    /// The running configuration for other tasks.
    pub published: watch::Sender<Arc<Config>>,
    /// The data plane, when it runs.
    pub dp: Option<mpsc::UnboundedSender<DpCommand>>,
    /// BGP's requests (show, clear).
    pub bgp: Option<mpsc::Sender<crate::bgp::Command>>,
    /// The RIB task.
    pub rib: Option<crate::routing::RibHandle>,
    /// BFD's requests (show).
    pub bfd: Option<mpsc::Sender<crate::bfd_task::Command>>,
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
    pub fn new(info: Info, startup: Config, links: Links) -> Self {
        let mut d = Daemon {
            info,
            running: Config::default(),
            ifaces: IfaceTable::default(),
            generation: 0,
            ike: links.ike,
            ike_config: links.ike_config,
            ike_cfg: EngineConfig::default(),
            ike_problems: Vec::new(),
            pki: crate::pki::Loaded::new(),
            dp: links.dp,
            bgp: links.bgp,
            published: links.published,
            rib: links.rib,
            bfd: links.bfd,
        };
        d.commit(startup, Origin::Startup);
        d
    }

    /// Store the running configuration for the other tasks; wake BGP and
    /// BFD when `notify` (a change they follow). A watch channel: they
    /// take the latest, so no commit waits for them and none is lost.
    fn publish(&self, notify: bool) {
        let cfg = Arc::new(self.running.clone());
        self.published.send_if_modified(|v| {
            *v = cfg;
            notify
        });
    }

    /// Read every trustpoint's files again (those unchanged keep their
    /// loaded value) and warn about local certificates near expiry.
    fn reload_pki(&mut self) {
        let now = SystemTime::now();
        self.pki = crate::pki::load_all(&self.running, &self.pki, now);
        for (name, r) in &self.pki {
            if let Err(e) = r {
                warn!("trustpoint {name}: {e}");
            }
        }
        crate::pki::warn_expiring(&self.pki, now);
    }

    /// Tell IKE about the tunnels of the running configuration if they changed.
    fn sync_ike(&mut self) {
        let (cfg, problems) = crate::ike_config::engine_config(&self.running, &self.pki);
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
        if let Some(tx) = &self.ike_config {
            tx.send_replace(cfg);
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
            if let vtysh::model::InterfaceKind::Loopback(_) = vtysh::model::InterfaceKind::of(name)
            {
                let cmd = match self.running.interfaces.get(name) {
                    Some(i) if c.kind != ChangeKind::Removed => DpCommand::Loopback {
                        name: name.clone(),
                        addresses: i
                            .ipv4
                            .map(ipnetwork::IpNetwork::V4)
                            .into_iter()
                            .chain(i.ipv6.iter().copied().map(ipnetwork::IpNetwork::V6))
                            .collect(),
                        shutdown: i.shutdown,
                    },
                    _ => DpCommand::RemoveInterface { name: name.clone() },
                };
                let _ = dp.send(cmd);
                continue;
            }
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

    /// Data plane counters (None when no data plane runs or it does not
    /// answer in time).
    async fn dp_stats(&self) -> Option<DpStats> {
        let dp = self.dp.as_ref()?;
        ask(dp, "the data plane", DpCommand::Stats).await.ok()
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
        // Local certificates near expiry are warned about when loaded and
        // then once a day.
        let mut expiry =
            tokio::time::interval_at(tokio::time::Instant::now() + EXPIRY_CHECK, EXPIRY_CHECK);
        loop {
            let msg = tokio::select! {
                m = rx.recv() => m,
                _ = expiry.tick() => {
                    crate::pki::warn_expiring(&self.pki, SystemTime::now());
                    continue;
                }
            };
            let Some(msg) = msg else { break };
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
                if let Err(e) = crate::pki::check_changed(&self.running, &cfg, SystemTime::now()) {
                    *session = before;
                    return Reply::msg(e);
                }
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
        let new = Box::new(new.clone());
        let drained = ask_within(&r.tx, "the RIB", DRAIN_TIMEOUT, |done| {
            crate::routing::Command::SetConfigAck(new, done)
        })
        .await;
        if drained.is_err() {
            warn!("the tunnel's routes may still be in the kernel; going on");
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
                // Every trustpoint: its files may have changed even where
                // the text did not.
                if let Err(e) =
                    crate::pki::check_changed(&Config::default(), &cfg, SystemTime::now())
                {
                    return Reply::msg(format!("{e}\n% {name}: nothing changed"));
                }
                self.drain_tunnels(&cfg).await;
                self.commit(cfg, Origin::Conn(conn));
                self.reload_pki();
                self.sync_ike();
                Reply::ok("")
            }
            Err(errs) => Reply::msg(file_errors_message(name, &errs)),
        }
    }

    async fn exec(&mut self, conn: u64, cmd: ExecCommand) -> Reply {
        match cmd {
            ExecCommand::ClearCrypto { peer } => match &self.ike {
                Some(tx) => {
                    match tokio::time::timeout(ANSWER_TIMEOUT, tx.send(IkeCommand::Clear(peer)))
                        .await
                    {
                        Ok(Ok(())) => {}
                        Ok(Err(_)) => return Reply::msg("% IKE is not running"),
                        Err(_) => {
                            warn!(
                                "IKE did not take `clear crypto session` within {} s",
                                ANSWER_TIMEOUT.as_secs()
                            );
                            return Reply::msg("% IKE is busy; try again");
                        }
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
                    pki: &self.pki,
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
                    blocking("write memory", move || persist::write_atomic(&path, &text)).await;
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
                        Reply::msg(format!("% Cannot write the configuration: {e}"))
                    }
                }
            }
        }
    }

    /// SIGHUP: load the startup file against an empty configuration and
    /// apply the difference; on any error keep running as before.
    async fn reload(&mut self) {
        let path = self.info.startup.clone();
        let loaded = blocking("reload", move || persist::load_startup(&path)).await;
        match loaded {
            Ok(Ok(Some(cfg))) => {
                if let Err(e) =
                    crate::pki::check_changed(&Config::default(), &cfg, SystemTime::now())
                {
                    warn!(file = %self.info.startup.display(), "reload failed: {}; running configuration kept", e.trim_start_matches("% "));
                    return;
                }
                self.drain_tunnels(&cfg).await;
                // Certificate files are read again even when the text is
                // the same; only tunnels whose trustpoint changed notice.
                let n = self.commit(cfg, Origin::Reload);
                self.reload_pki();
                self.sync_ike();
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
            let startup = matches!(origin, Origin::Startup);
            self.publish(startup);
            if startup {
                self.sync_ike();
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
        if changes
            .iter()
            .any(|c| matches!(c.section, vtysh::diff::Section::Trustpoint(_)))
        {
            self.reload_pki();
        }
        // BGP, BFD and the RIB follow BGP's section, policy, interfaces
        // (tunnel binding, connected networks) and static routes.
        use vtysh::diff::Section as S;
        let routing = changes.iter().any(|c| {
            !matches!(
                c.section,
                S::Hostname
                    | S::AllowWeak
                    | S::CookieChallenge
                    | S::MaxInNegotiationSa
                    | S::MaxInNegotiationSaPerAddress
                    | S::Fragmentation
                    | S::Ikev2Proposal(_)
                    | S::Ikev2Keyring(_)
                    | S::Trustpoint(_)
                    | S::Ikev2Profile(_)
                    | S::TransformSet(_)
                    | S::IpsecProfile(_)
            )
        });
        self.publish(routing);
        self.sync_dataplane(&changes);
        self.sync_ike();
        if routing {
            self.sync_rib();
        }
        changes.len()
    }
}

/// How often local certificates are checked for expiry.
const EXPIRY_CHECK: Duration = Duration::from_secs(24 * 3600);

/// How long the state owner waits for another task's answer: a task that
/// hangs costs one request an error, never the state owner.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a change that shuts a tunnel down waits for the RIB to take
/// the tunnel's routes out of the kernel.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(1);

/// Why another task gave no answer; `Display` is the client's error line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AskError {
    /// The task is gone (its channel is closed, or it dropped the reply).
    NotRunning(&'static str),
    /// The task did not answer in time.
    Timeout(&'static str, Duration),
}

impl std::fmt::Display for AskError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AskError::NotRunning(who) => write!(f, "% {who} is not running"),
            AskError::Timeout(who, t) => {
                write!(f, "% {who} did not answer within {} s", t.as_secs())
            }
        }
    }
}

/// A channel to another task: bounded (the send waits for room, within
/// the caller's time limit) or unbounded.
pub trait Outbox<C> {
    /// Queue `c`; false when the task is gone.
    async fn put(&self, c: C) -> bool;
}

impl<C> Outbox<C> for mpsc::Sender<C> {
    async fn put(&self, c: C) -> bool {
        self.send(c).await.is_ok()
    }
}

impl<C> Outbox<C> for mpsc::UnboundedSender<C> {
    async fn put(&self, c: C) -> bool {
        self.send(c).is_ok()
    }
}

/// Sends `who` the request `make` builds around a reply channel and waits
/// for the answer, at most [`ANSWER_TIMEOUT`] for both.
pub async fn ask<C, T>(
    tx: &impl Outbox<C>,
    who: &'static str,
    make: impl FnOnce(oneshot::Sender<T>) -> C,
) -> Result<T, AskError> {
    ask_within(tx, who, ANSWER_TIMEOUT, make).await
}

/// [`ask`] with another time limit. A timeout is logged.
pub async fn ask_within<C, T>(
    tx: &impl Outbox<C>,
    who: &'static str,
    limit: Duration,
    make: impl FnOnce(oneshot::Sender<T>) -> C,
) -> Result<T, AskError> {
    let (rtx, rrx) = oneshot::channel();
    let exchange = async {
        if !tx.put(make(rtx)).await {
            return None;
        }
        rrx.await.ok()
    };
    match tokio::time::timeout(limit, exchange).await {
        Ok(Some(v)) => Ok(v),
        Ok(None) => Err(AskError::NotRunning(who)),
        Err(_) => {
            warn!("{who} did not answer within {} s", limit.as_secs());
            Err(AskError::Timeout(who, limit))
        }
    }
}

/// Runs blocking file work (`what`, for messages) on the blocking pool and
/// waits for it at most [`ANSWER_TIMEOUT`]: a hung file system costs one
/// request an error, never the state owner. The work itself cannot be
/// cancelled; it finishes (or not) on its own.
pub async fn blocking<T: Send + 'static>(
    what: &'static str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    match tokio::time::timeout(ANSWER_TIMEOUT, tokio::task::spawn_blocking(f)).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(format!("{what} failed: {e}")),
        Err(_) => {
            let why = format!(
                "{what} did not finish within {} s",
                ANSWER_TIMEOUT.as_secs()
            );
            warn!("{why}");
            Err(why)
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

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: Duration = Duration::from_millis(100);

    #[tokio::test]
    async fn a_task_that_never_answers_costs_the_limit_only() {
        let (tx, mut rx) = mpsc::unbounded_channel::<oneshot::Sender<u32>>();
        // The task takes the request and sits on it.
        let held = tokio::spawn(async move {
            let r = rx.recv().await;
            tokio::time::sleep(Duration::from_secs(3600)).await;
            drop(r);
        });
        let t = Instant::now();
        let r = ask_within(&tx, "the sloth", LIMIT, |reply| reply).await;
        assert_eq!(r, Err(AskError::Timeout("the sloth", LIMIT)));
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        held.abort();
    }

    #[tokio::test]
    async fn a_full_queue_costs_the_limit_only() {
        let (tx, _rx) = mpsc::channel::<oneshot::Sender<u32>>(1);
        let (filler, _) = oneshot::channel();
        tx.send(filler).await.expect("room for one");
        let t = Instant::now();
        let r = ask_within(&tx, "BGP", LIMIT, |reply| reply).await;
        assert_eq!(r, Err(AskError::Timeout("BGP", LIMIT)));
        assert!(t.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn a_gone_task_or_a_dropped_reply_is_not_running() {
        let (tx, rx) = mpsc::channel::<oneshot::Sender<u32>>(1);
        drop(rx);
        let r = ask_within(&tx, "IKE", LIMIT, |reply| reply).await;
        assert_eq!(r, Err(AskError::NotRunning("IKE")));
        assert_eq!(
            r.unwrap_err().to_string(),
            "% IKE is not running",
            "the client's error line"
        );
        let (tx, mut rx) = mpsc::unbounded_channel::<oneshot::Sender<u32>>();
        let task = tokio::spawn(async move { drop(rx.recv().await) });
        let r = ask_within(&tx, "the RIB", LIMIT, |reply| reply).await;
        assert_eq!(r, Err(AskError::NotRunning("the RIB")));
        task.await.expect("task");
    }

    #[tokio::test]
    async fn an_answer_comes_back() {
        let (tx, mut rx) = mpsc::channel::<oneshot::Sender<u32>>(4);
        tokio::spawn(async move {
            while let Some(reply) = rx.recv().await {
                let _ = reply.send(7);
            }
        });
        assert_eq!(ask(&tx, "BFD", |reply| reply).await, Ok(7));
    }
}
