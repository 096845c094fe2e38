//! The generic xl.cfg syntax: lexer and parser to a list of `KEY = VALUE` entries.
//!
//! Follows Xen's `tools/libs/util/libxlu_cfg_l.l` (flex) and `libxlu_cfg_y.y` (bison):
//!
//! ```text
//! file       := { stmt } [ assignment ]
//! stmt       := assignment endstmt | endstmt
//! assignment := IDENT "=" value | IDENT "+=" value
//! endstmt    := NEWLINE | ";"
//! value      := NUMBER | STRING | "[" nl* valuelist "]"
//! valuelist  := <empty> | values | values "," nl*
//! values     := value nl* | values "," nl* value nl*
//! ```
//!
//! Tokens: `IDENT` is `[a-z][_0-9a-z]*`; `NUMBER` is decimal, `0x` hexadecimal or `0` octal
//! (`strtol(.., 0)`); `STRING` is quoted with `"` or `'` on one line, with the C escapes
//! `\" \' \\ \a \b \f \n \r \t \v \xHH \ooo`; `#` starts a comment up to the end of the line.
//! `+=` appends a list to the previous list of that key, or a string to the previous string.
//!
//! Deliberate differences from Xen, all on inputs Xen rejects or mangles: `\r` counts as
//! whitespace (CRLF files work); a malformed number (`08`, `512M`) is an error where it is
//! written instead of when the key is used; escapes giving NUL or a non-ASCII byte are refused;
//! `\ooo` is octal (Xen's reads it as decimal); lists nest at most [`MAX_DEPTH`] deep.

use alloc::borrow::ToOwned;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Deepest list nesting accepted (`[[[...]]]`); keeps recursion bounded on hostile input.
pub const MAX_DEPTH: usize = 32;

/// A value: what Xen's `XLU_ConfigValue` holds, with numbers already converted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// A `NUMBER` token (decimal, `0x` hex or `0` octal).
    Int(u64),
    /// A quoted string, escapes resolved.
    Str(String),
    /// `[ value, ... ]`, possibly nested and heterogeneous.
    List(Vec<Value>),
}

impl Value {
    /// The string, if this is a [`Value::Str`].
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The number, if this is a [`Value::Int`].
    pub fn as_int(&self) -> Option<u64> {
        match self {
            Value::Int(n) => Some(*n),
            _ => None,
        }
    }

    /// The items, if this is a [`Value::List`].
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    /// "number", "string" or "list", for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Int(_) => "number",
            Value::Str(_) => "string",
            Value::List(_) => "list",
        }
    }
}

/// Writes the value back in xl.cfg syntax (strings double-quoted and escaped), so that
/// parsing the output gives the same value.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(n) => write!(f, "{n}"),
            Value::Str(s) => {
                f.write_str("\"")?;
                for c in s.chars() {
                    match c {
                        '"' => f.write_str("\\\"")?,
                        '\\' => f.write_str("\\\\")?,
                        '\n' => f.write_str("\\n")?,
                        '\r' => f.write_str("\\r")?,
                        '\t' => f.write_str("\\t")?,
                        c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                            write!(f, "\\x{:02x}", c as u32)?
                        }
                        c => write!(f, "{c}")?,
                    }
                }
                f.write_str("\"")
            }
            Value::List(items) => {
                f.write_str("[")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
        }
    }
}

/// How a value was assigned (Xen's `XLU_Operation`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `key = value`
    Assign,
    /// `key += value`: the stored value already includes the earlier one.
    Append,
}

/// One statement of the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The key, as written.
    pub key: String,
    /// `=` or `+=`.
    pub op: Op,
    /// The value; for `+=`, the earlier value of the key with this one appended.
    pub value: Value,
    /// 1-based line of the key.
    pub line: u32,
    /// 1-based column (in characters) of the key.
    pub col: u32,
}

/// A parsed xl.cfg file: every statement, in file order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Config {
    entries: Vec<Entry>,
}

