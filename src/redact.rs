//! Credentials cut out of text. A server names the user in its authentication, grant and
//! quota errors (`Code: 497. DB::Exception: alice: Not enough privileges…`), and such
//! messages reach the event log, the run snapshot and the terminal: never with the configured
//! user name or password in them.

use serde::Deserialize;

/// What the connection was configured with: the fields, and a URL's `user:pass@` (decoded and as written).
#[derive(Debug, Default, Deserialize)]
pub struct Credentials {
    #[serde(default)]
    pub users: Vec<String>,
    #[serde(default)]
    pub passwords: Vec<String>,
}

pub const USER: &str = "<user>";
pub const PASSWORD: &str = "***";

fn is_word(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_alphanumeric() || c == '_')
}

/// Each user name and password in `text` replaced, where it stands as a word of its own (a
/// longer name that contains it is another name). `default`, a common word in messages, only
/// where ClickHouse names a user: `Exception: default:` and ``user `default` ``.
pub fn redact(text: &str, creds: &Credentials) -> String {
    let mut out = text.to_string();
    for p in creds.passwords.iter().filter(|p| !p.is_empty()) {
        out = replace_where(&out, p, PASSWORD, |before, after| !is_word(before.chars().next_back()) && !is_word(after.chars().next()));
    }
    for u in creds.users.iter().filter(|u| !u.is_empty()) {
        out = if u == "default" {
            replace_where(&out, u, USER, |before, after| {
                (before.ends_with("Exception: ") && after.starts_with(':')) || (names_user(before) && !is_word(after.chars().next()))
            })
        } else {
            replace_where(&out, u, USER, |before, after| !is_word(before.chars().next_back()) && !is_word(after.chars().next()))
        };
    }
    out
}

/// `before` ends with ClickHouse's "user " naming a user, with or without a quote.
fn names_user(before: &str) -> bool {
    let b = before.strip_suffix(['`', '\'', '"']).unwrap_or(before);
    b.strip_suffix("user ").is_some_and(|rest| !is_word(rest.chars().next_back()))
}

fn replace_where(text: &str, needle: &str, by: &str, keep: impl Fn(&str, &str) -> bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (i, _) in text.match_indices(needle) {
        if i < last || !keep(&text[..i], &text[i + needle.len()..]) {
            continue;
        }
        out.push_str(&text[last..i]);
        out.push_str(by);
        last = i + needle.len();
    }
    out.push_str(&text[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(users: &[&str], passwords: &[&str]) -> Credentials {
        Credentials { users: users.iter().map(|s| s.to_string()).collect(), passwords: passwords.iter().map(|s| s.to_string()).collect() }
    }

    #[test]
    fn server_messages_lose_the_user_name() {
        let c = creds(&["alice"], &[]);
        assert_eq!(
            redact("Code: 497. DB::Exception: alice: Not enough privileges. (ACCESS_DENIED)", &c),
            "Code: 497. DB::Exception: <user>: Not enough privileges. (ACCESS_DENIED)"
        );
        assert_eq!(redact("Quota for user `alice` for 3600s has been exceeded", &c), "Quota for user `<user>` for 3600s has been exceeded");
        assert_eq!(redact("alice", &c), "<user>");
    }

    #[test]
    fn a_longer_name_that_contains_it_is_kept() {
        let c = creds(&["ali"], &["pw"]);
        assert_eq!(redact("alice and ali_2 and pwd", &c), "alice and ali_2 and pwd");
        assert_eq!(redact("ali:pw@host, (ali)", &c), "<user>:***@host, (<user>)");
    }

    #[test]
    fn passwords_go_wherever_they_stand_as_a_word() {
        let c = creds(&["bob"], &["s3cr.t"]);
        assert_eq!(redact("http://bob:s3cr.t@db:8123 s3cr.t", &c), "http://<user>:***@db:8123 ***");
    }

    #[test]
    fn default_only_where_clickhouse_names_a_user() {
        let c = creds(&["default"], &[]);
        assert_eq!(
            redact("DB::Exception: default: Authentication failed; database default; DEFAULT default", &c),
            "DB::Exception: <user>: Authentication failed; database default; DEFAULT default"
        );
        assert_eq!(redact("for user default, user 'default', superuser default", &c), "for user <user>, user '<user>', superuser default");
    }

    #[test]
    fn multibyte_text_and_empty_credentials() {
        let c = creds(&["", "jörg"], &[""]);
        assert_eq!(redact("→ jörg: naïve", &c), "→ <user>: naïve");
        assert_eq!(redact("nothing here", &Credentials::default()), "nothing here");
    }
}
