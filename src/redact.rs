//! Keeping secrets (PSKs, BGP passwords) out of logs, error echoes and show
//! output the operator did not ask to include secrets in.

use serde_json::Value;
use vtysh::{Config, FileError};

/// What stands in for a secret in JSON output.
pub const MASK: &str = "<removed>";

/// Whether a word (possibly abbreviated) introduces a secret.
fn is_secret_keyword(w: &str) -> bool {
    w.len() >= 2 && ("pre-shared-key".starts_with(w) || "password".starts_with(w))
}

/// A configuration line with whatever follows a secret keyword starred
/// out character by character, so columns (carets) still line up:
/// `pre-shared-key 0 Str0ng` becomes `pre-shared-key 0 ******`.
pub fn line(text: &str) -> String {
    let words: Vec<(usize, &str)> = words(text);
    let Some(k) = words
        .iter()
        .position(|(_, w)| is_secret_keyword(&w.to_ascii_lowercase()))
    else {
        return text.to_string();
    };
    let mut i = k + 1;
    while i < words.len()
        && ["local", "remote"]
            .iter()
            .any(|kw| kw.starts_with(words[i].1) && words[i].1.len() >= 3)
    {
        i += 1;
    }
    if i < words.len() && matches!(words[i].1, "0" | "6" | "7") && i + 1 < words.len() {
        i += 1;
    }
    match words.get(i) {
        None => text.to_string(),
        Some(&(start, _)) => {
            let mut out = text[..start].to_string();
            out.extend(
                text[start..]
                    .chars()
                    .map(|c| if c.is_whitespace() { c } else { '*' }),
            );
            out
        }
    }
}

/// Byte offsets and text of the whitespace-separated words of a line.
fn words(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                out.push((s, &text[s..i]));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, &text[s..]));
    }
    out
}

/// A file error for people. With `echo`, the offending line is shown
/// (secrets starred, same length) with the caret under the bad word;
/// without, only the line number, column and message, for logs.
pub fn file_error(e: &FileError, echo: bool) -> String {
    if e.line == 0 {
        return e.message.clone();
    }
    if echo {
        return e.render_with(line);
    }
    let msg = e.message.replace('\n', " ");
    match e.column {
        Some(col) => {
            let c = e.text[..col.min(e.text.len())].chars().count() + 1;
            format!("line {}, column {c}: {msg}", e.line)
        }
        None => format!("line {}: {msg}", e.line),
    }
}

/// Every secret of a configuration.
pub fn secrets(cfg: &Config) -> Vec<String> {
    let mut out = Vec::new();
    for kr in cfg.ikev2_keyrings.values() {
        for p in kr.peers.values() {
            for s in [
                &p.pre_shared_key,
                &p.pre_shared_key_local,
                &p.pre_shared_key_remote,
            ]
            .into_iter()
            .flatten()
            {
                out.push(s.expose().to_string());
            }
        }
    }
    if let Some(bgp) = &cfg.bgp {
        for n in bgp.peer_groups.values().chain(bgp.neighbors.values()) {
            if let Some(s) = &n.password {
                out.push(s.expose().to_string());
            }
        }
    }
    out.retain(|s| !s.is_empty());
    out
}

/// Replace every JSON string equal to one of `secrets` with [`MASK`].
/// Defence in depth: the model's serializer masks secrets itself.
pub fn scrub_json(v: &mut Value, secrets: &[String]) {
    match v {
        Value::String(s) if secrets.iter().any(|x| x == s) => *s = MASK.to_string(),
        Value::Array(a) => a.iter_mut().for_each(|x| scrub_json(x, secrets)),
        Value::Object(o) => o.values_mut().for_each(|x| scrub_json(x, secrets)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stars_secrets_keeping_columns() {
        assert_eq!(
            line(" pre-shared-key 0 Str0ng-Secret"),
            " pre-shared-key 0 *************"
        );
        assert_eq!(line("pre-shared-key local Abc"), "pre-shared-key local ***");
        assert_eq!(line("pre 7 0a1b"), "pre 7 ****");
        assert_eq!(
            line("neighbor 1.2.3.4 password Md5 x"),
            "neighbor 1.2.3.4 password *** *"
        );
        assert_eq!(line("pre-shared-key 0"), "pre-shared-key *");
        assert_eq!(line("interface Tunnel1"), "interface Tunnel1");
        assert_eq!(line("password"), "password");
    }

    #[test]
    fn file_error_without_echo_has_no_text() {
        let e = FileError {
            line: 4,
            text: "pre-shared-key 0 short-Secret".into(),
            column: Some(3),
            message: "% too short".into(),
        };
        assert_eq!(file_error(&e, false), "line 4, column 4: % too short");
        let indented = FileError {
            line: 2,
            text: "  bogus".into(),
            column: Some(2),
            message: "% Invalid input".into(),
        };
        assert_eq!(
            file_error(&indented, false),
            "line 2, column 3: % Invalid input"
        );
        let shown = file_error(&e, true);
        assert!(!shown.contains("short-Secret"), "{shown}");
        assert!(shown.contains("% too short"));
    }

    #[test]
    fn scrubs_json_strings() {
        let mut v = serde_json::json!({"a": ["x", "s3cret"], "b": {"c": "s3cret"}, "d": 1});
        scrub_json(&mut v, &["s3cret".to_string()]);
        assert_eq!(
            v,
            serde_json::json!({"a": ["x", MASK], "b": {"c": MASK}, "d": 1})
        );
    }
}