impl Config {
    /// Parses xl.cfg text. Never panics; the first error is returned.
    pub fn parse(src: &str) -> Result<Config, ParseError> {
        let mut p = Parser {
            lex: Lexer::new(src),
            cfg: Config::default(),
        };
        p.file()?;
        Ok(p.cfg)
    }

    /// Parses raw file bytes, which must be UTF-8.
    pub fn parse_bytes(src: &[u8]) -> Result<Config, ParseError> {
        match core::str::from_utf8(src) {
            Ok(s) => Config::parse(s),
            Err(e) => {
                let good = src.get(..e.valid_up_to()).unwrap_or_default();
                // The prefix is valid UTF-8 by construction.
                let prefix = core::str::from_utf8(good).unwrap_or_default();
                let (line, col) = position_after(prefix);
                Err(ParseError {
                    line,
                    col,
                    kind: ParseErrorKind::InvalidUtf8,
                })
            }
        }
    }

    /// Every statement, in file order (a key set twice appears twice).
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The effective setting of `key`: its last statement, as in xl.
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().rev().find(|e| e.key == key)
    }

    fn push(&mut self, mut entry: Entry) -> Result<(), ParseErrorKind> {
        if entry.op == Op::Append {
            if let Some(prev) = self.get(&entry.key) {
                entry.value = match (&prev.value, entry.value) {
                    (_, Value::Int(_)) | (Value::Int(_), _) => {
                        return Err(ParseErrorKind::AppendNumber { key: entry.key })
                    }
                    (Value::Str(a), Value::Str(b)) => Value::Str(format!("{a}{b}")),
                    (Value::List(a), Value::List(b)) => {
                        let mut l = a.clone();
                        l.extend(b);
                        Value::List(l)
                    }
                    _ => return Err(ParseErrorKind::AppendMismatch { key: entry.key }),
                };
            } else if let Value::Int(_) = entry.value {
                return Err(ParseErrorKind::AppendNumber { key: entry.key });
            }
        }
        self.entries.push(entry);
        Ok(())
    }
}

/// Writes the effective settings back as xl.cfg text, one `key = value` per line.
impl fmt::Display for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.entries {
            writeln!(f, "{} = {}", e.key, e.value)?;
        }
        Ok(())
    }
}

/// A syntax error, at a 1-based line and column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub col: u32,
    /// What is wrong.
    pub kind: ParseErrorKind,
}

/// What is wrong in a [`ParseError`]. `found` fields describe the offending token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseErrorKind {
    /// The file is not UTF-8.
    InvalidUtf8,
    /// A character that starts no token.
    UnexpectedChar(char),
    /// A key that is not `[a-z][_0-9a-z]*`.
    BadKey(String),
    /// A string that does not end on its line.
    UnterminatedString,
    /// An unknown or unsupported backslash escape.
    BadEscape(String),
    /// A malformed number.
    BadNumber(String),
    /// A number above `u64::MAX`.
    NumberTooLarge(String),
    /// `key` not followed by `=` or `+=`.
    ExpectedAssign { key: String, found: String },
    /// `key =` not followed by a value.
    ExpectedValue { key: String, found: String },
    /// A value not followed by a newline, `;` or the end of the file.
    ExpectedEnd { key: String, found: String },
    /// A statement that does not start with a key.
    ExpectedKey { found: String },
    /// Inside a list, where a value or `]` should be.
    ExpectedListValue { found: String },
    /// Inside a list, after a value, where `,` or `]` should be.
    ExpectedCommaOrBracket { found: String },
    /// The file ends inside a list (position of its `[`).
    UnterminatedList,
    /// Lists nested deeper than [`MAX_DEPTH`].
    TooDeep,
    /// `+=` with a number.
    AppendNumber { key: String },
    /// `+=` of a list to a string or of a string to a list.
    AppendMismatch { key: String },
}

