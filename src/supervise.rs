//! No task dies silently. Every long-lived task and thread of rvpnd (IKE,
//! the data plane and its workers, BGP, BFD, the RIB thread, SA events,
//! the socket server, the state owner) is started through a [`Reporter`],
//! which tells the [`Supervisor`] when it ends and how: returned, or
//! panicked with the panic's message. `main` treats any end it did not ask
//! for as fatal: it logs which task died and why, stops the rest (bounded
//! in time) and exits with status 1, so that the service manager restarts
//! rvpnd, whose start reconciles the kernel (routes with protocol 202,
//! XFRM state). A daemon with a working shell over a dead IKE or data
//! plane would look healthy and forward nothing.
//!
//! Why supervision rather than `panic = "abort"`: abort catches panics
//! only, not a task that returns early (a closed channel, an error it
//! cannot get past); it would also kill the `catch_unwind` that keeps a
//! bug in one vtysh command from taking the daemon down, and it skips
//! the orderly part of stopping (BGP Cease, IKE Delete) that lets peers
//! fail over at once.
//!
//! Short-lived helpers are not supervised: a vtysh connection's task, a
//! BGP connection's reader and writer end with their connection (a panic
//! in one still reaches the log through the hook below).
//!
//! [`install_panic_hook`] sends every panic message through `tracing`, so
//! it lands in the same log, with the thread's name, before anything else
//! happens.
//!
//! Tests (debug builds only): `RVPND_TEST_PANIC=<task>` makes that task
//! panic when rvpnd receives SIGUSR2 (see [`armed`]).

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use tokio::sync::mpsc;
use tracing::error;

/// How a supervised task or thread ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// It returned.
    Returned,
    /// It panicked, with the panic's message.
    Panicked(String),
    /// It was cancelled (aborted, or its runtime shut down).
    Cancelled,
}

/// A supervised task or thread that ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    /// Its name (`ike`, `bgp`, `dataplane-worker0`, ...).
    pub task: String,
    /// How.
    pub end: End,
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.end {
            End::Returned => write!(f, "task {} ended", self.task),
            End::Panicked(m) => write!(f, "task {} panicked: {m}", self.task),
            End::Cancelled => write!(f, "task {} was cancelled", self.task),
        }
    }
}

/// Starts tasks and threads and reports their end to the [`Supervisor`].
#[derive(Debug, Clone)]
pub struct Reporter {
    tx: mpsc::UnboundedSender<Exit>,
}

/// Hears about every task and thread started through its [`Reporter`]s.
#[derive(Debug)]
pub struct Supervisor {
    tx: mpsc::UnboundedSender<Exit>,
    rx: mpsc::UnboundedReceiver<Exit>,
}

impl Default for Supervisor {
    fn default() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Supervisor { tx, rx }
    }
}

impl Supervisor {
    /// A supervisor with nothing to watch yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Where tasks are started.
    pub fn reporter(&self) -> Reporter {
        Reporter {
            tx: self.tx.clone(),
        }
    }

    /// The next task or thread that ends (waits forever if none does).
    pub async fn next(&mut self) -> Exit {
        match self.rx.recv().await {
            Some(e) => e,
            // Cannot happen: `self.tx` keeps the channel open.
            None => std::future::pending().await,
        }
    }

    /// The ends reported so far and not yet taken.
    pub fn drain(&mut self) -> Vec<Exit> {
        let mut v = Vec::new();
        while let Ok(e) = self.rx.try_recv() {
            v.push(e);
        }
        v
    }
}

impl Reporter {
    /// Spawns `fut` on the current runtime as task `task` and reports its
    /// end.
    pub fn spawn<F>(&self, task: &'static str, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let handle = tokio::spawn(armed(task, fut));
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let end = match handle.await {
                Ok(()) => End::Returned,
                Err(e) if e.is_panic() => End::Panicked(panic_message(&*e.into_panic())),
                Err(_) => End::Cancelled,
            };
            let _ = tx.send(Exit {
                task: task.to_string(),
                end,
            });
        });
    }

    /// Starts `f` on a thread named `thread` as task `task` and reports
    /// its end.
    pub fn thread<F>(
        &self,
        task: impl Into<String>,
        thread: impl Into<String>,
        f: F,
    ) -> std::io::Result<std::thread::JoinHandle<()>>
    where
        F: FnOnce() + Send + 'static,
    {
        let tx = self.tx.clone();
        let task = task.into();
        std::thread::Builder::new()
            .name(thread.into())
            .spawn(move || {
                let end = match catch_unwind(AssertUnwindSafe(f)) {
                    Ok(()) => End::Returned,
                    Err(p) => End::Panicked(panic_message(&*p)),
                };
                let _ = tx.send(Exit { task, end });
            })
    }
}

