//! The interactive shell: line editing, `?` help, Tab completion, history.

use crate::client::{Client, ClientError};
use crate::helpfmt::{format_error, format_help, with_newline};
use crate::output::{print_out, Stream};
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::{FileHistory, History};
use rustyline::validate::Validator;
use rustyline::{
    Cmd, CompletionType, ConditionalEventHandler, Config, Context, EditMode, Editor, Event,
    EventContext, EventHandler, Helper, KeyEvent, RepeatCount,
};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use vtysh::protocol::{ErrorInfo, Response};
use vtysh::Mode;

/// How many lines the history keeps.
const HISTORY_SIZE: usize = 1000;

/// A key that ends `readline` early for the main loop to act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Special {
    /// `?` was pressed with the cursor at this byte offset.
    Help { pos: usize },
    /// Ctrl-Z: leave configuration mode.
    End,
}

/// Shared between the key handlers (inside rustyline) and the main loop.
type SpecialSlot = Arc<Mutex<Option<Special>>>;

fn take_special(slot: &SpecialSlot) -> Option<Special> {
    slot.lock().unwrap_or_else(|e| e.into_inner()).take()
}

/// Binds `?` and Ctrl-Z: records what was pressed and accepts the line, so
/// that `readline` returns and the main loop can show help or send `end`.
struct SpecialKey {
    slot: SpecialSlot,
    help: bool,
}

impl ConditionalEventHandler for SpecialKey {
    fn handle(
        &self,
        _evt: &Event,
        _n: RepeatCount,
        _positive: bool,
        ctx: &EventContext,
    ) -> Option<Cmd> {
        let special = if self.help {
            Special::Help { pos: ctx.pos() }
        } else {
            Special::End
        };
        *self.slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(special);
        Some(Cmd::AcceptLine)
    }
}

/// Tab completion from the command grammar of the current mode.
struct CliHelper {
    mode: Mode,
}

impl Completer for CliHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = line.get(..pos).unwrap_or(line);
        // The last word starts after the last whitespace.
        let start = before.trim_end_matches(|c: char| !c.is_whitespace()).len();
        let (mode, offset) = grammar_target(self.mode, before);
        let words = vtysh::complete(mode, &before[offset..]);
        let unique = words.len() == 1;
        let pairs = words
            .into_iter()
            .map(|w| Pair {
                replacement: if unique { format!("{w} ") } else { w.clone() },
                display: w,
            })
            .collect();
        Ok((start, pairs))
    }
}

impl Hinter for CliHelper {
    type Hint = String;
}
impl Highlighter for CliHelper {}
impl Validator for CliHelper {}
impl Helper for CliHelper {}

/// Which grammar `?` and Tab should use for `before`, and from which byte
/// offset: after `do ` in a configuration mode, the rest of the line is an
/// exec command, so help and completion come from exec mode (as in FRR).
fn grammar_target(mode: Mode, before: &str) -> (Mode, usize) {
    if !mode.is_config() {
        return (mode, 0);
    }
    let trimmed = before.trim_start();
    let lead = before.len() - trimmed.len();
    let Some(end) = trimmed.find(char::is_whitespace) else {
        return (mode, 0);
    };
    let first = &trimmed[..end];
    // `do`, or an abbreviation that can only mean `do`.
    let is_do = first.eq_ignore_ascii_case("do") || vtysh::complete(mode, first) == ["do"];
    if !is_do {
        return (mode, 0);
    }
    let rest = &trimmed[end..];
    let offset = lead + end + (rest.len() - rest.trim_start().len());
    (Mode::Exec, offset)
}

/// Create the history file readable by its owner only (typed lines may
/// hold keys and passwords). An existing file is left as it is; failure is
/// not fatal (the history is then written with the default mode, or not).
fn create_private(path: &std::path::Path) {
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
}

/// Where the history lives: `RVPN_HISTORY`, else `$HOME/.rvpn_history`.
fn history_path() -> Option<PathBuf> {
    match std::env::var_os("RVPN_HISTORY") {
        Some(p) if !p.is_empty() => Some(PathBuf::from(p)),
        _ => std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(|h| PathBuf::from(h).join(".rvpn_history")),
    }
}

