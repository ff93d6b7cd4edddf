//! The control socket: binding it safely (mode 0660, stale files removed,
//! a live daemon never displaced) and one task per connection that relays
//! requests to the state owner.

use crate::daemon::Msg;
use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};
use vtysh::protocol::Request;
use vtysh::Session;

/// The longest request line accepted (an `ApplyConfig` holds a whole file).
const MAX_REQUEST: usize = 4 << 20;

/// The socket file we created, identified by device and inode so that we
/// never remove a socket some other process put in its place.
#[derive(Debug)]
pub struct SocketFile {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl SocketFile {
    /// Remove the socket file if it is still ours.
    pub fn remove(&self) {
        match fs::symlink_metadata(&self.path) {
            Ok(m) if m.dev() == self.dev && m.ino() == self.ino => {
                match fs::remove_file(&self.path) {
                    Ok(()) => info!(socket = %self.path.display(), "socket removed"),
                    Err(e) => {
                        warn!(socket = %self.path.display(), error = %e, "cannot remove socket")
                    }
                }
            }
            Ok(_) => warn!(socket = %self.path.display(), "socket file was replaced; leaving it"),
            Err(_) => {}
        }
    }
}

/// A listening socket and its file.
#[derive(Debug)]
pub struct Bound {
    /// The listener.
    pub listener: UnixListener,
    /// Its file, to remove at exit.
    pub socket: SocketFile,
}

/// Why the control socket could not be bound; `Display` names the path.
#[derive(Debug)]
pub enum BindError {
    /// Its directory could not be created.
    CreateDir(std::path::PathBuf, io::Error),
    /// Another rvpnd answers on it.
    InUse(std::path::PathBuf),
    /// A stale socket file could not be removed.
    RemoveStale(std::path::PathBuf, io::Error),
    /// Something else than a socket is there.
    NotASocket(std::path::PathBuf),
    /// What is there could not be inspected.
    Inspect(std::path::PathBuf, io::Error),
    /// bind(2) failed.
    Bind(std::path::PathBuf, io::Error),
    /// Its mode could not be set to 0660.
    Mode(std::path::PathBuf, io::Error),
}

impl std::fmt::Display for BindError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BindError::CreateDir(p, e) => write!(f, "cannot create {}: {e}", p.display()),
            BindError::InUse(p) => {
                write!(f, "another rvpnd is already answering on {}", p.display())
            }
            BindError::RemoveStale(p, e) => {
                write!(f, "cannot remove stale socket {}: {e}", p.display())
            }
            BindError::NotASocket(p) => {
                write!(
                    f,
                    "{} exists and is not a socket; not touching it",
                    p.display()
                )
            }
            BindError::Inspect(p, e) => write!(f, "cannot inspect {}: {e}", p.display()),
            BindError::Bind(p, e) => write!(f, "cannot bind {}: {e}", p.display()),
            BindError::Mode(p, e) => write!(f, "cannot set the mode of {}: {e}", p.display()),
        }
    }
}

impl std::error::Error for BindError {}

/// Bind the control socket at `path`: create its directory, refuse if a
/// daemon answers there, remove a stale socket file, bind, chmod 0660.
pub fn bind(path: &Path) -> Result<Bound, BindError> {
    let shown = path.display();
    let at = || path.to_path_buf();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(|e| BindError::CreateDir(dir.to_path_buf(), e))?;
    }
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(BindError::InUse(at()));
            }
            info!(socket = %shown, "removing stale socket");
            fs::remove_file(path).map_err(|e| BindError::RemoveStale(at(), e))?;
        }
        Ok(_) => return Err(BindError::NotASocket(at())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(BindError::Inspect(at(), e)),
    }
    let listener = UnixListener::bind(path).map_err(|e| BindError::Bind(at(), e))?;
    let meta = (|| {
        fs::set_permissions(path, fs::Permissions::from_mode(0o660))?;
        fs::symlink_metadata(path)
    })();
    match meta {
        Ok(m) => Ok(Bound {
            listener,
            socket: SocketFile {
                path: path.to_path_buf(),
                dev: m.dev(),
                ino: m.ino(),
            },
        }),
        Err(e) => {
            let _ = fs::remove_file(path);
            Err(BindError::Mode(at(), e))
        }
    }
}

/// Accept connections forever, one task each.
pub async fn serve(listener: UnixListener, tx: mpsc::Sender<Msg>) {
    let mut next = 0u64;
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                next += 1;
                tokio::spawn(connection(stream, next, tx.clone()));
            }
            Err(e) => {
                warn!(error = %e, "accept failed");
                // E.g. out of file descriptors: do not spin.
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

/// One client: read request lines, relay each to the state owner with
/// this connection's session, write each response line, in order.
async fn connection(stream: UnixStream, conn: u64, tx: mpsc::Sender<Msg>) {
    let uid = stream.peer_cred().ok().map(|c| c.uid());
    debug!(conn, ?uid, "connection opened");
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::new(rd);
    let mut session = Session::new();
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match (&mut rd)
            .take(MAX_REQUEST as u64 + 1)
            .read_until(b'\n', &mut buf)
            .await
        {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                debug!(conn, error = %e, "read failed");
                break;
            }
        }
        let too_long = buf.len() > MAX_REQUEST;
        let body = buf.strip_suffix(b"\n").unwrap_or(&buf);
        if !too_long && body.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let request = if too_long {
            Err(format!("request longer than {MAX_REQUEST} bytes"))
        } else {
            serde_json::from_slice::<Request>(body).map_err(|e| e.to_string())
        };
        let (reply, rx) = oneshot::channel();
        if tx
            .send(Msg::Request {
                conn,
                session,
                request,
                reply,
            })
            .await
            .is_err()
        {
            break;
        }
        let Ok((s, resp)) = rx.await else { break };
        session = s;
        let mut out = match serde_json::to_vec(&resp) {
            Ok(v) => v,
            Err(e) => {
                warn!(conn, error = %e, "cannot encode response");
                break;
            }
        };
        out.push(b'\n');
        if let Err(e) = wr.write_all(&out).await {
            debug!(conn, error = %e, "write failed");
            break;
        }
        if resp.quit || too_long {
            break;
        }
    }
    debug!(conn, "connection closed");
}
