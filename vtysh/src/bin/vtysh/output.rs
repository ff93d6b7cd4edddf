//! Writing to standard output and standard error without panicking.

use std::io::Write;

/// Which standard stream to write to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Out,
    Err,
}

/// Write text and flush. When the reader has gone away (`vtysh -c ... |
/// head`), there is no one left to tell, so the process ends quietly.
pub fn print_out(stream: Stream, text: &str) {
    if text.is_empty() {
        return;
    }
    let result = match stream {
        Stream::Out => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes()).and_then(|()| out.flush())
        }
        Stream::Err => {
            let mut err = std::io::stderr().lock();
            err.write_all(text.as_bytes()).and_then(|()| err.flush())
        }
    };
    if result.is_err() {
        std::process::exit(if stream == Stream::Out { 0 } else { 1 });
    }
}