/// The message of a panic payload (`panic!` gives a `&str` or a `String`).
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(a panic without a message)".to_string()
    }
}

/// Log every panic through `tracing` (error level, target
/// `rvpnd::panic`): which thread, where, the message, and the backtrace
/// when `RUST_BACKTRACE` asks for one. Replaces the default hook, which
/// would print past the log's format.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let thread = std::thread::current();
        let name = thread.name().unwrap_or("unnamed");
        let at = info
            .location()
            .map(|l| l.to_string())
            .unwrap_or_else(|| "?".into());
        let msg = panic_message(info.payload());
        error!(target: "rvpnd::panic", "thread '{name}' panicked at {at}: {msg}");
        let bt = std::backtrace::Backtrace::capture();
        if bt.status() == std::backtrace::BacktraceStatus::Captured {
            error!(target: "rvpnd::panic", "backtrace:\n{bt}");
        }
    }));
}

/// The environment variable of the test hook (debug builds only).
#[cfg(debug_assertions)]
pub const TEST_PANIC_ENV: &str = "RVPND_TEST_PANIC";

/// `fut` as task `task` runs it. In debug builds, when
/// `RVPND_TEST_PANIC=<task>` is set, the task panics as soon as rvpnd
/// receives SIGUSR2: the tests' way to kill one task of a running daemon.
/// Release builds (`cfg(not(debug_assertions))`) compile none of this.
#[cfg(debug_assertions)]
pub async fn armed<F: Future<Output = ()>>(task: &'static str, fut: F) {
    use tokio::signal::unix::{signal, SignalKind};
    if std::env::var(TEST_PANIC_ENV).ok().as_deref() != Some(task) {
        return fut.await;
    }
    let mut usr2 = match signal(SignalKind::user_defined2()) {
        Ok(s) => s,
        Err(e) => {
            error!("test hook: {TEST_PANIC_ENV}={task}, but SIGUSR2 cannot be caught: {e}");
            return fut.await;
        }
    };
    tracing::warn!("test hook: task {task} panics on SIGUSR2 ({TEST_PANIC_ENV}={task})");
    tokio::select! {
        () = fut => {}
        _ = usr2.recv() => panic!("test hook: {TEST_PANIC_ENV}={task} and SIGUSR2"),
    }
}

/// Release builds: the task as it is.
#[cfg(not(debug_assertions))]
pub fn armed<F: Future<Output = ()>>(_task: &'static str, fut: F) -> F {
    fut
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    async fn next(s: &mut Supervisor) -> Exit {
        tokio::time::timeout(Duration::from_secs(5), s.next())
            .await
            .expect("an end is reported within 5 s")
    }

    #[tokio::test]
    async fn a_task_that_returns_is_reported() {
        let mut s = Supervisor::new();
        s.reporter().spawn("quick", async {});
        assert_eq!(
            next(&mut s).await,
            Exit {
                task: "quick".into(),
                end: End::Returned
            }
        );
    }

    #[tokio::test]
    async fn a_task_that_panics_is_reported_with_its_message() {
        let mut s = Supervisor::new();
        let n = 7;
        s.reporter()
            .spawn("doomed", async move { panic!("broken invariant {n}") });
        let e = next(&mut s).await;
        assert_eq!(e.end, End::Panicked("broken invariant 7".into()));
        assert_eq!(e.to_string(), "task doomed panicked: broken invariant 7");
    }

    #[tokio::test]
    async fn a_thread_that_panics_is_reported() {
        let mut s = Supervisor::new();
        let r = s.reporter();
        r.thread("worker", "rvpn-test", || panic!("static message"))
            .expect("thread");
        r.thread("calm", "rvpn-test2", || {}).expect("thread");
        let mut got = vec![next(&mut s).await, next(&mut s).await];
        got.sort_by(|a, b| a.task.cmp(&b.task));
        assert_eq!(
            got,
            vec![
                Exit {
                    task: "calm".into(),
                    end: End::Returned
                },
                Exit {
                    task: "worker".into(),
                    end: End::Panicked("static message".into())
                },
            ]
        );
    }

    #[tokio::test]
    async fn a_running_task_reports_nothing() {
        let mut s = Supervisor::new();
        s.reporter().spawn("forever", std::future::pending());
        assert!(tokio::time::timeout(Duration::from_millis(100), s.next())
            .await
            .is_err());
        assert!(s.drain().is_empty());
    }

    #[test]
    fn panic_messages() {
        assert_eq!(panic_message(&"x"), "x");
        assert_eq!(panic_message(&String::from("y")), "y");
        assert_eq!(panic_message(&3u8), "(a panic without a message)");
    }
}
