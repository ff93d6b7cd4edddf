//! Formatting of `?` help lists and refused lines, router style.

use vtysh::grammar::HelpItem;
use vtysh::protocol::ErrorInfo;

/// The `?` list, FRR style: two spaces, the tokens padded to one column,
/// two spaces, the help text; `<cr>` (which the library puts last) has no
/// text. An empty list says that nothing matches.
pub fn format_help(items: &[HelpItem]) -> String {
    if items.is_empty() {
        return "% There is no matched command.\n".to_string();
    }
    let width = items
        .iter()
        .map(|i| i.token.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for item in items {
        let line = format!("  {:<width$}  {}", item.token, item.help);
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A refused line for the screen. `prefix` is what stood before the line
/// (the prompt, or nothing). When `echoed` is true the terminal already
/// shows prefix and line, so only the caret line and the message are
/// returned; the caret still lines up because the prefix is counted.
pub fn format_error(error: &ErrorInfo, prefix: &str, line: &str, echoed: bool) -> String {
    let text = error.render(prefix, line);
    if echoed && error.column.is_some() {
        match text.split_once('\n') {
            Some((_, rest)) => rest.to_string(),
            None => text,
        }
    } else {
        text
    }
}

/// Ensure that text ends with a newline (so that the next prompt starts on
/// a line of its own); empty text stays empty.
pub fn with_newline(text: &str) -> String {
    if text.is_empty() || text.ends_with('\n') {
        text.to_string()
    } else {
        format!("{text}\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(token: &str, help: &str) -> HelpItem {
        HelpItem {
            token: token.into(),
            help: help.into(),
        }
    }

    #[test]
    fn help_is_aligned_with_cr_last() {
        let out = format_help(&[
            item("configure", "Enter configuration mode"),
            item("show", "Show"),
            item("<cr>", ""),
        ]);
        assert_eq!(
            out,
            "  configure  Enter configuration mode\n  show       Show\n  <cr>\n"
        );
    }

    #[test]
    fn empty_help_says_so() {
        assert!(format_help(&[]).starts_with("% "));
    }

    #[test]
    fn echoed_error_omits_the_line_but_keeps_the_offset() {
        let e = ErrorInfo {
            message: "% Invalid input".into(),
            column: Some(3),
        };
        assert_eq!(
            format_error(&e, "r1# ", "sh bogus", true),
            "       ^\n% Invalid input\n"
        );
        assert_eq!(
            format_error(&e, "", "sh bogus", false),
            "sh bogus\n   ^\n% Invalid input\n"
        );
        let e = ErrorInfo {
            message: "% Incomplete command".into(),
            column: None,
        };
        assert_eq!(
            format_error(&e, "r1# ", "sh", true),
            "% Incomplete command\n"
        );
    }
}
