//! What the console's guard (a Durable Object) keeps and decides: the ids of live sessions and
//! each client's recent wrong passwords, held as one small text value (`Book`), and the calls
//! the worker makes to it (`GuardCall`), encoded as one line of text. One value read and
//! written per call keeps the object trivial; the decisions are here, under test.

use crate::operator::session::{sign_in, valid_session_id, SignIn, FAILURE_WINDOW_MS};

/// Sessions kept at most (the oldest are dropped first): one per browser signed in.
pub const MAX_SESSIONS: usize = 200;
/// Clients whose failures are tracked at most (the least recent are dropped first).
pub const MAX_CLIENTS: usize = 1_000;
/// Longest client key kept (an IPv6 address is 39 characters).
const MAX_CLIENT_CHARS: usize = 64;

/// A call to the guard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuardCall {
    /// A sign-in attempt; opens `session_id` until `expires_ms` when accepted.
    SignIn {
        client: String,
        password_ok: bool,
        session_id: String,
        expires_ms: i64,
    },
    /// Is the session open?
    Check { session_id: String },
    /// End the session.
    SignOut { session_id: String },
}

/// A client key safe for the one-line encoding: no whitespace, at most 64 characters.
fn client_key(client: &str) -> String {
    let key: String = client
        .trim()
        .chars()
        .take(MAX_CLIENT_CHARS)
        .map(|c| if c.is_whitespace() { '_' } else { c })
        .collect();
    if key.is_empty() {
        "unknown".into()
    } else {
        key
    }
}

impl GuardCall {
    /// One line: `sign_in <client> <0|1> <session_id> <expires_ms>`, `check <id>`, `sign_out <id>`.
    pub fn encode(&self) -> String {
        match self {
            GuardCall::SignIn {
                client,
                password_ok,
                session_id,
                expires_ms,
            } => format!(
                "sign_in {} {} {session_id} {expires_ms}",
                client_key(client),
                u8::from(*password_ok)
            ),
            GuardCall::Check { session_id } => format!("check {session_id}"),
            GuardCall::SignOut { session_id } => format!("sign_out {session_id}"),
        }
    }

    /// Reads a line written by [`GuardCall::encode`].
    pub fn decode(line: &str) -> Option<GuardCall> {
        let parts: Vec<&str> = line.split(' ').collect();
        match parts.as_slice() {
            ["sign_in", client, ok, id, exp] => Some(GuardCall::SignIn {
                client: client.to_string(),
                password_ok: *ok == "1",
                session_id: id.to_string(),
                expires_ms: exp.parse().ok()?,
            }),
            ["check", id] => Some(GuardCall::Check {
                session_id: id.to_string(),
            }),
            ["sign_out", id] => Some(GuardCall::SignOut {
                session_id: id.to_string(),
            }),
            _ => None,
        }
    }
}

/// The guard's state: live sessions (id, expiry) and recent failures per client (unix ms).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Book {
    sessions: Vec<(String, i64)>,
    failures: Vec<(String, Vec<i64>)>,
}

impl Book {
    /// Reads the stored text (`s <id> <expiry>` and `f <client> <t>…` lines); unreadable
    /// lines are dropped.
    pub fn parse(text: &str) -> Book {
        let mut book = Book::default();
        for line in text.lines() {
            let mut words = line.split(' ');
            match (words.next(), words.next()) {
                (Some("s"), Some(id)) if valid_session_id(id) => {
                    if let Some(Ok(exp)) = words.next().map(str::parse) {
                        book.sessions.push((id.to_string(), exp));
                    }
                }
                (Some("f"), Some(client)) => {
                    let times = words.filter_map(|w| w.parse().ok()).collect();
                    book.failures.push((client.to_string(), times));
                }
                _ => {}
            }
        }
        book
    }