impl fmt::Display for ParseErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ParseErrorKind::*;
        match self {
            InvalidUtf8 => f.write_str("the file is not valid UTF-8"),
            UnexpectedChar(c) => {
                write!(f, "unexpected character {c:?}")?;
                if "+-.():{}".contains(*c) {
                    f.write_str(
                        " (xl.cfg is not Python: values are numbers, \"strings\" and [lists])",
                    )?;
                }
                Ok(())
            }
            BadKey(k) => write!(
                f,
                "invalid key '{k}': keys are lower-case letters, digits and '_', starting with a letter"
            ),
            UnterminatedString => {
                f.write_str("unterminated string (a string must end on the line it starts)")
            }
            BadEscape(e) => write!(
                f,
                "invalid escape '{e}' in string (use \\\" \\' \\\\ \\n \\t \\r \\a \\b \\f \\v, \\xHH or \\ooo for an ASCII character)"
            ),
            BadNumber(t) => write!(
                f,
                "invalid number '{t}' (numbers are decimal, 0x hexadecimal or 0-prefixed octal; put other values in quotes)"
            ),
            NumberTooLarge(t) => write!(f, "number '{t}' is too large"),
            ExpectedAssign { key, found } => {
                write!(f, "expected '=' after '{key}', found {found}")
            }
            ExpectedValue { key, found } => write!(
                f,
                "expected a value (number, \"string\" or [list]) after '{key} =', found {found}"
            ),
            ExpectedEnd { key, found } => write!(
                f,
                "expected a newline or ';' after the value of '{key}', found {found}"
            ),
            ExpectedKey { found } => write!(f, "expected a key, found {found}"),
            ExpectedListValue { found } => {
                write!(f, "expected a value or ']' in list, found {found}")
            }
            ExpectedCommaOrBracket { found } => {
                write!(f, "expected ',' or ']' after a list item, found {found}")
            }
            UnterminatedList => f.write_str("unterminated list: this '[' has no matching ']'"),
            TooDeep => write!(f, "lists nested more than {MAX_DEPTH} deep"),
            AppendNumber { key } => write!(f, "can't use += with numbers for '{key}'"),
            AppendMismatch { key } => write!(
                f,
                "can't add [list] to \"string\" or vice versa for '{key}'"
            ),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}: {}", self.line, self.col, self.kind)
    }
}

impl core::error::Error for ParseError {}

/// Line and column just after `prefix`.
fn position_after(prefix: &str) -> (u32, u32) {
    let mut line = 1u32;
    let mut col = 1u32;
    for c in prefix.chars() {
        if c == '\n' {
            line = line.saturating_add(1);
            col = 1;
        } else {
            col = col.saturating_add(1);
        }
    }
    (line, col)
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    Ident(String),
    Num(u64),
    Str(String),
    LBrack,
    RBrack,
    Comma,
    Eq,
    PlusEq,
    Semi,
    Newline,
    Eof,
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::Ident(k) => format!("'{k}'"),
            Tok::Num(n) => format!("number {n}"),
            Tok::Str(s) => format!("string {}", Value::Str(s.clone())),
            Tok::LBrack => "'['".to_owned(),
            Tok::RBrack => "']'".to_owned(),
            Tok::Comma => "','".to_owned(),
            Tok::Eq => "'='".to_owned(),
            Tok::PlusEq => "'+='".to_owned(),
            Tok::Semi => "';'".to_owned(),
            Tok::Newline => "end of line".to_owned(),
            Tok::Eof => "end of file".to_owned(),
        }
    }
}

struct Token {
    tok: Tok,
    line: u32,
    col: u32,
}

struct Lexer<'a> {
    chars: core::iter::Peekable<core::str::Chars<'a>>,
    line: u32,
    col: u32,
}

impl<'a> Lexer<'a> {
    fn new(src: &'a str) -> Self {
        Lexer {
            chars: src.chars().peekable(),
            line: 1,
            col: 1,
        }
    }

