//! A ClickHouse SQL tokenizer: the text is cut into tokens that know about
//! strings, quoted identifiers, heredocs, numbers and (nested) comments before
//! any structure is looked for. Every byte of the input belongs to exactly one
//! token, so `tokens.map(text).concat() == input` and a rewrite can splice
//! token spans without disturbing anything it did not touch.

use crate::error::{CoreError, CoreResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// Bare word: a keyword or an unquoted identifier (`[A-Za-z_][A-Za-z0-9_$]*`).
    Word,
    /// `` `name` `` or `"name"`; the token's `value` is the unescaped name.
    QuotedIdent,
    /// `'text'` or `$tag$text$tag$`.
    String,
    Number,
    /// One operator or punctuation mark (`(`, `,`, `.`, `::`, `->`, `<=`, …).
    Punct,
    Whitespace,
    Comment,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub kind: TokenKind,
    /// Byte range in the input.
    pub start: usize,
    pub end: usize,
    /// Unescaped identifier name for `Word`/`QuotedIdent`; the raw text otherwise.
    pub value: String,
}

impl Token {
    pub fn is_trivia(&self) -> bool {
        matches!(self.kind, TokenKind::Whitespace | TokenKind::Comment)
    }
    /// A bare word equal (case-insensitively) to `kw`. Quoted identifiers never are keywords.
    pub fn is_keyword(&self, kw: &str) -> bool {
        self.kind == TokenKind::Word && self.value.eq_ignore_ascii_case(kw)
    }
    pub fn is_punct(&self, p: &str) -> bool {
        self.kind == TokenKind::Punct && self.value == p
    }
    pub fn is_ident(&self) -> bool {
        matches!(self.kind, TokenKind::Word | TokenKind::QuotedIdent)
    }
}

fn lex_error(input: &str, at: usize, what: &str) -> CoreError {
    let line = input[..at].matches('\n').count() + 1;
    CoreError::usage("sql_syntax", format!("{what} at line {line} (byte {at})"))
}

/// Multi-character operators, longest first.
const OPERATORS: [&str; 10] = ["<=>", "::", "->", "<=", ">=", "!=", "<>", "==", "||", "=>"];

/// Body of a quoted run that starts after the opening `quote`: `\` escapes the next
/// character and a doubled quote stands for one. Returns (end offset, unescaped body).
fn quoted(input: &str, open: usize, quote: char) -> Option<(usize, String)> {
    let mut out = String::new();
    let mut it = input[open + 1..].char_indices().peekable();
    while let Some((i, c)) = it.next() {
        if c == '\\' {
            let (_, n) = it.next()?;
            out.push(match n {
                'n' => '\n',
                't' => '\t',
                'r' => '\r',
                '0' => '\0',
                other => other,
            });
        } else if c == quote {
            if matches!(it.peek(), Some(&(_, q)) if q == quote) {
                it.next();
                out.push(quote);
            } else {
                return Some((open + 1 + i + c.len_utf8(), out));
            }
        } else {
            out.push(c);
        }
    }
    None
}

pub fn tokenize(input: &str) -> CoreResult<Vec<Token>> {
    let bytes = input.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = input[i..].chars().next().expect("in bounds");
        let rest = &input[i..];
        let (kind, end, value) = if c.is_whitespace() {
            let end = rest.find(|ch: char| !ch.is_whitespace()).map_or(input.len(), |n| i + n);
            (TokenKind::Whitespace, end, None)
        } else if rest.starts_with("--") || rest.starts_with("#!") || rest.starts_with("# ") || rest == "#" {
            let end = rest.find('\n').map_or(input.len(), |n| i + n);
            (TokenKind::Comment, end, None)
        } else if rest.starts_with("/*") {
            // ClickHouse nests block comments: `/* a /* b */ c */` is one comment.
            let mut depth = 0usize;
            let mut j = i;
            loop {
                if j >= bytes.len() {
                    return Err(lex_error(input, i, "unterminated comment"));
                }
                if input[j..].starts_with("/*") {
                    depth += 1;
                    j += 2;
                } else if input[j..].starts_with("*/") {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += input[j..].chars().next().map_or(1, char::len_utf8);
                }
            }
            (TokenKind::Comment, j, None)
        } else if c == '\'' {
            let (end, _) = quoted(input, i, '\'').ok_or_else(|| lex_error(input, i, "unterminated string"))?;
            (TokenKind::String, end, None)
        } else if c == '`' || c == '"' {
            let (end, name) = quoted(input, i, c).ok_or_else(|| lex_error(input, i, "unterminated quoted identifier"))?;
            (TokenKind::QuotedIdent, end, Some(name))
        } else if c == '$' {
            // Heredoc `$tag$…$tag$` (tag may be empty).
            let tag_end = rest[1..]
                .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_'))
                .map(|n| n + 1)
                .filter(|&n| rest[n..].starts_with('$'))
                .ok_or_else(|| lex_error(input, i, "unexpected '$'"))?;
            let tag = &rest[..=tag_end];
            let close = rest[tag.len()..].find(tag).ok_or_else(|| lex_error(input, i, "unterminated heredoc"))?;
            (TokenKind::String, i + tag.len() + close + tag.len(), None)
        } else if c.is_ascii_digit() || (c == '.' && rest[1..].starts_with(|d: char| d.is_ascii_digit()) && !prev_is_operand(&out)) {
            (TokenKind::Number, i + number_len(rest), None)
        } else if c.is_alphabetic() || c == '_' {
            let end = rest
                .find(|ch: char| !(ch.is_alphanumeric() || ch == '_' || ch == '$'))
                .map_or(input.len(), |n| i + n);
            (TokenKind::Word, end, Some(input[i..end].to_string()))
        } else {
            let op = OPERATORS.iter().find(|op| rest.starts_with(**op));
            let len = op.map_or(c.len_utf8(), |op| op.len());
            (TokenKind::Punct, i + len, None)
        };
        out.push(Token { kind, start: i, end, value: value.unwrap_or_else(|| input[i..end].to_string()) });
        i = end;
    }
    Ok(out)
}