    /// The text to store.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for (id, exp) in &self.sessions {
            out.push_str(&format!("s {id} {exp}\n"));
        }
        for (client, times) in &self.failures {
            out.push_str(&format!("f {client}"));
            for t in times {
                out.push_str(&format!(" {t}"));
            }
            out.push('\n');
        }
        out
    }

    /// Carries out a call at `now_ms`; true when a sign-in opened a session, or a checked
    /// session is open. Expired sessions and stale failures are dropped on the way.
    pub fn apply(&mut self, call: &GuardCall, now_ms: i64) -> bool {
        self.sessions.retain(|(_, exp)| *exp > now_ms);
        self.failures.retain(|(_, t)| {
            t.last()
                .is_some_and(|last| last + FAILURE_WINDOW_MS > now_ms)
        });
        match call {
            GuardCall::Check { session_id } => self.sessions.iter().any(|(id, _)| id == session_id),
            GuardCall::SignOut { session_id } => {
                self.sessions.retain(|(id, _)| id != session_id);
                true
            }
            GuardCall::SignIn {
                client,
                password_ok,
                session_id,
                expires_ms,
            } => {
                let key = client_key(client);
                let pos = self.failures.iter().position(|(c, _)| *c == key);
                let past = pos.map(|i| self.failures.remove(i).1).unwrap_or_default();
                let (decision, keep) = sign_in(&past, *password_ok, now_ms);
                if !keep.is_empty() {
                    // Most recent last, so the least recent client is the first dropped.
                    self.failures.push((key, keep));
                    let excess = self.failures.len().saturating_sub(MAX_CLIENTS);
                    self.failures.drain(..excess);
                }
                let accepted = decision == SignIn::Accepted && valid_session_id(session_id);
                if accepted {
                    self.sessions.push((session_id.clone(), *expires_ms));
                    let excess = self.sessions.len().saturating_sub(MAX_SESSIONS);
                    self.sessions.drain(..excess);
                }
                accepted
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operator::session::MAX_FAILURES;

    const A: &str = "0123456789abcdef0123456789abcdef";
    const B: &str = "fedcba9876543210fedcba9876543210";

    fn attempt(client: &str, ok: bool, id: &str) -> GuardCall {
        GuardCall::SignIn {
            client: client.into(),
            password_ok: ok,
            session_id: id.into(),
            expires_ms: 100_000,
        }
    }

    fn check(id: &str) -> GuardCall {
        GuardCall::Check {
            session_id: id.into(),
        }
    }

    #[test]
    fn calls_survive_their_encoding() {
        #[rustfmt::skip]
        let table = [
            attempt("203.0.113.9", true, A),
            attempt("2001:db8::1", false, B),
            check(A),
            GuardCall::SignOut { session_id: A.into() },
        ];
        for call in table {
            assert_eq!(
                GuardCall::decode(&call.encode()),
                Some(call.clone()),
                "{call:?}"
            );
        }
        let spaced = attempt("a b\tc", true, A).encode();
        assert!(spaced.starts_with("sign_in a_b_c 1 "), "{spaced}");
        assert_eq!(GuardCall::decode("sign_in x 1 id notanumber"), None);
        assert_eq!(GuardCall::decode("launch"), None);
    }

    #[test]
    fn sessions_open_close_and_expire() {
        let mut book = Book::default();
        assert!(book.apply(&attempt("c", true, A), 0));
        assert!(!book.apply(&attempt("c", true, "not-an-id"), 0));
        assert!(book.apply(&check(A), 1));
        assert!(!book.apply(&check(B), 1));
        // The stored text brings the same state back.
        let mut again = Book::parse(&book.to_text());
        assert_eq!(again, book);
        again.apply(
            &GuardCall::SignOut {
                session_id: A.into(),
            },
            2,
        );
        assert!(!again.apply(&check(A), 3), "signed out");
        assert!(book.apply(&check(A), 99_999));
        assert!(!book.apply(&check(A), 100_000), "expired");
        assert_eq!(book.to_text(), "", "expired sessions are dropped");
    }

    #[test]
    fn failures_are_counted_per_client_and_forgotten_after_a_minute() {
        let mut book = Book::default();
        for i in 0..MAX_FAILURES as i64 {
            assert!(!book.apply(&attempt("1.2.3.4", false, A), i));
        }
        assert!(!book.apply(&attempt("1.2.3.4", true, A), 10), "limited");
        assert!(
            book.apply(&attempt("5.6.7.8", true, B), 10),
            "another client"
        );
        let text = book.to_text();
        assert!(text.lines().any(|l| l.starts_with("f 1.2.3.4 ")), "{text}");
        let mut book = Book::parse(&text);
        assert!(book.apply(&attempt("1.2.3.4", true, A), 10 + FAILURE_WINDOW_MS));
        let text = book.to_text();
        assert!(
            !text.lines().any(|l| l.starts_with("f ")),
            "stale failures dropped: {text}"
        );
    }

    #[test]
    fn the_book_stays_bounded() {
        let mut book = Book::default();
        for i in 0..(MAX_CLIENTS + 5) {
            book.apply(
                &attempt(&format!("10.0.{}.{}", i / 256, i % 256), false, A),
                0,
            );
        }
        assert_eq!(book.failures.len(), MAX_CLIENTS);
        assert_eq!(book.failures[0].0, "10.0.0.5", "the least recent dropped");
        for i in 0..(MAX_SESSIONS + 3) {
            book.apply(&attempt("ok", true, &format!("{i:032x}")), 0);
        }
        assert_eq!(book.sessions.len(), MAX_SESSIONS);
        assert!(
            !book.apply(&check(&format!("{:032x}", 0)), 1),
            "the oldest session dropped"
        );
        let garbage = Book::parse("s short 5\ns 0123456789abcdef0123456789abcdef x\nzz\n");
        assert_eq!(garbage, Book::default());
    }
}
