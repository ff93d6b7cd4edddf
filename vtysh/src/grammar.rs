//! Command templates compiled into small NFAs, matched with router-style
//! abbreviations, and used for `?` help and Tab completion.
//!
//! Template syntax (FRR-like):
//! - `word` a keyword; abbreviations accepted when unique;
//! - `A.B.C.D`, `A.B.C.D/M`, `X:X::X:X`, `X:X::X:X/M`, `(1-65535)`, `AA:NN`
//!   typed values; `LINE` the rest of the line; any other all-caps word a
//!   free-form word (`NAME`, `IFNAME`, ...);
//! - `<a|b c>` a choice of sequences, `[a b]` an optional sequence,
//!   `{a|b}` one or more of the choices, repeated.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A value type of a variable token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarType {
    /// A free-form word (`NAME`, `IFNAME`, ...).
    Word,
    /// `LINE`: the rest of the line.
    Line,
    /// `A.B.C.D`.
    Ipv4,
    /// `A.B.C.D/M`.
    Ipv4Prefix,
    /// `X:X::X:X`.
    Ipv6,
    /// `X:X::X:X/M`.
    Ipv6Prefix,
    /// `(LO-HI)`: an integer in this range.
    Range(u64, u64),
    /// `AA:NN`: a community, or a well-known community name.
    Community,
}

impl VarType {
    /// How specific a match of this type is; keeps `1.2.3.4` an address
    /// rather than a name when both could take it.
    fn rank(self) -> u8 {
        match self {
            VarType::Line => 0,
            VarType::Word => 1,
            _ => 2,
        }
    }

    /// Whether a whole token is a valid value of this type.
    pub fn accepts(self, s: &str) -> bool {
        match self {
            VarType::Word | VarType::Line => !s.is_empty(),
            VarType::Ipv4 => s.parse::<Ipv4Addr>().is_ok(),
            VarType::Ipv6 => s.parse::<Ipv6Addr>().is_ok(),
            VarType::Ipv4Prefix => prefix_ok(s, false),
            VarType::Ipv6Prefix => prefix_ok(s, true),
            VarType::Range(lo, hi) => {
                s.len() <= 20
                    && s.bytes().all(|b| b.is_ascii_digit())
                    && s.parse::<u64>().is_ok_and(|n| n >= lo && n <= hi)
            }
            VarType::Community => community_ok(s),
        }
    }
}

fn prefix_ok(s: &str, v6: bool) -> bool {
    let Some((a, m)) = s.split_once('/') else {
        return false;
    };
    if m.is_empty() || m.len() > 3 || !m.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let Ok(m) = m.parse::<u8>() else { return false };
    if v6 {
        a.parse::<Ipv6Addr>().is_ok() && m <= 128
    } else {
        a.parse::<Ipv4Addr>().is_ok() && m <= 32
    }
}

/// `AA:NN` with 16-bit halves, or a well-known community name.
pub fn community_ok(s: &str) -> bool {
    if matches!(
        s,
        "no-export" | "no-advertise" | "local-AS" | "internet" | "graceful-shutdown" | "blackhole"
    ) {
        return true;
    }
    match s.split_once(':') {
        Some((a, b)) => [a, b].iter().all(|p| {
            !p.is_empty()
                && p.len() <= 5
                && p.bytes().all(|c| c.is_ascii_digit())
                && p.parse::<u32>().is_ok_and(|n| n <= 65535)
        }),
        None => false,
    }
}

/// One token of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// A keyword, matched by unique abbreviation.
    Keyword(String),
    /// A variable: a value of a type.
    Var {
        /// Its spelling in the template (`NAME`, `A.B.C.D`, ...).
        name: String,
        /// The values it takes.
        ty: VarType,
    },
}

impl Token {
    fn from_word(w: &str) -> Token {
        let ty = match w {
            "A.B.C.D" => Some(VarType::Ipv4),
            "A.B.C.D/M" => Some(VarType::Ipv4Prefix),
            "X:X::X:X" => Some(VarType::Ipv6),
            "X:X::X:X/M" => Some(VarType::Ipv6Prefix),
            "AA:NN" => Some(VarType::Community),
            "LINE" => Some(VarType::Line),
            _ if w.starts_with('(') && w.ends_with(')') => {
                let inner = &w[1..w.len() - 1];
                let (a, b) = inner.split_once('-').expect("range token needs lo-hi");
                Some(VarType::Range(
                    a.parse().expect("range low bound"),
                    b.parse().expect("range high bound"),
                ))
            }
            _ if w.bytes().any(|b| b.is_ascii_uppercase())
                && w.bytes().all(|b| {
                    b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
                }) =>
            {
                Some(VarType::Word)
            }
            _ => None,
        };
        match ty {
            Some(ty) => Token::Var {
                name: w.to_string(),
                ty,
            },
            None => Token::Keyword(w.to_string()),
        }
    }