/// The interactive shell's state.
pub struct Shell {
    client: Client,
    rl: Editor<CliHelper, FileHistory>,
    slot: SpecialSlot,
    history: Option<PathBuf>,
    mode: Mode,
    prompt: String,
    /// Whether the terminal shows what is typed (stdin is a terminal).
    echoes: bool,
    /// Whether a line was refused (makes the exit code 1 when the input
    /// is not a terminal, so that `vtysh < script` can be checked).
    refused: bool,
}

impl Shell {
    /// Set up line editing and history around an open connection.
    pub fn new(mut client: Client) -> Result<Shell, String> {
        let hello = client.hello().map_err(|e| e.to_string())?;
        let config = Config::builder()
            .edit_mode(EditMode::Emacs)
            .completion_type(CompletionType::List)
            .completion_show_all_if_ambiguous(true)
            .auto_add_history(false)
            .max_history_size(HISTORY_SIZE)
            .map_err(|e| format!("% Cannot set up line editing: {e}"))?
            .build();
        let mut rl: Editor<CliHelper, FileHistory> = Editor::with_config(config)
            .map_err(|e| format!("% Cannot set up line editing: {e}"))?;
        rl.set_helper(Some(CliHelper { mode: hello.mode }));
        let slot: SpecialSlot = Arc::new(Mutex::new(None));
        rl.bind_sequence(
            KeyEvent::from('?'),
            EventHandler::Conditional(Box::new(SpecialKey {
                slot: slot.clone(),
                help: true,
            })),
        );
        rl.bind_sequence(
            KeyEvent::ctrl('Z'),
            EventHandler::Conditional(Box::new(SpecialKey {
                slot: slot.clone(),
                help: false,
            })),
        );
        let history = history_path();
        if let Some(path) = &history {
            create_private(path);
            if path.exists() {
                if let Err(e) = rl.load_history(path) {
                    print_out(
                        Stream::Err,
                        &format!("% Cannot read history {}: {e}\n", path.display()),
                    );
                }
            }
        }
        Ok(Shell {
            client,
            rl,
            slot,
            history,
            mode: hello.mode,
            prompt: hello.prompt,
            echoes: std::io::stdin().is_terminal(),
            refused: false,
        })
    }

    /// The prompt as shown: the daemon's prompt and a space, FRR style.
    fn shown_prompt(&self) -> String {
        format!("{} ", self.prompt)
    }

    /// Run until `exit` from exec, Ctrl-D in exec, or end of input.
    ///
    /// With input from a pipe or file (not a terminal) every line is run
    /// and echoed after its prompt, and the exit code is 1 if any line was
    /// refused.
    pub fn run(mut self) -> ExitCode {
        let mut initial: Option<(String, String)> = None;
        loop {
            if let Some(h) = self.rl.helper_mut() {
                h.mode = self.mode;
            }
            take_special(&self.slot);
            let prompt = self.shown_prompt();
            let read = match initial.take() {
                Some((left, right)) => self.rl.readline_with_initial(&prompt, (&left, &right)),
                None => self.rl.readline(&prompt),
            };
            let line = match read {
                Ok(line) => line,
                Err(ReadlineError::Interrupted) => continue,
                Err(ReadlineError::Eof) => {
                    if self.echoes {
                        print_out(Stream::Out, "\n");
                    }
                    if self.mode.is_config() && self.echoes {
                        match self.send("end") {
                            Ok(false) => continue,
                            Ok(true) => return self.finish(ExitCode::SUCCESS),
                            Err(e) => return self.fail(e),
                        }
                    }
                    return self.finish(ExitCode::SUCCESS);
                }
                Err(e) => {
                    print_out(Stream::Err, &format!("% Cannot read the terminal: {e}\n"));
                    return self.finish(ExitCode::FAILURE);
                }
            };
            match take_special(&self.slot) {
                Some(Special::Help { pos }) => {
                    let pos = if line.is_char_boundary(pos) {
                        pos
                    } else {
                        line.len()
                    };
                    let (left, right) = line.split_at(pos);
                    self.show_help(left);
                    initial = Some((left.to_string(), right.to_string()));
                    continue;
                }
                Some(Special::End) => {
                    if self.mode.is_config() {
                        match self.send("end") {
                            Ok(false) => {}
                            Ok(true) => return self.finish(ExitCode::SUCCESS),
                            Err(e) => return self.fail(e),
                        }
                    }
                    continue;
                }
                None => {}
            }
            // A bracketed paste of several lines arrives as one buffer:
            // run it line by line, as a router does with pasted config.
            let pieces: Vec<&str> = line.split(['\n', '\r']).collect();
            let pasted = pieces.len() > 1;
            for piece in pieces {
                if pasted && piece.trim().is_empty() {
                    continue;
                }
                if !self.echoes || pasted {
                    // Input from a pipe, or one line of a paste: show it
                    // after its prompt so that carets and output line up.
                    print_out(Stream::Out, &format!("{}{piece}\n", self.shown_prompt()));
                }
                if piece.trim().is_empty() {
                    continue;
                }
                self.remember(piece);
                match self.send(piece) {
                    Ok(false) => {}
                    Ok(true) => return self.finish(ExitCode::SUCCESS),
                    Err(e) => return self.fail(e),
                }
            }
        }
    }

