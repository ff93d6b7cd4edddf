//! The command table: every command of every mode, with its handler.

mod aaa;
mod bgp;
mod crypto;
mod exec;
mod help_text;
mod interface;
mod policy;

use crate::grammar::{Args, CommandSet, HelpItem, MatchError, Template};
use crate::mode::Mode;
use crate::model::Config;
use crate::session::{CliError, ExecCommand, Frame};
use std::collections::HashMap;
use std::sync::OnceLock;

/// What a handler works on: a copy of the running config (the candidate),
/// the mode stack, and what to tell the daemon.
pub struct Ctx {
    /// The candidate: a copy of the running configuration that the handler edits.
    pub cfg: Config,
    /// The mode stack, exec mode first.
    pub frames: Vec<Frame>,
    /// A command for the daemon to run (show, clear, write), if the line is one.
    pub exec: Option<ExecCommand>,
    /// The session ends (`exit` or `quit` in exec mode).
    pub quit: bool,
}

impl Ctx {
    pub(crate) fn new(running: &Config, frames: Vec<Frame>) -> Self {
        Ctx {
            cfg: running.clone(),
            frames,
            exec: None,
            quit: false,
        }
    }
    /// The innermost frame.
    pub(crate) fn frame(&self) -> &Frame {
        self.frames.last().expect("the exec frame is never popped")
    }
    /// Enter a sub-mode of the current one.
    pub(crate) fn push(&mut self, f: Frame) {
        self.frames.push(f);
    }
}

/// A handler: changes the candidate config or the frames, or asks the
/// daemon for an exec command.
pub type Handler = Box<dyn Fn(&mut Ctx, &Args) -> Result<(), CliError> + Send + Sync>;

/// One command.
pub struct Command {
    /// The mode it parses in.
    pub mode: Mode,
    /// Its syntax.
    pub template: Template,
    /// What it does.
    pub handler: Handler,
}

/// Every command, by mode.
pub struct Registry {
    commands: Vec<Command>,
    by_mode: HashMap<Mode, Vec<usize>>,
}

impl Registry {
    fn set(&self, mode: Mode) -> (CommandSet<'_>, &[usize]) {
        let idx = self.by_mode.get(&mode).map(Vec::as_slice).unwrap_or(&[]);
        (
            CommandSet::new(idx.iter().map(|&i| &self.commands[i].template).collect()),
            idx,
        )
    }

    /// Match a line in a mode.
    pub fn parse(&self, mode: Mode, line: &str) -> Result<(&Command, Args), MatchError> {
        let (set, idx) = self.set(mode);
        let (i, args) = set.parse(line)?;
        Ok((&self.commands[idx[i]], args))
    }

    /// All commands of a mode (for tests and documentation).
    pub fn commands(&self, mode: Mode) -> impl Iterator<Item = &Command> {
        self.by_mode
            .get(&mode)
            .into_iter()
            .flatten()
            .map(|&i| &self.commands[i])
    }
}

/// Builds the registry; each group of commands adds itself.
pub(crate) struct Builder {
    commands: Vec<Command>,
}

impl Builder {
    pub(crate) fn add<F>(&mut self, mode: Mode, template: &str, handler: F)
    where
        F: Fn(&mut Ctx, &Args) -> Result<(), CliError> + Send + Sync + 'static,
    {
        self.commands.push(Command {
            mode,
            template: Template::new(template),
            handler: Box::new(handler),
        });
    }
    /// Add the same command to several modes.
    pub(crate) fn add_many<F>(&mut self, modes: &[Mode], template: &str, handler: F)
    where
        F: Fn(&mut Ctx, &Args) -> Result<(), CliError> + Send + Sync + Clone + 'static,
    {
        for &m in modes {
            self.add(m, template, handler.clone());
        }
    }
}

/// The registry (built once).
pub fn registry() -> &'static Registry {
    static REG: OnceLock<Registry> = OnceLock::new();
    REG.get_or_init(|| {
        let mut b = Builder {
            commands: Vec::new(),
        };
        exec::register(&mut b);
        crypto::register(&mut b);
        aaa::register(&mut b);
        interface::register(&mut b);
        bgp::register(&mut b);
        policy::register(&mut b);
        let mut by_mode: HashMap<Mode, Vec<usize>> = HashMap::new();
        for (i, c) in b.commands.iter().enumerate() {
            by_mode.entry(c.mode).or_default().push(i);
        }
        Registry {
            commands: b.commands,
            by_mode,
        }
    })
}

/// `?` help: what may come next after `line` in `mode`.
pub fn help(mode: Mode, line: &str) -> Result<Vec<HelpItem>, CliError> {
    let (set, _) = registry().set(mode);
    set.help(line, &help_text::describe).map_err(CliError::from)
}

/// Tab completion: the keywords that complete the last word of `line`.
pub fn complete(mode: Mode, line: &str) -> Vec<String> {
    let (set, _) = registry().set(mode);
    set.complete(line)
}

/// Parse a number that the grammar already checked for range.
pub(crate) fn num<T: std::str::FromStr>(args: &Args, var: &str) -> Result<T, CliError> {
    args.get(var)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| CliError::at(args.column_of(var), format!("% Bad number for {var}")))
}

/// The configuration modes (every mode but exec).
pub(crate) fn config_modes() -> Vec<Mode> {
    Mode::ALL.into_iter().filter(|m| m.is_config()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles_and_every_mode_has_commands() {
        let r = registry();
        for m in Mode::ALL {
            assert!(r.commands(m).count() > 0, "{m:?} has no commands");
        }
    }
}