    /// What `?` shows for the token: the keyword, or the placeholder.
    pub fn display(&self) -> &str {
        match self {
            Token::Keyword(k) => k,
            Token::Var { name, .. } => name,
        }
    }
}

#[derive(Debug, Clone)]
enum NodeKind {
    Eps,
    Tok(Token),
    End,
}

#[derive(Debug, Clone)]
struct Node {
    kind: NodeKind,
    next: Vec<usize>,
}

/// A compiled template.
#[derive(Debug, Clone)]
pub struct Template {
    text: String,
    nodes: Vec<Node>,
    start: usize,
}

#[derive(Clone, Copy)]
struct Frag {
    start: usize,
    end: usize,
}

impl Template {
    /// Compile a template; panics on a malformed template (a programming
    /// error, caught by the unit tests that compile every command).
    pub fn new(text: &str) -> Template {
        let mut t = Template {
            text: text.to_string(),
            nodes: Vec::new(),
            start: 0,
        };
        let toks = lex(text);
        let mut pos = 0;
        let frag = t.parse_seq(&toks, &mut pos);
        assert!(pos == toks.len(), "template {text:?}: unbalanced at {pos}");
        let end = t.add(NodeKind::End);
        t.nodes[frag.end].next.push(end);
        t.start = frag.start;
        t
    }

    /// The template text.
    pub fn text(&self) -> &str {
        &self.text
    }

    fn add(&mut self, kind: NodeKind) -> usize {
        self.nodes.push(Node {
            kind,
            next: Vec::new(),
        });
        self.nodes.len() - 1
    }

    fn parse_seq(&mut self, toks: &[String], pos: &mut usize) -> Frag {
        let start = self.add(NodeKind::Eps);
        let mut cur = start;
        while *pos < toks.len() {
            let t = toks[*pos].as_str();
            if t == "|" || t == ">" || t == "]" || t == "}" {
                break;
            }
            let f = match t {
                "<" | "[" | "{" => {
                    *pos += 1;
                    let close = match t {
                        "<" => ">",
                        "[" => "]",
                        _ => "}",
                    };
                    let mut alts = vec![self.parse_seq(toks, pos)];
                    while toks.get(*pos).map(String::as_str) == Some("|") {
                        *pos += 1;
                        alts.push(self.parse_seq(toks, pos));
                    }
                    assert!(
                        toks.get(*pos).map(String::as_str) == Some(close),
                        "template {:?}: expected {close}",
                        self.text
                    );
                    *pos += 1;
                    let s = self.add(NodeKind::Eps);
                    let e = self.add(NodeKind::Eps);
                    for a in &alts {
                        self.nodes[s].next.push(a.start);
                        self.nodes[a.end].next.push(e);
                    }
                    if t == "[" {
                        self.nodes[s].next.push(e);
                    }
                    if t == "{" {
                        self.nodes[e].next.push(s);
                    }
                    Frag { start: s, end: e }
                }
                _ => {
                    *pos += 1;
                    let n = self.add(NodeKind::Tok(Token::from_word(t)));
                    Frag { start: n, end: n }
                }
            };
            self.nodes[cur].next.push(f.start);
            cur = f.end;
        }
        Frag { start, end: cur }
    }

    /// Token nodes reachable from `from`'s successors through epsilons, and
    /// whether the end is reachable.
    fn follow(&self, from: usize) -> (Vec<usize>, bool) {
        let mut out = Vec::new();
        let mut end = false;
        let mut seen = vec![false; self.nodes.len()];
        let mut stack: Vec<usize> = self.nodes[from].next.clone();
        while let Some(n) = stack.pop() {
            if std::mem::replace(&mut seen[n], true) {
                continue;
            }
            match &self.nodes[n].kind {
                NodeKind::Tok(_) => out.push(n),
                NodeKind::End => end = true,
                NodeKind::Eps => stack.extend(self.nodes[n].next.iter().copied()),
            }
        }
        out.sort_unstable();
        (out, end)
    }

