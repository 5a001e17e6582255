//! The console's guard (one Durable Object class, two instances with separate storage) and the
//! calls the worker makes to it, as JSON:
//!
//! - [`SESSIONS_INSTANCE`] keeps the random key that signs session cookies and the ids of live
//!   sessions, one storage row each (a check reads one row);
//! - [`ATTEMPTS_INSTANCE`] counts failed credentials (`crate::operator::attempts`): one row per
//!   client, the global count, the known clients and the current burst.
//!
//! A flood of failures therefore never touches what a cookie request reads. What the object
//! keeps and decides is here; it only carries it out.

use serde::{Deserialize, Serialize};

use crate::base::auth::CredentialPath;
use crate::operator::session::valid_session_id;

/// The instance that keeps the sessions and their key.
pub const SESSIONS_INSTANCE: &str = "console";
/// The instance that counts failed credentials.
pub const ATTEMPTS_INSTANCE: &str = "attempts";
/// Sessions kept at most (the oldest are dropped first): one per browser signed in.
pub const MAX_SESSIONS: usize = 200;
/// Storage key of the session key (hex).
pub const KEY_ROW: &str = "key";
/// Storage key prefix of a live session (`s:<id>` → its expiry, unix ms).
pub const SESSION_ROW_PREFIX: &str = "s:";
/// Storage key prefix of a client's failures (`c:<client key>`).
pub const CLIENT_ROW_PREFIX: &str = "c:";
/// Storage keys of the global count, the known clients and the burst.
pub const GLOBAL_ROW: &str = "global";
pub const KNOWN_ROW: &str = "known";
pub const BURST_ROW: &str = "burst";

/// A call to the guard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum GuardCall {
    /// The session key (created at the first call).
    Key,
    /// Open session `session_id` until `expires_ms`.
    Open { session_id: String, expires_ms: i64 },
    /// Is the session open?
    Check { session_id: String },
    /// End the session.
    Close { session_id: String },
    /// A right credential from `client` (its key, `crate::base::client::client_key`).
    Admit {
        client: String,
        path: CredentialPath,
    },
    /// A wrong credential from `client`; `shed` attempts were refused meanwhile by the
    /// platform's limiter before reaching the guard (counted in the burst).
    Fail {
        client: String,
        path: CredentialPath,
        #[serde(default)]
        shed: u32,
    },
    /// Attempts refused by the platform's limiter, reported without another call.
    Shed { count: u32 },
}

impl GuardCall {
    /// The instance that answers this call.
    pub fn instance(&self) -> &'static str {
        match self {
            GuardCall::Key
            | GuardCall::Open { .. }
            | GuardCall::Check { .. }
            | GuardCall::Close { .. } => SESSIONS_INSTANCE,
            GuardCall::Admit { .. } | GuardCall::Fail { .. } | GuardCall::Shed { .. } => {
                ATTEMPTS_INSTANCE
            }
        }
    }

    /// The storage row of a session call's id, when the id can be one (a call with any other id
    /// is answered "no" without reading anything).
    pub fn session_row(session_id: &str) -> Option<String> {
        valid_session_id(session_id).then(|| format!("{SESSION_ROW_PREFIX}{session_id}"))
    }
}

/// The guard's answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardReply {
    /// Session calls: opened / open / closed. Credential calls: admitted (a failure is never
    /// "ok"; `retry_after_secs` says whether it is limited).
    pub ok: bool,
    /// The session key, hex (`Key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Set when the client is refused for now (a 429).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u64>,
    /// The refusal is the global budget's.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub global: bool,
}

/// The sessions to drop from `live` (id, expiry) at `now_ms`: the expired ones, then the oldest
/// beyond [`MAX_SESSIONS`] (by expiry: every session lives as long).
pub fn sessions_to_drop(live: &[(String, i64)], now_ms: i64) -> Vec<String> {
    let mut alive: Vec<&(String, i64)> = live.iter().filter(|(_, exp)| *exp > now_ms).collect();
    let mut drop: Vec<String> = live
        .iter()
        .filter(|(_, exp)| *exp <= now_ms)
        .map(|(id, _)| id.clone())
        .collect();
    alive.sort_by_key(|(_, exp)| *exp);
    let excess = alive.len().saturating_sub(MAX_SESSIONS);
    drop.extend(alive[..excess].iter().map(|(id, _)| id.clone()));
    drop
}

/// Reads a hex key the guard stored; `None` when it is not one (a new one is then made).
pub fn parse_key(hex_key: &str) -> Option<Vec<u8>> {
    hex::decode(hex_key.trim())
        .ok()
        .filter(|k| k.len() == crate::operator::session::GUARD_KEY_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn calls_survive_their_encoding_and_go_to_their_instance() {
        #[rustfmt::skip]
        let table = [
            (GuardCall::Key, SESSIONS_INSTANCE),
            (GuardCall::Open { session_id: A.into(), expires_ms: 5 }, SESSIONS_INSTANCE),
            (GuardCall::Check { session_id: A.into() }, SESSIONS_INSTANCE),
            (GuardCall::Close { session_id: A.into() }, SESSIONS_INSTANCE),
            (GuardCall::Admit { client: "203.0.113.7".into(), path: CredentialPath::AdminBearer }, ATTEMPTS_INSTANCE),
            (GuardCall::Fail { client: "2001:db8::/64".into(), path: CredentialPath::SignIn, shed: 3 }, ATTEMPTS_INSTANCE),
            (GuardCall::Shed { count: 9 }, ATTEMPTS_INSTANCE),
        ];
        for (call, instance) in table {
            let text = serde_json::to_string(&call).unwrap();
            assert_eq!(serde_json::from_str::<GuardCall>(&text).unwrap(), call);
            assert_eq!(call.instance(), instance, "{text}");
        }
        let fail: GuardCall =
            serde_json::from_str(r#"{"op":"fail","client":"x","path":"ingest_bearer"}"#).unwrap();
        assert_eq!(
            fail,
            GuardCall::Fail {
                client: "x".into(),
                path: CredentialPath::IngestBearer,
                shed: 0
            }
        );
        assert!(serde_json::from_str::<GuardCall>(r#"{"op":"launch"}"#).is_err());
        assert_eq!(GuardCall::session_row(A), Some(format!("s:{A}")));
        assert_eq!(GuardCall::session_row("../key"), None);
        let reply = GuardReply {
            ok: true,
            ..GuardReply::default()
        };
        assert_eq!(serde_json::to_string(&reply).unwrap(), r#"{"ok":true}"#);
    }

    #[test]
    fn sessions_are_pruned_expired_first_then_the_oldest() {
        let live: Vec<(String, i64)> = (0..(MAX_SESSIONS as i64 + 3))
            .map(|i| (format!("{i:032x}"), 100 + i))
            .collect();
        let drop = sessions_to_drop(&live, 101);
        // 100 and 101 expired, then the oldest one beyond the maximum.
        assert_eq!(
            drop,
            [
                format!("{:032x}", 0),
                format!("{:032x}", 1),
                format!("{:032x}", 2)
            ]
        );
        assert!(sessions_to_drop(&live[..5], 0).is_empty());
    }

    #[test]
    fn keys_are_32_bytes_of_hex() {
        assert_eq!(parse_key(&"ab".repeat(32)).map(|k| k.len()), Some(32));
        assert_eq!(parse_key("abcd"), None);
        assert_eq!(parse_key(&"zz".repeat(32)), None);
    }
}
