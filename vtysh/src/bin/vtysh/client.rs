//! The connection to rvpnd: newline-delimited JSON over a Unix stream socket.

use std::fmt;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use vtysh::protocol::{Request, Response};

/// Why talking to the daemon failed (as opposed to the daemon refusing a
/// command, which is a normal [`Response`] with `ok == false`).
#[derive(Debug)]
pub enum ClientError {
    /// The socket could not be opened: the daemon is not running, or the
    /// path is wrong, or we lack permission.
    Connect { path: PathBuf, err: std::io::Error },
    /// Reading or writing the socket failed, or the daemon hung up.
    Lost { path: PathBuf, why: String },
    /// The daemon sent something that is not a [`Response`].
    Protocol { path: PathBuf, why: String },
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Connect { path, err } => {
                write!(f, "% Cannot connect to rvpnd at {}: {err}", path.display())?;
                if matches!(
                    err.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
                ) {
                    write!(
                        f,
                        " (is rvpnd running? set RVPN_SOCKET or --socket for another path)"
                    )?;
                }
                Ok(())
            }
            ClientError::Lost { path, why } => {
                write!(f, "% Lost connection to rvpnd at {}: {why}", path.display())
            }
            ClientError::Protocol { path, why } => {
                write!(f, "% Bad answer from rvpnd at {}: {why}", path.display())
            }
        }
    }
}

impl std::error::Error for ClientError {}

/// An open connection to rvpnd. Requests are answered one by one, in order.
pub struct Client {
    path: PathBuf,
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Client {
    /// Connect to the daemon's socket.
    pub fn connect(path: &Path) -> Result<Client, ClientError> {
        let stream = UnixStream::connect(path).map_err(|err| ClientError::Connect {
            path: path.to_path_buf(),
            err,
        })?;
        let writer = stream.try_clone().map_err(|err| ClientError::Connect {
            path: path.to_path_buf(),
            err,
        })?;
        Ok(Client {
            path: path.to_path_buf(),
            reader: BufReader::new(stream),
            writer,
        })
    }

    /// Send one request and wait for its response.
    pub fn request(&mut self, req: &Request) -> Result<Response, ClientError> {
        let mut text = serde_json::to_string(req).map_err(|e| self.protocol(e.to_string()))?;
        text.push('\n');
        self.writer
            .write_all(text.as_bytes())
            .and_then(|()| self.writer.flush())
            .map_err(|e| self.lost(e.to_string()))?;
        let mut answer = String::new();
        let n = self
            .reader
            .read_line(&mut answer)
            .map_err(|e| self.lost(e.to_string()))?;
        if n == 0 || !answer.ends_with('\n') {
            return Err(self.lost("the daemon closed the connection".into()));
        }
        serde_json::from_str(answer.trim_end()).map_err(|e| self.protocol(e.to_string()))
    }

    /// Ask for the current mode and prompt.
    pub fn hello(&mut self) -> Result<Response, ClientError> {
        self.request(&Request::Hello)
    }

    /// Run one command line in the connection's current mode.
    pub fn line(&mut self, line: &str) -> Result<Response, ClientError> {
        self.request(&Request::Line {
            line: line.to_string(),
        })
    }

    fn lost(&self, why: String) -> ClientError {
        ClientError::Lost {
            path: self.path.clone(),
            why,
        }
    }

    fn protocol(&self, why: String) -> ClientError {
        ClientError::Protocol {
            path: self.path.clone(),
            why,
        }
    }
}
