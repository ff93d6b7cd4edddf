//! `vtysh`: the rvpn shell.
//!
//! - `vtysh` opens an interactive shell on rvpnd's control socket, with
//!   router-style prompts, `?` help, Tab completion and persistent history.
//! - `vtysh -c CMD [-c CMD ...]` runs commands in order on one connection
//!   and exits; the first refused command is reported on stderr with a
//!   caret and the exit code is 1.
//! - `vtysh -f FILE` applies a configuration file as one transaction.
//!
//! Exit codes: 0 success, 1 a command or file was refused (or a file could
//! not be read), 2 rvpnd could not be reached (or bad usage).

#[path = "vtysh/client.rs"]
mod client;
#[path = "vtysh/helpfmt.rs"]
mod helpfmt;
#[path = "vtysh/interactive.rs"]
mod interactive;
#[path = "vtysh/output.rs"]
mod output;

use clap::Parser;
use client::{Client, ClientError};
use helpfmt::{format_error, with_newline};
use output::{print_out, Stream};
use std::path::PathBuf;
use std::process::ExitCode;
use vtysh::protocol::{socket_path, ErrorInfo, Request, Response};

/// Command-line options.
#[derive(Debug, Parser)]
#[command(
    name = "vtysh",
    version,
    about = "rvpn shell: configure and inspect rvpnd",
    long_about = "rvpn shell: configure and inspect rvpnd.\n\nWithout -c or -f, opens an interactive shell \
                  (? for help, Tab to complete, history in $RVPN_HISTORY or ~/.rvpn_history).\n\
                  Exit codes: 0 ok, 1 command or file refused, 2 rvpnd unreachable."
)]
struct Cli {
    /// Run a command and exit; repeat to run several in order on one
    /// connection (a command may also hold several lines)
    #[arg(short = 'c', long = "command", value_name = "CMD")]
    commands: Vec<String>,

    /// Apply a configuration file (`-` for stdin) as one transaction on top
    /// of the running configuration, as if typed in `configure terminal`
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    files: Vec<PathBuf>,

    /// rvpnd's control socket [default: $RVPN_SOCKET or /run/rvpn/rvpnd.sock]
    #[arg(long, value_name = "PATH")]
    socket: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let path = cli.socket.clone().unwrap_or_else(socket_path);
    let client = match Client::connect(&path) {
        Ok(c) => c,
        Err(e) => return unreachable_daemon(&e),
    };
    if cli.files.is_empty() && cli.commands.is_empty() {
        return match interactive::Shell::new(client) {
            Ok(shell) => shell.run(),
            Err(msg) => {
                print_out(Stream::Err, &format!("{msg}\n"));
                ExitCode::from(2)
            }
        };
    }
    let mut client = client;
    for file in &cli.files {
        match apply_file(&mut client, file) {
            Ok(true) => {}
            Ok(false) => return ExitCode::FAILURE,
            Err(e) => return unreachable_daemon(&e),
        }
    }
    match run_commands(&mut client, &cli.commands) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => unreachable_daemon(&e),
    }
}

/// Report a connection problem; exit code 2.
fn unreachable_daemon(e: &ClientError) -> ExitCode {
    print_out(Stream::Err, &format!("{e}\n"));
    ExitCode::from(2)
}

/// `-c`: run each command line in order. Output goes to stdout; the first
/// refused line goes to stderr (line, caret, message) and stops the run.
/// Returns whether every line was accepted.
fn run_commands(client: &mut Client, commands: &[String]) -> Result<bool, ClientError> {
    for command in commands {
        for line in command.lines() {
            if line.trim().is_empty() {
                continue;
            }
            let resp = client.line(line)?;
            print_out(Stream::Out, &with_newline(&resp.output));
            if !resp.ok {
                print_out(Stream::Err, &format_error(&refusal(&resp), "", line, false));
                return Ok(false);
            }
            if resp.quit {
                return Ok(true);
            }
        }
    }
    Ok(true)
}

/// The error of a refused response (a generic one if the daemon gave none).
fn refusal(resp: &Response) -> ErrorInfo {
    resp.error.clone().unwrap_or_else(|| ErrorInfo {
        message: "% Command refused".to_string(),
        column: None,
    })
}

/// `-f`: send a whole file as one transaction. Returns whether it was
/// applied; reading problems and refusals are reported on stderr.
fn apply_file(client: &mut Client, file: &std::path::Path) -> Result<bool, ClientError> {
    let (name, text) = if file.as_os_str() == "-" {
        let mut text = String::new();
        if let Err(e) = std::io::Read::read_to_string(&mut std::io::stdin(), &mut text) {
            print_out(Stream::Err, &format!("% Cannot read standard input: {e}\n"));
            return Ok(false);
        }
        ("<stdin>".to_string(), text)
    } else {
        match std::fs::read_to_string(file) {
            Ok(text) => (file.display().to_string(), text),
            Err(e) => {
                print_out(
                    Stream::Err,
                    &format!("% Cannot read {}: {e}\n", file.display()),
                );
                return Ok(false);
            }
        }
    };
    let resp = client.request(&Request::ApplyConfig {
        name: name.clone(),
        text: text.clone(),
    })?;
    if resp.ok {
        if resp.output.is_empty() {
            let n = config_lines(&text);
            print_out(
                Stream::Out,
                &format!("% Configuration applied from {name} ({n} lines)\n"),
            );
        } else {
            print_out(Stream::Out, &with_newline(&resp.output));
        }
        Ok(true)
    } else {
        print_out(Stream::Err, &with_newline(&resp.output));
        let error = refusal(&resp);
        // The column refers to a line of the file that the message names;
        // without that line at hand, the message alone is printed.
        print_out(Stream::Err, &with_newline(&error.message));
        print_out(Stream::Err, &format!("% {name}: nothing was changed\n"));
        Ok(false)
    }
}

/// Lines that carry configuration: not blank, not a `!` or `#` comment.
fn config_lines(text: &str) -> usize {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('!') && !l.starts_with('#'))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_config_lines() {
        assert_eq!(
            config_lines("hostname X\n!\n\ninterface Tunnel1\n ip address 1.1.1.1/30\n# c\n"),
            3
        );
    }

    #[test]
    fn cli_parses_repeated_options() {
        let cli = Cli::try_parse_from([
            "vtysh",
            "-c",
            "show version",
            "-c",
            "conf t",
            "--socket",
            "/tmp/s",
        ])
        .expect("valid options");
        assert_eq!(cli.commands, vec!["show version", "conf t"]);
        assert_eq!(cli.socket, Some(PathBuf::from("/tmp/s")));
    }
}