    fn token(&self, n: usize) -> &Token {
        match &self.nodes[n].kind {
            NodeKind::Tok(t) => t,
            _ => unreachable!("only token nodes are followed"),
        }
    }
}

fn lex(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in text.chars() {
        match c {
            '<' | '>' | '[' | ']' | '{' | '}' | '|' => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                out.push(c.to_string());
            }
            c if c.is_whitespace() => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// A word of the input line with its byte offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word<'a> {
    /// The word.
    pub text: &'a str,
    /// Its byte offset in the line.
    pub start: usize,
}

/// Split a line into words (whitespace-separated), keeping offsets.
pub fn split_words(line: &str) -> Vec<Word<'_>> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in line.char_indices() {
        if c.is_whitespace() {
            if let Some(s) = start.take() {
                out.push(Word {
                    text: &line[s..i],
                    start: s,
                });
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        out.push(Word {
            text: &line[s..],
            start: s,
        });
    }
    out
}

/// One matched item: a keyword (its full spelling) or a variable's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The template token it matched.
    pub token: Token,
    /// The keyword's full spelling or the variable's value.
    pub value: String,
    /// Byte offset of the word in the line.
    pub column: usize,
}

/// The matched items of a command, for its handler.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Args {
    /// The items, in line order.
    pub items: Vec<Item>,
}

impl Args {
    /// Whether the keyword was given.
    pub fn has(&self, kw: &str) -> bool {
        self.items
            .iter()
            .any(|i| matches!(&i.token, Token::Keyword(k) if k == kw))
    }
    /// The first value of a placeholder (`NAME`, `A.B.C.D`, `(1-65535)`).
    pub fn get(&self, var: &str) -> Option<&str> {
        self.items
            .iter()
            .find(|i| matches!(&i.token, Token::Var { name, .. } if name == var))
            .map(|i| i.value.as_str())
    }
    /// Every value of a placeholder, in order.
    pub fn all(&self, var: &str) -> Vec<&str> {
        self.items
            .iter()
            .filter(|i| matches!(&i.token, Token::Var { name, .. } if name == var))
            .map(|i| i.value.as_str())
            .collect()
    }
    /// The item right after a keyword (its value or full keyword).
    pub fn after(&self, kw: &str) -> Option<&str> {
        let i = self
            .items
            .iter()
            .position(|i| matches!(&i.token, Token::Keyword(k) if k == kw))?;
        self.items.get(i + 1).map(|i| i.value.as_str())
    }
    /// Values of all items (keywords spelled out), in order.
    pub fn words(&self) -> Vec<&str> {
        self.items.iter().map(|i| i.value.as_str()).collect()
    }
    /// The column of the first item with this keyword or placeholder.
    pub fn column_of(&self, what: &str) -> Option<usize> {
        self.items
            .iter()
            .find(|i| i.token.display() == what)
            .map(|i| i.column)
    }
}

/// Why a line does not match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatchError {
    /// Nothing was typed.
    Empty,
    /// The word at this offset fits no command.
    Invalid {
        /// Byte offset of the word in the line.
        column: usize,
    },
    /// The word at this offset abbreviates several keywords.
    Ambiguous {
        /// Byte offset of the word in the line.
        column: usize,
        /// The keywords it abbreviates.
        candidates: Vec<String>,
    },
    /// The line stops before a command is complete.
    Incomplete,
    /// The number at this offset is outside every range the commands
    /// take there.
    OutOfRange {
        /// Byte offset of the word in the line.
        column: usize,
        /// The number as typed.
        value: String,
        /// The ranges taken there, as in the templates (`(1-100)`).
        ranges: Vec<String>,
    },
}