    /// Add a line to the history and append it to the history file now, so
    /// that a killed shell keeps it.
    fn remember(&mut self, line: &str) {
        if matches!(self.rl.add_history_entry(line), Ok(true)) {
            self.save_history();
        }
    }

    fn save_history(&mut self) {
        if let Some(path) = &self.history {
            if let Err(e) = self.rl.history_mut().append(path) {
                print_out(
                    Stream::Err,
                    &format!("% Cannot write history {}: {e}\n", path.display()),
                );
                // Say it once, not after every line.
                self.history = None;
            }
        }
    }

    /// Send a line and show the answer; true when the daemon ended the
    /// session.
    fn send(&mut self, line: &str) -> Result<bool, ClientError> {
        let prefix = self.shown_prompt();
        let resp = self.client.line(line)?;
        Ok(self.show_response(&prefix, line, resp))
    }

    fn show_response(&mut self, prefix: &str, line: &str, resp: Response) -> bool {
        print_out(Stream::Out, &with_newline(&resp.output));
        if !resp.ok {
            let error = resp.error.unwrap_or_else(|| ErrorInfo {
                message: "% Command refused".to_string(),
                column: None,
            });
            // The line is on screen after its prompt (typed into the
            // terminal, or printed by us for piped input): caret only.
            print_out(Stream::Out, &format_error(&error, prefix, line, true));
            self.refused = true;
        }
        self.mode = resp.mode;
        self.prompt = resp.prompt;
        resp.quit
    }

    /// `?`: what may come next after `before`, or why `before` is wrong.
    fn show_help(&self, before: &str) {
        let (mode, offset) = grammar_target(self.mode, before);
        let text = match vtysh::help(mode, &before[offset..]) {
            Ok(items) => format_help(&items),
            Err(e) => {
                let info = ErrorInfo {
                    message: e.message,
                    column: e.column.map(|c| c + offset),
                };
                format_error(&info, &self.shown_prompt(), before, true)
            }
        };
        print_out(Stream::Out, &text);
    }

    fn finish(mut self, code: ExitCode) -> ExitCode {
        self.save_history();
        if code == ExitCode::SUCCESS && self.refused && !self.echoes {
            return ExitCode::FAILURE;
        }
        code
    }

    fn fail(self, e: ClientError) -> ExitCode {
        print_out(Stream::Err, &format!("{e}\n"));
        self.finish(ExitCode::from(2))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn do_uses_the_exec_grammar() {
        assert_eq!(grammar_target(Mode::Config, "do show "), (Mode::Exec, 3));
        assert_eq!(
            grammar_target(Mode::Interface, "  do   sh"),
            (Mode::Exec, 7)
        );
        assert_eq!(grammar_target(Mode::Config, "do"), (Mode::Config, 0));
        assert_eq!(
            grammar_target(Mode::Config, "interface Tunnel1"),
            (Mode::Config, 0)
        );
        assert_eq!(grammar_target(Mode::Exec, "do show"), (Mode::Exec, 0));
    }
}