    fn peek(&mut self) -> Option<char> {
        self.chars.peek().copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.chars.next()?;
        if c == '\n' {
            self.line = self.line.saturating_add(1);
            self.col = 1;
        } else {
            self.col = self.col.saturating_add(1);
        }
        Some(c)
    }

    fn err(line: u32, col: u32, kind: ParseErrorKind) -> ParseError {
        ParseError { line, col, kind }
    }

    fn next(&mut self) -> Result<Token, ParseError> {
        // Whitespace and comments.
        loop {
            match self.peek() {
                Some(' ' | '\t' | '\r') => {
                    self.bump();
                }
                Some('#') => {
                    while !matches!(self.peek(), None | Some('\n')) {
                        self.bump();
                    }
                }
                _ => break,
            }
        }
        let (line, col) = (self.line, self.col);
        let Some(c) = self.bump() else {
            return Ok(Token {
                tok: Tok::Eof,
                line,
                col,
            });
        };
        let tok = match c {
            '\n' => Tok::Newline,
            '[' => Tok::LBrack,
            ']' => Tok::RBrack,
            ',' => Tok::Comma,
            '=' => Tok::Eq,
            ';' => Tok::Semi,
            '+' if self.peek() == Some('=') => {
                self.bump();
                Tok::PlusEq
            }
            '"' | '\'' => Tok::Str(self.string(c, line, col)?),
            c if c.is_ascii_alphabetic() || c == '_' => {
                let word = self.word(c);
                let ok = word.starts_with(|c: char| c.is_ascii_lowercase())
                    && word
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
                if !ok {
                    return Err(Self::err(line, col, ParseErrorKind::BadKey(word)));
                }
                Tok::Ident(word)
            }
            c if c.is_ascii_digit() => {
                let word = self.word(c);
                Tok::Num(number(&word).map_err(|k| Self::err(line, col, k))?)
            }
            c => return Err(Self::err(line, col, ParseErrorKind::UnexpectedChar(c))),
        };
        Ok(Token { tok, line, col })
    }

    /// The rest of an identifier-like word (letters, digits, `_`) starting with `first`.
    fn word(&mut self, first: char) -> String {
        let mut w = String::new();
        w.push(first);
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == '_' {
                w.push(c);
                self.bump();
            } else {
                break;
            }
        }
        w
    }

    /// A quoted string whose opening `quote` was at `line`:`col`.
    fn string(&mut self, quote: char, line: u32, col: u32) -> Result<String, ParseError> {
        let unterminated = || Self::err(line, col, ParseErrorKind::UnterminatedString);
        let mut out = String::new();
        loop {
            let (el, ec) = (self.line, self.col);
            match self.bump() {
                None | Some('\n') => return Err(unterminated()),
                Some(c) if c == quote => return Ok(out),
                Some('\0') => return Err(Self::err(el, ec, ParseErrorKind::UnexpectedChar('\0'))),
                Some('\\') => {
                    let Some(e) = self.peek() else {
                        return Err(unterminated());
                    };
                    if e == '\n' {
                        return Err(unterminated());
                    }
                    self.bump();
                    let simple = match e {
                        '"' | '\'' | '\\' => Some(e),
                        'a' => Some('\x07'),
                        'b' => Some('\x08'),
                        'f' => Some('\x0c'),
                        'n' => Some('\n'),
                        'r' => Some('\r'),
                        't' => Some('\t'),
                        'v' => Some('\x0b'),
                        _ => None,
                    };
                    if let Some(c) = simple {
                        out.push(c);
                        continue;
                    }
                    let (radix, max, mut text) = match e {
                        'x' => (16, 2, String::from("\\x")),
                        '0'..='7' => (8, 2, format!("\\{e}")),
                        _ => {
                            return Err(Self::err(
                                el,
                                ec,
                                ParseErrorKind::BadEscape(format!("\\{e}")),
                            ))
                        }
                    };
                    let mut val: u32 = if radix == 8 {
                        e.to_digit(8).unwrap_or(0)
                    } else {
                        0
                    };
                    let mut digits = if radix == 8 { 1 } else { 0 };
                    for _ in 0..max {
                        match self.peek().and_then(|c| c.to_digit(radix).map(|d| (c, d))) {
                            Some((c, d)) => {
                                self.bump();
                                text.push(c);
                                val = val * radix + d;
                                digits += 1;
                            }
                            None => break,
                        }
                    }
                    let need = if radix == 16 { 2 } else { 1 };
                    match char::from_u32(val) {
                        Some(c) if digits >= need && (1..0x80).contains(&val) => out.push(c),
                        _ => return Err(Self::err(el, ec, ParseErrorKind::BadEscape(text))),
                    }
                }
                Some(c) => out.push(c),
            }
        }
    }
}