impl MatchError {
    /// Router-style message.
    pub fn message(&self) -> String {
        match self {
            MatchError::Empty => "% Empty command".into(),
            MatchError::Invalid { .. } => "% Invalid input detected at '^' marker.".into(),
            MatchError::Ambiguous { candidates, .. } => {
                format!("% Ambiguous command: could be {}", candidates.join(", "))
            }
            MatchError::Incomplete => "% Command incomplete.".into(),
            MatchError::OutOfRange { value, ranges, .. } => format!(
                "% Invalid input detected at '^' marker: {value} is not in {}",
                ranges.join(" or ")
            ),
        }
    }
    /// The caret column, if the error points at a word.
    pub fn column(&self) -> Option<usize> {
        match self {
            MatchError::Invalid { column }
            | MatchError::Ambiguous { column, .. }
            | MatchError::OutOfRange { column, .. } => Some(*column),
            _ => None,
        }
    }
    /// How far into the line the match got (to pick the best error among modes).
    pub fn depth(&self) -> usize {
        match self {
            MatchError::Empty => 0,
            MatchError::Invalid { column }
            | MatchError::Ambiguous { column, .. }
            | MatchError::OutOfRange { column, .. } => *column,
            MatchError::Incomplete => usize::MAX,
        }
    }
}

#[derive(Clone)]
struct Thread {
    cmd: usize,
    at: usize,
    items: Vec<Item>,
    /// A LINE token swallowed the rest of the input.
    done: bool,
    rank: u32,
}

/// The result of advancing over complete words.
struct Walk {
    threads: Vec<Thread>,
}

#[derive(PartialEq, Eq, PartialOrd, Ord, Clone, Copy)]
enum Class {
    Exact,
    Partial,
    Var(u8),
}

fn classify(tok: &Token, word: &str) -> Option<Class> {
    match tok {
        Token::Keyword(k) => {
            if k.eq_ignore_ascii_case(word) {
                Some(Class::Exact)
            } else if k.len() > word.len()
                && k.as_bytes()[..word.len()].eq_ignore_ascii_case(word.as_bytes())
            {
                Some(Class::Partial)
            } else {
                None
            }
        }
        Token::Var { ty, .. } => ty.accepts(word).then_some(Class::Var(ty.rank())),
    }
}

/// A set of templates that share a mode, matched together so that
/// abbreviations are judged against every command of the mode.
pub struct CommandSet<'t> {
    templates: Vec<&'t Template>,
}

/// One line of `?` output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelpItem {
    /// Keyword, placeholder, or `<cr>`.
    pub token: String,
    /// What the item is.
    pub help: String,
}

impl<'t> CommandSet<'t> {
    /// The set of these templates.
    pub fn new(templates: Vec<&'t Template>) -> Self {
        CommandSet { templates }
    }

    fn initial(&self) -> Vec<Thread> {
        self.templates
            .iter()
            .enumerate()
            .map(|(i, t)| Thread {
                cmd: i,
                at: t.start,
                items: Vec::new(),
                done: false,
                rank: 0,
            })
            .collect()
    }