/// `t.1` is a tuple element access, not the number `.1`.
fn prev_is_operand(out: &[Token]) -> bool {
    out.last().is_some_and(|t| t.is_ident() || t.is_punct(")") || t.is_punct("]") || t.kind == TokenKind::Number)
}

fn number_len(s: &str) -> usize {
    let b = s.as_bytes();
    if s.len() > 2 && b[0] == b'0' && matches!(b[1], b'x' | b'X' | b'b' | b'B') {
        return 2 + s[2..].find(|c: char| !c.is_ascii_hexdigit() && c != '_').unwrap_or(s.len() - 2);
    }
    let mut i = 0;
    let digits = |i: &mut usize| {
        while *i < b.len() && (b[*i].is_ascii_digit() || b[*i] == b'_') {
            *i += 1;
        }
    };
    digits(&mut i);
    if i < b.len() && b[i] == b'.' {
        i += 1;
        digits(&mut i);
    }
    if i < b.len() && matches!(b[i], b'e' | b'E') {
        let mut j = i + 1;
        if j < b.len() && matches!(b[j], b'+' | b'-') {
            j += 1;
        }
        if j < b.len() && b[j].is_ascii_digit() {
            i = j;
            digits(&mut i);
        }
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;
    use TokenKind::{Number, Punct, QuotedIdent, Word};
    use TokenKind::String as Str;

    fn kinds(sql: &str) -> Vec<(TokenKind, std::string::String)> {
        tokenize(sql).unwrap().into_iter().filter(|t| !t.is_trivia()).map(|t| (t.kind, t.value)).collect()
    }

    #[test]
    fn round_trips_every_byte() {
        let sql = "SELECT `a``b`, \"c\\\"d\", 'it''s -- not a comment', $x$ FROM t $x$ /* a /* nested */ b */ x -- tail\n# hash\n#! bang\n 1.5e-3, 0xFF, t.1, x::UInt8 → ü";
        let toks = tokenize(sql).unwrap();
        let joined: String = toks.iter().map(|t| &sql[t.start..t.end]).collect();
        assert_eq!(joined, sql);
        for w in toks.windows(2) {
            assert_eq!(w[0].end, w[1].start);
        }
    }

    #[test]
    fn table_of_tokens() {
        let cases: Vec<(&str, Vec<(TokenKind, &str)>)> = vec![
            ("`a``b`", vec![(QuotedIdent, "a`b")]),
            ("`a\\`b`", vec![(QuotedIdent, "a`b")]),
            ("\"from\"", vec![(QuotedIdent, "from")]),
            ("'FROM x'", vec![(Str, "'FROM x'")]),
            ("'a\\'b' c", vec![(Str, "'a\\'b'"), (Word, "c")]),
            ("$$FROM 'x$$ y", vec![(Str, "$$FROM 'x$$"), (Word, "y")]),
            ("a /* FROM /* b */ c */ d", vec![(Word, "a"), (Word, "d")]),
            ("a -- FROM b\nc", vec![(Word, "a"), (Word, "c")]),
            ("t.1", vec![(Word, "t"), (Punct, "."), (Number, "1")]),
            (".5 1e3 0x1F", vec![(Number, ".5"), (Number, "1e3"), (Number, "0x1F")]),
            ("x::Int8", vec![(Word, "x"), (Punct, "::"), (Word, "Int8")]),
            ("a<=>b", vec![(Word, "a"), (Punct, "<=>"), (Word, "b")]),
        ];
        for (sql, want) in cases {
            let want: Vec<(TokenKind, std::string::String)> = want.into_iter().map(|(k, v)| (k, v.to_string())).collect();
            assert_eq!(kinds(sql), want, "{sql}");
        }
    }

    #[test]
    fn unterminated_is_an_error() {
        for sql in ["'abc", "`abc", "\"abc", "/* abc", "/* a /* b */", "$x$ abc", "a $ b"] {
            let e = tokenize(sql).unwrap_err();
            assert_eq!(e.code, "sql_syntax", "{sql}");
        }
    }
}