/// Converts a `NUMBER` token as `strtol(text, &end, 0)` does, requiring all of it to be used.
pub(crate) fn number(text: &str) -> Result<u64, ParseErrorKind> {
    let bad = || ParseErrorKind::BadNumber(text.to_owned());
    let (digits, radix) = if let Some(hex) = text.strip_prefix("0x") {
        (hex, 16)
    } else if text.len() > 1 && text.starts_with('0') {
        (&text[1..], 8)
    } else {
        (text, 10)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Err(bad());
    }
    // Xen's lexer takes lower-case hex digits only; so do we.
    if radix == 16 && digits.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(bad());
    }
    u64::from_str_radix(digits, radix).map_err(|_| ParseErrorKind::NumberTooLarge(text.to_owned()))
}

struct Parser<'a> {
    lex: Lexer<'a>,
    cfg: Config,
}

impl Parser<'_> {
    fn file(&mut self) -> Result<(), ParseError> {
        loop {
            let t = self.lex.next()?;
            match t.tok {
                Tok::Eof => return Ok(()),
                Tok::Newline | Tok::Semi => {}
                Tok::Ident(key) => {
                    let op_tok = self.lex.next()?;
                    let op = match op_tok.tok {
                        Tok::Eq => Op::Assign,
                        Tok::PlusEq => Op::Append,
                        other => {
                            return Err(ParseError {
                                line: op_tok.line,
                                col: op_tok.col,
                                kind: ParseErrorKind::ExpectedAssign {
                                    key,
                                    found: other.describe(),
                                },
                            })
                        }
                    };
                    let vt = self.lex.next()?;
                    let value = match vt.tok {
                        Tok::Num(_) | Tok::Str(_) | Tok::LBrack => self.value(vt, 0)?,
                        other => {
                            return Err(ParseError {
                                line: vt.line,
                                col: vt.col,
                                kind: ParseErrorKind::ExpectedValue {
                                    key,
                                    found: other.describe(),
                                },
                            })
                        }
                    };
                    let end = self.lex.next()?;
                    if !matches!(end.tok, Tok::Newline | Tok::Semi | Tok::Eof) {
                        return Err(ParseError {
                            line: end.line,
                            col: end.col,
                            kind: ParseErrorKind::ExpectedEnd {
                                key,
                                found: end.tok.describe(),
                            },
                        });
                    }
                    let entry = Entry {
                        key,
                        op,
                        value,
                        line: t.line,
                        col: t.col,
                    };
                    self.cfg.push(entry).map_err(|kind| ParseError {
                        line: t.line,
                        col: t.col,
                        kind,
                    })?;
                    if end.tok == Tok::Eof {
                        return Ok(());
                    }
                }
                other => {
                    return Err(ParseError {
                        line: t.line,
                        col: t.col,
                        kind: ParseErrorKind::ExpectedKey {
                            found: other.describe(),
                        },
                    })
                }
            }
        }
    }

    /// The next token that is not a newline.
    fn next_skip_nl(&mut self) -> Result<Token, ParseError> {
        loop {
            let t = self.lex.next()?;
            if t.tok != Tok::Newline {
                return Ok(t);
            }
        }
    }

    /// A value starting with `first`, at list depth `depth`.
    fn value(&mut self, first: Token, depth: usize) -> Result<Value, ParseError> {
        match first.tok {
            Tok::Num(n) => Ok(Value::Int(n)),
            Tok::Str(s) => Ok(Value::Str(s)),
            Tok::LBrack => {
                let err = |kind| ParseError {
                    line: first.line,
                    col: first.col,
                    kind,
                };
                if depth >= MAX_DEPTH {
                    return Err(err(ParseErrorKind::TooDeep));
                }
                let mut items = Vec::new();
                loop {
                    let t = self.next_skip_nl()?;
                    match t.tok {
                        Tok::RBrack => return Ok(Value::List(items)),
                        Tok::Eof => return Err(err(ParseErrorKind::UnterminatedList)),
                        Tok::Num(_) | Tok::Str(_) | Tok::LBrack => {
                            items.push(self.value(t, depth + 1)?)
                        }
                        other => {
                            return Err(ParseError {
                                line: t.line,
                                col: t.col,
                                kind: ParseErrorKind::ExpectedListValue {
                                    found: other.describe(),
                                },
                            })
                        }
                    }
                    let t = self.next_skip_nl()?;
                    match t.tok {
                        Tok::Comma => {}
                        Tok::RBrack => return Ok(Value::List(items)),
                        Tok::Eof => return Err(err(ParseErrorKind::UnterminatedList)),
                        other => {
                            return Err(ParseError {
                                line: t.line,
                                col: t.col,
                                kind: ParseErrorKind::ExpectedCommaOrBracket {
                                    found: other.describe(),
                                },
                            })
                        }
                    }
                }
            }
            // Callers only pass value-starting tokens.
            other => Err(ParseError {
                line: first.line,
                col: first.col,
                kind: ParseErrorKind::ExpectedListValue {
                    found: other.describe(),
                },
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;

    fn s(v: &str) -> Value {
        Value::Str(v.to_owned())
    }

    fn err(src: &str) -> String {
        Config::parse(src).unwrap_err().to_string()
    }

    #[test]
    fn basic_values() {
        let c = Config::parse("a = 1\nb = 0x10; c = 010\nd = \"x\"\ne = 'y'\nf = [1, \"2\", [3]]")
            .unwrap();
        let v: Vec<_> = c
            .entries()
            .iter()
            .map(|e| (e.key.as_str(), &e.value))
            .collect();
        assert_eq!(
            v,
            vec![
                ("a", &Value::Int(1)),
                ("b", &Value::Int(16)),
                ("c", &Value::Int(8)),
                ("d", &s("x")),
                ("e", &s("y")),
                (
                    "f",
                    &Value::List(vec![
                        Value::Int(1),
                        s("2"),
                        Value::List(vec![Value::Int(3)])
                    ])
                ),
            ]
        );
        assert_eq!(c.entries()[2].line, 2);
        assert_eq!(c.entries()[2].col, 11);
    }

    #[test]
    fn lists_over_lines_and_trailing_commas() {
        let c =
            Config::parse("l = [\n  'a', # one\n\n  'b',\n]\nm = []\nn = [ 1 ,\n 2\n ]\n").unwrap();
        assert_eq!(c.get("l").unwrap().value, Value::List(vec![s("a"), s("b")]));
        assert_eq!(c.get("m").unwrap().value, Value::List(vec![]));
        assert_eq!(
            c.get("n").unwrap().value,
            Value::List(vec![Value::Int(1), Value::Int(2)])
        );
    }

    #[test]
    fn escapes() {
        let c = Config::parse(r#"a = "q\"\'\\\n\t\x41\101\7" "#).unwrap();
        assert_eq!(c.get("a").unwrap().value, s("q\"'\\\n\tAA\x07"));
        assert!(err(r#"a = "\q""#).contains("invalid escape '\\q'"));
        assert!(err(r#"a = "\x4""#).contains("invalid escape '\\x4'"));
        assert!(err(r#"a = "\x80""#).contains("invalid escape"));
        assert!(err(r#"a = "\0""#).contains("invalid escape"));
    }

    #[test]
    fn append() {
        let c = Config::parse("a = [1]\na += [2]\ns = 'x'\ns += 'y'\nt += 'z'").unwrap();
        assert_eq!(
            c.get("a").unwrap().value,
            Value::List(vec![Value::Int(1), Value::Int(2)])
        );
        assert_eq!(c.get("a").unwrap().op, Op::Append);
        assert_eq!(c.get("s").unwrap().value, s("xy"));
        assert_eq!(c.get("t").unwrap().value, s("z"));
        assert_eq!(
            err("a = [1]\na += 'x'"),
            "line 2, column 1: can't add [list] to \"string\" or vice versa for 'a'"
        );
        assert_eq!(
            err("a = 1\na += 2"),
            "line 2, column 1: can't use += with numbers for 'a'"
        );
    }

    #[test]
    fn last_assignment_wins() {
        let c = Config::parse("a = 1\na = 2").unwrap();
        assert_eq!(c.get("a").unwrap().value, Value::Int(2));
        assert_eq!(c.entries().len(), 2);
    }

    #[test]
    fn errors_name_line_and_column() {
        assert_eq!(
            err("\n\nmemory 512"),
            "line 3, column 8: expected '=' after 'memory', found number 512"
        );
        assert_eq!(
            err("a = 1\n\n\n\nb = \"abc\n"),
            "line 5, column 5: unterminated string (a string must end on the line it starts)"
        );
        assert!(err("a = ").starts_with("line 1, column 5: expected a value"));
        assert!(err("a = 1 b = 2").starts_with("line 1, column 7: expected a newline or ';'"));
        assert!(err("= 1").starts_with("line 1, column 1: expected a key, found '='"));
        assert!(err("Memory = 1").starts_with("line 1, column 1: invalid key 'Memory'"));
        assert!(err("a = 512M").starts_with("line 1, column 5: invalid number '512M'"));
        assert!(err("a = 08").contains("invalid number '08'"));
        assert!(err("a = 0x").contains("invalid number '0x'"));
        assert!(err("a = 99999999999999999999").contains("too large"));
        assert!(err("a = [1,\n2").starts_with("line 1, column 5: unterminated list"));
        assert!(err("a = [1 2]").starts_with("line 1, column 8: expected ',' or ']'"));
        assert!(err("a = [1,,2]").starts_with("line 1, column 8: expected a value or ']'"));
        assert!(err("a = -1").contains("not Python"));
        assert!(err("a = 1\nb = 2\n  @").starts_with("line 3, column 3: unexpected character '@'"));
    }

    #[test]
    fn depth_limit() {
        let deep = format!("a = {}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(Config::parse(&deep).is_ok());
        let deeper = format!(
            "a = {}{}",
            "[".repeat(MAX_DEPTH + 1),
            "]".repeat(MAX_DEPTH + 1)
        );
        assert!(err(&deeper).contains("nested more than"));
        let hostile = format!("a = {}", "[".repeat(100_000));
        assert!(Config::parse(&hostile).is_err());
    }

    #[test]
    fn utf8_and_crlf() {
        assert!(Config::parse("a = 1\r\nb = 'é'\r\n").is_ok());
        let e = Config::parse_bytes(b"a = 1\nb = '\xff'").unwrap_err();
        assert_eq!((e.line, e.col, e.kind), (2, 6, ParseErrorKind::InvalidUtf8));
    }

    #[test]
    fn display_round_trips() {
        let src = "a = 1\nb = \"q\\\"\\\\\\n\\x01é\"\nc = [1, [\"x\", []]]\n";
        let c = Config::parse(src).unwrap();
        let again = Config::parse(&c.to_string()).unwrap();
        assert_eq!(c, again);
    }
}