    /// Advance all threads over `words`.
    fn walk(&self, line: &str, words: &[Word]) -> Result<Walk, MatchError> {
        let mut threads = self.initial();
        for w in words {
            let mut cands: Vec<(Thread, usize, Class)> = Vec::new();
            let mut carried = Vec::new();
            for th in &threads {
                if th.done {
                    carried.push(th.clone());
                    continue;
                }
                let t = self.templates[th.cmd];
                for n in t.follow(th.at).0 {
                    if let Some(c) = classify(t.token(n), w.text) {
                        cands.push((th.clone(), n, c));
                    }
                }
            }
            if cands.is_empty() && carried.is_empty() {
                if let Some(e) = self.out_of_range(&threads, w) {
                    return Err(e);
                }
            }
            if cands.is_empty() && !carried.is_empty() {
                threads = carried;
                continue;
            }
            let best = match pick(&cands, self, w) {
                Ok(b) => b,
                // A LINE already took the rest of the line.
                Err(_) if !carried.is_empty() => {
                    threads = carried;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let mut next = Vec::new();
            for (th, n, c) in cands {
                if !best.contains(&c) {
                    continue;
                }
                let t = self.templates[th.cmd];
                let tok = t.token(n).clone();
                let (value, done) = match &tok {
                    Token::Keyword(k) => (k.clone(), false),
                    Token::Var {
                        ty: VarType::Line, ..
                    } => (line[w.start..].trim_end().to_string(), true),
                    Token::Var { .. } => (w.text.to_string(), false),
                };
                let mut th = th;
                th.rank += match c {
                    Class::Exact => 3,
                    Class::Partial => 2,
                    Class::Var(r) => r as u32,
                };
                th.items.push(Item {
                    token: tok,
                    value,
                    column: w.start,
                });
                th.at = n;
                th.done = done;
                next.push(th);
            }
            next.extend(carried);
            if next.is_empty() {
                return Err(MatchError::Invalid { column: w.start });
            }
            threads = next;
        }
        Ok(Walk { threads })
    }

    /// A number where the commands take only numbers of other ranges: the
    /// error that names them.
    fn out_of_range(&self, threads: &[Thread], w: &Word) -> Option<MatchError> {
        if w.text.is_empty() || !w.text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let mut ranges: Vec<String> = Vec::new();
        for th in threads.iter().filter(|t| !t.done) {
            let t = self.templates[th.cmd];
            for n in t.follow(th.at).0 {
                let tok = t.token(n);
                if let Token::Var {
                    ty: VarType::Range(..),
                    ..
                } = tok
                {
                    let d = tok.display().to_string();
                    if !ranges.contains(&d) {
                        ranges.push(d);
                    }
                }
            }
        }
        (!ranges.is_empty()).then(|| MatchError::OutOfRange {
            column: w.start,
            value: w.text.to_string(),
            ranges,
        })
    }

    /// Match a whole line: the index of the template and its arguments.
    pub fn parse(&self, line: &str) -> Result<(usize, Args), MatchError> {
        let words = split_words(line);
        if words.is_empty() {
            return Err(MatchError::Empty);
        }
        let walk = self.walk(line, &words)?;
        let mut best: Option<&Thread> = None;
        for th in &walk.threads {
            let accepts = th.done || self.templates[th.cmd].follow(th.at).1;
            if accepts && best.is_none_or(|b| th.rank > b.rank) {
                best = Some(th);
            }
        }
        match best {
            Some(th) => Ok((
                th.cmd,
                Args {
                    items: th.items.clone(),
                },
            )),
            None => Err(MatchError::Incomplete),
        }
    }

    /// What may come next after `line` (`?`): when the line ends in a
    /// partial word, the tokens that word could start.
    pub fn help(
        &self,
        line: &str,
        describe: &dyn Fn(&Token) -> String,
    ) -> Result<Vec<HelpItem>, MatchError> {
        let (done, partial) = split_partial(line);
        let walk = self.walk(line, &done)?;
        let mut items: Vec<HelpItem> = Vec::new();
        let mut cr = false;
        for th in &walk.threads {
            if th.done {
                continue;
            }
            let t = self.templates[th.cmd];
            let (next, end) = t.follow(th.at);
            cr |= end && partial.is_none();
            for n in next {
                let tok = t.token(n);
                let ok = match (partial, tok) {
                    (None, _) => true,
                    (Some(p), Token::Keyword(k)) => {
                        k.len() >= p.len()
                            && k.as_bytes()[..p.len()].eq_ignore_ascii_case(p.as_bytes())
                    }
                    (Some(p), Token::Var { ty, .. }) => var_could_start(*ty, p),
                };
                if ok && !items.iter().any(|i| i.token == tok.display()) {
                    items.push(HelpItem {
                        token: tok.display().to_string(),
                        help: describe(tok),
                    });
                }
            }
        }
        items.sort_by(|a, b| {
            let ka = a
                .token
                .bytes()
                .next()
                .is_some_and(|c| c.is_ascii_uppercase() || c == b'(');
            let kb = b
                .token
                .bytes()
                .next()
                .is_some_and(|c| c.is_ascii_uppercase() || c == b'(');
            ka.cmp(&kb).then(a.token.cmp(&b.token))
        });
        if cr {
            items.push(HelpItem {
                token: "<cr>".into(),
                help: String::new(),
            });
        }
        Ok(items)
    }

    /// Keywords that complete the last (partial) word of `line` (Tab).
    pub fn complete(&self, line: &str) -> Vec<String> {
        let (done, partial) = split_partial(line);
        let Ok(walk) = self.walk(line, &done) else {
            return Vec::new();
        };
        let p = partial.unwrap_or("");
        let mut out: Vec<String> = Vec::new();
        for th in walk.threads.iter().filter(|t| !t.done) {
            let t = self.templates[th.cmd];
            for n in t.follow(th.at).0 {
                if let Token::Keyword(k) = t.token(n) {
                    if k.len() >= p.len()
                        && k.as_bytes()[..p.len()].eq_ignore_ascii_case(p.as_bytes())
                        && !out.contains(k)
                    {
                        out.push(k.clone());
                    }
                }
            }
        }
        out.sort();
        out
    }
}

/// Whether a partial word could begin a value of this type.
fn var_could_start(ty: VarType, p: &str) -> bool {
    match ty {
        VarType::Word | VarType::Line => true,
        VarType::Range(..) => p.bytes().all(|b| b.is_ascii_digit()),
        VarType::Ipv4 | VarType::Ipv4Prefix => p
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b'/'),
        VarType::Ipv6 | VarType::Ipv6Prefix => p
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.' || b == b'/'),
        VarType::Community => true,
    }
}

/// Complete words, and the trailing partial word if the line does not end in whitespace.
fn split_partial(line: &str) -> (Vec<Word<'_>>, Option<&str>) {
    let mut words = split_words(line);
    let ends_ws = line.is_empty() || line.ends_with(char::is_whitespace);
    if ends_ws {
        (words, None)
    } else {
        let last = words.pop().map(|w| w.text);
        (words, last)
    }
}

/// Choose which match classes win for a word.
fn pick(
    cands: &[(Thread, usize, Class)],
    set: &CommandSet,
    w: &Word,
) -> Result<Vec<Class>, MatchError> {
    if cands.iter().any(|c| c.2 == Class::Exact) {
        return Ok(vec![Class::Exact]);
    }
    let mut partials: Vec<&str> = cands
        .iter()
        .filter(|c| c.2 == Class::Partial)
        .map(|(th, n, _)| set.templates[th.cmd].token(*n).display())
        .collect();
    partials.sort_unstable();
    partials.dedup();
    let best_var = cands
        .iter()
        .filter_map(|c| match c.2 {
            Class::Var(r) => Some(r),
            _ => None,
        })
        .max();
    match (partials.len(), best_var) {
        (1, _) => Ok(vec![Class::Partial]),
        (0, Some(r)) => Ok(vec![Class::Var(r)]),
        (_, Some(r)) => Ok(vec![Class::Var(r)]),
        (0, None) => Err(MatchError::Invalid { column: w.start }),
        (_, None) => Err(MatchError::Ambiguous {
            column: w.start,
            candidates: partials.into_iter().map(String::from).collect(),
        }),
    }
}

/// Parse helper for handlers: an address of either family.
pub fn parse_ip(s: &str) -> Option<IpAddr> {
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ts: &[Template]) -> CommandSet<'_> {
        CommandSet::new(ts.iter().collect())
    }

    #[test]
    fn keywords_abbreviate_when_unique() {
        let ts = [
            Template::new("show ip bgp summary"),
            Template::new("show interface [brief]"),
            Template::new("show ip interface brief"),
        ];
        let s = set(&ts);
        let (i, a) = s.parse("sh ip b s").unwrap();
        assert_eq!(i, 0);
        assert_eq!(a.words(), vec!["show", "ip", "bgp", "summary"]);
        assert_eq!(s.parse("sh int").unwrap().0, 1);
        assert_eq!(
            s.parse("sh i").unwrap_err(),
            MatchError::Ambiguous {
                column: 3,
                candidates: vec!["interface".into(), "ip".into()]
            }
        );
        assert_eq!(s.parse("sh ip").unwrap_err(), MatchError::Incomplete);
        assert_eq!(
            s.parse("sh ipx").unwrap_err(),
            MatchError::Invalid { column: 3 }
        );
        assert_eq!(s.parse("   ").unwrap_err(), MatchError::Empty);
    }

    #[test]
    fn typed_values_and_choices() {
        let ts = [
            Template::new("neighbor <A.B.C.D|X:X::X:X|PEERGROUP> remote-as <(1-4294967295)|internal|external>"),
            Template::new("neighbor PEERGROUP peer-group"),
        ];
        let s = set(&ts);
        let (i, a) = s.parse("nei 10.0.0.1 remote-as 65001").unwrap();
        assert_eq!(i, 0);
        assert_eq!(a.get("A.B.C.D"), Some("10.0.0.1"));
        assert_eq!(a.get("(1-4294967295)"), Some("65001"));
        let (_, a) = s.parse("neighbor 2001:db8::1 remote-as ext").unwrap();
        assert!(a.has("external"));
        assert_eq!(a.get("X:X::X:X"), Some("2001:db8::1"));
        let (i, a) = s.parse("neighbor SPOKES peer-group").unwrap();
        assert_eq!(i, 1);
        assert_eq!(a.get("PEERGROUP"), Some("SPOKES"));
        assert!(s.parse("neighbor 10.0.0.1 remote-as 4294967296").is_err());
    }

    #[test]
    fn optional_repeat_and_line() {
        let ts = [
            Template::new("encryption {aes-gcm-128|aes-gcm-256|chacha20-poly1305}"),
            Template::new("description LINE"),
            Template::new("ip prefix-list NAME [seq (1-4294967295)] <permit|deny> A.B.C.D/M [ge (0-32)] [le (0-32)]"),
        ];
        let s = set(&ts);
        let (_, a) = s
            .parse("enc aes-gcm-256 chacha20-poly1305 aes-gcm-128")
            .unwrap();
        assert_eq!(
            a.words(),
            vec![
                "encryption",
                "aes-gcm-256",
                "chacha20-poly1305",
                "aes-gcm-128"
            ]
        );
        let (_, a) = s.parse("description  to   spoke1 ?x ").unwrap();
        assert_eq!(a.get("LINE"), Some("to   spoke1 ?x"));
        let (_, a) = s
            .parse("ip prefix-list X seq 10 permit 10.0.0.0/8 le 24")
            .unwrap();
        assert_eq!(a.get("(1-4294967295)"), Some("10"));
        assert_eq!(a.after("le"), Some("24"));
        assert!(s.parse("ip prefix-list X permit 10.0.0.0/33").is_err());
    }

    #[test]
    fn help_and_completion() {
        let ts = [
            Template::new("show interface [brief]"),
            Template::new("show ip interface brief"),
            Template::new("configure terminal"),
        ];
        let s = set(&ts);
        let d = |t: &Token| format!("help for {}", t.display());
        let h = s.help("show ", &d).unwrap();
        assert_eq!(
            h.iter().map(|h| h.token.as_str()).collect::<Vec<_>>(),
            vec!["interface", "ip"]
        );
        let h = s.help("show interface ", &d).unwrap();
        assert_eq!(
            h.iter().map(|h| h.token.as_str()).collect::<Vec<_>>(),
            vec!["brief", "<cr>"]
        );
        let h = s.help("show i", &d).unwrap();
        assert_eq!(h.len(), 2);
        assert_eq!(s.complete("conf"), vec!["configure"]);
        assert_eq!(s.complete("show i"), vec!["interface", "ip"]);
        assert_eq!(s.complete(""), vec!["configure", "show"]);
    }

    #[test]
    fn value_checks() {
        assert!(VarType::Range(1, 10).accepts("10"));
        assert!(!VarType::Range(1, 10).accepts("11"));
        assert!(!VarType::Range(1, 10).accepts("+1"));
        assert!(!VarType::Range(0, u64::MAX).accepts("99999999999999999999999"));
        assert!(VarType::Ipv6Prefix.accepts("2001:db8::/32"));
        assert!(!VarType::Ipv4Prefix.accepts("10.0.0.0/"));
        assert!(community_ok("65000:100"));
        assert!(!community_ok("65536:1"));
        assert!(community_ok("no-export"));
    }

    #[test]
    fn a_number_out_of_range_names_the_range() {
        let ts = [
            Template::new("limit (1-4294967295) [(1-100)] [restart (1-65535)]"),
            Template::new("limit word NAME"),
        ];
        let s = set(&ts);
        assert!(s.parse("limit 10 100 restart 65535").is_ok());
        let e = s.parse("limit 10 101").unwrap_err();
        assert_eq!(
            e,
            MatchError::OutOfRange {
                column: 9,
                value: "101".into(),
                ranges: vec!["(1-100)".into()],
            }
        );
        assert_eq!(
            e.message(),
            "% Invalid input detected at '^' marker: 101 is not in (1-100)"
        );
        assert_eq!(e.column(), Some(9));
        let e = s.parse("limit 0").unwrap_err();
        assert_eq!(
            e.message(),
            "% Invalid input detected at '^' marker: 0 is not in (1-4294967295)"
        );
        // Not a number, or a word would do: the usual error.
        assert_eq!(
            s.parse("limit 10 x").unwrap_err(),
            MatchError::Invalid { column: 9 }
        );
        assert!(s.parse("limit word 7").is_ok());
    }
}
